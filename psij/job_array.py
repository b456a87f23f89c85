"""Job arrays: N elements of one specification, submitted together.

`JobArray(spec, count)` makes ``count`` `Job` elements. Each element is a full job (its own
state, callbacks, `Job.wait`, `Job.cancel`, exit code, native id), and knows its index
(`Job.array_index`, 0 to ``count - 1``). The index reaches the job as the environment variable
``PSIJ_ARRAY_INDEX``, and `INDEX_TOKEN` (``{PSIJ_ARRAY_INDEX}``) in the arguments, the
directory, the standard stream paths and the environment values is replaced by it.

``executor.submit_array(array)`` submits every element; a batch executor makes it ONE native
array submission (Slurm ``--array``, Grid Engine ``-t``, PBS ``-J``, Torque ``-t``, LSF
``-J name[1-N]``), the local executor starts N processes. ``throttle`` caps how many elements
run at once, natively where the scheduler can (``%N``, ``-tc``).
"""

import copy
import pathlib
import time
import uuid
from datetime import timedelta
from typing import List, Optional, Union

from psij.dependencies import DependencyCondition
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_spec import JobSpec
from psij.job_status import JobStatus

#: The environment variable holding an element's index (0 to count - 1).
INDEX_VARIABLE = 'PSIJ_ARRAY_INDEX'
#: Replaced by the element's index in arguments, the directory, paths and environment values.
INDEX_TOKEN = '{PSIJ_ARRAY_INDEX}'


def _positive(field: str, value: Optional[int], allow_none: bool) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'JobArray.{field} must be int, not {type(value).__name__}')
    if value < 1:
        raise InvalidJobException(f'JobArray.{field} is {value}; allowed: 1 or more')
    return value


def element_spec(spec: JobSpec, index: int) -> JobSpec:
    """``spec`` for the element ``index``: a copy with `INDEX_TOKEN` replaced by the index in
    the arguments, the directory, the stream paths and the environment values, and
    ``PSIJ_ARRAY_INDEX`` set."""
    text = str(index)

    def path(value: Optional[pathlib.Path]) -> Optional[pathlib.Path]:
        return None if value is None else pathlib.Path(str(value).replace(INDEX_TOKEN, text))

    element = copy.copy(spec)
    element.arguments = [argument.replace(INDEX_TOKEN, text) for argument in spec.arguments]
    element.directory = path(spec.directory)
    element.stdin_path = path(spec.stdin_path)
    element.stdout_path = path(spec.stdout_path)
    element.stderr_path = path(spec.stderr_path)
    environment = {name: value.replace(INDEX_TOKEN, text)
                   for name, value in (spec.environment or {}).items()}
    environment[INDEX_VARIABLE] = text
    element.environment = dict(environment)
    return element


class JobArray:
    """``count`` elements of ``spec``, submitted with ``executor.submit_array``.

    :param spec: what every element runs; `INDEX_TOKEN` in it is replaced by each element's
        index (see the module docstring).
    :param count: how many elements (1 or more; a scheduler refuses more than its array limit
        allows, after splitting: see the executor's documentation).
    :param throttle: at most this many elements run at once (None: no limit).
    """

    def __init__(self, spec: JobSpec, count: int, throttle: Optional[int] = None) -> None:
        if not isinstance(spec, JobSpec):
            raise TypeError(f'JobArray.spec must be JobSpec, not {type(spec).__name__}')
        self.spec = spec
        self.count: int = _positive('count', count, allow_none=False) or 1
        self.throttle = _positive('throttle', throttle, allow_none=True)
        #: psij's id of the array; element ``i`` is job ``<id>-<i>``.
        self.id = str(uuid.uuid4())
        self.jobs: List[Job] = []
        for index in range(self.count):
            job = Job(element_spec(spec, index))
            job._id = f'{self.id}-{index}'
            job._array = self
            job._array_index = index
            self.jobs.append(job)

    def depends_on(self, *predecessors: Union[Job, 'JobArray'],
                   condition: DependencyCondition = DependencyCondition.COMPLETED
                   ) -> 'JobArray':
        """Run every element after ``predecessors`` (see `Job.depends_on`)."""
        for job in self.jobs:
            job.depends_on(*predecessors, condition=condition)
        return self

    @property
    def native_id(self) -> Optional[str]:
        """The scheduler's id of the (first) native array, once submitted; each element's own
        id is its job's ``native_id``."""
        return self.jobs[0]._array_native_id if self.jobs else None

    def cancel(self) -> None:
        """Cancel every element that has not ended (one command per scheduler where it can)."""
        executor = self.jobs[0].executor if self.jobs else None
        if executor is None:
            for job in self.jobs:
                job.cancel()
            return
        executor.cancel_jobs(self.jobs)

    def wait(self, timeout: Union[timedelta, float, None] = None) -> List[Optional[JobStatus]]:
        """Wait until every element is final (at most ``timeout`` in all); their statuses (None
        for an element still not final at the timeout)."""
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        statuses: List[Optional[JobStatus]] = []
        for job in self.jobs:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            statuses.append(job.wait(timeout=left))
        return statuses

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f'JobArray(count={self.count}, throttle={self.throttle}, spec={self.spec!r})'
