"""When a tracked batch job's wait for more evidence is over, and the status it then gets
(moved out of `psij.batch.tracker`, which holds the timing of the commands)."""

from typing import Optional

from psij.batch.evidence import (
    EXIT_REASON_WAIT,
    TrackedJob,
    status_from_evidence,
    unknown_outcome,
)
from psij.job_status import JobStatus


def expired_status(tracked: TrackedJob, scheduler: str, now: float) -> Optional[JobStatus]:
    """The final status of ``tracked`` if its wait is over at ``now``, else None: a job with
    a non-zero exit-code marker waits `EXIT_REASON_WAIT` for the scheduler's reason; a job
    that left the queue without one waits ``outcome_timeout`` for accounting."""
    if tracked.exit_marker is not None and tracked.exit_marker_seen_at is not None:
        if now - tracked.exit_marker_seen_at >= EXIT_REASON_WAIT:
            return status_from_evidence(tracked.exit_marker, tracked.scheduler_status)
        return None
    timeout = tracked.executor.batch_config.outcome_timeout
    if tracked.accounting_since is None or now - tracked.accounting_since < timeout:
        return None
    settled = status_from_evidence(None, tracked.scheduler_status)
    return settled if settled is not None else unknown_outcome(tracked, scheduler, timeout)
