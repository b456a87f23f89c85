"""When a tracker looks next: one small value object (`Cadence`), used for the status
command, the accounting command and the marker files alike, and the settings that pace them
(`Pace`)."""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from psij.batch.executor import BatchSchedulerExecutorConfig

#: A time that never comes.
NEVER = math.inf


@dataclass
class Cadence:
    """When one kind of look is next due, the wait that follows it, and the failures in a row.

    The tracker asks for a look `soon` (a submission, a cancel), and after each look says how
    it went: `succeeded` with the wait it wants next, or `failed` (the wait then backs off).
    """

    #: The wait after the next look, in seconds.
    interval: float
    #: When the next look is due (`NEVER`: nothing asked for one).
    next_at: float = NEVER
    #: Failed looks in a row.
    failures: int = 0

    def due(self, now: float) -> bool:
        """True if the next look is due at ``now``."""
        return now >= self.next_at

    @property
    def asked(self) -> bool:
        """True if a look is due at some time."""
        return self.next_at < NEVER

    def soon(self, at: float, interval: float = 0.0) -> None:
        """Look at ``at`` at the latest; a non-zero ``interval`` becomes the wait after it."""
        self.next_at = min(self.next_at, at)
        if interval:
            self.interval = interval

    def pause(self) -> None:
        """No look is due until one is asked for (a command is running, or nothing is left
        to look at)."""
        self.next_at = NEVER

    def succeeded(self, now: float, interval: float) -> None:
        """A look worked: the next one comes ``interval`` later (or sooner, if asked for)."""
        self.failures = 0
        self.interval = interval
        self.soon(now + interval)

    def failed(self, now: float, first_delay: float, ceiling: float) -> float:
        """A look failed: the next one comes after a wait that doubles with each failure in a
        row, from ``first_delay`` up to ``ceiling``; returns that wait."""
        self.failures += 1
        delay = min(first_delay * 2.0 ** self.failures, ceiling)
        self.soon(now + delay)
        return delay

    def grown(self, factor: float, ceiling: float, floor: float = 0.0) -> float:
        """The current wait (at least ``floor``) times ``factor``, at most ``ceiling``."""
        return min(max(self.interval, floor) * factor, ceiling)

    def reset(self, interval: float) -> None:
        """Forget everything: nothing is due, the first wait is ``interval``."""
        self.interval = interval
        self.next_at = NEVER
        self.failures = 0


@dataclass(frozen=True)
class Pace:
    """The settings of what a tracker does for all its jobs at once.

    Jobs of executors with different configs share one tracker. The rule: for what they share
    (the status command, the marker listing, command timeouts), the most eager config sets the
    pace: each value is the smallest among the tracked jobs' configs, so no job is looked at
    less often than its executor asks. What belongs to one job (``outcome_timeout``,
    ``keep_files``) stays that job's own; ``file_retention`` is per directory, the smallest of
    the executors using it (`psij.batch.job_files`).
    """

    initial_delay: float
    status_ceiling: float
    marker_ceiling: float
    command_timeout: float

    @classmethod
    def of(cls, configs: Iterable['BatchSchedulerExecutorConfig']) -> 'Pace':
        """The pace of jobs of executors with ``configs`` (at least one)."""
        distinct = {id(config): config for config in configs}.values()
        return cls(initial_delay=min(config.initial_queue_polling_delay for config in distinct),
                   status_ceiling=min(config.queue_polling_interval for config in distinct),
                   marker_ceiling=min(config.marker_polling_interval for config in distinct),
                   command_timeout=min(config.command_timeout for config in distinct))
