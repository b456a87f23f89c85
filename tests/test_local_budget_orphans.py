"""A holder killed after starting a job but before writing its pid in the budget ledger: the
job is found by the mark in its environment (or, before its ``exec``, through its holder's
spawn lock), and its cores stay counted until it ends; with no such process they come back.

Holders are real processes, started and killed; jobs write their own start and end times.
"""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import Dict, Iterator, List, Tuple

import pytest
from psij.executors.local import LocalJobExecutor, LocalJobExecutorConfig
from psij.executors.local_ledger import Holder, Ledger, Reservation
from psij.executors.local_orphans import RESERVATION_VARIABLE
from test_local_budget_processes import _intervals, _most_busy

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

MARK = RESERVATION_VARIABLE.decode()


@pytest.fixture
def started() -> Iterator[List['subprocess.Popen[bytes]']]:
    """Processes a test starts; killed at its end if still there."""
    processes: List[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _dead_holder(started: List['subprocess.Popen[bytes]']) -> Holder:
    """A holder that has lived and died (killed and reaped)."""
    process = subprocess.Popen(['sleep', '60'])
    started.append(process)
    holder = Holder.of(process.pid)
    assert holder is not None
    process.kill()
    process.wait()
    return holder


def _sleeper(started: List['subprocess.Popen[bytes]'], env: Dict[str, str]
             ) -> 'subprocess.Popen[bytes]':
    process = subprocess.Popen(['sleep', '60'], env={**os.environ, **env},
                               start_new_session=True)
    started.append(process)
    return process


def _executor(work: pathlib.Path) -> LocalJobExecutor:
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=2))
    assert isinstance(executor, LocalJobExecutor)
    return executor


def _timed_job(out: pathlib.Path, name: str, cores: int, seconds: float = 0.0) -> Job:
    """A job that writes ``<name>.times``: its cores and start, then its end."""
    script = (f'echo {cores} $(date +%s.%N) > {name}.times; sleep {seconds}; '
              f'date +%s.%N >> {name}.times')
    return Job(JobSpec('/bin/sh', ['-c', script], directory=out,
                       resources=ResourceSpecV1(cpu_cores_per_process=cores)))


def _started_at(out: pathlib.Path, name: str) -> float:
    return float((out / f'{name}.times').read_text().split()[1])


def _reserve(ledger: Ledger, holder: Holder, job_id: str) -> None:
    """A reservation of 2 cores for ``holder``, naming no process (its pid not written)."""
    ledger.update(lambda state: state.reservations.append(
        Reservation(holder, job_id, 2, (), 0)))


def _emptied(ledger: Ledger) -> bool:
    """True once the ledger holds no reservation (an ended job's is given back within
    `RECORD_DELAY`)."""
    deadline = time.monotonic() + 5
    while ledger.read().reservations:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _ends_after(process: 'subprocess.Popen[bytes]', job: Job, out: pathlib.Path,
                name: str) -> None:
    """Kill ``process``; ``job`` then completes, and it started after the kill."""
    killed_at = time.time()
    process.kill()
    process.wait()
    status = job.wait(timeout=20)
    assert status is not None and status.state == JobState.COMPLETED, status
    assert _started_at(out, name) >= killed_at


def test_a_marked_process_of_a_dead_holder_keeps_its_cores_until_it_ends(
        work_dir: pathlib.Path, tmp_path: pathlib.Path,
        started: List['subprocess.Popen[bytes]']) -> None:
    holder = _dead_holder(started)
    job_process = _sleeper(started, {MARK: 'reservation-1'})
    ledger = Ledger(work_dir / 'local')
    _reserve(ledger, holder, 'reservation-1')
    mine = _timed_job(tmp_path, 'mine', 1)
    _executor(work_dir).submit(mine)
    assert mine.status.state == JobState.QUEUED
    # Found by its mark, it is now the reservation's process.
    [reservation] = ledger.read().reservations
    assert reservation.process is not None and reservation.process.pid == job_process.pid
    assert mine.wait(timeout=1.0) is None  # looked at the ledger again, still no room
    _ends_after(job_process, mine, tmp_path, 'mine')
    assert _emptied(ledger)


def test_without_a_marked_process_the_cores_of_a_dead_holder_come_back(
        work_dir: pathlib.Path, tmp_path: pathlib.Path,
        started: List['subprocess.Popen[bytes]']) -> None:
    holder = _dead_holder(started)
    _sleeper(started, {MARK: 'another-reservation'})  # marks count only for their own
    ledger = Ledger(work_dir / 'local')
    _reserve(ledger, holder, 'reservation-1')
    mine = _timed_job(tmp_path, 'mine', 2)
    _executor(work_dir).submit(mine)
    status = mine.wait(timeout=20)
    assert status is not None and status.state == JobState.COMPLETED, status
    assert _emptied(ledger)


# A holder that writes a reservation of its own, forks a child that keeps the descriptors it
# inherited (as Popen's child does until just before its exec), prints the child's pid and
# waits. The fork is libc's, as Popen's is: os.fork() would run psij's at-fork hook, which
# lets go of the spawn lock in children that are not on their way to an exec.
FORKING_HOLDER = textwrap.dedent('''
    import ctypes, os, pathlib, sys, time
    from psij.executors.local_ledger import Ledger, Reservation, this_process
    ledger = Ledger(pathlib.Path(sys.argv[1]))
    ledger.update(lambda state: state.reservations.append(
        Reservation(this_process(), 'reservation-1', 2, (), 0)))
    if sys.argv[2] == 'libc':
        child = ctypes.CDLL(None, use_errno=True).fork()
    else:
        child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    time.sleep(60)
''')


def _forking_holder(work: pathlib.Path, fork: str,
                    started: List['subprocess.Popen[bytes]']) -> Tuple[int, int]:
    """A killed holder whose child (forked by ``fork``) lives on: their pids."""
    holder = subprocess.Popen([sys.executable, '-c', FORKING_HOLDER, str(work / 'local'), fork],
                              stdout=subprocess.PIPE)
    started.append(holder)
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    holder.kill()
    holder.wait()
    return holder.pid, child


def test_a_child_of_a_dead_holder_that_has_not_exec_d_yet_keeps_its_cores(
        work_dir: pathlib.Path, tmp_path: pathlib.Path,
        started: List['subprocess.Popen[bytes]']) -> None:
    holder, child = _forking_holder(work_dir, 'libc', started)
    mine = _timed_job(tmp_path, 'mine', 1)
    try:
        _executor(work_dir).submit(mine)
        assert mine.status.state == JobState.QUEUED
        assert mine.wait(timeout=1.0) is None
        [reservation] = Ledger(work_dir / 'local').read().reservations
        assert reservation.holder.pid == holder and reservation.process is None
        killed_at = time.time()
    finally:
        os.kill(child, signal.SIGKILL)
    status = mine.wait(timeout=20)
    assert status is not None and status.state == JobState.COMPLETED, status
    assert _started_at(tmp_path, 'mine') >= killed_at


def test_a_python_forked_child_of_a_dead_holder_does_not_keep_its_cores(
        work_dir: pathlib.Path, tmp_path: pathlib.Path,
        started: List['subprocess.Popen[bytes]']) -> None:
    _, child = _forking_holder(work_dir, 'os', started)  # a multiprocessing worker, say
    mine = _timed_job(tmp_path, 'mine', 2)
    try:
        _executor(work_dir).submit(mine)
        status = mine.wait(timeout=20)
        assert status is not None and status.state == JobState.COMPLETED, status
    finally:
        os.kill(child, signal.SIGKILL)


# A session leader that has not exec'd, as a child is between closing its descriptors and
# its exec: forked, then setsid(); prints its pid.
ON_THE_WAY = textwrap.dedent('''
    import os, time
    child = os.fork()
    if child == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):  # so that the caller's read of our output ends
            os.dup2(null, descriptor)
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
''')


def test_a_session_leader_that_has_not_exec_d_keeps_a_dead_holders_cores(
        work_dir: pathlib.Path, tmp_path: pathlib.Path,
        started: List['subprocess.Popen[bytes]']) -> None:
    holder = _dead_holder(started)
    output = subprocess.run([sys.executable, '-c', ON_THE_WAY], stdout=subprocess.PIPE,
                            check=True, text=True).stdout
    child = int(output)
    ledger = Ledger(work_dir / 'local')
    _reserve(ledger, holder, 'reservation-1')
    mine = _timed_job(tmp_path, 'mine', 1)
    try:
        _executor(work_dir).submit(mine)
        assert mine.status.state == JobState.QUEUED
        [reservation] = ledger.read().reservations
        assert reservation.process is not None and reservation.process.pid == child
        killed_at = time.time()
    finally:
        os.kill(child, signal.SIGKILL)
    status = mine.wait(timeout=20)
    assert status is not None and status.state == JobState.COMPLETED, status
    assert _started_at(tmp_path, 'mine') >= killed_at


# A budgeted executor of 2 cores that submits one 2-core job; run with
# PSIJ_TEST_KILL_AFTER_SPAWN=1, it is killed right after the job's process has started.
KILLED_HOLDER = textwrap.dedent('''
    import sys
    from psij import Job, JobExecutor, JobSpec, ResourceSpecV1
    from psij.executors.local import LocalJobExecutorConfig
    work, out = sys.argv[1:3]
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=2))
    script = 'echo 2 $(date +%s.%N) > held.times; sleep 1.5; date +%s.%N >> held.times'
    executor.submit(Job(JobSpec('/bin/sh', ['-c', script], directory=out,
                                resources=ResourceSpecV1(cpu_cores_per_process=2))))
    print('not killed', flush=True)
''')


def test_a_holder_killed_right_after_starting_a_job_never_lets_the_budget_be_exceeded(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    holder = subprocess.run([sys.executable, '-c', KILLED_HOLDER, str(work_dir), str(tmp_path)],
                            env={**os.environ, 'PSIJ_TEST_KILL_AFTER_SPAWN': '1'},
                            capture_output=True, text=True, timeout=60)
    assert holder.returncode == -signal.SIGKILL, (holder.stdout, holder.stderr)
    jobs = [_timed_job(tmp_path, f'mine{index}', 2, 0.2) for index in range(2)]
    executor = _executor(work_dir)
    for job in jobs:
        executor.submit(job)
    for job in jobs:
        status = job.wait(timeout=30)
        assert status is not None and status.state == JobState.COMPLETED, status
    deadline = time.monotonic() + 30
    while len((tmp_path / 'held.times').read_text().split()) < 3:  # the held job's end
        assert time.monotonic() < deadline, 'the killed holder\'s job did not end'
        time.sleep(0.05)
    intervals = _intervals(tmp_path)
    assert len(intervals) == 3
    assert _most_busy(intervals) == 2
