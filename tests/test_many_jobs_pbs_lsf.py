"""Many jobs at once (issue 13) on the PBS Professional, Torque and LSF executors, end to end
through the TEST DOUBLES of tests/doubles/fake_pbs and tests/doubles/fake_lsf: arrays (one
native submission, elements with their own ids, exit codes and outputs, the throttle kept by
the scheduler), dependencies (sent to the scheduler; a failed predecessor ends the rest FAILED
naming it; ``afterany`` runs after a failure), attach to an element, cancel of an array.

What the doubles emulate (and what they do not) is in their docstrings; the formats they answer
in are the documented ones of the real tools (tests/fixtures/*/README.md). Each test gets a
double of its own. The throttle and the holds are read from the double's own records of when
each job started and ended, not from what psij reports.
"""

import pathlib
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from batch_backends import Backend, fake_lsf_backend, fake_pbs_backend
from batch_helpers import attach_elsewhere, final_status, wait_until

from psij import DependencyCondition, Job, JobArray, JobAttributes, JobSpec, JobState
from psij.job_array import INDEX_TOKEN

WAIT = 60.0  # seconds; the doubles run jobs at once
#: "Quickly": a dependent of a failed job ends this soon after it (the executors poll the
#: doubles every 2 s at most).
QUICKLY = 6.0
#: How a process attaching to a job of each double polls.
ATTACH: Dict[str, Dict[str, float]] = {
    'pbs': {'outcome_timeout': 8, 'initial_queue_polling_delay': 0.2},
    'torque': {'outcome_timeout': 8, 'initial_queue_polling_delay': 0.2},
    'lsf': {'outcome_timeout': 30, 'queue_polling_interval': 2}}
SUBMIT = {'pbs': 'qsub', 'torque': 'qsub', 'lsf': 'bsub'}
STATUS = {'pbs': 'qstat', 'torque': 'qstat', 'lsf': 'bjobs'}
CANCEL = {'pbs': 'qdel', 'torque': 'qdel', 'lsf': 'bkill'}


@pytest.fixture(params=['pbs', 'torque', 'lsf'])
def backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    name: str = request.param
    if name == 'lsf':
        yield from fake_lsf_backend(tmp_path, monkeypatch)
    else:
        yield from fake_pbs_backend(tmp_path, monkeypatch,
                                    'torque' if name == 'torque' else 'pbspro', name)


def final(job: Job) -> Tuple[JobState, Any, str]:
    status = final_status(job, WAIT)
    return status.state, status.exit_code, status.message or ''


def times(backend: Backend, job: Job) -> Tuple[float, float]:
    """When the double started and ended ``job`` (its own record, which may say so a moment
    after the job's markers did)."""
    native_id = job.native_id
    assert native_id is not None
    key = 'finished' if backend.name == 'lsf' else 'end'
    wait_until(lambda: backend.double_job(native_id).get(key) is not None,
               f'the double records the end of {native_id}', WAIT)
    record: Dict[str, Any] = backend.double_job(native_id)
    return float(record['started']), float(record[key])


def most_at_once(intervals: List[Tuple[float, float]]) -> int:
    """The most intervals that overlap at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = highest = 0
    for _, change in events:
        running += change
        highest = max(highest, running)
    return highest


def element_id(backend: Backend, array_id: str, index: int) -> str:
    """The scheduler's id of element ``index`` (psij's, from 0) of the native array."""
    if backend.name == 'lsf':
        return f'{array_id}[{index + 1}]'
    number, _, server = array_id.partition('[]')
    return f'{number}[{index}]{server}'


def never_ran(backend: Backend, job: Job) -> bool:
    assert job.native_id is not None
    return 'started' not in backend.double_job(job.native_id)


# --- arrays ------------------------------------------------------------------------------------

def test_an_array_of_ten_with_throttle_two_is_one_submission(backend: Backend,
                                                             tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out'
    out.mkdir()
    array = JobArray(JobSpec('/bin/sh', [
        '-c', 'echo "$1 $PSIJ_ARRAY_INDEX $TAG"; sleep 0.6; exit $(($1 % 3))', 'sh', INDEX_TOKEN],
        environment={'TAG': f'tag-{INDEX_TOKEN}'}, stdout_path=out / f'{INDEX_TOKEN}.txt'),
        10, throttle=2)
    backend.executor.submit_array(array)

    assert len(backend.calls(SUBMIT[backend.name])) == 1
    array_id = array.native_id
    assert array_id is not None
    assert [job.native_id for job in array.jobs] == [element_id(backend, array_id, index)
                                                     for index in range(10)]
    assert all(backend.executor.scheduler.is_valid_native_id(job.native_id or '')
               for job in array.jobs)
    outcomes = [final(job) for job in array.jobs]
    assert [(state, code) for state, code, _ in outcomes] == [
        (JobState.COMPLETED, 0) if index % 3 == 0 else (JobState.FAILED, index % 3)
        for index in range(10)]
    assert outcomes[4][2] == 'exit code 1'
    for index in range(10):
        assert (out / f'{index}.txt').read_text() == f'{index} {index} tag-{index}\n'
    ran = [times(backend, job) for job in array.jobs]
    assert most_at_once(ran) == 2, ran  # the scheduler's own throttle, never more than 2
    # One status command covers every element: the array, never an element by itself.
    number = array_id.split('[')[0]
    for call in backend.calls(STATUS[backend.name]):
        if call[:2] != ['-B', '-f']:
            assert not any(word.startswith(f'{number}[') and not word.startswith(
                f'{number}[]') for word in call), call


def test_an_array_over_the_scheduler_limit_is_split_and_keeps_its_indices(
        backend: Backend, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend.name == 'lsf':
        monkeypatch.setenv('PSIJ_FAKE_LSF_MAX_ARRAY_SIZE', '4')
    else:
        (backend.double() / 'max_array_size').write_text('4')
    array = JobArray(JobSpec('/bin/sh', ['-c', 'echo "$PSIJ_ARRAY_INDEX"'],
                             stdout_path=tmp_path / f'{INDEX_TOKEN}.txt'), 10)
    backend.executor.submit_array(array)
    assert len(backend.calls(SUBMIT[backend.name])) == 3
    assert len({job.native_id for job in array.jobs}) == 10
    assert all(final(job)[0] == JobState.COMPLETED for job in array.jobs)
    assert [(tmp_path / f'{index}.txt').read_text() for index in range(10)] == [
        f'{index}\n' for index in range(10)]


def test_an_array_of_one(backend: Backend, tmp_path: pathlib.Path) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', 'echo "$PSIJ_ARRAY_INDEX"; exit 4'],
                             stdout_path=tmp_path / f'out.{INDEX_TOKEN}'), 1)
    backend.executor.submit_array(array)
    (job,) = array.jobs
    assert final(job)[:2] == (JobState.FAILED, 4)
    assert (tmp_path / 'out.0').read_text() == '0\n'
    if backend.name == 'pbs':  # -J needs two indices: a plain job
        assert job.native_id is not None and '[' not in job.native_id


def test_canceling_an_array_is_one_command(backend: Backend) -> None:
    array = JobArray(JobSpec('/bin/sleep', ['60']), 5, throttle=2)
    backend.executor.submit_array(array)
    wait_until(lambda: sum(job.status.state == JobState.ACTIVE for job in array.jobs) == 2,
               'two running elements', WAIT)
    array.cancel()
    assert all(final(job)[0] == JobState.CANCELED for job in array.jobs)
    (cancel,) = backend.calls(CANCEL[backend.name])
    assert sorted(cancel) == sorted(str(job.native_id) for job in array.jobs)


def test_attach_to_an_element_from_another_process(backend: Backend) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', 'sleep 2; exit $(($1 + 5))', 'sh',
                                         INDEX_TOKEN]), 3)
    backend.executor.submit_array(array)
    element = array.jobs[1]
    assert element.native_id is not None
    seen = attach_elsewhere(backend.name, backend.work_dir, element.native_id,
                            ATTACH[backend.name], wait=WAIT)
    assert (seen['state'], seen['exit_code']) == ('FAILED', 6), seen
    assert final(element)[:2] == (JobState.FAILED, 6)


# --- dependencies ------------------------------------------------------------------------------

def test_a_chain_whose_first_job_fails_ends_failed_naming_each_predecessor(
        backend: Backend, tmp_path: pathlib.Path) -> None:
    ran = tmp_path / 'ran'
    first = Job(JobSpec('/bin/sh', ['-c', 'sleep 1; exit 3']))
    second = Job(JobSpec('/bin/touch', [f'{ran}.second'])).depends_on(first)
    third = Job(JobSpec('/bin/touch', [f'{ran}.third'])).depends_on(second)
    for job in (first, second, third):
        backend.executor.submit(job)
    assert final(first)[:2] == (JobState.FAILED, 3)
    ended = time.monotonic()
    for job, predecessor in ((second, first), (third, second)):
        state, _, message = final(job)
        assert state == JobState.FAILED
        assert f'predecessor job {predecessor.id} ({predecessor.native_id}) ended FAILED' in \
            message, message
    assert time.monotonic() - ended < QUICKLY
    assert not list(tmp_path.glob('ran.*'))
    assert never_ran(backend, second) and never_ran(backend, third)
    # The dependency went to the scheduler with the job (it was not held by psij).
    expected = [['done', first.native_id]] if backend.name == 'lsf' else \
        [['afterok', [first.native_id]]]
    assert second.native_id is not None
    assert backend.double_job(second.native_id)['depend'] == expected


def test_afterany_runs_after_a_failure(backend: Backend, tmp_path: pathlib.Path) -> None:
    first = Job(JobSpec('/bin/sh', ['-c', 'sleep 1; exit 2']))
    after = Job(JobSpec('/bin/sh', ['-c', 'echo after'], stdout_path=tmp_path / 'after.txt'))
    after.depends_on(first, condition=DependencyCondition.ENDED)
    backend.executor.submit(first)
    backend.executor.submit(after)
    assert final(first)[:2] == (JobState.FAILED, 2)
    assert final(after)[:2] == (JobState.COMPLETED, 0)
    assert (tmp_path / 'after.txt').read_text() == 'after\n'
    assert times(backend, after)[0] >= times(backend, first)[1]  # the scheduler held it


def test_a_job_after_a_whole_array_waits_for_every_element(backend: Backend,
                                                          tmp_path: pathlib.Path) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', 'sleep $1', 'sh', INDEX_TOKEN]), 3)
    backend.executor.submit_array(array)
    after = Job(JobSpec('/bin/true')).depends_on(array)
    backend.executor.submit(after)
    assert final(after)[0] == JobState.COMPLETED
    assert times(backend, after)[0] >= max(times(backend, job)[1] for job in array.jobs)
    assert after.native_id is not None and array.native_id is not None
    depend = backend.double_job(after.native_id)['depend']
    if backend.name == 'lsf':  # each element by its id
        assert depend == [['done', job.native_id] for job in array.jobs]
    else:  # by the array: PBS cannot name one subjob, Torque has its array dependencies
        kind = 'afterokarray' if backend.name == 'torque' else 'afterok'
        assert depend == [[kind, [array.native_id]]]


def test_a_failed_element_fails_a_job_after_the_array(backend: Backend,
                                                      tmp_path: pathlib.Path) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', 'exit $(($1 == 1))', 'sh', INDEX_TOKEN]), 3)
    backend.executor.submit_array(array)
    after = Job(JobSpec('/bin/touch', [str(tmp_path / 'ran')])).depends_on(array)
    backend.executor.submit(after)
    state, _, message = final(after)
    assert state == JobState.FAILED
    assert f'predecessor job {array.jobs[1].id} ({array.jobs[1].native_id}) ended FAILED' in \
        message, message
    assert not (tmp_path / 'ran').exists() and never_ran(backend, after)


def test_a_job_after_one_element(backend: Backend, tmp_path: pathlib.Path) -> None:
    """PBS cannot wait for one subjob: psij holds the job until the element ends, then submits
    it with no dependency. Torque and LSF wait for the element itself."""
    array = JobArray(JobSpec('/bin/sh', ['-c', 'sleep $((2 - $1))', 'sh', INDEX_TOKEN]), 3)
    backend.executor.submit_array(array)
    element = array.jobs[1]
    after = Job(JobSpec('/bin/true')).depends_on(element)
    backend.executor.submit(after)
    if backend.name == 'pbs':
        assert after.native_id is None and 'held by psij' in (after.status.message or '')
    assert final(after)[0] == JobState.COMPLETED
    assert times(backend, after)[0] >= times(backend, element)[1]
    assert after.native_id is not None
    depend = backend.double_job(after.native_id)['depend']
    if backend.name == 'pbs':
        assert depend == []
    else:
        assert depend == ([['done', element.native_id]] if backend.name == 'lsf' else
                          [['afterok', [element.native_id]]])


def test_a_held_dependent_is_queued_until_its_predecessor_ends(backend: Backend) -> None:
    first = Job(JobSpec('/bin/sleep', ['3']))
    after = Job(JobSpec('/bin/true')).depends_on(first)
    backend.executor.submit(first)
    backend.executor.submit(after)
    time.sleep(1.5)
    assert after.status.state == JobState.QUEUED and never_ran(backend, after)
    assert final(after)[0] == JobState.COMPLETED


def test_an_element_held_by_the_user_keeps_its_dependents_waiting(backend: Backend) -> None:
    held = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes=backend.hold())))
    after = Job(JobSpec('/bin/true')).depends_on(held, condition=DependencyCondition.ENDED)
    backend.executor.submit(held)
    backend.executor.submit(after)
    time.sleep(2)
    assert after.status.state == JobState.QUEUED and never_ran(backend, after)
    held.cancel()
    assert final(held)[0] == JobState.CANCELED
    assert final(after)[0] == JobState.COMPLETED  # afterany: a canceled predecessor ended
