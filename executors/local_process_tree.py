"""Ending a canceled local job: its process group and every descendant, found cheaply.

psutil's ``children(recursive=True)`` reads every process on the machine to build its parent
map, so with 10,000 local jobs running each cancel read 10,000 ``/proc`` entries and canceling
them all took most of an hour. Linux lists each task's children itself
(``/proc/PID/task/TID/children``), so the walk here reads only the job's own tree; where that
file does not exist (a kernel built without it, another system) psutil's walk is used.

A job this process started and watches is canceled with `cancel_child`: the call only hands
the pid to the reaper thread (`psij.reaper`), which walks and signals the trees of every job
canceled since its last wake in one go, and sends their SIGKILLs after the grace period. There
the pid cannot be reaped (and so reused) while it is signalled, so the lead needs no identity
check: no ``/proc`` read and no psutil object for it.
"""

import os
import signal
from dataclasses import dataclass
from typing import List, Optional

import psutil

from psij.poller import get_poller
from psij.reaper import ProcessReaper, get_reaper


def _children(pid: int) -> Optional[List[int]]:
    """The children of ``pid`` from ``/proc`` (those of every thread); None if the kernel
    does not list them; [] for a process that has gone."""
    try:
        tasks = os.listdir(f'/proc/{pid}/task')
    except FileNotFoundError:
        return []
    except OSError:
        return None
    found: List[int] = []
    for task in tasks:
        try:
            with open(f'/proc/{pid}/task/{task}/children') as listing:
                found.extend(int(word) for word in listing.read().split())
        except FileNotFoundError:
            if not os.path.exists(f'/proc/{pid}/task/{task}'):
                continue  # the thread ended meanwhile
            return None  # no children file: not listed by this kernel
        except (OSError, ValueError):
            return None
    return found


def descendants(pid: int) -> List[int]:
    """Every descendant of ``pid`` (children first), read from its own ``/proc`` tree."""
    found: List[int] = []
    waiting = [pid]
    while waiting:
        children = _children(waiting.pop())
        if children is None:
            return [child.pid for child in _psutil_descendants(pid)]
        for child in children:
            if child not in found:
                found.append(child)
                waiting.append(child)
    return found


def _psutil_descendants(pid: int) -> List[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


@dataclass
class _Leftovers:
    """Processes sent SIGTERM by a cancel; those still alive after the grace period get
    SIGKILL (psutil refuses to signal a pid that was reused meanwhile)."""

    processes: List[psutil.Process]

    def poll(self) -> Optional[float]:
        for process in self.processes:
            try:
                process.kill()
            except psutil.Error:  # gone, or not ours to kill: the others still are
                pass
        return None


def terminate_tree(pid: int, grace_period: float) -> None:
    """SIGTERM the job's process group (its lead is ``pid``) and every descendant.

    Whatever of them is still alive after ``grace_period`` seconds gets SIGKILL."""
    try:
        lead = psutil.Process(pid)
        if lead.status() == psutil.STATUS_ZOMBIE:
            return
    except psutil.NoSuchProcess:
        return
    tree = [lead, *_identified_descendants(pid)]
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for process in tree:
        try:
            process.terminate()
        except psutil.Error:  # gone, or not ours to signal
            pass
    get_poller().schedule(_Leftovers(tree), grace_period)


def cancel_child(pid: int, grace_period: float) -> None:
    """End the job whose lead is ``pid``, a child of this process watched by the reaper: SIGTERM
    to its process group and to every descendant outside it, SIGKILL to those left after
    ``grace_period`` seconds. Returns at once; the reaper thread signals. Nothing is sent if
    the child has been reaped by then."""
    reaper = get_reaper()
    reaper.call_soon(lambda: _terminate_watched(reaper, pid, grace_period))


def _identified_descendants(pid: int) -> List[psutil.Process]:
    """The descendants of ``pid``, each with its identity (psutil signals no reused pid)."""
    tree: List[psutil.Process] = []
    for child in descendants(pid):
        try:
            tree.append(psutil.Process(child))
        except psutil.NoSuchProcess:
            continue
    return tree


def _signal_group(reaper: ProcessReaper, pid: int, signal_number: int) -> None:
    """Signal the job's process group while its lead, ``pid``, is not reaped (its group id
    cannot belong to anyone else then); on the reaper thread."""
    if not reaper.is_watched(pid):
        return
    try:
        os.killpg(pid, signal_number)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_watched(reaper: ProcessReaper, pid: int, grace_period: float) -> None:
    if not reaper.is_watched(pid):
        return  # reaped already: nothing of the job is known to be left
    # The walk comes before any signal: once the lead is dead its children are no longer
    # listed as its own.
    tree = _identified_descendants(pid)
    _signal_group(reaper, pid, signal.SIGTERM)
    for process in tree:
        try:
            if os.getpgid(process.pid) != pid:  # the group's members have had theirs
                process.terminate()
        except (OSError, psutil.Error):  # gone, or not ours to signal
            pass

    def kill_leftovers() -> None:
        _signal_group(reaper, pid, signal.SIGKILL)
        _Leftovers(tree).poll()

    reaper.call_later(grace_period, kill_leftovers)
