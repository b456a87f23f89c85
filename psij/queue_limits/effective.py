"""The limits that apply to each queue: the config's over the scheduler's, field by field,
each with where it came from."""

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

from psij.queue_limits.limits import LIMIT_NAMES, QueueLimit, QueueLimits, SchedulerQueues

#: Where a limit came from.
FROM_CONFIG = 'config'
FROM_SCHEDULER = 'scheduler'


@dataclass(frozen=True)
class EffectiveQueue:
    """One queue: its ``limits`` (the config's where it sets one, else the scheduler's),
    ``sources`` (limit name -> `FROM_CONFIG` or `FROM_SCHEDULER`), whether the scheduler
    lists it and whether it is the scheduler's default queue."""

    name: str
    limits: QueueLimits
    sources: Mapping[str, str] = field(default_factory=dict)
    from_scheduler: bool = False
    default: bool = False

    def rows(self) -> List[QueueLimit]:
        """The limits that are set, in `LIMIT_NAMES` order, with their sources."""
        return [QueueLimit(name, getattr(self.limits, name), self.sources[name])
                for name in LIMIT_NAMES if getattr(self.limits, name) is not None]


@dataclass(frozen=True)
class EffectiveQueues:
    """Every queue known (the scheduler's and the config's), and the scheduler's default;
    ``scheduler_listed``: the scheduler answered, so a queue it does not list is unknown."""

    queues: Mapping[str, EffectiveQueue]
    default_queue: Optional[str]
    scheduler_listed: bool

    def queue(self, name: Optional[str]) -> Optional[EffectiveQueue]:
        """The queue ``name`` (None: the default one), or None if unknown."""
        wanted = name if name is not None else self.default_queue
        return self.queues.get(wanted) if wanted is not None else None


def merge(config: Mapping[str, QueueLimits],
          scheduler: Optional[SchedulerQueues]) -> EffectiveQueues:
    """The queues of ``scheduler`` (None: it said nothing) and of ``config``, the config's
    limits winning field by field."""
    told: Mapping[str, QueueLimits] = scheduler.limits if scheduler is not None else {}
    default = scheduler.default_queue if scheduler is not None else None
    queues: Dict[str, EffectiveQueue] = {}
    for name in [*told, *(name for name in config if name not in told)]:
        lower = told.get(name, QueueLimits())
        upper = config.get(name, QueueLimits())
        sources = {key: FROM_SCHEDULER for key in lower.set_fields()}
        sources.update({key: FROM_CONFIG for key in upper.set_fields()})
        queues[name] = EffectiveQueue(name, upper.over(lower), sources, name in told,
                                      name == default)
    return EffectiveQueues(queues, default, scheduler is not None)
