"""What an executor holds back: jobs over its cap on jobs in flight, elements of an array over
its throttle (where the backend has no throttle of its own), and jobs waiting for predecessors
it cannot make the backend wait for.

Each executor instance that supports it has one `SubmissionGate`. ``submit`` hands it the job:
when the job may go (its predecessors allow it, fewer than ``max_in_flight`` of the executor's
jobs are in flight and, where the gate keeps throttles, fewer than ``JobArray.throttle`` of its
array's elements), it is sent at once, in the caller's thread, and errors reach the caller as
before; otherwise the job is QUEUED with a message saying that psij holds it, and why, without
a native id, and goes to the backend as others end. Both limits hold together: an element
counts one against its array's throttle and one against the executor's cap, and goes when both
have room. A held job that is canceled never reaches the backend; one whose dependency can no
longer be met ends FAILED at once, with the reason (`psij.dependencies.failed_dependency`).
Held jobs are sent by the process's one submitting thread (`psij.submitter`), so a slow submit
command never holds up the status poller.

Held jobs live in this process: a workflow that must survive its own end uses campaigns
(`psij campaign`), which keep their queue on disk.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Protocol, Sequence, Set, Tuple

from psij.dependencies import failed_dependency, predecessors
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.submitter import GateWaker, Submitter, get_submitter

if TYPE_CHECKING:
    from psij.job_array import JobArray

__all__ = ['GateWaker', 'Sender', 'SubmissionGate', 'Submitter', 'check_max_in_flight',
           'get_submitter']

logger = logging.getLogger('psij.submission_gate')

#: A held job whose submission failed transiently is tried again after this long (doubling).
RETRY_DELAY = 2.0
MAX_RETRY_DELAY = 60.0


def check_max_in_flight(field: str, value: object) -> Optional[int]:
    """``value`` as a cap on jobs in flight: a whole number of jobs, 1 or more, or None (no
    cap). Raises ValueError naming ``field`` (e.g. ``'LocalJobExecutorConfig.max_in_flight'``)
    otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{field} must be a whole number of jobs, 1 or more, or None; '
                         f'not {value!r}')
    return value


class Sender(Protocol):
    """What a gate needs of its executor."""

    def _send(self, jobs: List[Job]) -> None:
        """Submit ``jobs`` now (one job, or consecutive elements of one array: one native
        array submission), all or none; raise as ``submit`` does."""

    def _waits_natively_for(self, job: Job, predecessor: Job) -> bool:
        """True if ``job`` can be submitted now with a native dependency on ``predecessor``
        (which is submitted but has not ended)."""

    def _abandon(self, job: Job, status: JobStatus) -> None:
        """End ``job`` (sent, with a native dependency that can no longer be met) with
        ``status``, and remove it from the backend."""


@dataclass(eq=False)
class _Unit:
    """Jobs sent together: one job, or consecutive elements of one array."""

    jobs: List[Job]
    retry_delay: float = 0.0
    not_before: float = 0.0
    #: Its jobs' message says they wait for predecessors (said again once they need not).
    waits_for_predecessors: bool = False

    @property
    def array(self) -> Optional['JobArray']:
        return self.jobs[0].array if self.jobs else None


def _runs(jobs: List[Job]) -> List[List[Job]]:
    """``jobs`` cut where they stop being consecutive elements of one array: a unit of several
    jobs becomes one native array of consecutive indices."""
    runs: List[List[Job]] = []
    for job in jobs:
        last = runs[-1][-1] if runs else None
        if (last is not None and job.array is not None and job.array is last.array
                and job.array_index == (last.array_index or 0) + 1):
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


class SubmissionGate:
    """The jobs one executor holds back (see the module docstring).

    :param max_in_flight: the executor's cap (None: none).
    :param waker: what sends held jobs (the process's `Submitter` by default).
    :param keeps_throttles: True for a backend with no throttle of its own (the local
        executor): the gate holds an array's elements beyond ``JobArray.throttle`` in flight.
        False: the backend applies it (Slurm ``%N``, Grid Engine ``-tc``...).
    """

    def __init__(self, sender: Sender, max_in_flight: Optional[int],
                 waker: Optional[GateWaker] = None, keeps_throttles: bool = False) -> None:
        self._sender = sender
        self._cap = max_in_flight
        self._waker = waker
        self._keeps_throttles = keeps_throttles
        self._lock = threading.RLock()
        self._held: List[_Unit] = []
        self._in_flight = 0
        self._array_in_flight: Dict[str, int] = {}
        # Set by the end of a predecessor (a failed one: held jobs may have to fail), so that a
        # release looks through every held job only when that can change something.
        self._predecessor_ended = False
        self._predecessor_failed = False

    # --- called by the executor ----------------------------------------------------------

    def submit(self, jobs: List[Job]) -> None:
        """Send ``jobs`` (one job, or the elements of one array) now if they may go, else
        hold them. Errors of an immediate submission are raised."""
        alive = self._end_broken(jobs)
        if len(alive) != len(jobs):
            # Elements cut apart by ones that can never run: the release sends the rest.
            with self._lock:
                for run in _runs(alive):
                    self._hold(_Unit(run))
            self._listen_to_predecessors(alive)
            self._wake()
            return
        unit = _Unit(alive)
        with self._lock:
            now = self._sendable_now(unit)
            if now is not None:
                self._count(now.jobs, 1)
            else:
                self._hold(unit)
        if now is not None:
            try:
                self._sender._send(now.jobs)
            except BaseException:
                with self._lock:
                    self._count(now.jobs, -1)
                raise
            self._sent(now)
            if now is not unit:  # part of an array went; the rest waits
                with self._lock:
                    self._hold(_Unit(unit.jobs[len(now.jobs):]))
        self._listen_to_predecessors(unit.jobs)

    def submit_each(self, jobs: Sequence[Job]) -> None:
        """Like `submit`, for a backend that takes jobs one at a time (the local executor's
        array elements): each of ``jobs`` is sent on its own, those that may go now in the
        caller's thread. One that cannot be sent ends FAILED with the error (it is not raised:
        others may have gone already); the rest are held."""
        alive = self._end_broken(jobs)
        going: List[_Unit] = []
        with self._lock:
            others_first = self._others_first()
            for job in alive:
                unit = _Unit([job])
                if not others_first and self._leading_ready(unit, self._room(unit)) == 1:
                    self._count(unit.jobs, 1)
                    going.append(unit)
                else:
                    self._hold(unit)
        now = time.monotonic()
        retried = [unit for unit in going if self._send_unit(unit, now)]
        self._listen_to_predecessors(alive)
        if retried:
            self._wake()

    def cancel(self, job: Job) -> bool:
        """Cancel ``job`` if this gate holds it (True: it is now CANCELED, and never reaches
        the backend)."""
        with self._lock:
            for unit in self._held:
                if job in unit.jobs:
                    self._replace(unit, [other for other in unit.jobs if other is not job])
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

    # --- deciding (the caller holds the lock) ----------------------------------------------

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

    def _throttle_room(self, array: Optional['JobArray']) -> Optional[int]:
        """How many more elements of ``array`` may be in flight (None: no limit here)."""
        if not self._keeps_throttles or array is None or array.throttle is None:
            return None
        return max(array.throttle - self._array_in_flight.get(array.id, 0), 0)

    def _room(self, unit: _Unit) -> Optional[int]:
        """How many of ``unit``'s jobs the cap and its array's throttle let go (None: all)."""
        limits = [limit for limit in (self._free(), self._throttle_room(unit.array))
                  if limit is not None]
        return min(limits) if limits else None

    def _leading_ready(self, unit: _Unit, room: Optional[int]) -> int:
        """How many of ``unit``'s first jobs may go: ready, and at most ``room``."""
        count = 0
        for job in unit.jobs:
            if (room is not None and count >= room) or not self._ready(job):
                break
            count += 1
        return count

    def _others_first(self) -> bool:
        """True if a held job waits only for room: it goes before any job submitted now (one
        held by its own array's throttle waits for that array alone)."""
        return any(unit.jobs and self._throttle_room(unit.array) != 0
                   and self._ready(unit.jobs[0]) for unit in self._held)

    def _sendable_now(self, unit: _Unit) -> Optional[_Unit]:
        """What of ``unit`` may go now (all, a leading part of an array, or None)."""
        if self._others_first():
            return None
        count = self._leading_ready(unit, self._room(unit))
        if count == 0:
            return None
        return unit if count == len(unit.jobs) else _Unit(unit.jobs[:count])

    def _count(self, jobs: List[Job], sign: int) -> None:
        """Count ``jobs`` in flight (``sign`` 1) or no longer (-1)."""
        self._in_flight += sign * len(jobs)
        for job in jobs:
            array = job.array
            if array is not None:
                left = self._array_in_flight.get(array.id, 0) + sign
                if left > 0:
                    self._array_in_flight[array.id] = left
                else:
                    self._array_in_flight.pop(array.id, None)

    def _hold(self, unit: _Unit) -> None:
        self._held.append(unit)
        self._describe(unit)

    def _replace(self, unit: _Unit, remaining: List[Job]) -> None:
        """Hold ``remaining`` (some of ``unit``'s jobs) instead of ``unit``, cut into units of
        consecutive elements."""
        index = self._held.index(unit)
        self._held[index:index + 1] = [
            _Unit(run, unit.retry_delay, unit.not_before, unit.waits_for_predecessors)
            for run in _runs(remaining)]

    def _describe(self, unit: _Unit) -> None:
        """Say in the status of each of ``unit``'s jobs why psij holds it."""
        unit.waits_for_predecessors = False
        for job in unit.jobs:
            reason, for_predecessors = self._reason(job)
            unit.waits_for_predecessors |= for_predecessors
            job._set_status(JobStatus(JobState.QUEUED, message=f'held by psij: {reason}',
                                      metadata={'held_by_psij': True}))

    def _reason(self, job: Job) -> Tuple[str, bool]:
        """Why ``job`` is held, and whether it is for its predecessors."""
        waiting = [p for p in predecessors(job.dependencies) if not p.status.state.final]
        if waiting and not self._ready(job):
            return f'waiting for {len(waiting)} predecessor(s) to end', True
        array = job.array
        if array is not None and self._throttle_room(array) == 0:
            return (f'{array.throttle} elements of its array are in flight '
                    f'(JobArray.throttle={array.throttle})'), False
        if self._free() == 0:
            return (f'{self._cap} of the executor\'s jobs are in flight '
                    f'(max_in_flight={self._cap})'), False
        return 'jobs psij held before it go first', False

    def _end_broken(self, jobs: Sequence[Job]) -> List[Job]:
        """End FAILED, at once, the jobs of ``jobs`` whose dependency can no longer be met;
        the others."""
        alive: List[Job] = []
        for job in jobs:
            broken = failed_dependency(job.dependencies)
            if broken is None:
                alive.append(job)
                continue
            job.executor = self._sender  # type: ignore[assignment]
            job._set_status(broken)
        return alive

    # --- after sending -----------------------------------------------------------------------

    def _sent(self, unit: _Unit) -> None:
        for job in unit.jobs:
            job._on_final(self._one_ended)
            self._watch_native_dependencies(job)

    def _one_ended(self, job: Job, status: JobStatus) -> None:
        with self._lock:
            self._count([job], -1)
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            held = bool(self._held)
        if held:  # the submitting thread starts only when a job waits
            (self._waker or get_submitter()).wake(self)

    def _listen_to_predecessors(self, jobs: Sequence[Job]) -> None:
        seen: Set[str] = set()
        for job in jobs:
            for predecessor in predecessors(job.dependencies):
                if predecessor.id not in seen:  # an array's elements share theirs
                    seen.add(predecessor.id)
                    predecessor._on_final(self._predecessor_done)

    def _predecessor_done(self, predecessor: Job, status: JobStatus) -> None:
        with self._lock:
            self._predecessor_ended = True
            if status.state != JobState.COMPLETED:
                self._predecessor_failed = True
        self._wake()

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
        while True:
            with self._lock:
                broken = self._take_broken()
                unit = None if broken else self._next_unit(now)
                if unit is not None:
                    self._count(unit.jobs, 1)
            if broken:
                for job, status in broken:  # outside the lock: callbacks run here
                    job._set_status(status)
                continue
            if unit is None:
                break
            self._send_unit(unit, now)
        with self._lock:
            self._say_what_holds_them_now()
            waiting = [unit.not_before for unit in self._held if unit.not_before > now]
        return min(waiting) - now if waiting else None

    def _take_broken(self) -> List[Tuple[Job, JobStatus]]:
        """Take out of the held jobs those whose dependency can no longer be met, with the
        FAILED status each ends with."""
        if not self._predecessor_failed:
            return []
        self._predecessor_failed = False
        broken: List[Tuple[Job, JobStatus]] = []
        for unit in list(self._held):
            statuses = [(job, failed_dependency(job.dependencies)) for job in unit.jobs]
            ended = [(job, status) for job, status in statuses if status is not None]
            if ended:
                broken.extend(ended)
                self._replace(unit, [job for job, status in statuses if status is None])
        return broken

    def _next_unit(self, now: float) -> Optional[_Unit]:
        """The held jobs that may go now (taken out of the held ones), or None."""
        if self._free() == 0:
            return None
        throttled: Set[str] = set()  # arrays whose throttle is reached: their units wait
        for index, unit in enumerate(self._held):
            array = unit.array
            if not unit.jobs or unit.not_before > now or (
                    array is not None and array.id in throttled):
                continue
            room = self._room(unit)
            if room == 0:  # the cap has room (above): its array's throttle has none
                throttled.add(array.id if array is not None else '')
                continue
            count = self._leading_ready(unit, room)
            if count == 0:
                continue
            if count == len(unit.jobs):
                del self._held[index]
                return unit
            part = _Unit(unit.jobs[:count])
            unit.jobs = unit.jobs[count:]
            return part
        return None

    def _say_what_holds_them_now(self) -> None:
        """Held jobs that waited for predecessors that have ended now wait for something
        else: say what."""
        if not self._predecessor_ended:
            return
        self._predecessor_ended = False
        for unit in self._held:
            if unit.waits_for_predecessors:
                self._describe(unit)

    def _send_unit(self, unit: _Unit, now: float) -> bool:
        """Send ``unit``, counted in flight; True if it failed transiently and is held to be
        tried again."""
        try:
            self._sender._send(unit.jobs)
        except SubmitException as error:
            with self._lock:
                self._count(unit.jobs, -1)
            if error.transient and not isinstance(error, InvalidJobException):
                unit.retry_delay = min(max(unit.retry_delay * 2, RETRY_DELAY), MAX_RETRY_DELAY)
                unit.not_before = now + unit.retry_delay
                logger.warning('submitting %d held job(s) failed, retrying in %.0f s: %s',
                               len(unit.jobs), unit.retry_delay, error)
                with self._lock:
                    self._held.insert(0, unit)
                    for job in unit.jobs:
                        job._set_status(JobStatus(
                            JobState.QUEUED, metadata={'held_by_psij': True},
                            message=f'held by psij: submitting failed ({error}); trying again '
                                    f'in {unit.retry_delay:.0f} s'))
                return True
            self._fail(unit, str(error))
            return False
        except Exception as error:  # a bug must not leave the job pending for ever
            with self._lock:
                self._count(unit.jobs, -1)
            logger.exception('submitting %d held job(s) failed', len(unit.jobs))
            self._fail(unit, f'{type(error).__name__}: {error}')
            return False
        self._sent(unit)
        return False

    @staticmethod
    def _fail(unit: _Unit, error: str) -> None:
        for job in unit.jobs:
            job._set_status(JobStatus(JobState.FAILED,
                                      message=f'the job could not be submitted: {error}'))
