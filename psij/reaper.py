"""The one thread that reaps the local child processes of every job.

Each watched child gets a pidfd (Linux 5.3+); the thread sleeps in epoll until a child exits,
then reaps exactly that child with ``waitpid`` and hands its exit status to a callback. Other
children of the process (the user's own subprocesses) are never touched. Where pidfds are not
available the thread falls back to checking its children with ``WNOHANG`` every few ms.
"""

import logging
import os
import selectors
import threading
from typing import Callable, Dict, Optional, Tuple

logger = logging.getLogger('psij.reaper')

ExitCallback = Callable[[int], None]
_FALLBACK_INTERVAL = 0.02


def decode_wait_status(status: int) -> int:
    """A wait status as Popen would report it: the exit code, or -signal if killed."""
    return os.waitstatus_to_exitcode(status)


class ProcessReaper:
    """Watches child pids; calls ``on_exit(exit_code)`` on the reaper thread when each ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._callbacks: Dict[int, Tuple[Optional[int], ExitCallback]] = {}
        self._use_pidfd = hasattr(os, 'pidfd_open')
        self._thread = threading.Thread(target=self._run, name='psij-reaper', daemon=True)
        self._thread.start()

    def watch(self, pid: int, on_exit: ExitCallback) -> None:
        """Reap child ``pid`` when it exits and call ``on_exit`` with its exit code."""
        pidfd: Optional[int] = None
        if self._use_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError as error:
                logger.debug('pidfd_open(%d) failed (%s); falling back to polling', pid, error)
                self._use_pidfd = False
        with self._lock:
            self._callbacks[pid] = (pidfd, on_exit)
            if pidfd is not None:
                self._selector.register(pidfd, selectors.EVENT_READ, pid)
        try:
            os.write(self._wake_write, b'x')
        except BlockingIOError:
            pass  # a wake-up is already pending

    def _reap(self, pid: int) -> bool:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            logger.error('child %d was reaped by someone else; its exit code is lost', pid)
            reaped, status = pid, -1
        if reaped == 0:
            return False
        with self._lock:
            pidfd, on_exit = self._callbacks.pop(pid)
            if pidfd is not None:
                self._selector.unregister(pidfd)
                os.close(pidfd)
        exit_code = decode_wait_status(status) if status != -1 else -1
        try:
            on_exit(exit_code)
        except Exception:
            logger.exception('exit handler of child %d raised', pid)
        return True

    def _run(self) -> None:
        while True:
            timeout = None if self._use_pidfd else _FALLBACK_INTERVAL
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    os.read(self._wake_read, 4096)
                else:
                    self._reap(key.data)
            if not self._use_pidfd:
                with self._lock:
                    pending = [pid for pid, (pidfd, _) in self._callbacks.items() if pidfd is None]
                for pid in pending:
                    self._reap(pid)


_reaper: Optional[ProcessReaper] = None
_reaper_lock = threading.Lock()


def get_reaper() -> ProcessReaper:
    """The process's reaper (its thread starts on first use)."""
    global _reaper
    with _reaper_lock:
        if _reaper is None:
            _reaper = ProcessReaper()
        return _reaper
