"""Queue limits on the REAL Grid Engine of .ci/lrm/sge-up.sh: its queue ``short.q`` has
``h_rt 00:05:00`` (and no hosts, so that no job lands there by chance); ``all.q`` has none.

A job over short.q's wall-time limit is refused at `submit` with the limit Grid Engine told,
an unknown queue is refused naming the known ones, and a job within the limits of all.q runs.
Under CI=true a missing Grid Engine fails.
"""

import pathlib
from datetime import timedelta

import pytest
from batch_backends import real_backend
from batch_helpers import final_status

from psij import InvalidJobException, Job, JobAttributes, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor
from psij.queue_limits import check_spec, effective_queues


@pytest.fixture
def executor(work_dir: pathlib.Path) -> BatchSchedulerExecutor:
    executor = real_backend('sge', work_dir).executor
    if 'short.q' not in effective_queues(executor).queues:
        pytest.fail('Grid Engine has no short.q: run .ci/lrm/sge-up.sh (it adds it)')
    return executor


def _job(tmp_path: pathlib.Path, queue: str, minutes: int) -> Job:
    return Job(JobSpec('/bin/true', directory=tmp_path, attributes=JobAttributes(
        queue_name=queue, duration=timedelta(minutes=minutes))))


def test_a_job_over_the_queues_h_rt_is_refused(executor: BatchSchedulerExecutor,
                                               tmp_path: pathlib.Path) -> None:
    job = _job(tmp_path, 'short.q', 6)
    with pytest.raises(InvalidJobException) as caught:
        executor.submit(job)
    assert str(caught.value).startswith(
        "JobAttributes.duration: the job asks for 00:06:00 of wall time; queue 'short.q' "
        'allows at most 00:05:00 of wall time (max_duration, from the scheduler)')
    assert job.native_id is None and job.executor is None
    # Within the limit the check passes (the job is not sent: short.q has no hosts).
    spec = _job(tmp_path, 'short.q', 5).spec
    assert spec is not None
    checked = check_spec(spec, effective_queues(executor))
    assert checked is not None and checked.name == 'short.q'


def test_an_unknown_queue_is_refused_naming_the_known_ones(
        executor: BatchSchedulerExecutor, tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidJobException, match=r"JobAttributes.queue_name is 'long.q': "
                                                  r'the scheduler has no such queue \(known: '
                                                  r'all.q, short.q\)'):
        executor.submit(_job(tmp_path, 'long.q', 1))


def test_a_job_within_the_limits_runs(executor: BatchSchedulerExecutor,
                                      tmp_path: pathlib.Path) -> None:
    job = _job(tmp_path, 'all.q', 60)
    executor.submit(job)
    assert final_status(job, 90.0).state == JobState.COMPLETED
