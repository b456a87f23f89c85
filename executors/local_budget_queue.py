"""The jobs of one local executor that wait for room in the machine's budget, and their start.

A `BudgetQueue` sits between an executor and the processes it starts: the executor offers it
each job that may go as far as psij's own holds are concerned (dependencies, ``max_in_flight``,
array throttles: `psij.submission_gate`), and the queue starts the job, through the callable
it was given, once its reservation is in the ledger (`psij.executors.local_ledger`). Which
jobs start is decided by `psij.resource_packing.plan` over this queue's jobs and the jobs
other processes wait with; a job that must wait is QUEUED, ``held_by_psij``, with a message
saying what it waits for. The queue does not care who owns it: the local executor in a
script, or a watcher process serving many clients.

A job that waits can be seen, waited for and canceled from another process: its job id
becomes its native id (its pid once it starts) and it gets a held record, a line in this
process's waiting journal (`psij.executors.local_held_records.WaitingRecords`); a cancel
another process asks for is looked for at most every `RECHECK` seconds, and once more just
before and just after the job starts. A job that starts at once writes nothing more than its
journal line.

Cost: the reservation of an ended job stays in the ledger until the next transaction (at
most `RECORD_DELAY` later) and serves, without a transaction, the next job of the same shape
that is offered while nobody waits, neither here nor, as far as the last transaction saw, in
another process; so a stream of small jobs costs a transaction per `RECORD_DELAY`, not two per
job.

Threads: a job that fits when it is offered starts in the offering thread. Everything else
happens on the process's submitting thread (`psij.submitter`), woken when one of this queue's
jobs ends, when a job is queued or canceled, and every `RECHECK` seconds while jobs wait (for
room that other processes' jobs free). No thread of its own.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, cast

from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.resource_packing import DEFAULT_MAX_PASSES, Plan, Request, Resources, plan, refusal
from psij.submitter import GateWaker, get_submitter

from .local_budget import (
    Budget,
    CoresSetting,
    GpusSetting,
    MemorySetting,
    check_cores,
    check_gpus,
    check_memory,
    describe_figures,
    job_needs,
    make_budget,
)
from .local_held_records import WaitingRecords

if TYPE_CHECKING:
    from psij.submission_gate import SubmissionGate
from .local_ledger import (
    Holder,
    Ledger,
    LedgerState,
    Reservation,
    WaitingEntry,
    device_order,
    reservation_mark,
    this_process,
)

__all__ = ['BudgetQueue', 'GPU_VARIABLES', 'RECHECK', 'budget_queue', 'check_budget']

logger = logging.getLogger('psij.executors.local')

#: Seconds between looks at the ledger while a job waits for room others hold.
RECHECK = 0.25
#: Seconds within which the pids of newly started jobs are written to the ledger.
RECORD_DELAY = 0.05
#: How many of a process's waiting jobs (oldest first) a plan looks at, as a batch scheduler's
#: backfill depth: a plan costs time in proportion, and a job further back waits its turn.
PLAN_WINDOW = 64
#: How many of its waiting jobs a process shows to the others (oldest first).
SHOWN_WAITING = 4
#: The variables that tell a job which GPUs are its own.
GPU_VARIABLES = (b'CUDA_VISIBLE_DEVICES', b'ROCR_VISIBLE_DEVICES', b'HIP_VISIBLE_DEVICES')


@dataclass
class _Waiting:
    job: Job
    needs: Resources
    since: float
    passes: int = 0
    reserved: bool = False


class BudgetQueue:
    """The jobs of one executor waiting for room in ``budget`` (see the module docstring).

    :param start: starts a job whose reservation is written (raises as `submit` does).
    :param waker: what runs `release` (the process's submitting thread by default).
    :param records: the held records of waiting jobs (None: a waiting job has none, and no
        native id until it starts).
    """

    def __init__(self, budget: Budget, ledger: Ledger, start: Callable[[Job, JobSpec], None],
                 waker: Optional[GateWaker] = None,
                 max_passes: int = DEFAULT_MAX_PASSES,
                 records: Optional[WaitingRecords] = None) -> None:
        self.budget = budget
        self._ledger = ledger
        self._records = records
        self._marks_due = 0.0  # when to look for cancel marks again (monotonic time)
        self._start = start
        self._waker = waker
        self._max_passes = max_passes
        self._lock = threading.Lock()
        self._waiting: List[_Waiting] = []
        self._reserved: Dict[str, Reservation] = {}  # by the id of the job using it
        # Reservations of ended jobs, still in the ledger: the next job of the same shape
        # takes one over without a transaction, the next transaction gives the rest back.
        self._idle: List[Reservation] = []
        self._started: Dict[str, int] = {}  # reservation (ledger job id) -> its job's pid
        self._others_wait = False  # others had waiting jobs at our last transaction
        # When the submitting thread will call release() at the latest (monotonic time): a
        # wake for later is not sent again (one per job would wake that thread per job).
        self._wake_due = math.inf
        self._wake_lock = threading.Lock()
        self._me = this_process()

    # --- called by the executor --------------------------------------------------------------

    def check(self, spec: JobSpec) -> None:
        """Raise `InvalidJobException` if a job of ``spec`` could never fit in the budget."""
        why = refusal(job_needs(spec), self.budget.limits)
        if why is not None:
            raise InvalidJobException(
                f'JobSpec.resources: the job {why} of the local executor '
                f'(LocalJobExecutorConfig: {self.budget.describe()}), so it could never start')

    def offer(self, job: Job) -> None:
        """Start ``job`` now if the plan lets it, else queue it (QUEUED, saying why)."""
        assert job.spec is not None
        needs = job_needs(job.spec)
        entry = _Waiting(job, needs, time.time())
        with self._lock:
            reservation = self._take_idle(job, needs)
            if reservation is not None:
                reason = ''
            elif self._waiting:  # others of ours wait: the plan on the submitting thread decides
                self._waiting.append(entry)
                reason = 'waiting for resources behind jobs queued before it'
            else:
                reservation, reason = self._ledger.update(lambda state: self._now(state, entry))
                if reservation is None:
                    self._waiting.append(entry)
        if reservation is None:
            self._say(job, reason, waits=True)
            self._wake()
            return
        self._run(job, reservation, raise_errors=True)

    def cancel(self, job: Job, message: str = 'canceled while waiting for resources') -> bool:
        """Cancel ``job`` if it waits here (True: it is CANCELED now and never starts), or is
        on its way from waiting to its process (True: the start sees the cancel, asked for on
        the job before this call, and stops it)."""
        with self._lock:
            for index, entry in enumerate(self._waiting):
                if entry.job is job:
                    del self._waiting[index]
                    break
            else:
                # Its native id is its job id until its process exists.
                return (self._records is not None and job.native_id == job.id
                        and self._records.has(job))
        job._set_status(JobStatus(JobState.CANCELED, message=message))
        self._wake()  # others no longer leave it room
        return True

    def holds(self, job: Job) -> bool:
        """True if ``job`` waits here."""
        with self._lock:
            return any(entry.job is job for entry in self._waiting)

    def environment(self, job: Job) -> Dict[bytes, bytes]:
        """The variables that bind ``job`` to its GPUs (none if the budget has no GPUs): an
        empty list for a job that asked for none, so that it cannot take another's; and the
        mark of its reservation, by which it is found if we die before writing its pid
        (`psij.executors.local_orphans`)."""
        with self._lock:
            reservation = self._reserved.get(job.id)
        added = reservation_mark(reservation.job_id) if reservation is not None else {}
        if self.budget.devices:
            devices = ','.join(reservation.gpus if reservation is not None else ()).encode()
            added.update({name: devices for name in GPU_VARIABLES})
        return added

    # --- the submitting thread ---------------------------------------------------------------

    def release(self, now: float) -> Optional[float]:
        """Give back what ended jobs held, start what the plan lets start; when to look again
        (None: nothing waits)."""
        with self._wake_lock:
            self._wake_due = math.inf
        for job in self._canceled_elsewhere():
            if job._request_cancel():
                self.cancel(job, 'canceled from another process while waiting for resources')
        with self._lock:
            starts, said = self._ledger.update(self._plan_all)
        for job, reason in said:
            self._say(job, reason)
        for job, reservation in starts:
            self._run(job, reservation, raise_errors=False)
        with self._lock:
            if self._started or self._idle:
                again: Optional[float] = RECORD_DELAY
            else:
                again = RECHECK if self._waiting else None
        if again is not None:
            with self._wake_lock:  # the submitting thread calls again then
                self._wake_due = min(self._wake_due, time.monotonic() + again)
        return again

    # --- inside a ledger transaction (the queue's lock held) -----------------------------------

    def _settle(self, state: LedgerState) -> None:
        """Write down started processes, give back what ended jobs held, and note whether
        others wait."""
        if self._started:
            for reservation in state.reservations:
                pid = self._started.get(reservation.job_id)
                if pid is not None and reservation.holder == self._me:
                    # Gone already (a short job): it holds nothing after its holder's end.
                    reservation.process = Holder.of(pid)
            self._started.clear()
        if self._idle:
            idle = {reservation.job_id for reservation in self._idle}
            state.reservations = [r for r in state.reservations
                                  if r.holder != self._me or r.job_id not in idle]
            self._idle.clear()
        self._others_wait = any(w.holder != self._me for w in state.waiting)

    def _take_idle(self, job: Job, needs: Resources) -> Optional[Reservation]:
        """An idle reservation of exactly ``needs`` (no GPUs: those are bound by name), now
        ``job``'s, if no one else waits for room and none of ours does."""
        if self._others_wait or self._waiting or needs.gpus:
            return None
        for index, reservation in enumerate(self._idle):
            if reservation.cores == needs.cores and reservation.memory == needs.memory:
                del self._idle[index]
                self._reserved[job.id] = reservation
                return reservation
        return None

    def _free(self, state: LedgerState) -> Resources:
        used = state.used()
        gpus = len([d for d in self.budget.devices if d not in state.busy_devices()])
        limits = self.budget.limits
        return Resources(limits.cores - used.cores, gpus, limits.memory - used.memory)

    def _reserve(self, state: LedgerState, entry: _Waiting) -> Reservation:
        devices = device_order(self.budget.devices, state.busy_devices(), entry.needs.gpus)
        assert devices is not None  # the plan counted the free devices
        reservation = Reservation(self._me, entry.job.id, entry.needs.cores, tuple(devices),
                                  entry.needs.memory)
        state.reservations.append(reservation)
        self._reserved[entry.job.id] = reservation
        return reservation

    def _plan(self, state: LedgerState, own: List[_Waiting]) -> Tuple[Plan, Dict[str, int]]:
        """The plan over others' waiting jobs and ``own``, in arrival order; also where each
        of others' entries is in ``state.waiting``."""
        others = {w.job_id: i for i, w in enumerate(state.waiting) if w.holder != self._me}
        # Others count the passes of the jobs of ours they show too, when they pass them.
        shown = {w.job_id: w.passes for w in state.waiting if w.holder == self._me}
        for entry in own:
            entry.passes = max(entry.passes, shown.get(entry.job.id, 0))
        timed: List[Tuple[float, Request]] = [
            (state.waiting[i].since, Request(key, state.waiting[i].needs,
                                             state.waiting[i].passes, own=False))
            for key, i in others.items()]
        timed += [(entry.since, Request(entry.job.id, entry.needs, entry.passes))
                  for entry in own]
        timed.sort(key=lambda item: item[0])
        return plan([request for _, request in timed], self._free(state),
                    self._max_passes), others

    def _after_plan(self, state: LedgerState, result: Plan, others: Dict[str, int],
                    own: List[_Waiting]) -> None:
        """Bring others' passes up to date and show our oldest waiting jobs."""
        for request in result.waiting:
            index = others.get(request.key)
            if index is not None:
                state.waiting[index].passes = request.passes
        left = {request.key: request for request in result.waiting if request.own}
        state.waiting = [w for w in state.waiting if w.holder != self._me]
        shown = 0
        for entry in own:
            still = left.get(entry.job.id)
            if still is None:
                continue
            entry.passes = still.passes
            if shown < SHOWN_WAITING:
                state.waiting.append(WaitingEntry(self._me, entry.job.id, entry.needs,
                                                  entry.since, entry.passes))
                shown += 1

    def _now(self, state: LedgerState, entry: _Waiting) -> Tuple[Optional[Reservation], str]:
        """The reservation of ``entry`` if it may start now, else why it waits."""
        self._settle(state)
        result, others = self._plan(state, [entry])
        reservation = self._reserve(state, entry) if result.start else None
        self._after_plan(state, result, others, [entry])
        reason = result.reason(entry.job.id) if entry.job.id in result.why else ''
        entry.reserved = entry.job.id in result.reserved
        return reservation, reason

    def _plan_all(self, state: LedgerState
                  ) -> Tuple[List[Tuple[Job, Reservation]], List[Tuple[Job, str]]]:
        """Reservations for the jobs of ours that start now; new messages of those that
        wait. Only the first `PLAN_WINDOW` of our waiting jobs are looked at."""
        self._settle(state)
        window = self._waiting[:PLAN_WINDOW]
        result, others = self._plan(state, window)
        starting = set(result.start)
        starts = [(entry.job, self._reserve(state, entry)) for entry in window
                  if entry.job.id in starting]
        reserved = set(result.reserved)
        said: List[Tuple[Job, str]] = []
        for entry in window:
            # Said again only when the job gets a reservation: a message per plan per job
            # would cost more than the plan.
            if entry.job.id not in starting and (entry.job.id in reserved) != entry.reserved:
                entry.reserved = not entry.reserved
                said.append((entry.job, result.reason(entry.job.id)))
        self._after_plan(state, result, others, window)
        if starting:
            self._waiting[:PLAN_WINDOW] = [entry for entry in window
                                           if entry.job.id not in starting]
        return starts, said

    # --- helpers -----------------------------------------------------------------------------

    def _canceled_elsewhere(self) -> List[Job]:
        """Our waiting jobs that another process asked to cancel (looked for at most every
        `RECHECK` seconds: a look costs a file check per waiting job)."""
        now = time.monotonic()
        if self._records is None or now < self._marks_due:
            return []
        self._marks_due = now + RECHECK
        with self._lock:
            jobs = [entry.job for entry in self._waiting]
        return self._records.cancel_requested(jobs) if jobs else []

    def _run(self, job: Job, reservation: Reservation, raise_errors: bool) -> None:
        """Start ``job``, whose ``reservation`` is written; its end gives it back."""
        job._on_final(self._one_ended)
        held = self._records is not None and self._records.has(job)
        if held and self._records is not None and self._records.asked_to_cancel(job):
            job._request_cancel()  # by another process, since the last look
        if job._cancel_requested:  # canceled while it was being planned
            job._set_status(JobStatus(JobState.CANCELED, message='canceled before it started'))
            return
        assert job.spec is not None  # checked at submit
        try:
            self._start(job, job.spec)
        except Exception as error:
            if raise_errors:
                self._give_back(job.id)
                raise
            logger.warning('could not start a job that waited for resources: %s', error)
            job._set_status(JobStatus(JobState.FAILED,
                                      message=f'the job could not be started: {error}'))
            return
        native_id = job.native_id
        if native_id is not None and native_id.isdigit():  # a job id while it has no process
            with self._lock:
                self._started[reservation.job_id] = int(native_id)
            # Written down soon, so that the job's cores stay counted if we die first; the
            # transaction that does it also sees whether others have come to wait.
            self._wake(RECORD_DELAY)
            if held and self._records is not None:
                self._records.started(job, int(native_id), job.status)
                # A cancel asked for after the look above found no process to signal.
                if self._records.asked_to_cancel(job):
                    job.cancel()

    def _one_ended(self, job: Job, _status: JobStatus) -> None:
        self._give_back(job.id)

    def _give_back(self, job_id: str) -> None:
        with self._lock:
            reservation = self._reserved.pop(job_id, None)
            if reservation is None:
                return
            self._idle.append(reservation)
            waiting = bool(self._waiting)
        # A job of ours that waits starts at once; otherwise ends that come close together
        # (or the next submit) share one transaction.
        self._wake(0.0 if waiting else RECORD_DELAY)

    def _say(self, job: Job, reason: str, waits: bool = False) -> None:
        """Tell ``job`` why it waits (``waits``: it has just come to wait here)."""
        status = JobStatus(JobState.QUEUED, message=f'held by psij: {reason}',
                           metadata={'held_by_psij': True})
        if self._records is not None:
            # Before the job says it waits: whoever reads its native id then can attach.
            if waits:
                self._records.waits(job, status)
            else:
                self._records.says(job, status)
        job._set_status(status)

    def _wake(self, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        with self._wake_lock:
            if self._wake_due <= due:
                return
            self._wake_due = due
        # The submitting thread calls nothing but release(now), which this queue has as a
        # gate does: it serves both without a thread of their own.
        (self._waker or get_submitter()).wake(cast('SubmissionGate', self), delay)


def check_budget(owner: str, cores: object, gpus: object, memory: object
                 ) -> Tuple[CoresSetting, GpusSetting, MemorySetting]:
    """The three budget settings of ``owner`` (a config class's name), checked; ValueError
    naming the field otherwise."""
    return (check_cores(f'{owner}.cores', cores), check_gpus(f'{owner}.gpus', gpus),
            check_memory(f'{owner}.memory', memory))


def budget_queue(config: JobExecutorConfig, start: Callable[[Job, JobSpec], None],
                 waker: Optional[GateWaker]) -> Optional[BudgetQueue]:
    """The queue of an executor of ``config`` (None if it sets no budget: any config with
    ``cores``, ``gpus`` or ``memory`` attributes is taken, and checked again)."""
    settings = check_budget(type(config).__name__, getattr(config, 'cores', None),
                            getattr(config, 'gpus', None), getattr(config, 'memory', None))
    budget = make_budget(*settings)
    if budget is None:
        return None
    directory = config.work_directory / 'local'
    ledger = Ledger(directory)
    ledger.agree(budget.limits.cores, budget.devices, budget.limits.memory, describe_figures)
    return BudgetQueue(budget, ledger, start, waker,
                       records=WaitingRecords(directory))
