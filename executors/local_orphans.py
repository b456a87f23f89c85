"""The running jobs of dead holders that the budget ledger does not name yet.

A holder writes a reservation, starts the job's process, and writes the job's pid in the
ledger at its next transaction (`psij.executors.local_budget_queue.RECORD_DELAY`, tens of
milliseconds later). A holder killed in between leaves a reservation whose job may be running
but is not named. Before such a reservation is taken back (`psij.executors.local_ledger`),
the job is looked for:

1. Every job a budgeted executor starts carries its reservation's mark in its environment,
   ``PSIJ_LOCAL_RESERVATION=<the reservation's job id>`` (`reservation_mark`), set in the
   ``exec`` that starts it. A live process of the user carrying the mark is the job (or one
   of its children): it becomes the reservation's process, and the reservation is taken back
   once that process is gone.
2. Before its ``exec`` a child has its parent's environment. A holder's spawn lock
   (`psij.executors.local_spawn_lock`) is held until each child it forked has closed its
   descriptors just before ``exec``; while it is held, the reservation stays as it is.
3. In the rest of the way to ``exec`` (descriptors closed, ``exec`` not done) the child is a
   session leader (``setsid`` comes first) that has not ``exec``'d (the kernel's
   ``PF_FORKNOEXEC`` flag), and during the ``exec`` its environment reads empty for a moment.
   A process of the user created after the holder that looks like either may be the job: it
   becomes the reservation's process too. This errs on the safe side: a process that merely
   looks like one (a daemon that forked without ``exec``, a program run with an empty
   environment) keeps the dead holder's cores until it ends.

The flags are read before the environment, so that a child that ``exec``'s in between is
seen in one state or the other. This runs only when a dead holder's reservation is about to be
taken back (a ``/proc`` scan: a few milliseconds); a start and an end never do it.
"""

import os
import pathlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Iterable, List, Union

import psutil

from .local_holder import Holder
from .local_spawn_lock import may_be_spawning

if TYPE_CHECKING:
    from .local_ledger import Reservation

__all__ = ['RESERVATION_VARIABLE', 'keep_running', 'reservation_mark']

#: The variable in a budgeted job's environment that names its reservation.
RESERVATION_VARIABLE = b'PSIJ_LOCAL_RESERVATION'

_MARK = b'\0' + RESERVATION_VARIABLE + b'='
_PF_FORKNOEXEC = 0x40  # include/linux/sched.h: forked but did not exec
#: Seconds a process may seem to be created before its holder (clock rounding).
_MARGIN = 1.0


def reservation_mark(job_id: str) -> Dict[bytes, bytes]:
    """The variable that marks the process of the reservation of ledger job id ``job_id``."""
    return {RESERVATION_VARIABLE: job_id.encode()}


@dataclass
class _Seen:
    """Live processes of the user, created after a given time."""

    #: A process carrying each mark (the one found first).
    marked: Dict[str, Holder] = field(default_factory=dict)
    #: Processes that may be a job on its way to ``exec`` (point 3 of the module docstring).
    on_the_way: List[Holder] = field(default_factory=list)


def keep_running(directory: pathlib.Path, orphans: Iterable['Reservation']
                 ) -> List['Reservation']:
    """Of ``orphans`` (reservations of dead holders whose named process, if any, is gone),
    those whose job may still run, their process set where one was found (see the module
    docstring)."""
    kept: List[Reservation] = []
    to_look: List[Reservation] = []
    spawning: Dict[Holder, bool] = {}
    for reservation in orphans:
        holder = reservation.holder
        if holder not in spawning:
            spawning[holder] = may_be_spawning(directory, holder)
        (kept if spawning[holder] else to_look).append(reservation)
    if not to_look:
        return kept
    seen = _look(min(reservation.holder.created for reservation in to_look) - _MARGIN)
    for reservation in to_look:
        found = seen.marked.get(reservation.job_id)
        if found is None:
            found = next((process for process in seen.on_the_way
                          if process.created >= reservation.holder.created - _MARGIN), None)
        if found is not None:
            reservation.process = found
            kept.append(reservation)
    return kept


def _look(since: float) -> _Seen:
    if not sys.platform.startswith('linux'):
        return _look_with_psutil(since)
    seen = _Seen()
    uid = os.getuid()
    ticks_per_second = os.sysconf('SC_CLK_TCK')
    first_tick = (since - psutil.boot_time()) * ticks_per_second
    # This process too: it may be a job of a budget itself.
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        pid = int(name)
        kind = _kind(pid, first_tick, uid)
        if kind is None:
            continue
        holder = Holder.of(pid)
        if holder is None:  # gone meanwhile
            continue
        if isinstance(kind, str):
            seen.marked.setdefault(kind, holder)
        else:
            seen.on_the_way.append(holder)
    return seen


def _kind(pid: int, first_tick: float, uid: int) -> Union[str, bool, None]:
    """The mark of process ``pid`` (a str), True if it may be a job on its way to ``exec``,
    None if it is neither (or not the user's, or created before ``first_tick``, or gone)."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as stat_file:
            stat = stat_file.read()
        # Fields after the command name (which may hold spaces): state, ppid, pgrp, session,
        # tty, tpgid, flags, ... and the start time (in ticks since boot) as the 20th.
        fields = stat[stat.rindex(b')') + 2:].split()
        if fields[0] in (b'Z', b'X') or int(fields[19]) < first_tick:
            return None
        if not _owned_by(pid, uid):
            return None
        if int(fields[6]) & _PF_FORKNOEXEC and int(fields[3]) == pid:
            return True  # a session leader that has not exec'd
    except (OSError, ValueError, IndexError):  # gone
        return None
    try:
        with open(f'/proc/{pid}/environ', 'rb') as environ_file:
            environ = environ_file.read()
    except PermissionError:  # ours, but not dumpable: its mark cannot be seen
        return True
    except OSError:  # gone
        return None
    if not environ:
        return True  # in the middle of its exec (or run with an empty environment)
    start = (b'\0' + environ).find(_MARK)
    if start < 0:
        return None
    return environ[start + len(_MARK) - 1:].partition(b'\0')[0].decode(errors='replace')


def _owned_by(pid: int, uid: int) -> bool:
    """True if ``pid``'s real user is ``uid`` (``/proc/<pid>`` belongs to root for a process
    that is not dumpable, so its status says)."""
    if os.stat(f'/proc/{pid}').st_uid == uid:
        return True
    with open(f'/proc/{pid}/status', 'rb') as status_file:
        for line in status_file:
            if line.startswith(b'Uid:'):
                return int(line.split()[1]) == uid
    return False


def _look_with_psutil(since: float) -> _Seen:
    """`_look` where there is no ``/proc`` to read: marks only."""
    seen = _Seen()
    for process in psutil.process_iter():
        try:
            if process.create_time() < since:
                continue
            value = process.environ().get(RESERVATION_VARIABLE.decode())
            if value is not None:
                holder = Holder.of(process.pid)
                if holder is not None:
                    seen.marked.setdefault(value, holder)
        except (psutil.Error, OSError):
            continue
    return seen
