"""Watching every batch job of one scheduler with as few scheduler commands as possible.

There is one `SchedulerTracker` per scheduler and transport in a process (see
`TrackerRegistry`), shared by every executor instance, and it runs on the process's one
status poller thread (`psij.poller`). Each time it is called it:

1. lists the marker directories (cheap, no scheduler involved): ``<id>.started`` makes a job
   ACTIVE, ``<id>.ec`` ends it; an exit code of 0 is COMPLETED at once, any other exit code
   waits briefly for the scheduler's reason (time limit, out of memory...);
2. when due, runs ONE status command for all jobs still in the queue. It is due soon after a
   submission, an attach or a cancel, then the wait doubles up to the configured ceiling, and
   is the ceiling at once when every job is only waiting in the queue;
3. for jobs that left the queue without an exit-code marker, when due, runs ONE accounting
   command, backing off; a job still without evidence after ``outcome_timeout`` is FAILED
   with a message saying its outcome is unknown.

A `psij.batch.registry.TrackerRegistry` keeps the trackers. Scheduler commands are at least
`MIN_COMMAND_SPACING` apart; a failing one is retried with backoff and changes no job state.
What a final status needs is in `psij.batch.evidence`; job files, in `psij.batch.job_files`.
"""

import logging
import threading
from typing import Callable, Dict, List, Optional

from psij.batch.cadence import NEVER, Cadence, Pace
from psij.batch.cancels import CancelQueue, canceled_while_queued
from psij.batch.command_in_flight import QUICK_COMMAND_WAIT, CommandInFlight
from psij.batch.evidence import (
    EXIT_REASON_WAIT,
    TrackedJob,
    UnchangedDirectories,
    canceled_out_of_queue,
    read_markers,
    status_from_evidence,
    unknown_job,
)
from psij.batch.evidence_wait import expired_status
from psij.batch.job_files import OldFilePruner, settle
from psij.batch.scheduler import (
    AccountingUnavailable,
    BatchScheduler,
    CancelOutcome,
    SchedulerStatus,
    StatusCommandError,
)
from psij.batch.stage_after_end import settle_after_staging
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.poller import Poller
from psij.transport import CommandResult, Transport

logger = logging.getLogger('psij.batch.tracker')

MIN_COMMAND_SPACING = 1.0  # at most one status or accounting command per this many seconds
#: The marker directories are listed this often while markers keep changing (jobs start and
#: end in waves); the interval grows only after `MARKER_FAST_WINDOW` seconds without change.
MIN_MARKER_INTERVAL = 0.1
MARKER_FAST_WINDOW = 2.0
CANCEL_LOOK_DELAY = 0.1  # the status look after a cancel command (a loop of them: one look)
MAX_ACCOUNTING_INTERVAL = 30.0  # the longest wait between two accounting commands
class SchedulerTracker:
    """Watches all jobs of one scheduler reached through one transport; see the module
    docstring. Made by a `psij.batch.registry.TrackerRegistry`; ``on_idle`` is called when no
    job is left."""

    def __init__(self, scheduler: BatchScheduler, transport: Transport,
                 clock: Callable[[], float], poller: Callable[[], Poller],
                 on_idle: Callable[['SchedulerTracker'], None]) -> None:
        self.scheduler = scheduler
        self.transport = transport
        self._clock = clock
        self._poller = poller
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._jobs: Dict[str, TrackedJob] = {}
        self._status = Cadence(interval=0.0)
        self._accounting = Cadence(interval=MIN_COMMAND_SPACING)
        self._markers = Cadence(interval=MIN_MARKER_INTERVAL, next_at=0.0)
        self._last_marker_change = -NEVER
        self._last_command_at = -NEVER
        self._last_command_kind = ''
        self._in_flight: Optional[CommandInFlight] = None
        self._pruner = OldFilePruner()
        self._cancels = CancelQueue()
        self._unchanged = UnchangedDirectories()
        self._pace_cache: Optional[Pace] = None
        #: Commands run, by kind ('status', 'accounting', 'cancel'); for tests and benchmarks.
        self.command_counts: Dict[str, int] = {'status': 0, 'accounting': 0, 'cancel': 0}

    # --- called through the registry -----------------------------------------------------

    def add(self, tracked: TrackedJob) -> None:
        """Start watching a job that was just submitted or attached (no I/O: the registry
        calls this under its lock, then `wake`)."""
        now = self._clock()
        with self._lock:
            self._jobs[tracked.job.id] = tracked
            self._pace_cache = None
            pace = self._pace()
            delay = 0.0 if tracked.attached else pace.initial_delay
            self._status.soon(now + delay, interval=pace.initial_delay)
            self._markers.soon(now + MIN_MARKER_INTERVAL, interval=MIN_MARKER_INTERVAL)

    def request_status(self, delay: float = 0.0) -> None:
        """Run the status command in ``delay`` seconds, or later if the spacing between
        commands demands it (after a cancel)."""
        now = self._clock()
        with self._lock:
            if self._jobs:
                self._status.soon(now + delay, interval=self._pace().initial_delay)
            else:
                self._status.soon(now + delay)
        self.wake()

    def queue_cancel(self, job: Job) -> bool:
        """Send a cancel of ``job`` soon, with the others asked for meanwhile (see
        `psij.batch.cancels`); False if this tracker does not watch ``job``."""
        now = self._clock()
        with self._lock:
            tracked = self._jobs.get(job.id)
            if tracked is None or tracked.job is not job:
                return False
            self._cancels.add(tracked, now)
        self.wake()
        return True

    def abandon(self, job: Job, status: JobStatus) -> None:
        """End ``job`` with ``status`` now (psij knows it can never run: a predecessor failed)
        and cancel it at the scheduler, which may keep it pending for a long time."""
        now = self._clock()
        with self._lock:
            tracked = self._jobs.get(job.id)
            if tracked is None or tracked.job is not job or tracked.done:
                return
            tracked.done = True
            del self._jobs[job.id]
            self._pace_cache = None
            self._cancels.add(tracked, now)  # sent although the job is no longer watched
        settle(self.transport, tracked, status)
        self.wake()

    def idle(self) -> bool:
        """True if no job is left and no cancel waits."""
        with self._lock:
            return not self._busy()

    def _busy(self) -> bool:
        in_flight = self._in_flight
        return bool(self._jobs) or len(self._cancels) > 0 or (
            in_flight is not None and in_flight.kind == 'cancel')

    def wake(self) -> None:
        """Have the poller call `poll` when the next thing is due."""
        now = self._clock()
        with self._lock:
            due = self._next_due()
        # Nothing due (the last abandoned cancel was answered): poll now, which leaves the
        # registry, rather than never.
        self._poller().schedule(self, 0.0 if due == NEVER else max(due - now, 0.0))

    # --- called by the poller ------------------------------------------------------------

    def poll(self) -> Optional[float]:
        """One round: markers, then at most one scheduler command. Returns the delay to the
        next round, or None when no job is left."""
        now = self._clock()
        jobs = self._unfinished()
        with self._lock:
            busy = self._busy()
        if not busy:
            self._rest()
            return None
        if self._markers.due(now):
            self._look_at_markers(jobs, now)
        self._pruner.prune(self.transport, jobs, now)
        jobs = self._unfinished()
        if self._in_flight is not None:
            if now >= self._in_flight.next_look_at:
                self._look_at_command_in_flight()
        elif self._cancels.due(now):
            # A cancel waits for no spacing: it is asked for by a user, and batched.
            with self._lock:
                ids, cancels = self._cancels.take(self.scheduler)
            self._start_command('cancel', self.scheduler.cancel_command(ids), ids, cancels, now)
        elif jobs and now >= self._last_command_at + MIN_COMMAND_SPACING:
            accounting_due = self._accounting.due(now)
            if self._status.due(now) and not (
                    accounting_due and self._last_command_kind == 'status'):
                self._query_status(jobs, now)
            elif accounting_due:
                self._query_accounting(jobs, now)
        self._expire(self._clock())
        with self._lock:
            if self._busy():
                return max(self._next_due() - self._clock(), 0.01)
        self._rest()
        return None

    def _rest(self) -> None:
        """No job is left: stop the command still running, forget the timing of the jobs that
        are gone (the next submission starts afresh), and leave the registry."""
        with self._lock:
            in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.command.cancel()
        with self._lock:
            if self._busy():
                return
            self._status.reset(0.0)
            self._accounting.reset(MIN_COMMAND_SPACING)
            self._markers.reset(MIN_MARKER_INTERVAL)
            self._markers.next_at = 0.0
        self._on_idle(self)

    def _pace(self) -> Pace:
        if self._pace_cache is None:  # made again only when the jobs changed
            self._pace_cache = Pace.of(job.executor.batch_config for job in self._jobs.values())
        return self._pace_cache

    def _next_due(self) -> float:
        earliest_command = self._last_command_at + MIN_COMMAND_SPACING
        if self._in_flight is not None:
            due = [self._markers.next_at, self._in_flight.next_look_at]
        elif self._jobs:
            due = [self._markers.next_at, self._cancels.next_at(),
                   max(self._status.next_at, earliest_command),
                   max(self._accounting.next_at, earliest_command)]
        else:  # only cancels of abandoned jobs are left
            due = [self._cancels.next_at()]
        for job in self._jobs.values():
            if job.exit_marker_seen_at is not None:
                due.append(job.exit_marker_seen_at + EXIT_REASON_WAIT)
            if job.accounting_since is not None:
                due.append(job.accounting_since + job.executor.batch_config.outcome_timeout)
        return min(due)

    def _unfinished(self) -> List[TrackedJob]:
        with self._lock:
            return list(self._jobs.values())

    # --- markers ---------------------------------------------------------------------------

    def _look_at_markers(self, jobs: List[TrackedJob], now: float) -> None:
        with self._lock:
            self._markers.pause()  # a request made while we look is not lost
        news = read_markers(self.transport, jobs, self._unchanged)
        for item in news:
            tracked = item.tracked
            if item.exit_marker is not None:
                tracked.exit_marker = item.exit_marker
                self._on_exit_marker(tracked, now)
            elif not tracked.done:
                tracked.started = True
                tracked.executor._set_job_status(tracked.job, JobStatus(JobState.ACTIVE))
        if news:
            self._last_marker_change = now
        with self._lock:
            if now - self._last_marker_change < MARKER_FAST_WINDOW:
                interval = MIN_MARKER_INTERVAL
            else:
                interval = self._markers.grown(1.5, self._pace().marker_ceiling
                                               if self._jobs else MIN_MARKER_INTERVAL)
            self._markers.succeeded(now, interval)

    def _on_exit_marker(self, tracked: TrackedJob, now: float) -> None:
        marker = tracked.exit_marker
        assert marker is not None
        status = status_from_evidence(marker, tracked.scheduler_status)
        assert status is not None
        if status.state == JobState.COMPLETED or (
                tracked.scheduler_status is not None and tracked.scheduler_status.state.final):
            self._finish(tracked, status)
            return
        # Ask the scheduler why (time limit, memory...), but not for long.
        tracked.exit_marker_seen_at = now
        with self._lock:
            self._status.soon(now)

    # --- scheduler commands ----------------------------------------------------------------

    def _start_command(self, kind: str, argv: List[str], ids: List[str],
                       jobs: List[TrackedJob], now: float) -> None:
        """Start one scheduler command and give it `QUICK_COMMAND_WAIT` to answer."""
        if kind != 'cancel':
            # Cancels are batched and asked for by users: they neither wait for the spacing
            # of status and accounting commands nor push those back (a stream of cancels
            # would starve them).
            self._last_command_at = now
            self._last_command_kind = kind
        self.command_counts[kind] += 1
        with self._lock:
            timeout = self._pace().command_timeout if self._jobs else 60.0
        command = self.transport.start(argv, timeout=timeout)
        with self._lock:
            self._in_flight = CommandInFlight(kind, command, ids, jobs, next_look_at=now)
        self._look_at_command_in_flight(QUICK_COMMAND_WAIT)

    def _look_at_command_in_flight(self, wait: float = 0.0) -> None:
        in_flight = self._in_flight
        assert in_flight is not None
        result = in_flight.command.poll(wait)
        now = self._clock()
        if result is None:
            with self._lock:
                in_flight.look_later(now)
            return
        with self._lock:
            self._in_flight = None
        if in_flight.kind == 'cancel':
            with self._lock:
                took = self._cancels.answered(self.scheduler, result, in_flight.ids,
                                              in_flight.jobs, now)
            if took:
                for tracked in canceled_while_queued(in_flight.jobs):
                    self._finish(tracked, canceled_out_of_queue())
                self.request_status(CANCEL_LOOK_DELAY)
            return
        jobs = [job for job in in_flight.jobs if not job.done]
        if in_flight.kind == 'status':
            self._status_answered(result, in_flight.ids, jobs, now)
        else:
            self._accounting_answered(result, in_flight.ids, jobs, now)

    def _query_status(self, jobs: List[TrackedJob], now: float) -> None:
        # Jobs already handed to accounting are asked about too: if the queue shows one again
        # (it was missing from one answer only), it goes back to being watched there.
        ids = sorted({job.native_id for job in jobs})
        with self._lock:
            self._status.pause()  # a request made while the command runs brings it forward
        self._start_command('status', self.scheduler.status_command(ids), ids, jobs, now)

    def _status_answered(self, result: CommandResult, ids: List[str],
                         in_queue: List[TrackedJob], now: float) -> None:
        if not in_queue:
            return
        with self._lock:
            pace = self._pace()
        try:
            statuses = self.scheduler.parse_status_output(result, ids)
        except StatusCommandError as error:
            with self._lock:
                delay = self._status.failed(now, pace.initial_delay, pace.status_ceiling)
            failures = self._status.failures
            log = logger.warning if failures in (1, 2, 5) or failures % 10 == 0 else logger.info
            log('%s status command failed (%d in a row), retrying in %.0f s; the %d tracked '
                'jobs keep their states: %s', self.scheduler.name, failures, delay, len(ids),
                error)
            return
        if self._status.failures:
            logger.warning('%s status command works again after %d failures',
                           self.scheduler.name, self._status.failures)
        # A job the queue shows ended has written its exit-code marker, if it could: read it
        # before the queue's word (which has no message), whatever the marker cadence.
        final_ids = {native_id for native_id, status in statuses.items() if status.state.final}
        ended = [job for job in in_queue if job.native_id in final_ids and job.exit_marker is None]
        if ended:
            for job in ended:
                job.scheduler_status = statuses[job.native_id]  # a marker settles with it
            self._look_at_markers(in_queue, now)
        only_waiting = True
        for tracked in in_queue:
            if tracked.done:
                continue
            if not self._apply_queue_status(tracked, statuses.get(tracked.native_id), now):
                only_waiting = False
        awaiting_reason = any(job.exit_marker_seen_at is not None and not job.done
                              for job in in_queue)
        with self._lock:
            requested = self._status.asked
            if awaiting_reason:
                interval = pace.initial_delay
            elif requested:
                interval = self._status.interval
            elif only_waiting:
                interval = pace.status_ceiling
            else:
                interval = self._status.grown(2, pace.status_ceiling, floor=MIN_COMMAND_SPACING)
            self._status.succeeded(now, interval)

    def _apply_queue_status(self, tracked: TrackedJob, status: Optional[SchedulerStatus],
                            now: float) -> bool:
        """Use what the status command said about one job; True if the job is only waiting
        in the queue (nothing about it needs a quick look)."""
        if status is None:
            if tracked.exit_marker is not None:
                self._finish(tracked, status_from_evidence(tracked.exit_marker, None))
            elif tracked.cancel == CancelOutcome.REQUESTED:
                self._finish(tracked, canceled_out_of_queue())
            else:
                self._need_accounting(tracked, now)
            return False
        if status.state == JobState.NEW:
            return False  # a state this library does not know: nothing changes
        if status == tracked.scheduler_status and not status.state.final \
                and tracked.accounting_since is None:
            # As in the last answer: what follows was done then (the common case, by far).
            return status.state != JobState.ACTIVE and tracked.exit_marker is None
        tracked.scheduler_status = status
        if status.state.final:
            settled = status_from_evidence(tracked.exit_marker, status)
            # A job whose cancel was asked for needs no more evidence than its end (see
            # Job._ends_by_cancel); otherwise accounting may say why it ended.
            complete = status.complete or (
                settled is not None and tracked.job._ends_by_cancel(settled))
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
            tracked.executor._set_job_status(tracked.job,
                                             JobStatus(JobState.ACTIVE, metadata=metadata))
            return False
        tracked.executor._set_job_status(
            tracked.job, JobStatus(status.state, message=status.message, metadata=metadata))
        return tracked.exit_marker is None

    def _need_accounting(self, tracked: TrackedJob, now: float) -> None:
        if tracked.accounting_since is not None:
            return
        tracked.accounting_since = now
        with self._lock:
            self._accounting.soon(now, interval=MIN_COMMAND_SPACING)

    def _query_accounting(self, jobs: List[TrackedJob], now: float) -> None:
        waiting = [job for job in jobs if job.accounting_since is not None]
        ids = sorted({job.native_id for job in waiting})
        command = self.scheduler.accounting_command(ids) if ids else None
        with self._lock:
            self._accounting.pause()
        if command is not None:
            self._start_command('accounting', command, ids, waiting, now)

    def _accounting_answered(self, result: CommandResult, ids: List[str],
                             waiting: List[TrackedJob], now: float) -> None:
        records: Optional[Dict[str, SchedulerStatus]]
        try:
            records = self.scheduler.parse_accounting_output(result, ids)
        except StatusCommandError as error:
            self._accounting.failures += 1
            unavailable = isinstance(error, AccountingUnavailable)
            log = logger.info if unavailable and self._accounting.failures > 1 \
                else logger.warning
            log('%s accounting command failed (%d in a row); %d jobs that left the queue '
                'without an exit-code marker wait for it (at most outcome_timeout): %s',
                self.scheduler.name, self._accounting.failures, len(ids), error)
            records = None
        else:
            self._accounting.failures = 0
        for tracked in waiting if records is not None else []:
            assert records is not None
            record = records.get(tracked.native_id)
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
                self._finish(tracked, unknown_job(tracked, self.scheduler.name))
        with self._lock:
            interval = self._accounting.grown(2, MAX_ACCOUNTING_INTERVAL)
            self._accounting.interval = interval
            self._accounting.soon(now + interval)

    def _expire(self, now: float) -> None:
        """Settle the jobs whose wait for more evidence is over."""
        for tracked in self._unfinished():
            self._finish(tracked, expired_status(tracked, self.scheduler.name, now))

    def _finish(self, tracked: TrackedJob, status: Optional[JobStatus]) -> None:
        if status is None or tracked.done:
            return
        tracked.done = True
        with self._lock:
            self._jobs.pop(tracked.job.id, None)
            self._pace_cache = None
            self._cancels.drop(tracked)
        # Reported final only once what psij stages after the end is done (off this thread).
        settle_after_staging(self.transport, tracked, status)

    def __repr__(self) -> str:
        return f'SchedulerTracker({self.scheduler.name}, {len(self._jobs)} jobs)'
