"""The process's one thread that sends the jobs psij holds (`psij.submission_gate`).

Held jobs are sent from here, never from the status poller's thread: a slow submit command
(or the start of many local processes) must not hold up the polling of every other job. The
thread starts the first time a gate is woken, so a process that never holds a job never has
it.
"""

import logging
import threading
import time
from typing import TYPE_CHECKING, Dict, Optional, Protocol

if TYPE_CHECKING:
    from psij.submission_gate import SubmissionGate

logger = logging.getLogger('psij.submission_gate')

#: After a release raised (a bug), the gate is looked at again after this long.
ERROR_DELAY = 2.0


class GateWaker(Protocol):
    """What sends a gate's held jobs: the process's `Submitter` (tests give one on simulated
    time)."""

    def wake(self, gate: 'SubmissionGate', delay: float = 0.0) -> None:
        """Have ``gate`` release what it can, in ``delay`` seconds at the latest."""


class Submitter:
    """The process's one thread that sends held jobs (started the first time it is woken)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: Dict[int, SubmissionGate] = {}
        self._later: Dict[int, float] = {}
        self._thread: Optional[threading.Thread] = None

    def wake(self, gate: 'SubmissionGate', delay: float = 0.0) -> None:
        """Have ``gate`` release what it can, in ``delay`` seconds at the latest."""
        with self._condition:
            self._due[id(gate)] = gate
            at = time.monotonic() + delay
            self._later[id(gate)] = min(self._later.get(id(gate), at), at)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='psij-submitter',
                                                daemon=True)
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while True:
                    now = time.monotonic()
                    ready = [key for key, at in self._later.items() if at <= now]
                    if ready:
                        break
                    wait = min(self._later.values()) - now if self._later else None
                    self._condition.wait(wait)
                gates = [self._due.pop(key) for key in ready]
                for key in ready:
                    del self._later[key]
            for gate in gates:
                try:
                    again = gate.release(time.monotonic())
                except Exception:
                    logger.exception('releasing held jobs failed')
                    again = ERROR_DELAY
                if again is not None:
                    self.wake(gate, again)


_submitter: Optional[Submitter] = None
_submitter_lock = threading.Lock()


def get_submitter() -> Submitter:
    """The process's submitting thread (made on first use; its thread starts when woken)."""
    global _submitter
    with _submitter_lock:
        if _submitter is None:
            _submitter = Submitter()
        return _submitter
