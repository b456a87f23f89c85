"""Whether a dead holder may have a job between ``fork`` and ``exec``: its spawn lock.

A holder of the budget ledger (`psij.executors.local_ledger`) starts a job's process after
its reservation is written, and writes the job's pid some milliseconds later. A holder killed
in between leaves a reservation naming no process, while the job may run. Once the job has
``exec``'d, its environment carries its reservation's mark (`psij.executors.local_orphans`),
but between the ``fork`` and the ``exec`` the child still has a copy of its parent's
environment, so nothing there tells it apart.

The spawn lock covers that stretch: each holder keeps a shared `flock` on a file of its own,
``<ledger directory>/holders/<pid>-<create time>.lock``, taken before its first reservation
and kept while it lives. The descriptor is not inheritable, so it is never passed to a job,
but a forked child shares it until the child closes its descriptors just before ``exec``
(``Popen``'s ``close_fds``, after ``setsid``). A lock is a property of the open file, so it is
held while the holder *or any of its children that have not reached that point yet* lives: a
dead holder whose lock can be taken has no job left on the way to ``exec``, and, dead, it can
start no new one.

A child forked by Python code (``os.fork``, ``multiprocessing``) lets go of its copy at once
(an ``os.register_at_fork`` hook; ``Popen``'s children do not run it): a worker that outlives a
killed holder does not keep the holder's reservations.

The files of dead holders whose locks are free are removed when a process takes its own
lock (once per process and ledger directory).
"""

import fcntl
import os
import pathlib
import threading
from typing import Dict, Optional, Tuple

from .local_holder import Holder

__all__ = ['hold_spawn_lock', 'may_be_spawning']

HOLDERS_DIRECTORY = 'holders'

_held: Dict[Tuple[str, int], int] = {}  # (ledger directory, pid) -> the locked descriptor
_held_lock = threading.Lock()


def _path(directory: pathlib.Path, holder: Holder) -> pathlib.Path:
    return directory / HOLDERS_DIRECTORY / f'{holder.pid}-{holder.created:.3f}.lock'


def _holder_of(name: str) -> Optional[Holder]:
    stem, _, suffix = name.rpartition('.lock')
    pid, _, created = stem.partition('-')
    try:
        return Holder(int(pid), float(created)) if not suffix else None
    except ValueError:
        return None


def hold_spawn_lock(directory: pathlib.Path, holder: Holder) -> None:
    """Make sure ``holder`` (the calling process) holds its spawn lock in ``directory``;
    the first call of a process also removes dead holders' free lock files. Cheap after the
    first call (a dictionary look-up)."""
    key = (str(directory), holder.pid)
    if key in _held:
        return
    with _held_lock:
        if key in _held:
            return
        folder = directory / HOLDERS_DIRECTORY
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder, holder)
        descriptor = os.open(_path(directory, holder), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        _held[key] = descriptor


def may_be_spawning(directory: pathlib.Path, holder: Holder) -> bool:
    """True if a process forked by the dead ``holder`` may not have ``exec``'d yet: its
    spawn lock is held (see the module docstring). False if ``holder`` never took one."""
    try:
        descriptor = os.open(_path(directory, holder), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # lets go of the lock if we took it
    return False


def _remove_stale(folder: pathlib.Path, me: Holder) -> None:
    """Remove the lock files of dead holders that no child of theirs holds any more."""
    for name in os.listdir(folder):
        holder = _holder_of(name)
        if holder is None or holder == me or holder.alive():
            continue
        path = folder / name
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Free and its holder dead: no one takes it again, and a missing file reads as
            # free (`may_be_spawning`).
            path.unlink(missing_ok=True)
        except BlockingIOError:
            pass
        finally:
            os.close(descriptor)


def _forget_in_child() -> None:
    """In a child forked by Python: not one of our jobs on its way to ``exec``."""
    global _held_lock
    _held_lock = threading.Lock()  # another thread may have held it at the fork
    for descriptor in _held.values():
        try:
            os.close(descriptor)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_child)
