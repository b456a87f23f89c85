"""The one thread that reaps the local child processes of every job.

Each watched child gets a pidfd (Linux 5.3+); the thread sleeps in epoll until a child exits,
then reaps exactly that child with ``waitpid`` and hands its exit status to a callback. Other
children of the process (the user's own subprocesses) are never touched. Where pidfds are not
available the thread falls back to checking its children with ``WNOHANG`` every few ms.

The same thread runs work handed to it with `ProcessReaper.call_soon` and
`ProcessReaper.call_later` (the local executor's cancels and their SIGKILL after the grace
period). Since only this thread reaps the watched children, a watched pid cannot be reaped,
and so cannot be reused by another process, while such work runs: a signal sent there to a
pid for which `ProcessReaper.is_watched` is True reaches the child (or its zombie), never a
stranger. Work handed over together is run together, after one wake of the thread; work
handed over with `call_soon` before the interpreter exits is run before it does (an atexit
hook waits for it), so a cancel just before the end of a script still signals its job.
"""

import atexit
import heapq
import itertools
import logging
import os
import selectors
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

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
        self._wake_pending = False
        self._callbacks: Dict[int, Tuple[Optional[int], ExitCallback]] = {}
        self._calls: List[Callable[[], None]] = []
        self._unfinished = 0  # calls handed over with call_soon and not yet run
        self._finished = threading.Condition(self._lock)
        self._timers: List[Tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
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
                # epoll takes a registration made while the thread waits in it (a child that
                # has already exited is reported at once): no wake, no thread switch per job.
                self._selector.register(pidfd, selectors.EVENT_READ, pid)
                return
        self._wake()  # polling: the thread's wait may be long (timers)

    def is_watched(self, pid: int) -> bool:
        """True while ``pid`` is watched and not reaped. On the reaper thread (in work given
        to `call_soon` or `call_later`) the answer holds until that work returns."""
        with self._lock:
            return pid in self._callbacks

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run ``call()`` on the reaper thread, as soon as it is free (calls in order)."""
        with self._lock:
            self._calls.append(call)
            self._unfinished += 1
        self._wake()

    def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until every call handed over with `call_soon`
        has run; not on the reaper thread."""
        if not self._thread.is_alive():  # a forked child: the thread is not here
            return
        with self._finished:
            self._finished.wait_for(lambda: self._unfinished == 0, timeout)

    def call_later(self, delay: float, call: Callable[[], None]) -> None:
        """Run ``call()`` on the reaper thread ``delay`` seconds from now."""
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._counter), call))
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
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

    def _due_calls(self) -> Tuple[List[Callable[[], None]], List[Callable[[], None]]]:
        """The handed-over calls and the timers due now, each in order."""
        now = time.monotonic()
        timers: List[Callable[[], None]] = []
        with self._lock:
            calls, self._calls = self._calls, []
            while self._timers and self._timers[0][0] <= now:
                timers.append(heapq.heappop(self._timers)[2])
        return calls, timers

    @staticmethod
    def _run_calls(calls: List[Callable[[], None]]) -> None:
        for call in calls:
            try:
                call()
            except Exception:
                logger.exception('work %r on the reaper thread raised', call)

    def _run(self) -> None:
        while True:
            with self._lock:
                timeout = (max(0.0, self._timers[0][0] - time.monotonic()) if self._timers
                           else None)
            if not self._use_pidfd:
                timeout = min(timeout, _FALLBACK_INTERVAL) if timeout is not None \
                    else _FALLBACK_INTERVAL
            ready = [key.data for key, _ in self._selector.select(timeout)]
            if None in ready:
                # Drained before the flag is cleared: a wake sent after this is seen next time.
                os.read(self._wake_read, 4096)
                with self._lock:
                    self._wake_pending = False
            # Handed-over work first: a cancel that came with the exit still finds the child
            # watched (its group may hold other processes of the job).
            calls, timers = self._due_calls()
            self._run_calls(calls)
            if calls:
                with self._finished:
                    self._unfinished -= len(calls)
                    self._finished.notify_all()
            self._run_calls(timers)
            for pid in ready:
                if pid is not None:
                    self._reap(pid)
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
            atexit.register(_reaper.drain, 5.0)
        return _reaper
