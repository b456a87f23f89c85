"""The status trackers of a process: one per scheduler and transport (see
`psij.batch.tracker`), made when their first job is tracked and forgotten when their last one
ends."""

import threading
import time
from typing import Callable, Dict, Optional, Tuple

from psij.batch.evidence import TrackedJob, read_markers, status_from_evidence
from psij.batch.job_files import settle
from psij.batch.scheduler import BatchScheduler
from psij.batch.tracker import SchedulerTracker
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.poller import Poller, get_poller
from psij.transport import Transport


def settle_from_markers(transport: Transport, tracked: TrackedJob) -> bool:
    """Settle a job being attached if its exit-code marker is there (without waiting for the
    scheduler's reason); True if it was settled."""
    for news in read_markers(transport, [tracked]):
        if news.exit_marker is None:
            tracked.started = True
            tracked.executor._set_job_status(tracked.job, JobStatus(JobState.ACTIVE))
            continue
        tracked.exit_marker = news.exit_marker
        status = status_from_evidence(news.exit_marker, None)
        assert status is not None
        tracked.done = True
        settle(transport, tracked, status)
        return True
    return False


class TrackerRegistry:
    """The trackers of a process, one per scheduler and transport: two executors whose
    schedulers are equal (same class, same settings) and whose transports are equal share one
    tracker, whatever the number of executors. A tracker is forgotten when its last job ends.

    ``clock`` and ``poller`` are what the trackers run on (the monotonic clock and the process's
    status poller by default; tests give a simulated clock and poller).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 poller: Optional[Poller] = None) -> None:
        self._clock = clock
        self._poller = poller
        self._lock = threading.Lock()
        self._trackers: Dict[Tuple[BatchScheduler, Transport], SchedulerTracker] = {}

    def track(self, scheduler: BatchScheduler, transport: Transport,
              tracked: TrackedJob) -> None:
        """Watch ``tracked`` from now on. A job being attached whose exit-code marker is there
        is settled before this returns."""
        if tracked.attached and settle_from_markers(transport, tracked):
            return
        with self._lock:
            tracker = self._trackers.get((scheduler, transport))
            if tracker is None:
                tracker = SchedulerTracker(scheduler, transport, self._clock, self._get_poller,
                                           self._release)
                self._trackers[(scheduler, transport)] = tracker
            tracker.add(tracked)
        tracker.wake()

    def tracker(self, scheduler: BatchScheduler,
                transport: Transport) -> Optional[SchedulerTracker]:
        """The tracker of ``scheduler`` and ``transport``, if it has jobs."""
        with self._lock:
            return self._trackers.get((scheduler, transport))

    def request_status(self, scheduler: BatchScheduler, transport: Transport,
                       delay: float = 0.0) -> None:
        """Have the tracker of ``scheduler`` run its status command soon, if it has jobs."""
        tracker = self.tracker(scheduler, transport)
        if tracker is not None:
            tracker.request_status(delay)

    def cancel(self, scheduler: BatchScheduler, transport: Transport, job: Job) -> bool:
        """Send a cancel of ``job`` soon (see `SchedulerTracker.queue_cancel`); False if no
        tracker watches it."""
        tracker = self.tracker(scheduler, transport)
        return tracker is not None and tracker.queue_cancel(job)

    def abandon(self, scheduler: BatchScheduler, transport: Transport, job: Job,
                status: JobStatus) -> bool:
        """End ``job`` with ``status`` and cancel it at the scheduler (see
        `SchedulerTracker.abandon`); False if no tracker watches it."""
        tracker = self.tracker(scheduler, transport)
        if tracker is None:
            return False
        tracker.abandon(job, status)
        return True

    def _get_poller(self) -> Poller:
        return self._poller if self._poller is not None else get_poller()

    def _release(self, tracker: SchedulerTracker) -> None:
        with self._lock:
            key = (tracker.scheduler, tracker.transport)
            if self._trackers.get(key) is tracker and tracker.idle():
                del self._trackers[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._trackers)


#: The trackers of this process's batch executors.
trackers = TrackerRegistry()
