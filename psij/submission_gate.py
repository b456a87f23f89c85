"""What an executor holds back: jobs over its cap on jobs in flight, and jobs waiting for
predecessors it cannot make the scheduler wait for.

Each executor instance that supports it has one `SubmissionGate`. ``submit`` hands it the job:
when the job may go (its predecessors allow it, and fewer than ``max_in_flight`` of the
executor's jobs are in flight), it is sent at once, in the caller's thread, and errors reach
the caller as before; otherwise the job is QUEUED with a message saying that psij holds it,
without a native id, and goes to the backend as others end. A held job that is canceled never
reaches the backend. Held jobs are sent by the process's one submitting thread
(`psij-submitter`), so a slow submit command never holds up the status poller.

Held jobs live in this process: a workflow that must survive its own end uses campaigns
(`psij campaign`), which keep their queue on disk.
"""

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Protocol

from psij.dependencies import failed_dependency, predecessors
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus

if TYPE_CHECKING:
    from psij.job_array import JobArray

logger = logging.getLogger('psij.submission_gate')

#: A held job whose submission failed transiently is tried again after this long (doubling).
RETRY_DELAY = 2.0
MAX_RETRY_DELAY = 60.0


class GateWaker(Protocol):
    """What sends a gate's held jobs: the process's `Submitter` (tests give one on simulated
    time)."""

    def wake(self, gate: 'SubmissionGate', delay: float = 0.0) -> None:
        """Have ``gate`` release what it can, in ``delay`` seconds at the latest."""


class Sender(Protocol):
    """What a gate needs of its executor."""

    def _send(self, jobs: List[Job]) -> None:
        """Submit ``jobs`` now (one job, or contiguous elements of one array: one native array
        submission); raise as ``submit`` does."""

    def _waits_natively_for(self, job: Job, predecessor: Job) -> bool:
        """True if ``job`` can be submitted now with a native dependency on ``predecessor``
        (which is submitted but has not ended)."""

    def _abandon(self, job: Job, status: JobStatus) -> None:
        """End ``job`` (sent, with a native dependency that can no longer be met) with
        ``status``, and remove it from the backend."""


@dataclass(eq=False)
class _Unit:
    """Jobs sent together: one job, or elements of one array."""

    jobs: List[Job]
    retry_delay: float = 0.0
    not_before: float = 0.0
    listening: bool = False
    extra: Dict[str, object] = field(default_factory=dict)

    @property
    def array(self) -> Optional['JobArray']:
        return self.jobs[0].array if len(self.jobs) > 1 else None


class SubmissionGate:
    """The jobs one executor holds back (see the module docstring)."""

    def __init__(self, sender: Sender, max_in_flight: Optional[int],
                 waker: Optional[GateWaker] = None) -> None:
        self._sender = sender
        self._cap = max_in_flight
        self._waker = waker
        self._lock = threading.RLock()
        self._held: List[_Unit] = []
        self._in_flight = 0

    # --- called by the executor ----------------------------------------------------------

    def submit(self, jobs: List[Job]) -> None:
        """Send ``jobs`` (one job, or the elements of one array) now if they may go, else
        hold them. Errors of an immediate submission are raised."""
        unit = _Unit(list(jobs))
        for job in unit.jobs:
            broken = failed_dependency(job.dependencies)
            if broken is not None and len(unit.jobs) == 1:
                job.executor = self._sender  # type: ignore[assignment]
                job._set_status(broken)
                return
        with self._lock:
            now = self._sendable_now(unit)
            if now is not None:
                self._in_flight += len(now.jobs)
            else:
                self._hold(unit)
        if now is not None:
            try:
                self._sender._send(now.jobs)
            except BaseException:
                with self._lock:
                    self._in_flight -= len(now.jobs)
                raise
            self._sent(now)
            if now is not unit:  # part of an array went; the rest waits
                rest = [job for job in unit.jobs if job not in now.jobs]
                with self._lock:
                    self._hold(_Unit(rest))
        self._listen_to_predecessors(unit.jobs)

    def cancel(self, job: Job) -> bool:
        """Cancel ``job`` if this gate holds it (True: it is now CANCELED, and never reaches
        the backend)."""
        with self._lock:
            for unit in self._held:
                if job in unit.jobs:
                    unit.jobs.remove(job)
                    if not unit.jobs:
                        self._held.remove(unit)
                    break
            else:
                return False
        job._set_status(JobStatus(JobState.CANCELED, message='canceled while held by psij'))
        return True

    def holds(self, job: Job) -> bool:
        """True if ``job`` is held here."""
        with self._lock:
            return any(job in unit.jobs for unit in self._held)

    @property
    def in_flight(self) -> int:
        """How many of the executor's jobs are at the backend and not final."""
        with self._lock:
            return self._in_flight

    # --- deciding ----------------------------------------------------------------------------

    def _ready(self, job: Job) -> bool:
        for predecessor in predecessors(job.dependencies):
            state = predecessor.status.state
            if state.final:
                continue
            if predecessor.native_id is None or not self._sender._waits_natively_for(
                    job, predecessor):
                return False
        return True

    def _free(self) -> Optional[int]:
        return None if self._cap is None else max(self._cap - self._in_flight, 0)

    def _sendable_now(self, unit: _Unit) -> Optional[_Unit]:
        """What of ``unit`` may go now (all, a leading part of an array, or None); the caller
        holds the lock."""
        if any(other.jobs and self._ready(other.jobs[0]) for other in self._held):
            return None  # jobs waiting for room go first
        ready = [job for job in unit.jobs if self._ready(job)]
        if len(ready) != len(unit.jobs):
            return None
        free = self._free()
        if free is None or free >= len(unit.jobs):
            return unit
        if free == 0:
            return None
        return _Unit(unit.jobs[:free])

    def _hold(self, unit: _Unit) -> None:
        self._held.append(unit)
        cap = f'{self._cap} of the executor\'s jobs are in flight (max_in_flight)'
        for job in unit.jobs:
            waiting = [p for p in predecessors(job.dependencies) if not p.status.state.final]
            reason = (f'waiting for {len(waiting)} predecessor(s) to end'
                      if waiting and not self._ready(job) else cap)
            job._set_status(JobStatus(JobState.QUEUED, message=f'held by psij: {reason}',
                                      metadata={'held_by_psij': True}))
        if not unit.listening:
            unit.listening = True

    def _sent(self, unit: _Unit) -> None:
        for job in unit.jobs:
            job._on_final(self._one_ended)
            self._watch_native_dependencies(job)

    def _one_ended(self, job: Job, status: JobStatus) -> None:
        with self._lock:
            self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            held = bool(self._held)
        if held:  # the submitting thread starts only when a job waits
            (self._waker or get_submitter()).wake(self)

    def _listen_to_predecessors(self, jobs: List[Job]) -> None:
        for job in jobs:
            for predecessor in predecessors(job.dependencies):
                predecessor._on_final(lambda _job, _status: self._wake())

    def _watch_native_dependencies(self, job: Job) -> None:
        """A job sent with a native dependency ends FAILED as soon as a predecessor makes the
        dependency impossible (the scheduler may take longer to say so, or never)."""
        def check(_predecessor: Job, _status: JobStatus) -> None:
            broken = failed_dependency(job.dependencies)
            if broken is not None and not job.status.state.final:
                self._sender._abandon(job, broken)

        for predecessor in predecessors(job.dependencies):
            predecessor._on_final(check)

    # --- releasing (on the submitting thread) --------------------------------------------

    def release(self, now: float) -> Optional[float]:
        """Send what may go now; fail what can no longer run. Returns when to look again (a
        retry after a transient failure), or None."""
        next_look: Optional[float] = None
        while True:
            with self._lock:
                unit = self._next_unit(now)
                if unit is None:
                    waiting = [other.not_before for other in self._held if other.not_before > now]
                    next_look = min(waiting) - now if waiting else None
                    break
                broken = [job for job in unit.jobs if failed_dependency(job.dependencies)]
                if broken:
                    self._remove(unit)
                else:
                    self._in_flight += len(unit.jobs)
            if broken:
                for job in unit.jobs:
                    status = failed_dependency(job.dependencies)
                    job._set_status(status or JobStatus(
                        JobState.FAILED, message='dependency never satisfied'))
                continue
            self._release_one(unit, now)
        return next_look

    def _next_unit(self, now: float) -> Optional[_Unit]:
        for index, unit in enumerate(self._held):
            if not unit.jobs or unit.not_before > now:
                continue
            if failed_dependency(unit.jobs[0].dependencies) is not None:
                return unit
            if not all(self._ready(job) for job in unit.jobs):
                continue
            free = self._free()
            if free is not None and free == 0:
                return None
            if free is not None and free < len(unit.jobs):
                part = _Unit(unit.jobs[:free])
                unit.jobs = unit.jobs[free:]
                return part
            del self._held[index]
            return unit
        return None

    def _remove(self, unit: _Unit) -> None:
        if unit in self._held:
            self._held.remove(unit)

    def _release_one(self, unit: _Unit, now: float) -> None:
        try:
            self._sender._send(unit.jobs)
        except SubmitException as error:
            with self._lock:
                self._in_flight -= len(unit.jobs)
            if error.transient and not isinstance(error, InvalidJobException):
                unit.retry_delay = min(max(unit.retry_delay * 2, RETRY_DELAY), MAX_RETRY_DELAY)
                unit.not_before = now + unit.retry_delay
                logger.warning('submitting %d held job(s) failed, retrying in %.0f s: %s',
                               len(unit.jobs), unit.retry_delay, error)
                with self._lock:
                    self._held.insert(0, unit)
                return
            for job in unit.jobs:
                job._set_status(JobStatus(JobState.FAILED,
                                          message=f'the held job could not be submitted: '
                                                  f'{error}'))
            return
        except Exception as error:  # a bug must not leave the job pending for ever
            with self._lock:
                self._in_flight -= len(unit.jobs)
            logger.exception('submitting %d held job(s) failed', len(unit.jobs))
            for job in unit.jobs:
                job._set_status(JobStatus(JobState.FAILED,
                                          message=f'the held job could not be submitted: '
                                                  f'{type(error).__name__}: {error}'))
            return
        self._sent(unit)


class Submitter:
    """The process's one thread that sends held jobs (started the first time it is woken)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: Dict[int, SubmissionGate] = {}
        self._later: Dict[int, float] = {}
        self._thread: Optional[threading.Thread] = None

    def wake(self, gate: SubmissionGate, delay: float = 0.0) -> None:
        """Have ``gate`` release what it can, in ``delay`` seconds at the latest."""
        import time
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
        import time
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
                    again = RETRY_DELAY
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
