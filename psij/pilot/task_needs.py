"""What a pilot task needs: room on one node of an allocation, and time in it.

Both are checked when the task is submitted, against the pilot's settings, and written into
the task's queue entry (`psij.pilot.task_queue`), where workers compare them with what they
have free and with the time their allocation has left.
"""

import inspect
import math
from datetime import timedelta
from typing import Tuple

from psij.exceptions import InvalidJobException
from psij.job_attributes import JobAttributes
from psij.job_spec import JobSpec
from psij.pilot.config import PilotExecutorConfig
from psij.pilot.task_queue import TaskRequest
from psij.resource_spec import ResourceSpecV1

#: The duration a `JobAttributes` has when none is given (10 minutes): a task holding it
#: "says nothing" of how long it runs, as `psij.configuration.profile` takes it. Counted as a
#: duration, it would keep every task without one out of an allocation's last 10 minutes,
#: and out of any pilot whose allocations are shorter.
_DEFAULT_DURATION: timedelta = inspect.signature(JobAttributes).parameters['duration'].default


def task_request(spec: JobSpec) -> TaskRequest:
    """What a task needs of one node; a task that asks for more than one node is refused."""
    resources = spec.resources
    if resources is None:
        return TaskRequest(1)
    if not isinstance(resources, ResourceSpecV1):
        raise InvalidJobException('JobSpec.resources must be a ResourceSpecV1 for the pilot '
                                  f'executor, not {type(resources).__name__}')
    if resources.computed_node_count != 1:
        raise InvalidJobException(
            f'ResourceSpecV1.node_count is {resources.computed_node_count}; a pilot task runs '
            'within one node of an allocation (allowed: None or 1)')
    processes = resources.computed_process_count
    return TaskRequest(processes * (resources.cpu_cores_per_process or 1),
                       processes * (resources.gpu_cores_per_process or 0),
                       resources.memory or 0)


def task_duration(spec: JobSpec) -> int:
    """The whole seconds (rounded up) a task says it runs at most: its
    ``JobAttributes.duration``; 0 if it gives none (the default 10 minutes)."""
    attributes = spec.attributes
    if attributes is None or attributes.duration == _DEFAULT_DURATION:
        return 0
    return math.ceil(attributes.duration.total_seconds())


def checked_needs(spec: JobSpec, config: PilotExecutorConfig) -> Tuple[TaskRequest, int]:
    """A task's request and duration, or `InvalidJobException` naming the field if no
    allocation of the pilot could ever run it."""
    request = task_request(spec)
    cores = config.cores_per_node
    if cores is not None and request.cores > cores:
        raise InvalidJobException(
            f'ResourceSpecV1: the task needs {request.cores} cores; the pilot\'s '
            f'workers have {cores} (PilotExecutorConfig.cores_per_node)')
    duration = task_duration(spec)
    if duration >= config.duration:
        # Equal is refused too: a worker starts after its allocation's clock did, so it
        # never has the whole duration left.
        raise InvalidJobException(
            f'JobAttributes.duration is {timedelta(seconds=duration)}; a pilot task runs '
            f'within one allocation: it must be shorter than PilotExecutorConfig.duration '
            f'{timedelta(seconds=config.duration)} (or left at the default, which says '
            'nothing)')
    return request, duration
