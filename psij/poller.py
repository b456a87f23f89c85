"""The one status-polling thread of the process.

Anything that must look at job states from time to time (jobs attached from another process,
batch schedulers) registers a `PollTarget`. The poller calls each target when it is due, one at
a time, on a single thread started the first time a target is scheduled. A target decides its
own interval by returning the delay to its next call, and covers ALL its jobs in that call, so
the number of threads and of status commands does not grow with the number of jobs.
"""

import heapq
import itertools
import logging
import threading
import time
from typing import Dict, List, Optional, Protocol, Tuple

logger = logging.getLogger('psij.poller')

# After a target raises, it is called again after this long (doubling up to the maximum).
_ERROR_DELAY = 1.0
_MAX_ERROR_DELAY = 60.0
#: The longest single wait of the thread (it then looks at its queue again).
_MAX_WAIT = 3600.0


class PollTarget(Protocol):
    """Something the poller calls."""

    def poll(self) -> Optional[float]:
        """Check once; return seconds until the next call, or None if nothing is left to do
        (the target is dropped until it is scheduled again)."""


class Poller(Protocol):
    """What a batch tracker needs of the status poller (a `StatusPoller`, or a test double)."""

    def schedule(self, target: PollTarget, delay: float = 0.0) -> None:
        """Call ``target.poll()`` in ``delay`` seconds, or sooner if it is due sooner."""


class StatusPoller:
    """Calls `PollTarget`s when they are due, on one daemon thread."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._queue: List[Tuple[float, int, PollTarget]] = []
        self._due: Dict[int, float] = {}
        self._errors: Dict[int, int] = {}
        self._counter = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def schedule(self, target: PollTarget, delay: float = 0.0) -> None:
        """Call ``target`` in ``delay`` seconds, or sooner if it is already due sooner."""
        due = time.monotonic() + delay
        with self._condition:
            current = self._due.get(id(target))
            if current is not None and current <= due:
                return
            self._due[id(target)] = due
            heapq.heappush(self._queue, (due, next(self._counter), target))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='psij-status-poller',
                                                daemon=True)
                self._thread.start()
            self._condition.notify()

    def _next_due(self) -> PollTarget:
        with self._condition:
            while True:
                now = time.monotonic()
                while self._queue:
                    due, _, target = self._queue[0]
                    if self._due.get(id(target)) != due:
                        heapq.heappop(self._queue)  # superseded by an earlier schedule
                        continue
                    break
                if self._queue and self._queue[0][0] <= now:
                    _, _, target = heapq.heappop(self._queue)
                    del self._due[id(target)]
                    return target
                # Capped: a wait of years overflows the platform's time_t.
                timeout = min(self._queue[0][0] - now, _MAX_WAIT) if self._queue else None
                self._condition.wait(timeout)

    def _run(self) -> None:
        while True:
            target = self._next_due()
            try:
                delay = target.poll()
                self._errors.pop(id(target), None)
            except Exception:
                failures = self._errors.get(id(target), 0) + 1
                self._errors[id(target)] = failures
                delay = min(_ERROR_DELAY * 2 ** (failures - 1), _MAX_ERROR_DELAY)
                logger.exception('status poll of %r failed (%d in a row); retrying in %.0f s',
                                 target, failures, delay)
            if delay is not None:
                self.schedule(target, delay)


_poller: Optional[StatusPoller] = None
_poller_lock = threading.Lock()


def get_poller() -> StatusPoller:
    """The process's poller (made on first use; its thread starts on the first schedule)."""
    global _poller
    with _poller_lock:
        if _poller is None:
            _poller = StatusPoller()
        return _poller
