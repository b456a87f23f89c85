"""`SchedulerTracker` with no scheduler: a scripted scheduler, a recording transport.

Most tests run the tracker on simulated time: their trackers live in a `TrackerRegistry` given
a `FakeClock` and a `SimulatedPoller` instead of the monotonic clock and the process's poller,
so each test calls `SchedulerTracker.poll` exactly when the tracker asks to be called, jumping
the clock instead of sleeping. The tracker's own
constants (`MIN_COMMAND_SPACING`, `EXIT_REASON_WAIT`...) keep their real values, and times
can be asserted exactly. A few tests run on the real poller thread, to check the same
behaviour with real threads and real time.
"""

import logging
import os
import pathlib
import time
from typing import Callable, List, Optional, Sequence, Tuple

import pytest
from batch_helpers import wait_until
from doubles.fake_batch_scheduler import (
    ACCOUNTING,
    CANCEL,
    STATUS,
    FakeClock,
    RecordedCommand,
    RecordingTransport,
    ScriptedScheduler,
    SimulatedPoller,
    SimulatedSubmitter,
    running,
    scripted_executor,
)

import psij.batch.job_files as job_files
import psij.batch.tracker as tracker_module
from psij import Job, JobSpec, JobState, JobStatus
from psij.batch import (
    BatchSchedulerExecutor,
    BatchSchedulerExecutorConfig,
    CancelOutcome,
    SchedulerStatus,
)
from psij.batch.evidence import EXIT_REASON_WAIT
from psij.batch.registry import TrackerRegistry
from psij.transport import LocalTransport, RunningCommand

#: Executor settings of the simulated tests (simulated seconds: they cost no real time).
SETTINGS = {'queue_polling_interval': 30.0, 'initial_queue_polling_delay': 1.0,
            'marker_polling_interval': 2.0, 'outcome_timeout': 20.0}
CEILING = 30.0
EPSILON = 1e-6


class History:
    """Every status the callback of one job saw, with the time it was seen."""

    def __init__(self, job: Job, clock: Callable[[], float]) -> None:
        self.job = job
        self.clock = clock
        self.seen: List[Tuple[float, JobStatus]] = []
        job.set_job_status_callback(self._record)

    def _record(self, job: Job, status: JobStatus) -> None:
        self.seen.append((self.clock(), status))

    @property
    def states(self) -> List[JobState]:
        """The states seen, in order."""
        return [status.state for _, status in self.seen]

    @property
    def final(self) -> JobStatus:
        """The one final status seen (fails if there is not exactly one)."""
        finals = [status for _, status in self.seen if status.final]
        assert len(finals) == 1, f'expected one final status, saw {self.seen}'
        return finals[0]

    @property
    def final_at(self) -> float:
        """When the final status was seen."""
        self.final  # noqa: B018 - checks there is exactly one
        return next(at for at, status in self.seen if status.final)


class Simulation:
    """One scripted scheduler and recording transport (so one tracker) on simulated time."""

    def __init__(self, clock: FakeClock, poller: SimulatedPoller,
                 work_directory: pathlib.Path) -> None:
        self.clock = clock
        self.poller = poller
        self.work_directory = work_directory
        self.scheduler = ScriptedScheduler()
        self.transport = RecordingTransport(clock.monotonic)
        self.registry = TrackerRegistry(clock=clock.monotonic, poller=poller)
        self.submitter = SimulatedSubmitter(poller)

    def executor(self, **settings: object) -> BatchSchedulerExecutor:
        """An executor of this simulation's scheduler; ``settings`` override `SETTINGS`."""
        return scripted_executor(self.scheduler, self.transport, self.work_directory,
                                 self.registry, self.submitter, **{**SETTINGS, **settings})

    def submit(self, executor: BatchSchedulerExecutor, count: int = 1) -> List[History]:
        """Submit ``count`` jobs, each with its history recorded from the start."""
        histories = []
        for _ in range(count):
            job = Job(JobSpec('/bin/true'))
            histories.append(History(job, self.clock.monotonic))
            executor.submit(job)
        return histories

    def command_times(self, *programs: str) -> List[float]:
        """When the commands ``programs`` ran."""
        return [command.at for command in self.transport.runs_of(*programs)]

    def run_until_final(self, histories: Sequence[History], seconds: float) -> None:
        """Poll until every job is final; fail if that takes more than ``seconds``."""
        assert self.poller.run_until(
            lambda: all(history.job.status.final for history in histories), seconds), \
            [history.job.status for history in histories]

    def run_until_next_status_command(self, seconds: float = 2 * CEILING) -> float:
        """Poll until one more status command ran; its time."""
        count = len(self.command_times(STATUS))
        assert self.poller.run_until(lambda: len(self.command_times(STATUS)) > count, seconds)
        return self.command_times(STATUS)[-1]


def marker(executor: BatchSchedulerExecutor, native_id: Optional[str], suffix: str,
           text: str = '') -> pathlib.Path:
    """Write the marker ``<native_id><suffix>`` the job script would write."""
    assert native_id is not None
    executor.directory.mkdir(parents=True, exist_ok=True)
    path = executor.directory / f'{native_id}{suffix}'
    path.write_text(text)
    return path


def gaps(times: Sequence[float]) -> List[float]:
    """The differences between consecutive ``times``."""
    return [later - earlier for earlier, later in zip(times, times[1:])]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def poller(clock: FakeClock) -> SimulatedPoller:
    return SimulatedPoller(clock)


@pytest.fixture
def sim(clock: FakeClock, poller: SimulatedPoller, tmp_path: pathlib.Path) -> Simulation:
    return Simulation(clock, poller, tmp_path / 'work')


# --- 1. markers alone ----------------------------------------------------------------------


def test_zero_exit_marker_completes_without_a_status_command(sim: Simulation) -> None:
    executor = sim.executor()
    (history,) = sim.submit(executor)
    job = history.job

    marker(executor, job.native_id, '.started', '1700000000\n')
    assert sim.poller.run_until(lambda: job.status.state == JobState.ACTIVE, 0.5)
    marker(executor, job.native_id, '.ec', '0\n')
    sim.run_until_final([history], 0.5)
    sim.poller.run_for(10 * CEILING)

    assert history.states == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
    assert history.final.exit_code == 0
    assert job.status.state == JobState.COMPLETED
    assert sim.transport.runs_of(STATUS, ACCOUNTING) == []


class HangingStatusTransport(RecordingTransport):
    """A `RecordingTransport` whose status command really runs, as ``sleep 30``: a scheduler
    whose status command hangs (a controller that does not answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: List[RunningCommand] = []

    def start(self, argv: Sequence[str], stdin: Optional[str] = None,
              timeout: float = 60.0) -> RunningCommand:
        if argv[0] != STATUS:
            return super().start(argv, stdin, timeout)
        self.commands.append(RecordedCommand(self.clock(), tuple(argv), 'hanging'))
        command = LocalTransport.start(self, ['sleep', '30'], timeout=timeout)
        self.started.append(command)
        return command


def test_a_hanging_status_command_does_not_hold_up_markers_or_other_trackers(
        tmp_path: pathlib.Path) -> None:
    hanging = HangingStatusTransport()
    stuck = scripted_executor(ScriptedScheduler(), hanging, tmp_path / 'stuck',
                              initial_queue_polling_delay=0.1, marker_polling_interval=0.2)
    other_transport = RecordingTransport()
    other = scripted_executor(ScriptedScheduler(), other_transport, tmp_path / 'other',
                              initial_queue_polling_delay=60.0, marker_polling_interval=0.2)
    stuck_job, other_job = Job(JobSpec('/bin/true')), Job(JobSpec('/bin/true'))
    stuck.submit(stuck_job)
    wait_until(lambda: len(hanging.started) == 1, 'the status command', 5.0)
    time.sleep(1.0)  # past the poller's short wait for a command it has just started
    other.submit(other_job)
    written_at = time.monotonic()
    marker(other, other_job.native_id, '.ec', f'0\nPSIJ-JOB: {other_job.id}\n')
    marker(stuck, stuck_job.native_id, '.ec', f'0\nPSIJ-JOB: {stuck_job.id}\n')
    for job in (other_job, stuck_job):
        status = job.wait(timeout=10)
        assert status is not None and status.state == JobState.COMPLETED
    # seen by the marker listing while the status command (30 s) still ran
    assert time.monotonic() - written_at < 5.0
    assert len(hanging.runs_of(STATUS)) == 1
    # nothing is left to ask about: the hanging command was stopped, not left behind
    wait_until(lambda: hanging.started[0].poll() is not None, 'the stop of the command', 5.0)
    result = hanging.started[0].poll()
    assert result is not None and result.returncode is None


def test_a_status_command_past_its_timeout_is_killed_and_retried(
        tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    hanging = HangingStatusTransport()
    executor = scripted_executor(ScriptedScheduler(), hanging, tmp_path,
                                 initial_queue_polling_delay=0.1, command_timeout=1.0)
    job = Job(JobSpec('/bin/true'))
    with caplog.at_level(logging.WARNING, logger='psij.batch.tracker'):
        executor.submit(job)
        wait_until(lambda: len(hanging.started) >= 2, 'a second status command', 10.0)
    assert job.status.state == JobState.QUEUED  # a command that did not answer is no evidence
    first = hanging.started[0].poll()
    assert first is not None and 'no answer after 1 s' in first.stderr
    assert 'status command failed' in caplog.text
    marker(executor, job.native_id, '.ec', f'0\nPSIJ-JOB: {job.id}\n')
    status = job.wait(timeout=10)
    assert status is not None and status.state == JobState.COMPLETED


def test_markers_settle_a_job_on_the_real_poller_thread(tmp_path: pathlib.Path) -> None:
    scheduler = ScriptedScheduler()
    transport = RecordingTransport()
    executor = scripted_executor(scheduler, transport, tmp_path, initial_queue_polling_delay=60.0,
                                 marker_polling_interval=0.2)
    job = Job(JobSpec('/bin/true'))
    history = History(job, time.monotonic)
    executor.submit(job)

    marker(executor, job.native_id, '.started')
    assert job.wait(timeout=5, target_states=JobState.ACTIVE) is not None
    marker(executor, job.native_id, '.ec', '0\n')
    status = job.wait(timeout=5)

    assert status is not None and status.state == JobState.COMPLETED and status.exit_code == 0
    time.sleep(0.3)  # room for a wrong extra callback
    assert history.states == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
    assert transport.runs_of(STATUS, ACCOUNTING) == []


# --- 2. non-zero exit markers wait for the scheduler's reason ------------------------------


def _running_job_with_exit_marker(sim: Simulation, code: str,
                                  **settings: object) -> Tuple[BatchSchedulerExecutor, History,
                                                               float]:
    """A job the scheduler saw RUNNING, whose exit marker appears right after a status
    command; the executor, the job's history and when the marker appeared."""
    executor = sim.executor(**settings)
    (history,) = sim.submit(executor)
    native_id = history.job.native_id
    assert native_id is not None
    sim.scheduler.queue[native_id] = running()
    sim.run_until_next_status_command()
    assert history.job.status.state == JobState.ACTIVE
    marker(executor, native_id, '.ec', code)
    return executor, history, sim.clock.now


def test_a_marker_left_by_an_earlier_job_with_the_same_id_is_not_evidence(
        sim: Simulation) -> None:
    """Schedulers reuse ids (wrap-around, a reinstalled server): an old job's marker with
    the new job's native id must not end the new job."""
    executor, history, _ = _running_job_with_exit_marker(sim, '0\nPSIJ-JOB: earlier-job\n')
    native_id = history.job.native_id
    sim.poller.run_for(EXIT_REASON_WAIT)
    assert history.job.status.state == JobState.ACTIVE
    marker(executor, native_id, '.ec', f'4\nPSIJ-JOB: {history.job.id}\n')
    sim.scheduler.queue.pop(str(native_id))
    sim.run_until_final([history], EXIT_REASON_WAIT + 5)
    assert (history.final.state, history.final.exit_code) == (JobState.FAILED, 4)


def test_a_started_marker_left_by_an_earlier_job_with_the_same_id_is_not_evidence(
        sim: Simulation) -> None:
    """An old job's ``.started`` with the new job's native id must not make the new job,
    still waiting in the queue, ACTIVE; the new job's own marker, written over it, does."""
    executor = sim.executor()
    (history,) = sim.submit(executor)
    job = history.job
    marker(executor, job.native_id, '.started', '1700000000\nPSIJ-JOB: earlier-job\n')
    sim.poller.run_for(5 * CEILING)
    assert job.status.state == JobState.QUEUED
    marker(executor, job.native_id, '.started', f'1800000000\nPSIJ-JOB: {job.id}\n')
    assert sim.poller.run_until(lambda: job.status.state == JobState.ACTIVE, 5.0)
    marker(executor, job.native_id, '.ec', f'0\nPSIJ-JOB: {job.id}\n')
    sim.run_until_final([history], 5.0)
    assert history.states == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]


def test_non_zero_marker_is_failed_once_the_scheduler_says_failed(sim: Simulation) -> None:
    _, history, written_at = _running_job_with_exit_marker(sim, '3\n',
                                                           marker_polling_interval=0.5)
    native_id = history.job.native_id
    assert native_id is not None
    # The scheduler's own record has no exit code: 3 can only come from the marker.
    sim.scheduler.queue[native_id] = SchedulerStatus(JobState.FAILED, 'FAILED')
    sim.run_until_final([history], EXIT_REASON_WAIT)

    final = history.final
    assert final.state == JobState.FAILED
    assert final.exit_code == 3
    assert 'exit code 3' in (final.message or '')
    assert final.metadata == {'native_state': 'FAILED'}
    # Settled by a status command (the scheduler's word), well before the wait ran out.
    assert history.final_at in sim.command_times(STATUS)
    assert history.final_at < written_at + EXIT_REASON_WAIT
    assert history.states == [JobState.QUEUED, JobState.ACTIVE, JobState.FAILED]


def test_a_marker_written_before_the_queue_shows_the_end_is_read_first(sim: Simulation) -> None:
    # Under load the status command can see a job ended before the marker cadence comes
    # round: the marker's message (why the script gave up) must still be in the status.
    executor = sim.executor(marker_polling_interval=60.0, queue_polling_interval=60.0)
    (history,) = sim.submit(executor)
    native_id = history.job.native_id or ''
    sim.poller.run_until(lambda: False, 200.0)  # the marker listings are now 60 s apart
    marker(executor, native_id, '.ec', '1\nJobSpec.directory /nowhere cannot be entered\n')
    sim.scheduler.queue[native_id] = SchedulerStatus(JobState.FAILED, 'C', exit_code=1)
    executor.tracker_registry.request_status(executor.scheduler, executor.transport)
    sim.run_until_final([history], 5.0)

    assert history.final_at in sim.command_times(STATUS)
    assert history.final.exit_code == 1
    assert 'JobSpec.directory /nowhere cannot be entered' in (history.final.message or '')


def test_time_limit_reason_is_in_the_failure_message(sim: Simulation) -> None:
    _, history, _ = _running_job_with_exit_marker(sim, '3\n', marker_polling_interval=0.5)
    native_id = history.job.native_id
    assert native_id is not None
    sim.scheduler.queue[native_id] = SchedulerStatus(
        JobState.FAILED, 'TIMEOUT', message='time limit of 0-00:01:00 reached')
    sim.run_until_final([history], EXIT_REASON_WAIT)

    final = history.final
    assert final.state == JobState.FAILED
    assert final.exit_code == 3
    assert 'time limit of 0-00:01:00 reached' in (final.message or '')
    assert final.metadata == {'native_state': 'TIMEOUT'}


def test_exit_reason_given_soon_after_a_completing_look_is_not_lost(sim: Simulation) -> None:
    """The scheduler often still shows the job (COMPLETING) on the first look after the
    marker, and its final state a moment later: the tracker must look again within
    EXIT_REASON_WAIT, even when the job ran long enough for the status interval to reach
    the ceiling."""
    executor = sim.executor(marker_polling_interval=0.5)
    (history,) = sim.submit(executor)
    native_id = history.job.native_id
    assert native_id is not None
    sim.scheduler.queue[native_id] = running()
    sim.poller.run_for(10 * CEILING)
    sim.run_until_next_status_command()
    marker(executor, native_id, '.ec', '3\n')
    sim.scheduler.queue[native_id] = SchedulerStatus(JobState.ACTIVE, 'COMPLETING')
    first_look = sim.run_until_next_status_command()
    assert not history.job.status.final
    sim.poller.run_for(1.0)
    sim.scheduler.queue[native_id] = SchedulerStatus(
        JobState.FAILED, 'TIMEOUT', message='time limit of 0-00:01:00 reached')
    sim.run_until_final([history], 2 * CEILING)

    looks = [at for at in sim.command_times(STATUS) if at > first_look]
    assert looks and looks[0] < first_look + EXIT_REASON_WAIT, \
        f'no status command between the first look at {first_look} and the end of the ' \
        f'wait at {first_look + EXIT_REASON_WAIT}; next ones: {looks}'
    assert 'time limit of 0-00:01:00 reached' in (history.final.message or '')
    assert history.final.exit_code == 3


def test_non_zero_marker_without_a_final_status_fails_after_the_wait(sim: Simulation) -> None:
    _, history, written_at = _running_job_with_exit_marker(sim, '3\n')
    # The scheduler keeps saying RUNNING: no reason ever comes.
    sim.run_until_final([history], 10 * CEILING)

    final = history.final
    assert final.state == JobState.FAILED
    assert final.exit_code == 3
    assert final.message == 'exit code 3'
    wait = EXIT_REASON_WAIT
    # The marker is seen within one marker interval of being written; then the wait.
    assert written_at + wait <= history.final_at
    assert history.final_at <= written_at + wait + SETTINGS['marker_polling_interval'] + 0.02
    assert any(written_at < at < history.final_at for at in sim.command_times(STATUS)), \
        'the scheduler was not asked for the reason'


# --- 3. launcher failures ------------------------------------------------------------------


@pytest.mark.parametrize('exit_code', [1, 0])
def test_launcher_error_line_fails_the_job(sim: Simulation, exit_code: int) -> None:
    _, history, _ = _running_job_with_exit_marker(
        sim, f'{exit_code}\nPSIJ-LAUNCHER-ERROR: srun: error: Unable to create step\n')
    native_id = history.job.native_id
    assert native_id is not None
    del sim.scheduler.queue[native_id]
    sim.run_until_final([history], EXIT_REASON_WAIT + 5)

    final = history.final
    assert final.state == JobState.FAILED
    assert "launcher 'single' failed" in (final.message or '')
    assert 'srun: error: Unable to create step' in (final.message or '')
    assert final.exit_code == exit_code


# --- 4. one status command for all jobs ----------------------------------------------------


def test_one_status_command_covers_all_jobs(clock: FakeClock, poller: SimulatedPoller,
                                            tmp_path: pathlib.Path) -> None:
    many = Simulation(clock, poller, tmp_path / 'many')
    one = Simulation(clock, poller, tmp_path / 'one')
    many_jobs = many.submit(many.executor(), 200)
    one.submit(one.executor(), 1)
    for simulation in (many, one):
        for native_id in list(simulation.scheduler.queue):
            simulation.scheduler.queue[native_id] = running()
    poller.run_for(2 * CEILING + 10)

    ids = sorted(history.job.native_id or '' for history in many_jobs)
    assert len(set(ids)) == 200
    assert many.scheduler.status_calls and all(
        asked == ids for asked in many.scheduler.status_calls)
    for command in many.transport.runs_of(STATUS):
        assert command.argv == (STATUS, '--jobs=' + ','.join(ids))
    assert len(many.command_times(STATUS)) == len(one.command_times(STATUS))
    assert many.command_times(STATUS) == one.command_times(STATUS)
    assert many.transport.listings == one.transport.listings
    assert all(history.job.status.state == JobState.ACTIVE for history in many_jobs)


# --- 5. spacing of scheduler commands ------------------------------------------------------


def test_scheduler_commands_are_spaced(sim: Simulation) -> None:
    executor = sim.executor(initial_queue_polling_delay=0.25, queue_polling_interval=4.0)
    histories: List[History] = []
    for step in range(80):
        action = step % 5
        live = [history for history in histories if not history.job.status.final]
        if action in (0, 1):
            histories += sim.submit(executor, 2)
            sim.scheduler.queue[histories[-1].job.native_id or ''] = running()
        elif action == 2 and live:
            job = live[0].job
            executor.cancel(job)
            sim.scheduler.queue[job.native_id or ''] = SchedulerStatus(
                JobState.CANCELED, 'CANCELLED', message='canceled')
        elif action == 3:
            job = Job()
            histories.append(History(job, sim.clock.monotonic))
            native_id = str(5000 + step)
            sim.scheduler.queue[native_id] = running()
            executor.attach(job, native_id)
        elif action == 4 and live:
            native_id = live[-1].job.native_id or ''
            sim.scheduler.queue.pop(native_id, None)
            sim.scheduler.accounting[native_id] = SchedulerStatus(
                JobState.COMPLETED, 'COMPLETED', exit_code=0)
        sim.poller.run_for(0.3 + 0.07 * (step % 3))
    for native_id in list(sim.scheduler.queue):
        sim.scheduler.queue[native_id] = SchedulerStatus(JobState.COMPLETED, 'COMPLETED')
    sim.run_until_final(histories, 10 * CEILING)

    times = sim.command_times(STATUS, ACCOUNTING)
    assert len(sim.command_times(STATUS)) >= 15 and len(sim.command_times(ACCOUNTING)) >= 1
    assert len(sim.command_times(CANCEL)) >= 10
    assert min(gaps(times)) >= tracker_module.MIN_COMMAND_SPACING - EPSILON, sorted(
        zip(gaps(times), times))[:5]


def test_scheduler_commands_are_spaced_on_the_poller_thread(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    spacing = 0.3
    monkeypatch.setattr(tracker_module, 'MIN_COMMAND_SPACING', spacing)
    scheduler = ScriptedScheduler()
    transport = RecordingTransport()
    executor = scripted_executor(scheduler, transport, tmp_path, initial_queue_polling_delay=0.05,
                                 queue_polling_interval=0.6, marker_polling_interval=0.2,
                                 outcome_timeout=30.0)
    jobs: List[Job] = []
    for step in range(30):
        if step % 3 == 0:
            job = Job(JobSpec('/bin/true'))
            executor.submit(job)
            jobs.append(job)
        elif step % 3 == 1:
            job = Job()
            native_id = str(7000 + step)
            scheduler.queue[native_id] = running()
            executor.attach(job, native_id)
            jobs.append(job)
        else:
            executor.cancel(jobs[-1])
        time.sleep(0.05)
    for native_id in list(scheduler.queue):
        scheduler.queue[native_id] = SchedulerStatus(JobState.COMPLETED, 'COMPLETED')
    for job in jobs:
        assert job.wait(timeout=10) is not None, job

    commands = transport.runs_of(STATUS, ACCOUNTING)
    assert len(commands) >= 4
    assert {command.thread for command in commands} == {'psij-status-poller'}
    # The tracker takes its time just before it lists the markers; the transport records
    # a little later, hence a small tolerance.
    assert min(gaps([command.at for command in commands])) >= spacing - 0.1


# --- 6. a failing status command -----------------------------------------------------------


def test_failing_status_command_changes_no_state_and_backs_off(
        sim: Simulation, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger='psij.batch.tracker')
    executor = sim.executor()
    completed, failed, canceled = sim.submit(executor, 3)
    for history in (completed, failed, canceled):
        sim.scheduler.queue[history.job.native_id or ''] = running()
    sim.run_until_next_status_command()
    seen_before = [len(history.seen) for history in (completed, failed, canceled)]

    # The controller goes down while the jobs end.
    sim.scheduler.status_error = 'slurm_load_jobs error: Socket timed out on send/recv'
    sim.scheduler.queue[completed.job.native_id or ''] = SchedulerStatus(
        JobState.COMPLETED, 'COMPLETED', exit_code=0)
    sim.scheduler.queue[failed.job.native_id or ''] = SchedulerStatus(
        JobState.FAILED, 'FAILED', exit_code=2)
    sim.scheduler.queue[canceled.job.native_id or ''] = SchedulerStatus(
        JobState.CANCELED, 'CANCELLED', message='canceled by uid 1000')
    outage_start = sim.clock.now
    sim.poller.run_for(4 * CEILING)

    failures = [at for at in sim.command_times(STATUS) if at > outage_start]
    assert len(failures) >= 5
    assert [len(history.seen) for history in (completed, failed, canceled)] == seen_before
    assert all(history.job.status.state == JobState.ACTIVE
               for history in (completed, failed, canceled))
    failure_gaps = gaps(failures)
    assert failure_gaps == sorted(failure_gaps), failure_gaps
    assert failure_gaps[-1] > failure_gaps[0]
    assert failure_gaps[-1] <= CEILING + EPSILON
    logged = [record for record in caplog.records if record.name == 'psij.batch.tracker'
              and 'status command failed' in record.getMessage()]
    assert len(logged) == len(failures)
    assert any(record.levelno == logging.WARNING for record in logged)
    assert 'Socket timed out' in logged[0].getMessage()

    sim.scheduler.status_error = None
    sim.run_until_final([completed, failed, canceled], 2 * CEILING)

    assert completed.final.state == JobState.COMPLETED and completed.final.exit_code == 0
    assert failed.final.state == JobState.FAILED and failed.final.exit_code == 2
    assert canceled.final.state == JobState.CANCELED
    assert canceled.final.message == 'canceled by uid 1000'
    assert any('works again' in record.getMessage() for record in caplog.records
               if record.name == 'psij.batch.tracker')


# --- 7. jobs that leave the queue without a marker -----------------------------------------


@pytest.mark.parametrize(('record', 'state', 'exit_code'), [
    (SchedulerStatus(JobState.FAILED, 'FAILED', exit_code=7), JobState.FAILED, 7),
    (SchedulerStatus(JobState.COMPLETED, 'COMPLETED', exit_code=0), JobState.COMPLETED, 0),
])
def test_job_gone_without_marker_is_settled_by_accounting(
        sim: Simulation, record: SchedulerStatus, state: JobState, exit_code: int) -> None:
    executor = sim.executor()
    (history,) = sim.submit(executor)
    native_id = history.job.native_id or ''
    sim.scheduler.queue[native_id] = running()
    sim.run_until_next_status_command()
    del sim.scheduler.queue[native_id]
    sim.scheduler.accounting[native_id] = record
    sim.scheduler.accounting_lag = 1  # accounting learns of the job a moment later
    sim.run_until_final([history], SETTINGS['outcome_timeout'] - 1)

    final = history.final
    assert final.state == state
    assert final.exit_code == exit_code
    accounting = sim.command_times(ACCOUNTING)
    assert len(accounting) == 2
    assert history.final_at == accounting[-1]
    assert all(asked == [native_id] for asked in sim.scheduler.accounting_calls)
    assert history.states == [JobState.QUEUED, JobState.ACTIVE, state]


@pytest.mark.parametrize('has_accounting', [False, True])
def test_job_gone_without_evidence_has_an_unknown_outcome(sim: Simulation,
                                                          has_accounting: bool) -> None:
    sim.scheduler.has_accounting = has_accounting  # True: accounting never knows the job
    executor = sim.executor()
    (history,) = sim.submit(executor)
    native_id = history.job.native_id or ''
    sim.scheduler.queue[native_id] = running()
    sim.run_until_next_status_command()
    del sim.scheduler.queue[native_id]
    gone_at = sim.run_until_next_status_command()
    sim.run_until_final([history], 10 * CEILING)

    final = history.final
    assert final.state == JobState.FAILED
    assert 'outcome unknown' in (final.message or '')
    assert final.exit_code is None
    assert JobState.COMPLETED not in history.states
    timeout = SETTINGS['outcome_timeout']
    assert gone_at + timeout <= history.final_at <= gone_at + timeout + 0.02
    accounting = sim.command_times(ACCOUNTING)
    if has_accounting:
        assert len(accounting) >= 3
        assert gaps(accounting) == sorted(gaps(accounting))
    else:
        assert accounting == []


def test_accounting_is_not_starved_by_a_stream_of_cancels(sim: Simulation) -> None:
    """Each cancel makes a status command due at once; cancelling a large workflow one job
    at a time (one scancel every 0.37 s) keeps one due at every command slot. A job that left
    the queue meanwhile must still be looked up in accounting before its outcome is declared
    unknown."""
    executor = sim.executor()
    (gone,) = sim.submit(executor)
    to_cancel = sim.submit(executor, 200)
    native_id = gone.job.native_id or ''
    sim.scheduler.queue[native_id] = running()
    sim.run_until_next_status_command()
    del sim.scheduler.queue[native_id]
    sim.scheduler.accounting[native_id] = SchedulerStatus(JobState.FAILED, 'FAILED',
                                                          exit_code=7)
    for history in to_cancel:
        sim.poller.run_for(0.37)
        if gone.job.status.final:
            break
        history.job.cancel()
        sim.scheduler.queue[history.job.native_id or ''] = SchedulerStatus(
            JobState.CANCELED, 'CANCELLED', message='canceled')

    assert gone.job.status.final, gone.job.status
    assert sim.command_times(ACCOUNTING), f'accounting was never asked; {gone.final}'
    assert gone.final.state == JobState.FAILED
    assert gone.final.exit_code == 7, gone.final


# --- 8. a queue of waiting jobs is polled at the ceiling -----------------------------------


@pytest.mark.parametrize('one_running', [False, True])
def test_only_queued_jobs_are_polled_at_the_ceiling(sim: Simulation, one_running: bool) -> None:
    executor = sim.executor()
    histories = sim.submit(executor, 3)
    if one_running:
        sim.scheduler.queue[histories[0].job.native_id or ''] = running()
    sim.poller.run_for(3 * CEILING + 5)

    times = sim.command_times(STATUS)
    assert times[0] == pytest.approx(sim.command_times('scripted-submit')[-1]
                                     + SETTINGS['initial_queue_polling_delay'])
    if one_running:
        assert gaps(times)[0] < CEILING  # control: a running job is looked at sooner
    else:
        assert len(times) == 4
        for gap in gaps(times):
            assert CEILING - EPSILON <= gap <= CEILING + 0.02


# --- 9. attach -----------------------------------------------------------------------------


@pytest.mark.parametrize(('text', 'state', 'exit_code'), [
    ('0\n', JobState.COMPLETED, 0),
    ('3\n', JobState.FAILED, 3),
])
def test_attach_with_exit_marker_settles_before_attach_returns(
        sim: Simulation, text: str, state: JobState, exit_code: int) -> None:
    executor = sim.executor()
    marker(executor, '4242', '.started')
    marker(executor, '4242', '.ec', text)
    job = Job()
    history = History(job, sim.clock.monotonic)
    executor.attach(job, '4242')

    assert job.status.state == state
    assert job.status.exit_code == exit_code
    assert history.states == [JobState.QUEUED, JobState.ACTIVE, state]
    sim.poller.run_for(2 * CEILING)
    assert sim.transport.commands == []
    assert len(history.seen) == 3


def test_attach_without_markers_asks_the_scheduler_at_once(tmp_path: pathlib.Path) -> None:
    scheduler = ScriptedScheduler()
    transport = RecordingTransport()
    executor = scripted_executor(scheduler, transport, tmp_path)
    scheduler.queue['4244'] = SchedulerStatus(JobState.COMPLETED, 'COMPLETED', exit_code=0)
    job = Job()
    started = time.monotonic()
    executor.attach(job, '4244')
    status = job.wait(timeout=5)

    assert status is not None and status.state == JobState.COMPLETED
    commands = transport.runs_of(STATUS)
    assert len(commands) == 1
    assert commands[0].at - started < 0.5
    assert commands[0].argv == (STATUS, '--jobs=4244')


# --- 10. cancellation ----------------------------------------------------------------------


def test_scheduler_canceled_state_is_canceled(sim: Simulation) -> None:
    executor = sim.executor()
    (history,) = sim.submit(executor)
    sim.scheduler.queue[history.job.native_id or ''] = SchedulerStatus(
        JobState.CANCELED, 'CANCELLED', message='canceled by uid 1000')
    sim.run_until_final([history], 2 * CEILING)

    assert history.final.state == JobState.CANCELED
    assert history.final.message == 'canceled by uid 1000'
    assert history.states == [JobState.QUEUED, JobState.CANCELED]
    assert sim.command_times(ACCOUNTING) == []


def test_failed_status_after_cancel_is_canceled_and_looked_at_soon(sim: Simulation) -> None:
    executor = sim.executor()
    (history,) = sim.submit(executor)
    native_id = history.job.native_id or ''
    sim.scheduler.queue[native_id] = running()
    sim.poller.run_for(10 * CEILING)  # the status interval is at its ceiling by now
    last_look = sim.run_until_next_status_command()
    executor.cancel(history.job)
    sim.scheduler.queue[native_id] = SchedulerStatus(JobState.FAILED, 'FAILED', exit_code=-15)
    sim.run_until_final([history], 2 * CEILING)

    assert sim.transport.runs_of(CANCEL)[0].argv == (CANCEL, native_id)
    assert history.final.state == JobState.CANCELED
    assert history.final_at == pytest.approx(last_look + tracker_module.MIN_COMMAND_SPACING)


def test_a_job_whose_cancel_was_taken_is_canceled_once_it_left_the_queue(
        sim: Simulation) -> None:
    # Grid Engine forgets a job deleted before it started: no record says why it went.
    executor = sim.executor()
    (history,) = sim.submit(executor)
    sim.run_until_next_status_command()
    executor.cancel(history.job)
    del sim.scheduler.queue[history.job.native_id or '']
    sim.run_until_final([history], 2 * CEILING)

    assert (history.final.state, history.final.message) == (JobState.CANCELED, 'canceled')
    assert history.states == [JobState.QUEUED, JobState.CANCELED]
    assert sim.command_times(ACCOUNTING) == []


def test_a_job_that_had_ended_before_its_cancel_is_settled_by_its_evidence(
        sim: Simulation) -> None:
    executor = sim.executor()
    (history,) = sim.submit(executor)
    sim.scheduler.cancel_outcome = CancelOutcome.ALREADY_ENDED
    executor.cancel(history.job)
    native_id = history.job.native_id or ''
    del sim.scheduler.queue[native_id]
    sim.scheduler.accounting[native_id] = SchedulerStatus(JobState.COMPLETED, 'COMPLETED',
                                                          exit_code=0)
    sim.run_until_final([history], 2 * CEILING)

    assert history.final.state == JobState.COMPLETED
    assert len(sim.command_times(ACCOUNTING)) == 1


# --- 11. an incomplete final status asks accounting ----------------------------------------


@pytest.mark.parametrize(('queue_status', 'record', 'expected'), [
    (SchedulerStatus(JobState.FAILED, 'FAILED', complete=False),
     SchedulerStatus(JobState.FAILED, 'FAILED', exit_code=9),
     JobStatus(JobState.FAILED, exit_code=9, message='exit code 9')),
    (SchedulerStatus(JobState.CANCELED, 'CANCELLED', message='canceled', complete=False),
     SchedulerStatus(JobState.CANCELED, 'CANCELLED', message='canceled by uid 1000'),
     JobStatus(JobState.CANCELED, message='canceled by uid 1000')),
])
def test_incomplete_final_status_consults_accounting(
        sim: Simulation, queue_status: SchedulerStatus, record: SchedulerStatus,
        expected: JobStatus) -> None:
    executor = sim.executor()
    (history,) = sim.submit(executor)
    native_id = history.job.native_id or ''
    sim.scheduler.queue[native_id] = queue_status
    sim.scheduler.accounting[native_id] = record
    final_look = sim.run_until_next_status_command()
    assert not history.job.status.final
    sim.run_until_final([history], SETTINGS['outcome_timeout'] - 1)

    assert sim.command_times(ACCOUNTING) == [history.final_at]
    assert history.final_at > final_look
    assert history.final.state == expected.state
    assert history.final.exit_code == expected.exit_code
    assert history.final.message == expected.message


# --- 12. files left behind -----------------------------------------------------------------


def _job_with_all_its_files(sim: Simulation, exit_marker: str,
                            keep_files: bool) -> Tuple[History, List[pathlib.Path],
                                                       pathlib.Path]:
    """A finished job that left every file a job leaves: its history, the files other than
    the exit-code marker, and the exit-code marker."""
    executor = sim.executor(keep_files=keep_files)
    (history,) = sim.submit(executor)
    job = history.job
    native_id = job.native_id or ''
    script = executor.directory / f'{job.id}.sh'
    launcher_log = executor.directory / f'{job.id}.launcher.log'
    launcher_log.write_text('')
    files = [script, launcher_log] + [marker(executor, native_id, suffix)
                                      for suffix in ('.started', '.nodefile', '.out')]
    exit_code_marker = marker(executor, native_id, '.ec', exit_marker)
    del sim.scheduler.queue[native_id]
    sim.run_until_final([history], EXIT_REASON_WAIT + 5)
    return history, files, exit_code_marker


def test_completed_job_files_are_removed_but_its_exit_marker_kept(sim: Simulation) -> None:
    history, files, exit_code_marker = _job_with_all_its_files(sim, '0\n', keep_files=False)

    assert history.final.state == JobState.COMPLETED
    assert [path.name for path in files if path.exists()] == []
    assert exit_code_marker.read_text() == '0\n'


def test_kept_files_of_a_completed_job(sim: Simulation) -> None:
    history, files, exit_code_marker = _job_with_all_its_files(sim, '0\n', keep_files=True)

    assert history.final.state == JobState.COMPLETED
    script, launcher_log, *_, script_output = files
    assert script.exists() and launcher_log.exists() and script_output.exists()
    assert exit_code_marker.exists()


def test_failed_job_files_are_kept(sim: Simulation) -> None:
    history, files, exit_code_marker = _job_with_all_its_files(sim, '3\n', keep_files=False)

    assert history.final.state == JobState.FAILED
    assert exit_code_marker.exists()
    assert [path.name for path in files if not path.exists()] == []


# --- beyond the list: requests made while a status command runs ----------------------------


@pytest.mark.parametrize('action', ['cancel', 'submit'])
def test_request_made_during_a_status_command_is_not_lost(sim: Simulation,
                                                          action: str) -> None:
    """A cancel or a submission while the status command runs (squeue can take seconds)
    must still get its quick look; the command's end must not push it to the ceiling."""
    executor = sim.executor()
    (waiting,) = sim.submit(executor)
    sim.run_until_next_status_command()  # only QUEUED jobs: the next look is at the ceiling
    requested: List[Tuple[float, History]] = []

    def act_while_running(argv: Sequence[str]) -> None:
        if argv[0] != STATUS or requested:
            return
        if action == 'cancel':
            executor.cancel(waiting.job)
            requested.append((sim.clock.now, waiting))
        else:
            requested.append((sim.clock.now, sim.submit(executor)[0]))

    sim.transport.on_run = act_while_running
    sim.run_until_next_status_command()
    assert requested
    requested_at, history = requested[0]
    native_id = history.job.native_id or ''
    sim.scheduler.queue[native_id] = SchedulerStatus(JobState.CANCELED, 'CANCELLED',
                                                     message='canceled')
    sim.run_until_final([history], 2 * CEILING)

    quick = max(tracker_module.MIN_COMMAND_SPACING, SETTINGS['initial_queue_polling_delay'])
    assert history.final_at <= requested_at + quick + EPSILON, \
        f'{action} at {requested_at}: next status command only at {history.final_at}'



# --- timing carried between batches, cancel loops, markers during waves --------------------


def test_a_new_batch_starts_with_fresh_timing(sim: Simulation) -> None:
    executor = sim.executor()
    (first,) = sim.submit(executor)
    marker(executor, first.job.native_id, '.ec', '0\n')
    sim.run_until_final([first], 1.0)
    sim.poller.run_for(5 * CEILING)  # idle long after the first batch

    submitted_at = sim.clock.monotonic()
    (second,) = sim.submit(executor)
    look = sim.run_until_next_status_command()

    assert look - submitted_at == pytest.approx(SETTINGS['initial_queue_polling_delay'])


def test_a_loop_of_cancels_is_covered_by_one_status_command(sim: Simulation) -> None:
    executor = sim.executor()
    histories = sim.submit(executor, 5)
    sim.poller.run_for(3 * CEILING)  # all only queued: the interval is at its ceiling
    before = len(sim.command_times(STATUS))
    for history in histories:
        # They run: the cancel must wait for their ends, which the queue shows.
        sim.scheduler.queue[history.job.native_id or ''] = running()
    sim.run_until_next_status_command()
    for history in histories:
        executor.cancel(history.job)
        sim.scheduler.queue[history.job.native_id or ''] = SchedulerStatus(
            JobState.CANCELED, 'CANCELLED', message='canceled', complete=False)
        sim.poller.run_for(0.01)  # each scancel takes a moment
    sim.run_until_final(histories, 2.0)

    assert len(sim.command_times(STATUS)) == before + 2
    assert len(sim.command_times(CANCEL)) == 1
    # Canceled by us: no need to ask accounting who did it.
    assert sim.command_times(ACCOUNTING) == []
    assert all(history.final.state == JobState.CANCELED for history in histories)


def test_queued_jobs_whose_cancel_was_taken_end_with_its_answer(sim: Simulation) -> None:
    executor = sim.executor()
    histories = sim.submit(executor, 5)
    sim.poller.run_for(3 * CEILING)  # the queue said they wait
    before = len(sim.command_times(STATUS))
    for history in histories:
        executor.cancel(history.job)
    sim.run_until_final(histories, 1.0)

    (cancel_at,) = sim.command_times(CANCEL)
    assert all(history.final_at == cancel_at for history in histories)
    assert len(sim.command_times(STATUS)) == before  # no look needed
    assert all((history.final.state, history.final.message) == (JobState.CANCELED, 'canceled')
               for history in histories)
    assert all(history.states == [JobState.QUEUED, JobState.CANCELED] for history in histories)


def test_markers_are_watched_closely_while_jobs_end_in_waves(sim: Simulation) -> None:
    executor = sim.executor()
    histories = sim.submit(executor, 4)
    lags = []
    for history in histories:
        sim.poller.run_for(1.0)  # one wave per second, as slurmctld starts them
        written_at = sim.clock.monotonic()
        marker(executor, history.job.native_id, '.ec', '0\n')
        sim.run_until_final([history], 1.0)
        lags.append(history.final_at - written_at)

    assert max(lags[1:]) <= tracker_module.MIN_MARKER_INTERVAL + EPSILON


# --- 6. old files ------------------------------------------------------------------------------


def _age(path: pathlib.Path, days: float) -> pathlib.Path:
    then = time.time() - days * 24 * 3600
    os.utime(path, (then, then))
    return path


def test_files_older_than_the_retention_are_removed_but_not_those_of_tracked_jobs(
        sim: Simulation) -> None:
    executor = sim.executor(file_retention=10 * 24 * 3600.0)
    (history,) = sim.submit(executor)
    job = history.job
    assert job.native_id is not None
    directory = executor.directory
    ancient_marker = _age(marker(executor, '1', '.ec', '0\nPSIJ-JOB: gone\n'), 11)
    ancient_script = _age(marker(executor, 'f00', '.sh', '#!/bin/bash\n'), 40)
    recent_marker = _age(marker(executor, '2', '.ec', '0\n'), 9)
    # a job that has run for weeks keeps its files, however old
    tracked_started = _age(marker(executor, job.native_id, '.started'), 20)
    tracked_script = _age(directory / f'{job.id}.sh', 20)

    sim.poller.run_for(1.0)

    assert not ancient_marker.exists() and not ancient_script.exists()
    assert recent_marker.exists() and tracked_started.exists() and tracked_script.exists()
    # looked for again only an hour later
    later = _age(marker(executor, '3', '.ec', '0\n'), 11)
    sim.poller.run_for(job_files.PRUNE_INTERVAL / 2)
    assert later.exists()
    sim.poller.run_for(job_files.PRUNE_INTERVAL)
    assert not later.exists()
    assert tracked_started.exists() and job.status.state == JobState.ACTIVE


def test_file_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match='file_retention'):
        BatchSchedulerExecutorConfig(file_retention=0)
