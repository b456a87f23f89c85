"""The limits of one queue, and what a scheduler says about its queues (pure values)."""

from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class QueueLimits:
    """What a job sent to one queue must keep; None: no limit.

    Counts are per job: ``max_cores`` is processes x CPU cores per process, ``max_gpus``
    processes x GPUs per process, ``max_memory`` (bytes) the memory of the whole job.
    """

    min_nodes: Optional[int] = None
    max_nodes: Optional[int] = None
    max_cores: Optional[int] = None
    max_gpus: Optional[int] = None
    max_memory: Optional[int] = None
    min_duration: Optional[timedelta] = None
    max_duration: Optional[timedelta] = None

    def over(self, lower: 'QueueLimits') -> 'QueueLimits':
        """These limits where they are set, ``lower``'s elsewhere (the config's limits over
        the scheduler's: the config wins field by field)."""
        return replace(lower, **self.set_fields())

    def set_fields(self) -> Dict[str, Any]:
        """The fields that hold a limit, by name."""
        return {item.name: getattr(self, item.name) for item in fields(self)
                if getattr(self, item.name) is not None}

    def __bool__(self) -> bool:
        return bool(self.set_fields())


#: The names of the limits, in the order tables show them.
LIMIT_NAMES: Tuple[str, ...] = tuple(item.name for item in fields(QueueLimits))


@dataclass(frozen=True)
class SchedulerQueues:
    """What a scheduler says about its queues: every queue it lists with its limits, and
    the queue a job that names none goes to (None: the scheduler picks, or does not say)."""

    limits: Mapping[str, QueueLimits] = field(default_factory=dict)
    default_queue: Optional[str] = None


@dataclass(frozen=True)
class QueueLimit:
    """One limit of one queue as `psij queues` shows it: its value and where it came from
    (``config`` or ``scheduler``)."""

    name: str
    value: object
    source: str
