"""The queues' limits read from a scheduler, kept per (scheduler, transport) for a while.

One command (`BatchScheduler.queue_limits_command`) is run the first time a job is checked and
again once its answer is older than the executor's ``queue_limits_cache``; jobs checked in
between use the answer kept here, whichever executor instance asks. A command that fails is
logged and the jobs are sent unchecked against the scheduler's limits (the scheduler has the
last word); it is tried again after `RETRY_AFTER_FAILURE` seconds at most.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from psij.batch.scheduler import BatchScheduler, StatusCommandError
from psij.queue_limits.limits import SchedulerQueues
from psij.transport import Transport

logger = logging.getLogger('psij.queue_limits')

#: A failed read is tried again after at most this many seconds.
RETRY_AFTER_FAILURE = 30.0


@dataclass(frozen=True)
class _Entry:
    read_at: float
    queues: Optional[SchedulerQueues]  # None: the read failed


class SchedulerLimitsCache:
    """Limits read from schedulers, by (scheduler, transport); thread-safe. ``clock`` gives
    seconds (tests give their own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: Dict[Tuple[object, object], _Entry] = {}
        self._reading: Dict[Tuple[object, object], threading.Lock] = {}

    def queues(self, scheduler: BatchScheduler, transport: Transport, max_age: float,
               timeout: float) -> Optional[SchedulerQueues]:
        """What ``scheduler`` (through ``transport``) says about its queues, read at most
        ``max_age`` seconds ago; None if it cannot say (no command, or the command failed)."""
        command = scheduler.queue_limits_command()
        if command is None:
            return None
        key: Tuple[object, object] = (scheduler, transport)
        with self._lock:
            reading = self._reading.setdefault(key, threading.Lock())
        # One read at a time per scheduler: jobs submitted together wait for one answer.
        with reading:
            entry = self._fresh(key, max_age)
            if entry is not None:
                return entry.queues
            queues: Optional[SchedulerQueues] = None
            try:
                result = transport.run(command, timeout=timeout)
                queues = scheduler.parse_queue_limits(result)
            except (StatusCommandError, OSError) as error:
                logger.warning('cannot read the queues of %s (%s); jobs are sent without '
                               'checking the scheduler\'s limits', scheduler.name, error)
            with self._lock:
                self._entries[key] = _Entry(self._clock(), queues)
            return queues

    def _fresh(self, key: Tuple[object, object], max_age: float) -> Optional[_Entry]:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        age = self._clock() - entry.read_at
        limit = max_age if entry.queues is not None else min(max_age, RETRY_AFTER_FAILURE)
        return entry if age < limit else None

    def forget(self) -> None:
        """Drop every answer kept (the next check reads again)."""
        with self._lock:
            self._entries.clear()


#: The process's cache (every executor uses it).
scheduler_limits = SchedulerLimitsCache()
