"""The machine's one budget: a ledger of what local jobs hold, shared by every psij process.

Each local executor with a budget (`psij.executors.local_budget`) draws on the ledger of its
work directory, ``<work_directory>/local/budget.json``, so that two scripts, a ``psij run``
and a workflow of the same user on this machine never run more than the budget together. A
change is one transaction: take ``budget.lock`` (`filelock`, and a thread lock within the
process), read the ledger, take back what dead holders held, decide, write the whole ledger
(one JSON line, in place, then the file cut to it: a reader stops at the first newline), let
go. A job is started only after its reservation is written, so no two jobs ever take the
same cores, GPUs or memory, whatever the timing.

The ledger lists:

- *reservations*: the holder (the psij process: pid and psutil's create time, so that a reused
  pid is not taken for it), the job id, its cores, GPU device names and memory, and once its
  process exists, the job's own pid and create time;
- *waiting* jobs that other processes should leave room for (`psij.resource_packing`'s
  requests of others): holder, job id, needs, arrival time and how often it was passed over.

A reservation is taken back when its holder has died and its job's process (if it was
started) is gone too: the job of a holder killed with ``kill -9`` goes on running in its own
session, and its cores are busy until it ends. A holder killed after starting a job but
before writing its pid leaves a reservation that names no process: it is taken back only if
no process of the job is found (`psij.executors.local_orphans`: each job carries its
reservation's mark, and a holder's spawn lock covers its children until their ``exec``); one
that is found becomes the reservation's process. Waiting entries of a dead holder go at once.
A holder may keep the reservation of a job that ended for a few tens of milliseconds, for its
next job of the same shape (`psij.executors.local_budget_queue`).

The ledger also keeps *the budget* (cores, GPU devices, memory) and the processes that use it.
An executor whose budget differs is refused while any process that uses the ledger's still
lives (`Ledger.agree`): two processes with different budgets would each start jobs by their
own figures, and neither would hold. Once they are all gone, the next one's budget replaces it.
"""

import json
import logging
import os
import pathlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, TypeVar

import filelock

from psij.resource_packing import Resources

from .local_holder import Holder, this_process
from .local_orphans import keep_running, reservation_mark
from .local_spawn_lock import hold_spawn_lock

__all__ = ['Holder', 'Ledger', 'LedgerState', 'Reservation', 'WaitingEntry',
           'reservation_mark', 'this_process']

logger = logging.getLogger('psij.executors.local')

LEDGER_NAME = 'budget.json'
LOCK_NAME = 'budget.lock'

T = TypeVar('T')


@dataclass
class Reservation:
    """What one running (or starting) job holds."""

    holder: Holder
    job_id: str
    cores: int
    gpus: Tuple[str, ...]
    memory: int
    #: The job's process, once it exists.
    process: Optional[Holder] = None


@dataclass
class WaitingEntry:
    """A job waiting in ``holder`` for room, which other holders leave it."""

    holder: Holder
    job_id: str
    needs: Resources
    since: float
    passes: int = 0


@dataclass
class LedgerState:
    """The ledger as read in one transaction; the change given to `Ledger.update` edits it."""

    reservations: List[Reservation] = field(default_factory=list)
    waiting: List[WaitingEntry] = field(default_factory=list)
    #: The budget every user of the ledger agreed to: cores, GPU devices, memory (None
    #: before the first).
    budget: Optional[Tuple[int, Tuple[str, ...], int]] = None
    #: The processes that agreed to ``budget`` (dead ones taken out by `Ledger.agree`).
    users: List[Holder] = field(default_factory=list)

    def used(self) -> Resources:
        """What every reservation holds together (GPUs counted)."""
        cores = gpus = memory = 0
        for reservation in self.reservations:
            cores += reservation.cores
            gpus += len(reservation.gpus)
            memory += reservation.memory
        return Resources(cores, gpus, memory)

    def busy_devices(self) -> Set[str]:
        """The GPU devices some reservation holds."""
        return {device for reservation in self.reservations for device in reservation.gpus}


def _holder_json(holder: Holder) -> List[Any]:
    return [holder.pid, holder.created]


def _to_json(state: LedgerState) -> str:
    return json.dumps({
        'reservations': [
            {'holder': _holder_json(r.holder), 'job': r.job_id, 'cores': r.cores,
             'gpus': list(r.gpus), 'memory': r.memory,
             'process': _holder_json(r.process) if r.process is not None else None}
            for r in state.reservations],
        'waiting': [
            {'holder': _holder_json(w.holder), 'job': w.job_id,
             'needs': [w.needs.cores, w.needs.gpus, w.needs.memory], 'since': w.since,
             'passes': w.passes}
            for w in state.waiting],
        'budget': (None if state.budget is None else
                   [state.budget[0], list(state.budget[1]), state.budget[2]]),
        'users': [_holder_json(user) for user in state.users],
    }, separators=(',', ':'))


def _holder(data: Any) -> Holder:
    return Holder(int(data[0]), float(data[1]))


def _from_json(text: str) -> LedgerState:
    data = json.loads(text)
    state = LedgerState()
    for item in data.get('reservations', []):
        process = item.get('process')
        state.reservations.append(Reservation(
            _holder(item['holder']), str(item['job']), int(item['cores']),
            tuple(str(device) for device in item['gpus']), int(item['memory']),
            _holder(process) if process is not None else None))
    for item in data.get('waiting', []):
        cores, gpus, memory = item['needs']
        state.waiting.append(WaitingEntry(
            _holder(item['holder']), str(item['job']), Resources(cores, gpus, memory),
            float(item['since']), int(item['passes'])))
    budget = data.get('budget')
    if budget is not None:
        state.budget = (int(budget[0]), tuple(str(device) for device in budget[1]),
                        int(budget[2]))
    state.users = [_holder(user) for user in data.get('users', [])]
    return state


class Ledger:
    """The ledger of one local work directory (``<work_directory>/local``)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.path = directory / LEDGER_NAME
        # A transaction takes well under a millisecond: filelock's default wait of 50 ms
        # between tries would make every contended one cost that much.
        self._file_lock = filelock.FileLock(str(directory / LOCK_NAME), poll_interval=0.001)
        self._thread_lock = threading.Lock()
        self._spawn_locked = 0  # the pid that holds its spawn lock (a fork must take its own)

    def update(self, change: Callable[[LedgerState], T]) -> T:
        """Run ``change`` on the ledger, dead holders' entries taken out first, in one
        transaction (see the module docstring); what ``change`` returns."""
        if self._spawn_locked != os.getpid():
            # Before any reservation of ours is written, so before any job of ours starts.
            hold_spawn_lock(self.directory, this_process())
            self._spawn_locked = os.getpid()
        with self._thread_lock, self._file_lock:
            try:
                text = self.path.read_text().partition('\n')[0]
            except FileNotFoundError:
                text = ''
            state = _parse(text, self.path)
            _reclaim(state, self.directory)
            result = change(state)
            new_text = _to_json(state)
            if new_text != text:
                self._write(new_text)
            return result

    def agree(self, cores: int, devices: Tuple[str, ...], memory: int,
              describe: Callable[[int, Tuple[str, ...], int], str]) -> None:
        """Become a user of the ledger's budget, which must be ``cores``, ``devices`` and
        ``memory`` unless no user of another budget lives (then it becomes this one). Raises
        ValueError naming both budgets (as ``describe`` writes them) and a process that uses
        the other."""
        mine = (cores, tuple(devices), memory)
        me = this_process()

        def change(state: LedgerState) -> None:
            # Looked at here only, once per executor: not a cost of every transaction.
            state.users = [user for user in state.users if user == me or user.alive()]
            others = [user for user in state.users if user != me]
            if state.budget is not None and state.budget != mine and others:
                raise ValueError(
                    f'LocalJobExecutorConfig: this executor\'s budget ({describe(*mine)}) '
                    f'is not the one the other psij processes of work directory '
                    f'{self.directory.parent} use ({describe(*state.budget)}; process '
                    f'{others[0].pid} among them): give every process the same cores, '
                    'gpus and memory, or another work_directory')
            state.budget = mine
            if me not in state.users:
                state.users.append(me)
        self.update(change)

    def read(self) -> LedgerState:
        """The ledger now (dead holders' entries left out), changing nothing."""
        return self.update(lambda state: state)

    def _write(self, text: str) -> None:
        # In place, under the lock: the new ledger and its newline first, then the file cut
        # to it, so a reader (who stops at the first newline) never sees a mix. Creating a
        # file per change (a rename over the old one) cost more than the rest of a
        # transaction on this machine's disk.
        data = text.encode() + b'\n'
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.pwrite(descriptor, data, 0)
            os.ftruncate(descriptor, len(data))
        finally:
            os.close(descriptor)


def _parse(text: str, path: pathlib.Path) -> LedgerState:
    if not text:
        return LedgerState()
    try:
        return _from_json(text)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        # Only a crash of the machine in the middle of a write can leave this: start over
        # rather than hold every job for ever (running jobs are then not counted).
        logger.warning('the budget ledger %s is damaged (%s); starting a new one', path, error)
        return LedgerState()


def _reclaim(state: LedgerState, directory: pathlib.Path) -> None:
    """Take out what dead holders held (their jobs' processes gone too) and their waiting
    entries. A reservation of a dead holder whose job's process is not named (or gone) is
    kept if its job may still run (`psij.executors.local_orphans`)."""
    me = this_process()
    alive: Dict[Holder, bool] = {me: True}

    def lives(holder: Holder) -> bool:
        known = alive.get(holder)
        if known is None:
            known = alive[holder] = holder.alive()
        return known

    state.waiting = [entry for entry in state.waiting if lives(entry.holder)]
    orphans = [reservation for reservation in state.reservations
               if not lives(reservation.holder) and (reservation.process is None
                                                     or not lives(reservation.process))]
    if orphans:  # rare: a holder died
        kept = {id(reservation) for reservation in keep_running(directory, orphans)}
        gone = {id(reservation) for reservation in orphans} - kept
        state.reservations = [reservation for reservation in state.reservations
                              if id(reservation) not in gone]


def device_order(devices: Tuple[str, ...], busy: Set[str], count: int) -> Optional[List[str]]:
    """The first ``count`` of ``devices`` that are not ``busy``, or None if too few are
    free."""
    free = [device for device in devices if device not in busy]
    return free[:count] if len(free) >= count else None
