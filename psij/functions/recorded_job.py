"""Jobs that say when they get their native id, so that a function job is recoverable by its
native id from the moment it has one.

A job's status callback is not enough for that: a job that psij holds (``max_in_flight``) is
QUEUED while held, and when the submitting thread sends it later it gets its native id and
stays QUEUED, with no callback until it starts. A submitter that died in between left a job at
the scheduler that no other process could find by its native id. `RecordedJob` calls its
``on_native_id`` hook in the assignment itself (executors set ``job.native_id`` once they have
it, in the thread that submitted the job).
"""

import logging
from typing import Callable, List, Optional, Tuple

from psij.job import Job
from psij.job_array import JobArray
from psij.job_spec import JobSpec

logger = logging.getLogger('psij')


class RecordedJob(Job):
    """A `Job` that calls ``on_native_id(self, native_id)`` once, when it first gets a native
    id, before the id is seen in `native_id`.

    :param spec: the job's spec.
    """

    def __init__(self, spec: Optional[JobSpec] = None) -> None:
        super().__init__(spec)
        #: Called once with the job and its native id when it gets one (before `native_id`
        #: shows it; an exception is logged).
        self.on_native_id: Optional[Callable[[Job, str], None]] = None

    @property
    def native_id(self) -> Optional[str]:
        """See `Job.native_id`."""
        return self._native_id

    @native_id.setter
    def native_id(self, value: Optional[str]) -> None:
        hook = self.on_native_id
        if value is not None and hook is not None:
            # Before the id is seen: whoever sees it may rely on its record being there.
            self.on_native_id = None
            try:
                hook(self, value)
            except Exception:  # the job is submitted: the executor must go on
                logger.exception('recording the native id %s of job %s failed', value, self.id)
        self._native_id = value


def recorded_array(spec: JobSpec, count: int,
                   throttle: Optional[int]) -> Tuple[JobArray, List[RecordedJob]]:
    """A `JobArray` whose elements are `RecordedJob` (the same ids, specs and indices as
    `JobArray` gives its own), and its elements."""
    array = JobArray(spec, count, throttle=throttle)
    elements: List[RecordedJob] = []
    for job in array.jobs:
        element = RecordedJob(job.spec)
        element._id = job.id
        element._array = array
        element._array_index = job.array_index
        elements.append(element)
    array.jobs = list(elements)
    return array, elements
