"""Finding jobs by native id from a fresh process: `JobExecutor.attach` for each id.

An id the executor does not know shows up in one of two ways: ``attach`` refuses it at once
(the local executor, or an id that is not of the executor's form at all), or, for batch
schedulers, the job ends FAILED with a message saying the scheduler knows no such job, once
the queue and accounting have both been asked (a few seconds).
"""

import time
from dataclasses import dataclass
from typing import List, Optional

from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_state import JobState
from psij.job_status import JobStatus

# The batch tracker (psij/batch/tracker.py) ends an attached job with this phrase when neither
# the queue nor accounting knows the id; it sets no other sign of it, so the phrase is it.
_UNKNOWN_JOB_METADATA = 'unknown_job'

#: How long status and cancel wait for the executor's first word about each job.
FIRST_ANSWER_TIMEOUT = 60.0


@dataclass
class FoundJob:
    """One id from the command line and what was found for it."""

    native_id: str
    #: The attached job; None when the executor refused the id at once.
    job: Optional[Job]
    #: Why the id could not be looked up (unknown id...), or None.
    error: Optional[str] = None

    @property
    def status(self) -> Optional[JobStatus]:
        """The job's current status, or None for an unknown id."""
        return None if self.job is None or self.error is not None else self.job.status


def is_unknown_job(status: JobStatus) -> bool:
    """True if ``status`` is the executor saying that the attached id is no job it knows."""
    if status.state != JobState.FAILED or status.exit_code is not None:
        return False
    return status.metadata is not None and status.metadata.get(_UNKNOWN_JOB_METADATA) is True


def unique(native_ids: List[str]) -> List[str]:
    """``native_ids`` without repeats, in their first order."""
    return list(dict.fromkeys(native_ids))


def attach_all(executor: JobExecutor, native_ids: List[str]) -> List[FoundJob]:
    """Attach a new job to each id (repeats once). Ids refused at once have ``error`` set."""
    found: List[FoundJob] = []
    for native_id in unique(native_ids):
        job = Job()
        try:
            executor.attach(job, native_id)
        except InvalidJobException as error:
            found.append(FoundJob(native_id, None, error.message))
            continue
        found.append(FoundJob(native_id, job))
    return found


def note_unknown(found: FoundJob) -> bool:
    """Set ``found.error`` if its job turned out to be unknown; True if it did now."""
    job = found.job
    if found.error is None and job is not None and is_unknown_job(job.status):
        found.error = job.status.message
        return True
    return False


def wait_for_first_answer(found: List[FoundJob], timeout: float = FIRST_ANSWER_TIMEOUT
                          ) -> List[FoundJob]:
    """Wait until the executor has said something about every job (it left NEW); returns
    the jobs it said nothing about within ``timeout`` seconds. Unknown ids get ``error``."""
    deadline = time.monotonic() + timeout
    silent: List[FoundJob] = []
    for item in found:
        if item.job is None:
            continue
        remaining = max(deadline - time.monotonic(), 0.0)
        if item.job.wait(timeout=remaining, target_states=JobState.QUEUED) is None:
            silent.append(item)
            continue
        note_unknown(item)
    return silent
