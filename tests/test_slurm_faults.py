"""Fault tests on the REAL Slurm cluster: a failing, lying or restarting scheduler never loses a
job nor reports one in a state it has no evidence for.

* the status command (``squeue``), and then also ``sacct``, fails for a while, or prints
  garbage: every job still ends in its true final state with its true exit code, and no job
  becomes final while the scheduler cannot be heard (a held job stays QUEUED);
* ``slurmctld`` is stopped and started again in the middle of a run
  (``.ci/lrm/slurmctld-restart.sh``): pending, running and just-finishing jobs all end right;
* a job that leaves the queue with no exit-code marker and no accounting is FAILED with an
  unknown outcome (or in the final state ``squeue`` still shows), never a guessed COMPLETED.

Faults in ``squeue``/``sacct`` come from the doubles in ``tests/doubles/faulty_slurm_commands``
put first on PATH: the tracker runs the commands by name, so only this process sees them.
The cluster is shared: the controller restart holds an exclusive flock on `RESTART_LOCK`, and
the other tests here hold a shared one so that nobody using the same lock restarts the
controller under them.
"""

import contextlib
import fcntl
import logging
import os
import pathlib
import queue
import shutil
import subprocess
import threading
import time
from datetime import timedelta
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from real_tools import IN_CI, require_slurm

from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState, JobStatus
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig

pytestmark = pytest.mark.slow

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
FAULTY_COMMANDS = REPOSITORY / 'tests' / 'doubles' / 'faulty_slurm_commands'
RESTART_SCRIPT = REPOSITORY / '.ci' / 'lrm' / 'slurmctld-restart.sh'
RESTART_LOCK = pathlib.Path('/tmp/psij-slurmctld-restart.lock')
TRACKER_LOGGER = 'psij.batch.tracker'

# What the real commands print when their daemon is away (Slurm 22.05).
CONTROLLER_DOWN = 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n'
DATABASE_DOWN = ('sacct: error: slurm_persist_conn_open_without_init: failed to open persistent '
                 'connection to host:localhost:6819: Connection refused\n'
                 'sacct: error: Problem talking to the database: Connection refused\n')
ACCOUNTING_DISABLED = 'Slurm accounting storage is disabled\n'
# Nothing here looks like a line of the tracker's format (ID|STATE|REASON|TIME_LIMIT).
GARBAGE = ('squeue: error: plugin_load_from_file: dlopen(/usr/lib/slurm/auth_jwt.so): '
           'cannot open shared object file\n'
           '\x1b[1;31mNOTICE: this cluster is under maintenance on Friday\x1b[0m\n'
           'JOBID|STATE\n'
           '|||||\n'
           '\ufffd\ufffd\ufffd\n')


# The real commands, found before any test puts the faulty ones first on PATH.
REAL_COMMANDS = {name: shutil.which(name) or name for name in ('squeue', 'sacct', 'scancel',
                                                                'scontrol')}


# --- helpers -------------------------------------------------------------------------------

class History:
    """Every status a job went through, with the monotonic time it arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: List[Tuple[float, JobStatus]] = []

    def __call__(self, job: Job, status: JobStatus) -> None:
        with self._lock:
            self.entries.append((time.monotonic(), status))

    def first_final(self) -> Optional[Tuple[float, JobStatus]]:
        with self._lock:
            return next(((at, status) for at, status in self.entries if status.state.final),
                        None)

    def describe(self, origin: float) -> str:
        with self._lock:
            return '; '.join(f'+{at - origin:.1f}s {status.state.name} exit={status.exit_code} '
                             f'{status.message or ""}'.rstrip()
                             for at, status in self.entries)


class Run:
    """Jobs of one test, by name, with the history of each (the `runs` fixture cancels them)."""

    def __init__(self, executor: BatchSchedulerExecutor) -> None:
        self.executor = executor
        self.jobs: Dict[str, Job] = {}
        self.histories: Dict[str, History] = {}
        self.origin = time.monotonic()

    def submit(self, name: str, spec: JobSpec) -> Job:
        job = Job(spec)
        history = History()
        job.set_job_status_callback(history)
        self.jobs[name] = job
        self.histories[name] = history
        self.executor.submit(job)
        return job

    def attach(self, name: str, native_id: str) -> Job:
        job = Job()
        history = History()
        job.set_job_status_callback(history)
        self.jobs[name] = job
        self.histories[name] = history
        self.executor.attach(job, native_id)
        return job

    def report(self) -> str:
        return '\n'.join(f'  {name} (slurm {job.native_id}): '
                         f'{self.histories[name].describe(self.origin)}'
                         for name, job in self.jobs.items())

    def wait_state(self, name: str, state: JobState, timeout: float) -> JobStatus:
        status = self.jobs[name].wait(timeout=timeout, target_states=state)
        assert status is not None and status.state == state, (
            f'{name} did not become {state.name} within {timeout:g} s:\n{self.report()}')
        return status

    def wait_final(self, names: List[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            status = self.jobs[name].wait(timeout=max(deadline - time.monotonic(), 0.1))
            assert status is not None, (
                f'{name} did not reach a final state within {timeout:g} s:\n{self.report()}')

    def assert_final(self, name: str, state: JobState, exit_code: Optional[int] = None) -> None:
        status = self.jobs[name].status
        assert status.state == state, f'{name}: expected {state.name}:\n{self.report()}'
        if exit_code is not None:
            assert status.exit_code == exit_code, (
                f'{name}: expected exit code {exit_code}:\n{self.report()}')

    def assert_not_final_before(self, names: List[str], moment: float, why: str) -> None:
        for name in names:
            first = self.histories[name].first_final()
            assert first is None or first[0] >= moment, (
                f'{name} became {first[1].state.name} at +{first[0] - self.origin:.1f}s, '
                f'before +{moment - self.origin:.1f}s, while {why} (no evidence):\n'
                f'{self.report()}')


def shell_job(script: str, hold: bool = False) -> JobSpec:
    """A job running ``sh -c script`` (at most two minutes), held in the queue if ``hold``."""
    attributes = JobAttributes(duration=timedelta(minutes=2),
                               custom_attributes={'slurm.hold': True} if hold else None)
    return JobSpec('/bin/sh', ['-c', script], name='psij-fault-test', attributes=attributes)


def until_exists(flag: pathlib.Path, exit_code: int) -> JobSpec:
    """A job that waits (at most 60 s) for ``flag`` to exist, then exits with ``exit_code``."""
    return shell_job(f'i=0; until [ -e "{flag}" ] || [ $i -ge 300 ]; do sleep 0.2; '
                     f'i=$((i + 1)); done; exit {exit_code}')


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'timed out after {timeout:g} s waiting for {what}'
        time.sleep(0.1)


def slurm_executor(work_dir: pathlib.Path,
                   outcome_timeout: float = 120.0) -> BatchSchedulerExecutor:
    """A Slurm executor that polls often, so that the tests are short."""
    executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
        work_directory=work_dir, initial_queue_polling_delay=0.5, queue_polling_interval=2.0,
        marker_polling_interval=0.5, outcome_timeout=outcome_timeout))
    assert isinstance(executor, BatchSchedulerExecutor)
    return executor


def tracker_log(caplog: pytest.LogCaptureFixture, text: str) -> List[logging.LogRecord]:
    return [record for record in caplog.records
            if record.name == TRACKER_LOGGER and text in record.getMessage()]


def status_command_count(executor: BatchSchedulerExecutor) -> int:
    tracker = executor.tracker
    assert tracker is not None, 'no job of the executor is tracked'
    return tracker.command_counts['status']


def wait_for_status_command(executor: BatchSchedulerExecutor, timeout: float = 10.0) -> None:
    """Until the tracker has run a status command that surely started after this call (the
    one running now may have been built before the last submission)."""
    before = status_command_count(executor)
    wait_for(lambda: status_command_count(executor) >= before + 2, timeout,
             'the tracker to run squeue on the submitted jobs')


@contextlib.contextmanager
def restart_lock(shared: bool, timeout: float = 180.0) -> Iterator[None]:
    """The flock the controller restart takes (exclusive) or a test that needs the controller
    to stay up (shared)."""
    descriptor = os.open(RESTART_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                            | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f'{RESTART_LOCK} stayed locked'
                time.sleep(0.2)
        yield
    finally:
        os.close(descriptor)


class Faults:
    """The flag files that the faulty ``squeue`` and ``sacct`` look at."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory

    def set(self, command: str, mode: str, text: str = '') -> None:
        (self.directory / f'{command}.{mode}').write_text(text)

    def clear(self, command: str, mode: str) -> None:
        (self.directory / f'{command}.{mode}').unlink()

    def calls(self, entry: str) -> int:
        log = self.directory / 'calls.log'
        lines = log.read_text().splitlines() if log.exists() else []
        return lines.count(entry)


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture
def controller_kept_up() -> Iterator[None]:
    """A working Slurm, which nobody using `RESTART_LOCK` restarts during the test."""
    require_slurm()
    with restart_lock(shared=True):
        yield


@pytest.fixture
def faults(controller_kept_up: None, monkeypatch: pytest.MonkeyPatch,
           tmp_path: pathlib.Path) -> Faults:
    """The faulty ``squeue`` and ``sacct`` first on PATH, working until a flag is set."""
    directory = tmp_path / 'faults'
    directory.mkdir()
    monkeypatch.setenv('PSIJ_DOUBLE_FAULT_DIR', str(directory))
    monkeypatch.setenv('PSIJ_DOUBLE_REAL_SQUEUE', REAL_COMMANDS['squeue'])
    monkeypatch.setenv('PSIJ_DOUBLE_REAL_SACCT', REAL_COMMANDS['sacct'])
    monkeypatch.setenv('PATH', f'{FAULTY_COMMANDS}{os.pathsep}{os.environ["PATH"]}')
    return Faults(directory)


@pytest.fixture
def runs() -> Iterator[List[Run]]:
    """Runs of the test; whatever they left in the queue is canceled at the end, and the test
    waits until it is gone so that the node is idle again."""
    made: List[Run] = []
    yield made
    # Every job, whatever psij says of it: a job wrongly reported final may still be queued.
    ids = [job.native_id for run in made for job in run.jobs.values()
           if job.native_id is not None]
    if not ids:
        return
    subprocess.run([REAL_COMMANDS['scancel'], *ids], capture_output=True, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = subprocess.run([REAL_COMMANDS['squeue'], '--noheader',
                                '--states=PENDING,RUNNING,COMPLETING', '--format=%i',
                                '--jobs=' + ','.join(ids)],
                               capture_output=True, text=True, timeout=60)
        gone = shown.returncode == 0 or 'invalid job id' in shown.stderr.lower()
        if gone and not shown.stdout.strip():
            break
        time.sleep(0.5)


@pytest.fixture
def log_tracker(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=TRACKER_LOGGER)
    return caplog


# --- 1. squeue (and sacct) failing or lying for a while --------------------------------------

FAULT_SECONDS = 10.0


@pytest.mark.parametrize('fault', ['squeue-fails', 'squeue-and-sacct-fail', 'squeue-garbage'])
def test_jobs_survive_a_failing_status_command(fault: str, faults: Faults, work_dir: pathlib.Path,
                                               runs: List[Run],
                                               log_tracker: pytest.LogCaptureFixture) -> None:
    # An outcome_timeout shorter than the fault: a job wrongly taken for gone from the queue
    # would be reported FAILED during the fault.
    outcome_timeout = 8.0
    run = Run(slurm_executor(work_dir, outcome_timeout=outcome_timeout))
    runs.append(run)
    run.submit('exit 0', shell_job('sleep 4; exit 0'))
    run.submit('exit 3', shell_job('sleep 4; exit 3'))
    run.submit('canceled while failing', shell_job('sleep 100'))
    run.submit('held', shell_job('exit 0', hold=True))
    for name in ('exit 0', 'exit 3', 'canceled while failing'):
        run.wait_state(name, JobState.ACTIVE, timeout=30)
    wait_for_status_command(run.executor)
    assert run.jobs['held'].status.state == JobState.QUEUED, run.report()

    fault_started = time.monotonic()
    if fault == 'squeue-garbage':
        faults.set('squeue', 'garbage', GARBAGE)
    else:
        faults.set('squeue', 'fail', CONTROLLER_DOWN)
    if fault == 'squeue-and-sacct-fail':
        faults.set('sacct', 'fail', DATABASE_DOWN)
    # scancel works (only this process's squeue and sacct are faulty): the job is gone, but
    # nothing the tracker can see says so yet.
    if fault == 'squeue-and-sacct-fail':
        # Canceled by someone else: only accounting can say who, so the tracker needs sacct.
        native_id = run.jobs['canceled while failing'].native_id
        assert native_id is not None
        subprocess.run([REAL_COMMANDS['scancel'], native_id], check=True)
    else:
        run.jobs['canceled while failing'].cancel()
    while time.monotonic() < fault_started + FAULT_SECONDS:
        assert run.jobs['held'].status.state == JobState.QUEUED, run.report()
        time.sleep(0.2)
    faulty_calls = faults.calls('squeue garbage' if fault == 'squeue-garbage' else 'squeue fail')
    assert faulty_calls >= 2, f'the tracker ran the faulty squeue {faulty_calls} times'
    squeue_restored = time.monotonic()
    faults.clear('squeue', 'garbage' if fault == 'squeue-garbage' else 'fail')
    if fault == 'squeue-and-sacct-fail':
        # squeue now says the canceled job is CANCELLED; the tracker asks sacct who did it
        wait_for(lambda: faults.calls('sacct fail') >= 1, 10, 'the tracker to run sacct')
        time.sleep(2)
        faults.clear('sacct', 'fail')
    if fault != 'squeue-garbage':
        run.assert_not_final_before(['canceled while failing', 'held'], squeue_restored,
                                    'squeue failed')

    run.wait_final(['exit 0', 'exit 3', 'canceled while failing'], timeout=30)
    run.assert_final('exit 0', JobState.COMPLETED, 0)
    run.assert_final('exit 3', JobState.FAILED, 3)
    run.assert_final('canceled while failing', JobState.CANCELED)
    # Held for longer than the outcome timeout since the fault began: still only pending.
    wait_for(lambda: time.monotonic() > fault_started + outcome_timeout + 2, 30, 'time')
    assert run.jobs['held'].status.state == JobState.QUEUED, run.report()
    run.jobs['held'].cancel()
    run.wait_final(['held'], timeout=30)
    run.assert_final('held', JobState.CANCELED)

    failures = tracker_log(log_tracker, 'status command failed')
    assert failures and failures[0].levelno == logging.WARNING, (
        f'no warning from {TRACKER_LOGGER} about the failing status command: '
        f'{[record.getMessage() for record in log_tracker.records]}')
    assert tracker_log(log_tracker, 'status command works again')
    if fault == 'squeue-and-sacct-fail':
        assert tracker_log(log_tracker, 'accounting command failed')


# --- 2. slurmctld stopped and started again during a run -----------------------------------

RESTART_DOWN_SECONDS = 4


def require_restartable_controller() -> None:
    """Fail under CI, skip elsewhere, unless this process may restart slurmctld."""
    problem = None
    if os.geteuid() != 0:
        problem = 'restarting slurmctld needs root'
    elif not os.path.exists('/run/slurmctld.pid'):
        problem = 'no /run/slurmctld.pid: slurmctld was not started by .ci/lrm/slurm-up.sh'
    if problem is not None:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)


class ControllerRestart:
    """``slurmctld-restart.sh`` running in the background; its "slurmctld stopped" and
    "slurmctld started" lines can be waited for."""

    def __init__(self, down_seconds: float, log_path: pathlib.Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, 'w')
        self.process = subprocess.Popen([str(RESTART_SCRIPT), str(down_seconds)],
                                        stdout=subprocess.PIPE, stderr=self._log, text=True)
        self._lines: queue.Queue[str] = queue.Queue()
        self.moments: Dict[str, float] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())

    def saw(self, line: str, timeout: float) -> bool:
        """True once ``line`` was printed, False if it was not within ``timeout`` s; fails
        if the script ended without printing it."""
        deadline = time.monotonic() + timeout
        while line not in self.moments:
            try:
                got = self._lines.get(timeout=min(0.1, max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                if not self._reader.is_alive() and self._lines.empty():
                    raise AssertionError(f'slurmctld-restart.sh ended without printing '
                                         f'{line!r}:\n{self.log_path.read_text()}') from None
                if time.monotonic() >= deadline:
                    return False
                continue
            self.moments[got] = time.monotonic()
        return True

    def wait_line(self, line: str, timeout: float) -> float:
        """The monotonic time ``line`` was printed, waiting for it at most ``timeout`` s."""
        assert self.saw(line, timeout), (f'slurmctld-restart.sh did not print {line!r} within '
                                         f'{timeout:g} s:\n{self.log_path.read_text()}')
        return self.moments[line]

    def finish(self) -> None:
        """Wait for the script (it starts the controller whatever happened); stop it if it
        hangs (its trap then starts the controller), then make sure the controller is up."""
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=90)
        finally:
            self._log.close()
            subprocess.run([str(RESTART_SCRIPT), '--ensure-up'], capture_output=True,
                           timeout=200)


@pytest.fixture
def restart_controller(tmp_path: pathlib.Path) -> Iterator[Callable[[float], ControllerRestart]]:
    """Starts slurmctld-restart.sh; whatever the test does, the controller is up afterwards."""
    require_slurm()
    require_restartable_controller()
    started: List[ControllerRestart] = []

    def start(down_seconds: float) -> ControllerRestart:
        restart = ControllerRestart(down_seconds, tmp_path / f'restart-{len(started)}.log')
        started.append(restart)
        return restart

    try:
        yield start
    finally:
        for restart in started:
            restart.finish()


def test_jobs_survive_a_controller_restart(work_dir: pathlib.Path, tmp_path: pathlib.Path,
                                           runs: List[Run],
                                           restart_controller: Callable[[float],
                                                                        ControllerRestart]
                                           ) -> None:
    ends_while_down = tmp_path / 'end-while-down'
    ends_after = tmp_path / 'end-after-restart'
    run = Run(slurm_executor(work_dir))
    runs.append(run)
    run.submit('pending', shell_job('exit 0', hold=True))
    run.submit('running, exit 0', until_exists(ends_after, 0))
    run.submit('running, exit 4', until_exists(ends_after, 4))
    run.submit('ends while down, exit 0', until_exists(ends_while_down, 0))
    run.submit('ends while down, exit 6', until_exists(ends_while_down, 6))
    run.submit('canceled after restart', shell_job('sleep 100'))
    running = [name for name in run.jobs if name != 'pending']
    for name in running:
        run.wait_state(name, JobState.ACTIVE, timeout=30)
    wait_for_status_command(run.executor)

    restart = restart_controller(RESTART_DOWN_SECONDS)
    restart.wait_line('slurmctld stopped', timeout=200)  # the lock may be held by others
    ends_while_down.touch()
    deadline = time.monotonic() + 60
    while not restart.saw('slurmctld started', timeout=0.2):
        assert time.monotonic() < deadline, (
            f'slurmctld-restart.sh did not start the controller within 60 s:\n'
            f'{restart.log_path.read_text()}')
        assert run.jobs['pending'].status.state == JobState.QUEUED, run.report()
        for name in ('running, exit 0', 'running, exit 4', 'canceled after restart'):
            assert run.jobs[name].status.state == JobState.ACTIVE, run.report()
    restart.finish()
    assert restart.process.returncode == 0, restart.log_path.read_text()
    started = restart.moments['slurmctld started']
    down_for = started - restart.moments['slurmctld stopped']
    assert down_for < 15, f'the controller was down for {down_for:.1f} s'
    run.assert_not_final_before(['pending', 'running, exit 0', 'running, exit 4',
                                 'canceled after restart'], started,
                                'slurmctld was down')

    run.jobs['canceled after restart'].cancel()
    released = subprocess.run([REAL_COMMANDS['scontrol'], 'release',
                               str(run.jobs['pending'].native_id)],
                              capture_output=True, text=True, timeout=60)
    assert released.returncode == 0, released.stderr
    ends_after.touch()
    run.wait_final(list(run.jobs), timeout=60)
    run.assert_final('pending', JobState.COMPLETED, 0)
    run.assert_final('running, exit 0', JobState.COMPLETED, 0)
    run.assert_final('running, exit 4', JobState.FAILED, 4)
    run.assert_final('ends while down, exit 0', JobState.COMPLETED, 0)
    run.assert_final('ends while down, exit 6', JobState.FAILED, 6)
    run.assert_final('canceled after restart', JobState.CANCELED)


# --- 3. jobs that leave the queue without marker and without accounting ----------------------

def slurm_state(native_id: str) -> str:
    """What the real squeue says of a job now ('' if it no longer shows it)."""
    shown = subprocess.run([REAL_COMMANDS['squeue'], '--noheader',
                            '--states=all', '--format=%T', f'--jobs={native_id}'],
                           capture_output=True, text=True, timeout=60)
    return shown.stdout.strip()


@pytest.mark.parametrize('squeue_shows_final', [False, True],
                         ids=['left-the-queue', 'squeue-shows-final'])
def test_job_killed_before_its_marker(squeue_shows_final: bool, faults: Faults,
                                      work_dir: pathlib.Path, runs: List[Run]) -> None:
    # The job kills its own process group, batch script included: no exit-code marker.
    faults.set('sacct', 'fail', ACCOUNTING_DISABLED)
    if not squeue_shows_final:
        faults.set('squeue', 'hide-final')
    run = Run(slurm_executor(work_dir, outcome_timeout=3.0))
    runs.append(run)
    job = run.submit('killed', shell_job('kill -KILL 0'))
    run.wait_final(['killed'], timeout=40)
    assert not (work_dir / 'slurm' / f'{job.native_id}.ec').exists()
    assert slurm_state(str(job.native_id)) == 'FAILED'
    run.assert_final('killed', JobState.FAILED)
    assert job.status.exit_code != 0, run.report()
    if not squeue_shows_final:
        assert 'outcome unknown' in (job.status.message or ''), run.report()


@pytest.mark.parametrize('squeue_shows_final', [False, True],
                         ids=['left-the-queue', 'squeue-shows-final'])
def test_attach_to_ended_job_without_marker(squeue_shows_final: bool, faults: Faults,
                                            work_dir: pathlib.Path, runs: List[Run]) -> None:
    run = Run(slurm_executor(work_dir, outcome_timeout=3.0))
    runs.append(run)
    ended = run.submit('ended', shell_job('exit 0'))
    run.wait_final(['ended'], timeout=40)
    run.assert_final('ended', JobState.COMPLETED, 0)
    native_id = str(ended.native_id)
    (work_dir / 'slurm' / f'{native_id}.ec').unlink()
    faults.set('sacct', 'fail', ACCOUNTING_DISABLED)
    if not squeue_shows_final:
        faults.set('squeue', 'hide-final')

    attached = run.attach('attached', native_id)
    run.wait_final(['attached'], timeout=30)
    if squeue_shows_final:
        assert slurm_state(native_id) == 'COMPLETED'
        run.assert_final('attached', JobState.COMPLETED, 0)
    else:
        run.assert_final('attached', JobState.FAILED)
        assert attached.status.exit_code is None, run.report()
        assert 'outcome unknown' in (attached.status.message or ''), run.report()
