"""Nothing runs twice, nothing is lost: what ``psij campaign reattach`` does with a submission
whose native id was never recorded (psij.campaigns.recovery), for real.

Each test builds the logs folder a process killed at that moment leaves (through the same
library calls the campaign makes), then runs ``psij campaign reattach`` in a new process and
checks that every command ran exactly once. The rule's three cases:

1. the submission reached the executor and started: followed, never resubmitted;
2. a batch executor never wrote its script: resubmitted at once;
3. otherwise: resubmitted only when old enough and the executor lists no job the campaign
   cannot account for (a private queue: the PBS double; on the shared real clusters, other
   jobs may be listed, so there the test checks that it waits instead).
"""

import pathlib
import time
import uuid
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from batch_backends import Backend, fake_pbs_backend
from test_campaign_support import (
    campaign,
    executor_for,
    interrupt,
    make_campaign,
    ran,
    records,
    require_executor,
    submit_unrecorded,
)

from psij import Job, JobAttributes, JobExecutorConfig, JobSpec
from psij.batch import BatchSchedulerExecutorConfig
from psij.campaigns import CampaignRunner, JobRecord, Observer
from psij.campaigns.recovery import GRACE, NEVER, REACHED, UNDECIDED, SubmissionResolver

#: Each command appends its token to ran.txt once; the job takes a moment, so that a
#: reattaching process finds it in flight.
TWO_JOBS = 'echo {{first,second}} >> ran.txt; sleep 1\n'


@pytest.mark.parametrize('name', ['local', 'slurm', 'sge'])
def test_a_submission_that_reached_the_executor_is_followed_and_a_lost_one_resubmitted(
        name: str, tmp_path: pathlib.Path, work_dir: pathlib.Path) -> None:
    require_executor(name)
    folder = make_campaign(tmp_path, name, work_dir, TWO_JOBS)
    executor = executor_for(name, work_dir)
    # Job 1 reached the executor, but its native id was never written down.
    real = submit_unrecorded(folder, '1', executor, time.time())
    # Job 2's submission was recorded and then lost: for a batch executor the job script
    # was never written (case 2); for local, long enough ago that it would have started.
    lost = str(uuid.uuid4())
    interrupt(folder, '2', lost, time.time() - (0 if name != 'local' else GRACE + 1))
    result = campaign(work_dir, tmp_path, 'reattach', '--logs', 'logs', timeout=180)
    assert result.returncode == 0, str(result)
    assert 'job 1: the interrupted submission reached the executor' in result.stdout
    assert 'job 2: the interrupted submission never ran' in result.stdout
    assert ran(tmp_path / 'ran.txt') == ['first', 'second']
    first, second = records(tmp_path / 'logs')
    assert (first['state'], first['native_id'], first['job_id']) == (
        'completed', real.native_id, real.id)
    assert first['attempts'] == []
    assert second['state'] == 'completed' and second['job_id'] != lost
    [given_up] = second['attempts']
    assert given_up['job_id'] == lost
    assert given_up['outcome'] == ('not started, and not among the jobs the executor lists'
                                   if name == 'local' else
                                   f'the {name} executor never wrote its job script, so no '
                                   'submit command ran')


def test_a_recent_submission_without_evidence_waits(tmp_path: pathlib.Path,
                                                    work_dir: pathlib.Path) -> None:
    folder = make_campaign(tmp_path, 'local', work_dir, TWO_JOBS)
    record = interrupt(folder, '1', str(uuid.uuid4()), time.time())
    resolver = SubmissionResolver(folder, executor_for('local', work_dir))
    found = resolver.resolve([record], set())['1']
    assert found.verdict == UNDECIDED and 'a submit command may still be running' in found.reason
    later = SubmissionResolver(folder, executor_for('local', work_dir),
                               clock=lambda: time.time() + GRACE + 1)
    assert later.resolve([record], set())['1'].verdict == NEVER


@pytest.mark.parametrize('name,hold', [('slurm', {'slurm.hold': True}),
                                       ('sge', {'sge.h': True})])
def test_on_a_shared_cluster_an_unexplained_queued_job_makes_it_wait(
        name: str, hold: Dict[str, object], tmp_path: pathlib.Path,
        work_dir: pathlib.Path) -> None:
    """Case 3 on a real cluster: the job script exists (the submit command may have run) and
    the queue holds a job this campaign does not know: it may be ours, so no resubmission."""
    require_executor(name)
    folder = make_campaign(tmp_path, name, work_dir, TWO_JOBS)
    attempt = str(uuid.uuid4())
    record = interrupt(folder, '1', attempt, time.time() - GRACE - 1)
    (work_dir / name).mkdir(parents=True, exist_ok=True)
    (work_dir / name / f'{attempt}.sh').write_text('#!/bin/sh\n')
    elsewhere = executor_for(name, tmp_path / 'other-work')
    held = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes=hold)))
    elsewhere.submit(held)
    try:
        found = SubmissionResolver(folder, executor_for(name, work_dir)).resolve(
            [record], set())['1']
        assert found.verdict == UNDECIDED, found
        assert 'job(s) this campaign does not know' in found.reason
        assert str(held.native_id) in found.reason or ', ...' in found.reason
    finally:
        elsewhere.cancel(held)  # sent soon after, not at once: wait until it is done
        assert held.wait(timeout=60) is not None


@pytest.fixture
def pbs(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The PBS double: a queue of this test's own, so "nothing else is listed" holds."""
    yield from fake_pbs_backend(tmp_path, monkeypatch, 'pbspro', 'pbs')


def test_case_3_resubmits_once_the_private_queue_shows_nothing_unexplained(
        pbs: Backend, work_dir: pathlib.Path) -> None:
    directory = pbs.submit_dir
    folder = make_campaign(directory, 'pbs', work_dir, TWO_JOBS)
    attempt = str(uuid.uuid4())
    record = interrupt(folder, '1', attempt, time.time() - GRACE - 1)
    (work_dir / 'pbs').mkdir(parents=True)
    (work_dir / 'pbs' / f'{attempt}.sh').write_text('#!/bin/sh\n')  # qsub may have run
    interrupt(folder, '2', str(uuid.uuid4()), time.time() - GRACE - 1)
    (work_dir / 'pbs' / f'{folder.read_record("2").job_id}.sh').write_text('#!/bin/sh\n')
    elsewhere = executor_for('pbs', directory / 'other-work', JobExecutorConfig(
        work_directory=directory / 'other-work'))
    held = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'pbs.h': True})))
    elsewhere.submit(held)
    resolver = SubmissionResolver(folder, executor_for('pbs', work_dir))
    assert resolver.resolve([record], set())['1'].verdict == UNDECIDED
    # Claimed by the campaign (another record holds its native id): accounted for.
    assert resolver.resolve([record], {str(held.native_id)})['1'].verdict == NEVER
    elsewhere.cancel(held)
    assert held.wait(timeout=30) is not None
    assert resolver.resolve([record], set())['1'].verdict == NEVER
    result = campaign(work_dir, directory, 'reattach', '--logs', 'logs', timeout=120)
    assert result.returncode == 0, str(result)
    assert ran(directory / 'ran.txt') == ['first', 'second']
    assert [len(job['attempts']) for job in records(directory / 'logs')] == [1, 1]


def test_a_job_whose_result_names_the_attempt_is_never_resubmitted(
        pbs: Backend, work_dir: pathlib.Path) -> None:
    """Case 1 through the job's own result file, whatever the executor's markers say."""
    directory = pbs.submit_dir
    folder = make_campaign(directory, 'pbs', work_dir, 'echo once >> ran.txt\n')
    executor = executor_for('pbs', work_dir)
    job = submit_unrecorded(folder, '1', executor, time.time() - GRACE - 1)
    assert job.wait(timeout=30) is not None
    for marker in (work_dir / 'pbs').glob(f'{job.native_id}.*'):
        marker.unlink()  # only the campaign's own evidence is left
    found = SubmissionResolver(folder, executor).evidence(folder.read_record('1'))
    assert found is not None and found.verdict == REACHED and found.native_id is None
    result = campaign(work_dir, directory, 'reattach', '--logs', 'logs', timeout=120)
    assert result.returncode == 0, str(result)
    assert ran(directory / 'ran.txt') == ['once']
    [record] = records(directory / 'logs')
    assert record['state'] == 'completed' and record['attempts'] == []


def test_jobs_the_executor_holds_back_stay_submitting_until_they_have_a_native_id(
        pbs: Backend, work_dir: pathlib.Path) -> None:
    """An executor with a cap of its own (``max_in_flight``) returns from ``submit`` without a
    native id for the jobs it holds; until they get one, their records say ``submitting``
    (so that, were this process killed, the recovery rule applies: no script yet, resubmit)."""
    directory = pbs.submit_dir
    folder = make_campaign(directory, 'pbs', work_dir, 'sleep 0.5; echo {{1,2,3,4}} >> ran.txt\n')
    executor = executor_for('pbs', work_dir, BatchSchedulerExecutorConfig(
        work_directory=work_dir, max_in_flight=1, queue_polling_interval=2.0,
        initial_queue_polling_delay=0.2))
    seen: List[Tuple[str, str, Optional[str]]] = []

    class Watch(Observer):
        def changed(self, record: JobRecord) -> None:
            seen.append((record.id, record.state, record.native_id))

    summary = CampaignRunner(folder, executor, 3, Watch()).run()
    assert summary.counts['completed'] == 4 and summary.stopped is None
    assert ran(directory / 'ran.txt') == ['1', '2', '3', '4']
    assert all(record.native_id for record in summary.records)
    # Never pending or running without a native id.
    assert all(native_id for _, state, native_id in seen if state in ('pending', 'running'))
    assert ('2', 'submitting', None) in seen
