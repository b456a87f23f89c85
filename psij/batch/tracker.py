"""Watching every batch job of one scheduler with as few scheduler commands as possible.

There is one `SchedulerTracker` per scheduler and transport in a process, shared by every
executor instance, and it runs on the process's one status poller thread (`psij.poller`).
Each time it is called it:

1. lists the marker directories (cheap, no scheduler involved): ``<id>.started`` makes a job
   ACTIVE, ``<id>.ec`` ends it; an exit code of 0 is COMPLETED at once, any other exit code
   waits briefly for the scheduler's reason (time limit, out of memory...);
2. when due, runs ONE status command for all jobs still in the queue. It is due soon after a
   submission, an attach or a cancel, then the wait doubles up to the configured ceiling, and
   is the ceiling at once when every job is only waiting in the queue;
3. for jobs that left the queue without an exit-code marker, when due, runs ONE accounting
   command, backing off; a job still without evidence after ``outcome_timeout`` is FAILED
   with a message saying its outcome is unknown.

Scheduler commands are at least `MIN_COMMAND_SPACING` apart. A failing status or accounting
command is logged and retried with backoff; it never changes the state of a job.
"""

import dataclasses
import logging
import math
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

from psij.batch import markers
from psij.batch.markers import ExitMarker, parse_exit_marker
from psij.batch.scheduler import (
    AccountingUnavailable,
    BatchScheduler,
    SchedulerStatus,
    StatusCommandError,
)
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.poller import get_poller
from psij.transport import CommandResult, RunningCommand, Transport

if TYPE_CHECKING:
    from psij.batch.executor import BatchSchedulerExecutor

logger = logging.getLogger('psij.batch.tracker')

#: At most one scheduler command (status or accounting) per this many seconds.
MIN_COMMAND_SPACING = 1.0
#: The marker directories are listed this often while markers keep changing (jobs start and
#: end in waves); the interval grows only after `MARKER_FAST_WINDOW` seconds without change.
MIN_MARKER_INTERVAL = 0.1
MARKER_FAST_WINDOW = 2.0
#: A status look asked for by a cancel waits this long, so that a loop of cancels is covered
#: by one status command.
CANCEL_LOOK_DELAY = 0.2
#: How long a non-zero exit-code marker waits for the scheduler to say why the job ended.
EXIT_REASON_WAIT = 10.0
#: The longest wait between two accounting commands.
MAX_ACCOUNTING_INTERVAL = 30.0
#: How long the poller thread waits for a scheduler command it has just started; a command
#: that takes longer is looked at again every `MIN_LOOK_INTERVAL`, doubling up to
#: `MAX_LOOK_INTERVAL`, while markers (and other trackers) go on.
QUICK_COMMAND_WAIT = 0.5
MIN_LOOK_INTERVAL = 0.05
MAX_LOOK_INTERVAL = 0.5
#: Files older than the executors' ``file_retention`` are looked for this often per directory.
PRUNE_INTERVAL = 3600.0
#: The names of the files a job may have in its marker directory, by native id and by job id.
_FILES_BY_NATIVE_ID = (markers.STARTED, markers.EXIT_CODE, markers.SCRIPT_OUTPUT,
                       markers.NODEFILE, markers.STARTED + '.tmp', markers.EXIT_CODE + '.tmp')
_FILES_BY_JOB_ID = (markers.SCRIPT, markers.LAUNCHER_LOG)

_NEVER = math.inf


@dataclass(eq=False)
class TrackedJob:
    """A job being watched, and the evidence gathered about it so far."""

    job: Job
    executor: 'BatchSchedulerExecutor'
    native_id: str
    marker_directory: pathlib.Path
    #: Files of this job removed once it COMPLETED (unless the config keeps files).
    files: List[pathlib.Path] = field(default_factory=list)
    #: True if the job was attached rather than submitted by this process.
    attached: bool = False
    started: bool = False
    exit_marker: Optional[ExitMarker] = None
    exit_marker_seen_at: Optional[float] = None
    scheduler_status: Optional[SchedulerStatus] = None
    #: When the job was found out of the queue (or final without an exit code) with no
    #: exit-code marker: accounting is asked from then on.
    accounting_since: Optional[float] = None
    #: Successful accounting answers in a row that did not know the job.
    accounting_misses: int = 0
    done: bool = False


@dataclass(eq=False)
class CommandInFlight:
    """A status or accounting command that has been started and has not answered yet."""

    kind: str
    command: RunningCommand
    ids: List[str]
    jobs: List[TrackedJob]
    next_look_at: float
    look_interval: float = MIN_LOOK_INTERVAL


def _exit_code_text(exit_code: int) -> str:
    return f'exit code {exit_code}'


def _marker_message(marker: ExitMarker) -> Optional[str]:
    if marker.launcher_failure is not None:
        named = f'launcher {marker.launcher!r}' if marker.launcher else 'launcher'
        return f'{named} failed: {marker.launcher_failure}'
    if marker.message is not None:
        return marker.message
    if marker.exit_code != 0:
        return _exit_code_text(marker.exit_code)
    return None


def _join(*parts: Optional[str]) -> Optional[str]:
    shown = [part for part in parts if part]
    return '; '.join(shown) if shown else None


def status_from_evidence(marker: Optional[ExitMarker],
                         scheduler_status: Optional[SchedulerStatus]) -> Optional[JobStatus]:
    """The final status the evidence supports, or None if it does not settle the job.

    An exit-code marker is the job's own word on its exit code; the scheduler's final state
    adds why (time limit, cancellation...).
    """
    final = scheduler_status if (
        scheduler_status is not None and scheduler_status.state.final) else None
    metadata: Optional[Dict[str, object]] = (
        {'native_state': final.native_state} if final is not None else None)
    if marker is not None:
        clean = marker.exit_code == 0 and _marker_message(marker) is None
        if final is not None and final.state == JobState.CANCELED and not clean:
            return JobStatus(JobState.CANCELED, message=_join(final.message,
                                                              _marker_message(marker)),
                             exit_code=marker.exit_code, metadata=metadata)
        if clean:
            return JobStatus(JobState.COMPLETED, exit_code=0, metadata=metadata)
        reason = final.message if final is not None and final.state == JobState.FAILED else None
        return JobStatus(JobState.FAILED, message=_join(reason, _marker_message(marker)),
                         exit_code=marker.exit_code, metadata=metadata)
    if final is None:
        return None
    if final.state == JobState.COMPLETED:
        return JobStatus(JobState.COMPLETED, exit_code=0, metadata=metadata)
    message = final.message
    if message is None and final.exit_code is not None:
        message = _exit_code_text(final.exit_code)
    if message is None and final.state == JobState.FAILED:
        message = (f'the scheduler reports {final.native_state}; the exit code is unknown (no '
                   'exit-code marker, no accounting record)')
    return JobStatus(final.state, message=message, exit_code=final.exit_code,
                     metadata=metadata)


class SchedulerTracker:
    """Watches all jobs of one scheduler reached through one transport; see the module
    docstring. Made by `get_tracker`."""

    def __init__(self, scheduler: BatchScheduler, transport: Transport) -> None:
        self.scheduler = scheduler
        self.transport = transport
        self._lock = threading.Lock()
        self._jobs: List[TrackedJob] = []
        self._next_status_at = _NEVER
        self._status_interval = 0.0
        self._status_failures = 0
        self._next_accounting_at = _NEVER
        self._accounting_interval = MIN_COMMAND_SPACING
        self._accounting_failures = 0
        self._next_marker_at = 0.0
        self._marker_interval = MIN_MARKER_INTERVAL
        self._last_marker_change = -_NEVER
        self._last_command_at = -_NEVER
        self._last_command_kind = ''
        self._in_flight: Optional[CommandInFlight] = None
        self._next_prune_at: Dict[pathlib.Path, float] = {}
        #: Commands run, by kind ('status', 'accounting'); for tests and benchmarks.
        self.command_counts: Dict[str, int] = {'status': 0, 'accounting': 0}

    # --- called by executors -------------------------------------------------------------

    def track(self, tracked: TrackedJob) -> None:
        """Start watching a job that was just submitted or attached."""
        now = time.monotonic()
        if tracked.attached:
            self._check_markers([tracked], now, wait_for_reason=False)
            if tracked.done:
                return
        config = tracked.executor.batch_config
        with self._lock:
            self._jobs.append(tracked)
            delay = 0.0 if tracked.attached else config.initial_queue_polling_delay
            self._next_status_at = min(self._next_status_at, now + delay)
            self._status_interval = config.initial_queue_polling_delay
            self._marker_interval = MIN_MARKER_INTERVAL
            self._next_marker_at = min(self._next_marker_at, now + MIN_MARKER_INTERVAL)
        self._wake(now)

    def request_status(self, delay: float = 0.0) -> None:
        """Run the status command in ``delay`` seconds, or later if the spacing between
        commands demands it (after a cancel)."""
        now = time.monotonic()
        with self._lock:
            self._next_status_at = min(self._next_status_at, now + delay)
            if self._jobs:
                config = self._jobs[0].executor.batch_config
                self._status_interval = config.initial_queue_polling_delay
        self._wake(now)

    def _wake(self, now: float) -> None:
        with self._lock:
            due = self._next_due()
        get_poller().schedule(self, max(due - now, 0.0))

    # --- called by the poller ------------------------------------------------------------

    def poll(self) -> Optional[float]:
        """One round: markers, then at most one scheduler command. Returns the delay to the
        next round, or None when no job is left."""
        now = time.monotonic()
        jobs = self._unfinished()
        if not jobs:
            self._drop_command_in_flight()
            self._rest()
            return None
        if now >= self._next_marker_at:
            if self._check_markers(jobs, now):
                self._last_marker_change = now
            ceiling = min(job.executor.batch_config.marker_polling_interval for job in jobs)
            with self._lock:
                if now - self._last_marker_change < MARKER_FAST_WINDOW:
                    self._marker_interval = MIN_MARKER_INTERVAL
                else:
                    self._marker_interval = min(self._marker_interval * 1.5, ceiling)
                self._next_marker_at = now + self._marker_interval
        self._prune_old_files(jobs, now)
        jobs = self._unfinished()
        if self._in_flight is not None:
            if now >= self._in_flight.next_look_at:
                self._look_at_command_in_flight()
        elif jobs and now >= self._last_command_at + MIN_COMMAND_SPACING:
            accounting_due = now >= self._next_accounting_at
            if now >= self._next_status_at and not (
                    accounting_due and self._last_command_kind == 'status'):
                self._query_status(jobs, now)
            elif accounting_due:
                self._query_accounting(jobs, now)
        self._expire(time.monotonic())
        with self._lock:
            if self._jobs:
                due = self._next_due()
                return max(due - time.monotonic(), 0.01)
        self._drop_command_in_flight()
        self._rest()
        return None

    def _start_command(self, kind: str, argv: List[str], ids: List[str],
                       jobs: List[TrackedJob], now: float) -> None:
        """Start one scheduler command and give it `QUICK_COMMAND_WAIT` to answer."""
        self._last_command_at = now
        self._last_command_kind = kind
        self.command_counts[kind] += 1
        command = self.transport.start(argv,
                                       timeout=jobs[0].executor.batch_config.command_timeout)
        with self._lock:
            self._in_flight = CommandInFlight(kind, command, ids, jobs, next_look_at=now)
        self._look_at_command_in_flight(QUICK_COMMAND_WAIT)

    def _look_at_command_in_flight(self, wait: float = 0.0) -> None:
        in_flight = self._in_flight
        assert in_flight is not None
        result = in_flight.command.poll(wait)
        now = time.monotonic()
        if result is None:
            with self._lock:
                in_flight.next_look_at = now + in_flight.look_interval
                in_flight.look_interval = min(in_flight.look_interval * 2, MAX_LOOK_INTERVAL)
            return
        with self._lock:
            self._in_flight = None
        jobs = [job for job in in_flight.jobs if not job.done]
        if in_flight.kind == 'status':
            self._status_answered(result, in_flight.ids, jobs, now)
        else:
            self._accounting_answered(result, in_flight.ids, jobs, now)

    def _drop_command_in_flight(self) -> None:
        """No job is left to ask about: stop the command still running, if any."""
        with self._lock:
            in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.command.cancel()

    def _rest(self) -> None:
        """Forget the timing of the jobs that are gone, so that the next submission starts
        afresh (its first status look after the initial delay, not at a stale time)."""
        with self._lock:
            if self._jobs:
                return
            self._next_status_at = _NEVER
            self._next_accounting_at = _NEVER
            self._accounting_interval = MIN_COMMAND_SPACING
            self._next_marker_at = 0.0
            self._marker_interval = MIN_MARKER_INTERVAL

    def _next_due(self) -> float:
        earliest_command = self._last_command_at + MIN_COMMAND_SPACING
        if self._in_flight is not None:
            due = [self._next_marker_at, self._in_flight.next_look_at]
        else:
            due = [self._next_marker_at,
                   max(self._next_status_at, earliest_command),
                   max(self._next_accounting_at, earliest_command)]
        for job in self._jobs:
            if job.exit_marker_seen_at is not None:
                due.append(job.exit_marker_seen_at + EXIT_REASON_WAIT)
            if job.accounting_since is not None:
                due.append(job.accounting_since + job.executor.batch_config.outcome_timeout)
        return min(due)

    def _unfinished(self) -> List[TrackedJob]:
        with self._lock:
            return list(self._jobs)

    # --- evidence ------------------------------------------------------------------------

    def _check_markers(self, jobs: List[TrackedJob], now: float,
                       wait_for_reason: bool = True) -> bool:
        """Look at the markers of ``jobs``; True if anything new was found.

        Without ``wait_for_reason`` (a job being attached), a non-zero exit code settles the
        job at once instead of waiting for the scheduler to say why it ended.
        """
        changed = False
        by_directory: Dict[pathlib.Path, List[TrackedJob]] = {}
        for job in jobs:
            by_directory.setdefault(job.marker_directory, []).append(job)
        for directory, group in by_directory.items():
            try:
                names = self.transport.list_directory(directory)
            except OSError as error:
                logger.warning('cannot list the marker directory %s: %s', directory, error)
                continue
            for tracked in group:
                if tracked.exit_marker is None and tracked.native_id + markers.EXIT_CODE in names:
                    text = self.transport.read_file(
                        directory / (tracked.native_id + markers.EXIT_CODE))
                    marker = parse_exit_marker(text) if text is not None else None
                    if marker is not None and not tracked.attached and \
                            marker.job_id not in (None, tracked.job.id):
                        # Left by an earlier job with the same (reused) scheduler id: the
                        # new job's marker will replace it.
                        logger.debug('ignoring the marker of job %s of an earlier job',
                                     tracked.native_id)
                        marker = None
                    if marker is not None:
                        spec = tracked.job.spec
                        marker = dataclasses.replace(marker, launcher=(
                            spec.launcher if spec is not None else None) or 'single')
                        tracked.exit_marker = marker
                        changed = True
                        self._on_exit_marker(tracked, now, wait_for_reason)
                        continue
                if not tracked.started and tracked.native_id + markers.STARTED in names \
                        and self._started_marker_is_ours(tracked, directory):
                    tracked.started = True
                    changed = True
                    self._set_status(tracked, JobStatus(JobState.ACTIVE))
        return changed

    def _prune_old_files(self, jobs: List[TrackedJob], now: float) -> None:
        """Remove the files of the marker directories older than the executors'
        ``file_retention``, at most once per `PRUNE_INTERVAL` per directory; the files of the
        jobs being tracked stay, however old."""
        retention: Dict[pathlib.Path, float] = {}
        for job in jobs:
            age = job.executor.batch_config.file_retention
            retention[job.marker_directory] = min(retention.get(job.marker_directory, age), age)
        due = [directory for directory in retention
               if now >= self._next_prune_at.get(directory, -_NEVER)]
        if not due:
            return
        tracked: Set[str] = set()
        for job in self._unfinished():
            tracked.update(job.native_id + suffix for suffix in _FILES_BY_NATIVE_ID)
            tracked.update(job.job.id + suffix for suffix in _FILES_BY_JOB_ID)
        for directory in due:
            self._next_prune_at[directory] = now + PRUNE_INTERVAL
            try:
                old = self.transport.old_files(directory, retention[directory])
                removed = 0
                for name in sorted(old - tracked):
                    self.transport.remove_file(directory / name)
                    removed += 1
            except OSError as error:
                logger.warning('cannot remove old files from %s: %s', directory, error)
                continue
            if removed:
                logger.info('removed %d files older than %.0f s from %s', removed,
                            retention[directory], directory)

    def _started_marker_is_ours(self, tracked: TrackedJob, directory: pathlib.Path) -> bool:
        """False if the job's ``.started`` marker names another psij job: one left by an
        earlier job with the same (reused) scheduler id, which the new job will replace."""
        if tracked.attached:
            return True
        text = self.transport.read_file(directory / (tracked.native_id + markers.STARTED))
        if text is None:
            return False
        job_id = markers.marker_job_id(text)
        if job_id not in (None, tracked.job.id):
            logger.debug('ignoring the .started marker of job %s of an earlier job',
                         tracked.native_id)
            return False
        return True

    def _on_exit_marker(self, tracked: TrackedJob, now: float, wait_for_reason: bool) -> None:
        marker = tracked.exit_marker
        assert marker is not None
        status = status_from_evidence(marker, tracked.scheduler_status)
        assert status is not None
        if status.state == JobState.COMPLETED or not wait_for_reason or (
                tracked.scheduler_status is not None and tracked.scheduler_status.state.final):
            self._finish(tracked, status)
            return
        # Ask the scheduler why (time limit, memory...), but not for long.
        tracked.exit_marker_seen_at = now
        with self._lock:
            self._next_status_at = min(self._next_status_at, now)

    def _query_status(self, jobs: List[TrackedJob], now: float) -> None:
        # Jobs already handed to accounting are asked about too: if the queue shows one again
        # (it was missing from one answer only), it goes back to being watched there.
        in_queue = jobs
        if not in_queue:
            with self._lock:
                self._next_status_at = _NEVER
            return
        ids = sorted({job.native_id for job in in_queue})
        with self._lock:
            self._next_status_at = _NEVER  # a request made while the command runs lowers it
        self._start_command('status', self.scheduler.status_command(ids), ids, in_queue, now)

    def _status_answered(self, result: CommandResult, ids: List[str],
                         in_queue: List[TrackedJob], now: float) -> None:
        if not in_queue:
            return
        config = in_queue[0].executor.batch_config
        ceiling = min(job.executor.batch_config.queue_polling_interval for job in in_queue)
        try:
            statuses = self.scheduler.parse_status_output(result, ids)
        except StatusCommandError as error:
            self._status_failures += 1
            delay = min(config.initial_queue_polling_delay * 2 ** self._status_failures, ceiling)
            log = logger.warning if self._status_failures in (1, 2, 5) or (
                self._status_failures % 10 == 0) else logger.info
            log('%s status command failed (%d in a row), retrying in %.0f s; the %d tracked '
                'jobs keep their states: %s', self.scheduler.name, self._status_failures, delay,
                len(ids), error)
            with self._lock:
                self._next_status_at = min(self._next_status_at, now + delay)
            return
        if self._status_failures:
            logger.warning('%s status command works again after %d failures',
                           self.scheduler.name, self._status_failures)
            self._status_failures = 0
        only_waiting = True
        for tracked in in_queue:
            status = statuses.get(tracked.native_id)
            if not self._apply_queue_status(tracked, status, now):
                only_waiting = False
        awaiting_reason = any(job.exit_marker_seen_at is not None and not job.done
                              for job in in_queue)
        with self._lock:
            requested = self._next_status_at < _NEVER
            if awaiting_reason:
                self._status_interval = config.initial_queue_polling_delay
            elif only_waiting and not requested:
                self._status_interval = ceiling
            elif not requested:
                self._status_interval = min(max(self._status_interval, MIN_COMMAND_SPACING) * 2,
                                            ceiling)
            self._next_status_at = min(self._next_status_at, now + self._status_interval)

    def _apply_queue_status(self, tracked: TrackedJob, status: Optional[SchedulerStatus],
                            now: float) -> bool:
        """Use what the status command said about one job; True if the job is only waiting
        in the queue (nothing about it needs a quick look)."""
        if status is None:
            if tracked.exit_marker is not None:
                self._finish(tracked, status_from_evidence(tracked.exit_marker, None))
            else:
                self._need_accounting(tracked, now)
            return False
        if status.state == JobState.NEW:
            return False  # a state this library does not know: nothing changes
        tracked.scheduler_status = status
        if status.state.final:
            settled = status_from_evidence(tracked.exit_marker, status)
            # A job we canceled needs no more evidence than its end (however the scheduler
            # reports a killed job, the cancel took effect); otherwise accounting may say why.
            complete = status.complete or tracked.job._cancel_requested
            if settled is not None and (tracked.exit_marker is not None or complete):
                self._finish(tracked, settled)
            else:
                self._need_accounting(tracked, now)
            return False
        tracked.accounting_since = None
        tracked.accounting_misses = 0
        metadata: Dict[str, object] = {'native_state': status.native_state}
        if status.state == JobState.ACTIVE:
            tracked.started = True
            self._set_status(tracked, JobStatus(JobState.ACTIVE, metadata=metadata))
            return False
        self._set_status(tracked, JobStatus(status.state, message=status.message,
                                            metadata=metadata))
        return tracked.exit_marker is None

    def _need_accounting(self, tracked: TrackedJob, now: float) -> None:
        if tracked.accounting_since is not None:
            return
        tracked.accounting_since = now
        with self._lock:
            self._next_accounting_at = min(self._next_accounting_at, now)
            self._accounting_interval = MIN_COMMAND_SPACING

    def _query_accounting(self, jobs: List[TrackedJob], now: float) -> None:
        waiting = [job for job in jobs if job.accounting_since is not None]
        ids = sorted({job.native_id for job in waiting})
        command = self.scheduler.accounting_command(ids) if ids else None
        if command is None:
            with self._lock:
                self._next_accounting_at = _NEVER
            return
        self._start_command('accounting', command, ids, waiting, now)

    def _accounting_answered(self, result: CommandResult, ids: List[str],
                             waiting: List[TrackedJob], now: float) -> None:
        try:
            records = self.scheduler.parse_accounting_output(result, ids)
        except StatusCommandError as error:
            self._accounting_failures += 1
            unavailable = isinstance(error, AccountingUnavailable)
            log = logger.info if unavailable and self._accounting_failures > 1 else logger.warning
            log('%s accounting command failed (%d in a row); %d jobs that left the queue '
                'without an exit-code marker wait for it (at most outcome_timeout): %s',
                self.scheduler.name, self._accounting_failures, len(ids), error)
            records = None
        else:
            self._accounting_failures = 0
        for tracked in waiting if records is not None else []:
            record = records.get(tracked.native_id) if records is not None else None
            if record is not None and record.state.final:
                if record.exit_code is not None:
                    tracked.started = True
                self._finish(tracked, status_from_evidence(tracked.exit_marker, record))
                continue
            tracked.accounting_misses = tracked.accounting_misses + 1 if record is None else 0
            # Twice unknown to a working accounting, never seen in the queue, no marker: the
            # id was never a job (attach of a wrong id), rather than a record not written yet.
            if tracked.accounting_misses >= 2 and tracked.attached \
                    and tracked.scheduler_status is None and not tracked.started:
                self._finish(tracked, JobStatus(
                    JobState.FAILED,
                    message=f'{self.scheduler.name} knows no job {tracked.native_id} (not in '
                            f'the queue, not in accounting) and there is no marker of it in '
                            f'{tracked.marker_directory}',
                    metadata={'unknown_job': True}))
        with self._lock:
            self._accounting_interval = min(self._accounting_interval * 2,
                                            MAX_ACCOUNTING_INTERVAL)
            self._next_accounting_at = now + self._accounting_interval

    def _expire(self, now: float) -> None:
        """Settle the jobs whose wait for more evidence is over."""
        for tracked in self._unfinished():
            if tracked.exit_marker is not None and tracked.exit_marker_seen_at is not None:
                if now - tracked.exit_marker_seen_at >= EXIT_REASON_WAIT:
                    settled = status_from_evidence(tracked.exit_marker, tracked.scheduler_status)
                    assert settled is not None
                    self._finish(tracked, settled)
                continue
            timeout = tracked.executor.batch_config.outcome_timeout
            if tracked.accounting_since is None or now - tracked.accounting_since < timeout:
                continue
            settled = status_from_evidence(None, tracked.scheduler_status)
            if settled is not None:
                self._finish(tracked, settled)
                continue
            self._finish(tracked, JobStatus(
                JobState.FAILED,
                message=f'outcome unknown: {self.scheduler.name} job {tracked.native_id} left '
                        f'the queue without writing an exit-code marker in '
                        f'{tracked.marker_directory}, and accounting had no final record of it '
                        f'within {timeout:g} s'))

    # --- state changes -------------------------------------------------------------------

    def _set_status(self, tracked: TrackedJob, status: JobStatus) -> None:
        tracked.executor._set_job_status(tracked.job, status)

    def _finish(self, tracked: TrackedJob, status: Optional[JobStatus]) -> None:
        if status is None or tracked.done:
            return
        tracked.done = True
        with self._lock:
            if tracked in self._jobs:
                self._jobs.remove(tracked)
        if tracked.started and tracked.job.status.state != JobState.ACTIVE:
            self._set_status(tracked, JobStatus(JobState.ACTIVE, time=status.time))
        self._set_status(tracked, status)
        self._remove_files(tracked, status)

    def _remove_files(self, tracked: TrackedJob, status: JobStatus) -> None:
        stem = tracked.marker_directory / tracked.native_id
        paths: List[pathlib.Path] = []
        if status.state == JobState.COMPLETED:
            paths += [stem.with_name(tracked.native_id + name)
                      for name in (markers.STARTED, markers.NODEFILE)]
        if status.state == JobState.COMPLETED and not tracked.executor.batch_config.keep_files:
            paths += tracked.files
            paths.append(stem.with_name(tracked.native_id + markers.SCRIPT_OUTPUT))
        for path in paths:
            try:
                self.transport.remove_file(path)
            except OSError as error:
                logger.debug('cannot remove %s: %s', path, error)

    def __repr__(self) -> str:
        return f'SchedulerTracker({self.scheduler.name}, {len(self._jobs)} jobs)'


_trackers: Dict[Tuple[str, object], SchedulerTracker] = {}
_trackers_lock = threading.Lock()


def get_tracker(scheduler: BatchScheduler, transport: Transport) -> SchedulerTracker:
    """The process's tracker for ``scheduler`` reached through ``transport`` (one per
    scheduler name and transport key, whatever the number of executors)."""
    key = (scheduler.name, getattr(transport, 'key', id(transport)))
    with _trackers_lock:
        tracker = _trackers.get(key)
        if tracker is None:
            tracker = SchedulerTracker(scheduler, transport)
            _trackers[key] = tracker
        return tracker
