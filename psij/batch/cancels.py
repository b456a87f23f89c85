"""Cancels waiting to go to the scheduler: made close together, they go as one command.

`BatchSchedulerExecutor.cancel` returns at once; the job goes into its tracker's
`CancelQueue`, and the tracker sends ONE cancel command (``scancel ID ID...``, at most
``max_cancel_batch`` ids) for everything queued, `CANCEL_BATCH_DELAY` after the first.
A cancel the scheduler cannot take now (a transient refusal: the controller does not answer)
stays queued and is sent again with backoff, until the scheduler takes it or the job ends:
nothing is lost. One it refuses for good (another user's job) is logged, and said in the
job's status message; the job keeps running. A job psij has ended itself (its predecessor
failed) is cancelled too, so that it does not stay pending; that cancel is given up after
`ABANDONED_CANCEL_TRIES`.
"""

import logging
from typing import Dict, List, Optional, Sequence, Tuple

from psij.batch.cadence import NEVER, Cadence
from psij.batch.evidence import TrackedJob
from psij.batch.scheduler import BatchScheduler, CancelOutcome
from psij.exceptions import SubmitException
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.transport import CommandResult

logger = logging.getLogger('psij.batch.tracker')

#: A cancel waits this long for others to go with it (each new one of a burst extends the
#: wait, up to `MAX_CANCEL_BATCH_WAIT` after the first): a loop of cancels is one command.
CANCEL_BATCH_DELAY = 0.02
MAX_CANCEL_BATCH_WAIT = 0.25
#: A cancel the scheduler could not take is sent again after this long, doubling.
CANCEL_RETRY_DELAY = 1.0
MAX_CANCEL_RETRY_DELAY = 30.0
#: How many times the cancel of a job psij has already ended (its dependency failed) is tried.
ABANDONED_CANCEL_TRIES = 10


class CancelQueue:
    """The jobs of one tracker whose cancel has not reached the scheduler yet."""

    def __init__(self) -> None:
        self._pending: Dict[str, TrackedJob] = {}
        self.cadence = Cadence(interval=CANCEL_RETRY_DELAY)
        self._burst_started: Optional[float] = None

    def add(self, tracked: TrackedJob, now: float) -> None:
        """Queue the cancel of ``tracked`` (the caller holds the tracker's lock)."""
        self._pending.setdefault(tracked.job.id, tracked)
        if self.cadence.failures == 0:
            if self._burst_started is None:
                self._burst_started = now
            self.cadence.next_at = min(now + CANCEL_BATCH_DELAY,
                                       self._burst_started + MAX_CANCEL_BATCH_WAIT)

    def due(self, now: float) -> bool:
        """True if a cancel command should be sent now."""
        return bool(self._pending) and self.cadence.due(now)

    def next_at(self) -> float:
        """When the next cancel command is due (`NEVER` if nothing waits)."""
        return self.cadence.next_at if self._pending else NEVER

    def take(self, scheduler: BatchScheduler) -> Tuple[List[str], List[TrackedJob]]:
        """The ids and jobs of the next cancel command (they stay queued until answered)."""
        batch = list(self._pending.values())[:scheduler.max_cancel_batch or None]
        self.cadence.pause()
        self._burst_started = None
        return [tracked.native_id for tracked in batch], batch

    def answered(self, scheduler: BatchScheduler, result: CommandResult,
                 ids: Sequence[str], jobs: Sequence[TrackedJob], now: float) -> bool:
        """Use the scheduler's answer to a cancel command; True if it took the cancels (the
        tracker then looks at the queue soon)."""
        try:
            outcomes = scheduler.parse_cancel_output(result, ids)
        except SubmitException as error:
            if error.transient:
                delay = self.cadence.failed(now, CANCEL_RETRY_DELAY / 2, MAX_CANCEL_RETRY_DELAY)
                logger.warning('%s cancel of %d job(s) failed (%d in a row), trying again in '
                               '%.0f s: %s', scheduler.name, len(ids), self.cadence.failures,
                               delay, error)
                if self.cadence.failures >= ABANDONED_CANCEL_TRIES:
                    self._give_up_abandoned(scheduler, jobs)
                return False
            for tracked in jobs:
                self._pending.pop(tracked.job.id, None)
                logger.warning('%s refused to cancel job %s: %s', scheduler.name,
                               tracked.native_id, error)
                status = tracked.job.status
                tracked.executor._set_job_status(tracked.job, JobStatus(
                    status.state, message=f'cancel refused by {scheduler.name}: {error}',
                    metadata=status.metadata))
            self._reschedule(now)
            return False
        for tracked in jobs:
            self._pending.pop(tracked.job.id, None)
            tracked.cancel = outcomes.get(tracked.native_id)
        self.cadence.failures = 0
        self._reschedule(now)
        return True

    def _give_up_abandoned(self, scheduler: BatchScheduler, jobs: Sequence[TrackedJob]) -> None:
        """Stop trying to cancel jobs psij has already ended (abandoned: their dependency
        failed); the scheduler ends them itself when it sees the dependency cannot be met."""
        for tracked in jobs:
            if tracked.done:
                self._pending.pop(tracked.job.id, None)
                logger.warning('giving up canceling %s job %s, whose dependency failed',
                               scheduler.name, tracked.native_id)

    def drop(self, tracked: TrackedJob) -> None:
        """Forget the cancel of a job that has ended."""
        self._pending.pop(tracked.job.id, None)

    def _reschedule(self, now: float) -> None:
        if self._pending:
            self.cadence.soon(now)

    def __len__(self) -> int:
        return len(self._pending)


def canceled_while_queued(jobs: Sequence[TrackedJob]) -> List[TrackedJob]:
    """Those of ``jobs`` whose cancel the scheduler took while they were waiting in the queue
    (as its last answer and their markers say): they never run, and end CANCELED at once,
    without waiting for the queue to show it. A job that may be running waits for its end,
    which may be a success."""
    return [tracked for tracked in jobs
            if tracked.cancel == CancelOutcome.REQUESTED and not tracked.done
            and not tracked.started and tracked.exit_marker is None
            and tracked.scheduler_status is not None
            and tracked.scheduler_status.state == JobState.QUEUED]
