"""Arrays and dependencies on the REAL Grid Engine started by .ci/lrm/sge-up.sh.

Under CI=true a missing Grid Engine fails these tests (see `real_tools.require_sge`). The
queue here has 8 slots (``all.q``, .ci/lrm/sge-up.sh) and the qmaster schedules every second,
so an array of 50 one-second elements with a throttle of 5 shows the throttle at work (more
slots than the throttle) within half a minute. Other tests may share the cluster: what is
counted is always this test's own job.
"""

import json
import pathlib
import subprocess
import sys
import threading
import time
from typing import Iterator, List

import pytest
from batch_backends import Backend, real_backend
from batch_helpers import attach_elsewhere, final_status, wait_until
from psij.executors.sge import SgeJobExecutor

from psij import Job, JobArray, JobAttributes, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor
from psij.dependencies import DependencyCondition
from psij.job_array import INDEX_TOKEN

WAIT = 90.0  # seconds; every job here ends within a few seconds unless the cluster is busy
SETTINGS = {'queue_polling_interval': 5.0}

# Run in a fresh interpreter: submit a chain (the first job fails) and exit at once, so that
# no psij process watches the jobs; prints their native ids.
_SUBMIT_AND_LEAVE = '''
import json, sys
from psij import Job, JobExecutor, JobSpec
from psij.batch import BatchSchedulerExecutorConfig
work_directory, ran = sys.argv[1:3]
executor = JobExecutor.get_instance('sge', config=BatchSchedulerExecutorConfig(
    work_directory=work_directory))
first = Job(JobSpec('/bin/sh', ['-c', 'sleep 2; exit 3']))
second = Job(JobSpec('/bin/touch', [ran + '.second'])).depends_on(first)
third = Job(JobSpec('/bin/touch', [ran + '.third'])).depends_on(second)
for job in (first, second, third):
    executor.submit(job)
print(json.dumps([job.native_id for job in (first, second, third)]))
'''


@pytest.fixture
def backend(work_dir: pathlib.Path) -> Iterator[Backend]:
    yield real_backend('sge', work_dir)


def _running_tasks(number: str) -> int:
    """How many tasks of the array ``number`` qstat shows started (``r``, ``t``...)."""
    text = subprocess.run(['qstat', '-u', '*'], capture_output=True, text=True,
                          timeout=30).stdout
    return sum(1 for line in text.splitlines()[2:]
               if line.split()[:1] == [number] and set(line.split()[4]) & set('rt'))


def _in_queue(native_id: str) -> bool:
    return subprocess.run(['qstat', '-j', native_id.split('.')[0]],
                          capture_output=True, timeout=30).returncode == 0


def test_an_array_of_50_never_runs_more_than_its_throttle(backend: Backend,
                                                           tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out'
    out.mkdir()
    array = JobArray(JobSpec('/bin/sh', ['-c', 'echo "element $PSIJ_ARRAY_INDEX"; sleep 1'],
                             stdout_path=out / f'{INDEX_TOKEN}.txt'), 50, throttle=5)
    backend.executor.submit_array(array)
    number = array.native_id
    assert number is not None and number.isdigit()
    assert [job.native_id for job in array.jobs] == [f'{number}.{task}' for task in
                                                     range(1, 51)]
    seen: List[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(_running_tasks(number))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        statuses = array.wait(timeout=WAIT)
    finally:
        done.set()
        watcher.join()
    assert all(status is not None and status.state == JobState.COMPLETED
               for status in statuses), statuses
    assert len(seen) > 10, seen
    assert max(seen) <= 5, f'more than 5 tasks ran at once: {seen}'
    # The throttle, not a lack of slots, is what held them back (the queue has 8 slots).
    assert max(seen) >= 3, f'at most {max(seen)} tasks ran at once (is the cluster busy?)'
    assert {path.read_text() for path in out.iterdir()} == {
        f'element {index}\n' for index in range(50)}


def test_array_elements_have_their_own_outputs_and_exit_codes(backend: Backend,
                                                              tmp_path: pathlib.Path) -> None:
    directory = tmp_path / 'runs'
    for index in range(4):
        (directory / f'run {index}').mkdir(parents=True)
    array = JobArray(JobSpec(
        '/bin/sh', ['-c', 'printf "%s|%s|%s|%s\\n" "$1" "$PSIJ_ARRAY_INDEX" "$TAG" "$PWD"; '
                    'exit "$1"', 'sh', INDEX_TOKEN],
        directory=directory / f'run {INDEX_TOKEN}', environment={'TAG': f'tag-{INDEX_TOKEN}'},
        stdout_path=f'out-{INDEX_TOKEN}.txt'), 4)
    backend.executor.submit_array(array)
    statuses = [final_status(job, WAIT) for job in array.jobs]
    assert [(status.state, status.exit_code) for status in statuses] == [
        (JobState.COMPLETED, 0), (JobState.FAILED, 1), (JobState.FAILED, 2),
        (JobState.FAILED, 3)]
    assert statuses[3].message == 'exit code 3'
    for index in range(4):
        run = directory / f'run {index}'
        assert (run / f'out-{index}.txt').read_text() == f'{index}|{index}|tag-{index}|{run}\n'
    # Each element's markers are named by its own id (JOB.TASK).
    names = {path.name for path in (backend.work_dir / 'sge').iterdir()}
    assert {f'{job.native_id}.ec' for job in array.jobs} <= names


def test_a_chain_whose_first_job_fails_ends_failed_naming_each_predecessor(
        backend: Backend, tmp_path: pathlib.Path) -> None:
    ran = tmp_path / 'ran'
    first = Job(JobSpec('/bin/sh', ['-c', 'sleep 1; exit 3']))
    second = Job(JobSpec('/bin/touch', [f'{ran}.second'])).depends_on(first)
    third = Job(JobSpec('/bin/touch', [f'{ran}.third'])).depends_on(second)
    for job in (first, second, third):
        backend.executor.submit(job)
    assert first.native_id is not None and second.native_id is not None
    assert final_status(first, WAIT).state == JobState.FAILED
    ended = time.monotonic()
    for job, predecessor in ((second, first), (third, second)):
        status = final_status(job, WAIT)
        assert status.state == JobState.FAILED, status
        assert 'dependency never satisfied: predecessor job' in (status.message or ''), status
        assert str(predecessor.native_id) in (status.message or ''), status
    assert time.monotonic() - ended < 20
    # Neither ran, and Grid Engine keeps neither waiting.
    wait_until(lambda: not _in_queue(str(second.native_id))
               and not _in_queue(str(third.native_id)), 'the dependents leaving the queue', 30)
    assert not (tmp_path / 'ran.second').exists() and not (tmp_path / 'ran.third').exists()


def test_the_job_script_refuses_to_run_after_a_failed_predecessor_without_psij(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # The submitting process is gone before the first job fails: the dependents' own scripts
    # end them, each writing an exit-code marker that names its predecessor.
    real_backend('sge', work_dir)  # the cluster must be there
    ran = tmp_path / 'ran'
    submitted = subprocess.run([sys.executable, '-c', _SUBMIT_AND_LEAVE, str(work_dir),
                                str(ran)], capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    first, second, third = json.loads(submitted.stdout)
    markers = work_dir / 'sge'
    wait_until(lambda: (markers / f'{third}.ec').exists(), "the third job's marker", WAIT)
    assert (markers / f'{first}.ec').read_text().startswith('3\n')
    for native_id, predecessor, code in ((second, first, 3), (third, second, 1)):
        lines = (markers / f'{native_id}.ec').read_text().splitlines()
        assert lines[:2] == ['1', f'dependency never satisfied: predecessor job {predecessor} '
                                  f'ended with exit code {code}'], lines
    assert not (tmp_path / 'ran.second').exists() and not (tmp_path / 'ran.third').exists()
    # Another process attaching later learns the same.
    seen = attach_elsewhere('sge', work_dir, third, SETTINGS, wait=WAIT)
    assert seen['state'] == 'FAILED', seen
    assert seen['message'] == (f'dependency never satisfied: predecessor job {second} ended '
                               'with exit code 1'), seen


def test_afterany_runs_after_a_failure(backend: Backend, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    first = Job(JobSpec('/bin/sh', ['-c', f'sleep 1; echo first >{out}; exit 4']))
    after = Job(JobSpec('/bin/sh', ['-c', f'echo after >>{out}'])).depends_on(
        first, condition=DependencyCondition.ENDED)
    backend.executor.submit(first)
    backend.executor.submit(after)
    assert final_status(first, WAIT).exit_code == 4
    status = final_status(after, WAIT)
    assert status.state == JobState.COMPLETED, status
    assert out.read_text() == 'first\nafter\n'  # and after the first had ended


def test_a_job_waits_for_an_array_and_checks_every_element(backend: Backend,
                                                           tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    array = JobArray(JobSpec('/bin/sh', ['-c', f'sleep 1; echo {INDEX_TOKEN} >>{out}']), 3)
    after = Job(JobSpec('/bin/sh', ['-c', f'echo after >>{out}'])).depends_on(array)
    backend.executor.submit_array(array)
    backend.executor.submit(after)
    script = backend.executor.generate_script(after)
    assert f'#$ -hold_jid {array.native_id}\n' in script
    assert all(f'psij_after_completed {job.native_id} ' in script for job in array.jobs)
    assert final_status(after, WAIT).state == JobState.COMPLETED
    lines = out.read_text().splitlines()
    assert sorted(lines[:3]) == ['0', '1', '2'] and lines[3:] == ['after']


def test_attach_to_an_array_element_from_another_process(backend: Backend,
                                                         tmp_path: pathlib.Path) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', f'sleep 3; exit {INDEX_TOKEN}']), 3)
    backend.executor.submit_array(array)
    element = array.jobs[2]
    assert element.native_id is not None and element.native_id.endswith('.3')
    seen = attach_elsewhere('sge', backend.work_dir, element.native_id, SETTINGS, wait=WAIT)
    assert (seen['state'], seen['exit_code']) == ('FAILED', 2), seen
    assert [final_status(job, WAIT).exit_code for job in array.jobs] == [0, 1, 2]
    # From a work directory without its markers: Grid Engine's accounting of that task.
    seen = attach_elsewhere('sge', tmp_path / 'elsewhere', element.native_id, SETTINGS,
                            wait=WAIT)
    assert (seen['state'], seen['exit_code']) == ('FAILED', 2), seen
    first = array.jobs[0].native_id
    assert first is not None
    seen = attach_elsewhere('sge', tmp_path / 'elsewhere', first, SETTINGS, wait=WAIT)
    assert (seen['state'], seen['exit_code']) == ('COMPLETED', 0), seen


def test_an_element_and_then_the_whole_array_are_canceled(backend: Backend) -> None:
    array = JobArray(JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes=backend.hold())), 4)
    backend.executor.submit_array(array)
    array.jobs[1].cancel()
    assert final_status(array.jobs[1], WAIT).state == JobState.CANCELED
    assert not any(job.status.state.final for job in (array.jobs[0], *array.jobs[2:]))
    tracker = backend.executor.tracker
    assert tracker is not None
    cancels = tracker.command_counts['cancel']
    array.cancel()
    assert [final_status(job, WAIT).state for job in array.jobs] == [JobState.CANCELED] * 4
    assert tracker.command_counts['cancel'] == cancels + 1  # one qdel for three elements
    wait_until(lambda: not _in_queue(str(array.native_id)), 'the array leaving the queue', 30)


def test_the_array_limit_is_read_from_the_cluster(backend: Backend) -> None:
    config = subprocess.run(['qconf', '-sconf'], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    said = int(next(line.split()[1] for line in config.splitlines()
                    if line.startswith('max_aj_tasks ')))
    executor = backend.executor
    assert isinstance(executor, SgeJobExecutor) and isinstance(executor, BatchSchedulerExecutor)
    assert executor._elements_per_array() == (said or 10**9)
