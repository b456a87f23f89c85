"""Many jobs at once on the REAL Slurm cluster (issue 13): arrays, dependencies, the cap on jobs
in flight and batched cancels, each checked against what Slurm itself shows (``squeue``,
``scontrol``), not only against what psij reports.

Under CI=true a missing cluster fails these tests (see `real_tools.require_slurm`). The same
behaviours on a scripted scheduler on simulated time are in tests/test_many_jobs.py. Every job
here is named ``psij-mj-<random>``, one name per test, and whatever happens the test's
teardown runs ``scancel --name`` of its names, so the shared cluster is left idle.

Times: the whole module takes about a minute on the CI cluster (8 advertised CPUs);
`test_throttled_array` alone takes about 20 s and is marked ``slow``.
"""

import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from typing import Callable, Dict, Iterator, List, Set

import pytest
from batch_backends import Backend, real_backend
from batch_helpers import attach_elsewhere, final_status, wait_until

from psij import (
    DependencyCondition,
    Job,
    JobArray,
    JobAttributes,
    JobSpec,
    JobState,
)
from psij.job_array import INDEX_TOKEN

WAIT = 90.0  # seconds; jobs here end in a few seconds unless the cluster is busy
#: "Quickly": a dependent of a failed job ends this soon after it (the status poll interval
#: of these executors is 5 s, the job wait 90 s).
QUICKLY = 3.0
#: Slurm states of a job it no longer runs nor keeps waiting.
SLURM_FINAL = {'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL',
               'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'}
HOLD = JobAttributes(custom_attributes={'slurm.hold': True})
#: The real scancel, found before any test puts its shim first on PATH.
REAL_SCANCEL = shutil.which('scancel') or 'scancel'

Names = Callable[[], str]


@pytest.fixture
def backend(work_dir: pathlib.Path) -> Backend:
    return real_backend('slurm', work_dir)


@pytest.fixture
def names() -> Iterator[Names]:
    """Gives a fresh job name (``psij-mj-<random>``) per call; every job of those names is
    canceled when the test ends, whatever happened."""
    given: List[str] = []

    def fresh() -> str:
        given.append(f'psij-mj-{uuid.uuid4().hex[:10]}')
        return given[-1]

    yield fresh
    if shutil.which(REAL_SCANCEL) is not None:
        for name in given:
            subprocess.run([REAL_SCANCEL, f'--name={name}'], capture_output=True, timeout=30)


class ScancelLog:
    """A ``scancel`` first on PATH (this process's, so the executor's commands go through it)
    that logs each call's arguments, one line per call, and runs the real one."""

    def __init__(self, directory: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
        shim = directory / 'scancel-shim'
        shim.mkdir()
        self.path = directory / 'scancel.log'
        self.path.touch()
        (shim / 'scancel').write_text(
            '#!/bin/sh\n'
            f'printf "%s\\n" "$*" >>{shlex.quote(str(self.path))}\n'
            f'exec {shlex.quote(REAL_SCANCEL)} "$@"\n')
        (shim / 'scancel').chmod(0o755)
        monkeypatch.setenv('PATH', f'{shim}{os.pathsep}{os.environ["PATH"]}')

    def calls_naming(self, native_ids: Set[str]) -> List[List[str]]:
        """The argument lists of the calls that name any of ``native_ids`` (the process's one
        tracker may also cancel jobs of other tests)."""
        calls = [line.split() for line in self.path.read_text().splitlines()]
        return [call for call in calls if native_ids & set(call)]


@pytest.fixture
def scancel_log(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> ScancelLog:
    return ScancelLog(tmp_path, monkeypatch)


def squeue(*selection: str, fields: str = '%i|%T|%r') -> List[List[str]]:
    """``squeue`` lines (every state, array elements one per line) split at ``|``."""
    shown = subprocess.run(['squeue', '--noheader', '--array', '--states=all',
                            f'--format={fields}', *selection],
                           capture_output=True, text=True, timeout=30, check=True)
    return [line.split('|') for line in shown.stdout.splitlines() if line.strip()]


def slurm_states(name: str) -> Dict[str, str]:
    """The Slurm state of every job named ``name`` that Slurm still shows, by job id."""
    return {fields[0]: fields[1] for fields in squeue(f'--name={name}')}


def advertised_cpus() -> int:
    shown = subprocess.run(['sinfo', '--noheader', '--Node', '--format=%c'],
                           capture_output=True, text=True, timeout=30, check=True)
    return sum(int(word) for word in shown.stdout.split())


def watch_until_final(jobs: List[Job], look: Callable[[], None], timeout: float = WAIT) -> None:
    """Call ``look`` about every 0.2 s until every job is final (the test fails after
    ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not all(job.status.final for job in jobs):
        assert time.monotonic() < deadline, Counter(str(job.status.state) for job in jobs)
        look()
        time.sleep(0.2)


def no_longer_held_by_slurm(native_id: str) -> bool:
    """True if Slurm neither runs ``native_id`` nor keeps it waiting (final, or forgotten)."""
    return all(fields[1] in SLURM_FINAL for fields in squeue(f'--jobs={native_id}'))


# --- arrays ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_throttled_array(backend: Backend, names: Names, tmp_path: pathlib.Path) -> None:
    """50 elements with a throttle: never more than the throttle running, as ``squeue`` shows
    while the array runs; each element's own exit code, stdout path with its index, and state.

    The throttle is 5 when the node has more than 5 CPUs (the CI cluster advertises 8), else
    one below the CPU count, so that it is the throttle, not the node, that limits."""
    throttle = min(5, advertised_cpus() - 1)
    assert throttle >= 1, 'a node of 1 CPU cannot show a throttle'
    out = tmp_path / 'out'
    out.mkdir()
    script = f'sleep 1; echo "index $PSIJ_ARRAY_INDEX argument $1"; exit $(({INDEX_TOKEN} % 3))'
    spec = JobSpec('/bin/sh', ['-c', script, 'sh', INDEX_TOKEN], name=names(),
                   stdout_path=out / f'element-{INDEX_TOKEN}.txt')
    array = JobArray(spec, 50, throttle=throttle)
    backend.executor.submit_array(array)
    native = array.native_id
    assert native is not None and native.isdigit()
    assert [job.native_id for job in array.jobs] == [f'{native}_{i}' for i in range(50)]
    shown = subprocess.run(['scontrol', 'show', 'job', native], capture_output=True, text=True,
                           timeout=30, check=True).stdout
    assert f'ArrayTaskThrottle={throttle}' in shown, shown

    running: List[int] = []

    def look() -> None:
        running.append(sum(1 for fields in squeue(f'--jobs={native}')
                           if fields[1] == 'RUNNING'))

    watch_until_final(array.jobs, look)
    assert max(running) <= throttle, running
    assert max(running) >= 1, 'squeue never showed an element running'
    for index, job in enumerate(array.jobs):
        status = job.status
        expected = JobState.COMPLETED if index % 3 == 0 else JobState.FAILED
        assert (status.state, status.exit_code) == (expected, index % 3), (index, status)
        assert job.spec is not None and job.spec.stdout_path == out / f'element-{index}.txt'
        assert (out / f'element-{index}.txt').read_text() == f'index {index} argument {index}\n'
    assert set(slurm_states(spec.name or '').values()) <= {'COMPLETED', 'FAILED'}


def test_attach_to_an_array_element_from_another_process(backend: Backend,
                                                         names: Names) -> None:
    array = JobArray(JobSpec('/bin/sh', ['-c', 'sleep 3; exit $PSIJ_ARRAY_INDEX'],
                             name=names()), 3)
    backend.executor.submit_array(array)
    element = array.jobs[2]
    assert element.native_id == f'{array.native_id}_2'
    seen = attach_elsewhere('slurm', backend.work_dir, element.native_id,
                            {'queue_polling_interval': 5.0}, wait=60, timeout=120)
    assert (seen['state'], seen['exit_code']) == ('FAILED', 2), seen
    assert seen['first'] not in ('COMPLETED', 'FAILED', 'CANCELED'), 'attached too late'
    statuses = [final_status(job, WAIT) for job in array.jobs]
    assert [(status.state, status.exit_code) for status in statuses] == [
        (JobState.COMPLETED, 0), (JobState.FAILED, 1), (JobState.FAILED, 2)]


def test_canceling_a_whole_array_is_one_call(backend: Backend, names: Names,
                                             scancel_log: ScancelLog) -> None:
    array = JobArray(JobSpec('/bin/sleep', ['300'], name=names()), 20)
    backend.executor.submit_array(array)
    wait_until(lambda: len(squeue(f'--jobs={array.native_id}')) == 20, 'squeue showing 20')
    array.cancel()
    for job in array.jobs:
        assert final_status(job, WAIT).state == JobState.CANCELED, job.status
    ids = {job.native_id or '' for job in array.jobs} | {array.native_id or ''}
    calls = scancel_log.calls_naming(ids)
    assert len(calls) == 1, calls
    wait_until(lambda: no_longer_held_by_slurm(array.native_id or ''), 'the array leaving')


# --- dependencies ----------------------------------------------------------------------------

def test_a_chain_whose_first_job_fails_ends_at_once(backend: Backend, names: Names) -> None:
    """A chain of 4 (each after the previous COMPLETED) whose first job fails: the other three
    end FAILED, each naming its predecessor, within `QUICKLY` of the first one's end, and
    Slurm no longer keeps them.

    A held job stays tracked meanwhile: without it, the tracker's last cancel (of the
    abandoned dependents) kills the process's poller thread, see
    `test_the_poller_survives_the_cancels_of_a_failed_chain`."""
    name = names()
    keeper = Job(JobSpec('/bin/true', name=name, attributes=HOLD))
    backend.executor.submit(keeper)
    first = Job(JobSpec('/bin/sh', ['-c', 'sleep 1; exit 3'], name=name))
    chain = [first]
    for _ in range(3):
        chain.append(Job(JobSpec('/bin/true', name=name)).depends_on(chain[-1]))
    for job in chain:
        backend.executor.submit(job)
    dependencies = {fields[0]: fields[2] for fields in squeue(f'--name={name}')}
    assert dependencies[chain[1].native_id or ''] == 'Dependency', dependencies
    try:
        statuses = [final_status(job, WAIT) for job in chain]
        assert (statuses[0].state, statuses[0].exit_code) == (JobState.FAILED, 3)
        for before, status in zip(chain, statuses[1:]):
            assert status.state == JobState.FAILED, status
            assert f'predecessor job {before.id} ({before.native_id}) ended FAILED' in (
                status.message or ''), status
            assert status.time - statuses[0].time < QUICKLY, (statuses[0], status)
        dependents = ','.join(job.native_id or '' for job in chain[1:])
        wait_until(lambda: no_longer_held_by_slurm(dependents), 'Slurm letting go of the '
                   f'dependents {dependents}', timeout=30)
        assert not any((backend.work_dir / 'slurm' / f'{job.native_id}.started').exists()
                       for job in chain[1:]), 'a dependent of a failed job ran'
    finally:
        keeper.cancel()
    assert final_status(keeper, WAIT).state == JobState.CANCELED


def test_afterany_runs_after_a_failure(backend: Backend, names: Names,
                                       tmp_path: pathlib.Path) -> None:
    name = names()
    ended = tmp_path / 'first-ended'
    started = tmp_path / 'second-started'
    first = Job(JobSpec('/bin/sh', ['-c', f'sleep 1; date +%s.%N >{ended}; exit 4'], name=name))
    second = Job(JobSpec('/bin/sh', ['-c', f'date +%s.%N >{started}'], name=name)).depends_on(
        first, condition=DependencyCondition.ENDED)
    backend.executor.submit(first)
    backend.executor.submit(second)
    assert (final_status(first, WAIT).state, first.status.exit_code) == (JobState.FAILED, 4)
    status = final_status(second, WAIT)
    assert (status.state, status.exit_code) == (JobState.COMPLETED, 0), status
    assert float(started.read_text()) >= float(ended.read_text())


_CHAIN_THEN_ONE_MORE = textwrap.dedent('''
    import sys
    from psij import Job, JobExecutor, JobSpec
    from psij.batch import BatchSchedulerExecutorConfig
    work_directory, name = sys.argv[1:3]
    executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
        work_directory=work_directory, queue_polling_interval=5.0))
    first = Job(JobSpec('/bin/sh', ['-c', 'exit 3'], name=name))
    second = Job(JobSpec('/bin/true', name=name)).depends_on(first)
    executor.submit(first)
    executor.submit(second)
    print(first.wait(timeout=60), second.wait(timeout=60), flush=True)
    import time
    time.sleep(2)  # the cancel of the abandoned dependent has been answered
    later = Job(JobSpec('/bin/true', name=name))
    executor.submit(later)
    status = later.wait(timeout=30)
    print('later:', status and status.state.name)
''')


def test_the_poller_survives_the_cancels_of_a_failed_chain(backend: Backend,
                                                           names: Names) -> None:
    """A process whose only tracked jobs are a failed job and its abandoned dependent still
    tracks the jobs it submits later. Run in another process: the failure it shows kills the
    status poller thread of the process it happens in, and with it every later test here.

    Fails today: once the cancel of the abandoned dependent is answered and no job is left,
    the tracker asks the poller to call it again in an infinite delay (psij/batch/tracker.py
    `request_status` -> `wake` -> `_next_due`, whose "only cancels of abandoned jobs are left"
    case is `CancelQueue.next_at()`, `NEVER` with the queue empty), and the poller's
    ``Condition.wait(inf)`` raises OverflowError (psij/poller.py `_next_due`): the thread is
    gone, and no job of the process ever changes state again."""
    completed = subprocess.run(
        [sys.executable, '-c', _CHAIN_THEN_ONE_MORE, str(backend.work_dir), names()],
        capture_output=True, text=True, timeout=150)
    assert completed.returncode == 0, completed.stderr
    assert 'OverflowError' not in completed.stderr, completed.stderr[-2000:]
    assert completed.stdout.splitlines()[-1] == 'later: COMPLETED', completed.stdout


# --- the cap on jobs in flight ---------------------------------------------------------------

def test_at_most_max_in_flight_jobs_reach_slurm(backend: Backend, names: Names,
                                                tmp_path: pathlib.Path) -> None:
    """10 jobs with ``max_in_flight=3``: never more than 3 of them pending or running in
    Slurm at once (``squeue``), all complete. A job Slurm shows COMPLETING has ended for psij
    (its script exited and wrote its exit-code marker; Slurm is cleaning up after it), so it
    is not counted."""
    executor = backend.with_settings(tmp_path / 'capped', max_in_flight=3)
    name = names()
    jobs = [Job(JobSpec('/bin/sleep', ['1'], name=name)) for _ in range(10)]
    for job in jobs:
        executor.submit(job)  # returns at once for all ten
    assert [job.native_id is not None for job in jobs] == [True] * 3 + [False] * 7
    held = jobs[3].status
    assert held.state == JobState.QUEUED and 'held by psij' in (held.message or ''), held

    in_flight: List[int] = []
    ids: Set[str] = set()

    def look() -> None:
        states = slurm_states(name)
        ids.update(states)
        in_flight.append(sum(1 for state in states.values()
                             if state not in SLURM_FINAL and state != 'COMPLETING'))

    watch_until_final(jobs, look)
    assert max(in_flight) <= 3, in_flight
    assert max(in_flight) >= 1, 'squeue never showed a job of the ten'
    assert [job.status.state for job in jobs] == [JobState.COMPLETED] * 10
    submitted = {job.native_id or '' for job in jobs}
    assert len(submitted) == 10 and submitted <= ids, (submitted, ids)


# --- cancels ---------------------------------------------------------------------------------

def test_fifty_cancels_go_as_at_most_two_scancels(backend: Backend, names: Names,
                                                  scancel_log: ScancelLog) -> None:
    name = names()
    jobs = [Job(JobSpec('/bin/sleep', ['300'], name=name)) for _ in range(50)]
    for job in jobs:
        backend.executor.submit(job)
    wait_until(lambda: 'RUNNING' in slurm_states(name).values(), 'a job running', timeout=30)
    states = Counter(slurm_states(name).values())
    for job in jobs:
        job.cancel()  # returns at once
    for job in jobs:
        assert final_status(job, WAIT).state == JobState.CANCELED, job.status
    ids = {job.native_id or '' for job in jobs}
    calls = scancel_log.calls_naming(ids)
    assert 1 <= len(calls) <= 2, calls
    assert set().union(*calls) >= ids, 'a job was canceled by no scancel'
    assert set(slurm_states(name).values()) == {'CANCELLED'}, (states, slurm_states(name))
