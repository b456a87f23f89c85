"""A process that holds entries in the budget ledger, known by its pid and its create time."""

import os
from dataclasses import dataclass
from typing import Dict, Optional

import psutil

__all__ = ['Holder', 'this_process']


@dataclass(frozen=True)
class Holder:
    """A process, by pid and psutil's create time (seconds since the epoch)."""

    pid: int
    created: float

    @staticmethod
    def of(pid: int) -> Optional['Holder']:
        """The running process ``pid``, or None if there is none."""
        try:
            return Holder(pid, round(psutil.Process(pid).create_time(), 3))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None

    def alive(self) -> bool:
        """True while this very process exists (a later one with its pid does not count) and
        is not a zombie: a holder that has exited but is not reaped yet holds nothing."""
        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                return (abs(round(process.create_time(), 3) - self.created) < 0.05
                        and process.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:  # ZombieProcess too
            return False
        except psutil.AccessDenied:  # it exists: what it holds stays held
            return True


_this: Dict[int, Holder] = {}


def this_process() -> Holder:
    """The calling process as a `Holder` (looked up again after a fork)."""
    pid = os.getpid()
    holder = _this.get(pid)
    if holder is None:
        found = Holder.of(pid)
        assert found is not None
        holder = _this[pid] = found
    return holder
