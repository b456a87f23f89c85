"""A pilot task started by its worker directly, as one process, without psij's local executor.

Most pilot tasks are one process (``/bin/true``, a script): for those the local executor's
work (its journal, launcher script, ``/proc`` reads, a `JobSpec` built and type-checked field
by field) costs more than the task. `direct_start_possible` says whether a task's spec, as
stored in its task file (`psij.serialize.spec_to_dict`), is such a task: launcher ``single``
(or none), one process, no staging, cleanup, pre- or post-launch script. `Starter.start` runs
it from the stored dict as the local executor would (environment, directory, stdin, stdout
and stderr, a session of its own), with ``os.posix_spawn`` where it can; the worker reaps it
itself (`TaskProcess.poll`, woken by the process's pidfd) and stops it with
`TaskProcess.terminate` (SIGTERM to its process group, SIGKILL `KILL_GRACE` seconds later).
Every other task goes through the local executor. Unlike the local executor, descendants that
left the task's process group are not hunted down.
"""

import os
import signal
import subprocess
import time
from typing import Any, Dict, List, Mapping, Optional

#: Seconds between SIGTERM and SIGKILL when a task is stopped (as the local executor's).
KILL_GRACE = 2.0


def direct_start_possible(spec: Mapping[str, Any]) -> bool:
    """True if the stored spec is one process the worker may start itself."""
    if spec.get('launcher') not in (None, 'single'):
        return False
    if spec.get('pre_launch') or spec.get('post_launch'):
        return False
    if spec.get('stage_in') or spec.get('stage_out') or spec.get('cleanup'):
        return False
    resources = spec.get('resources')
    if resources:
        if resources.get('process_count') not in (None, 1):
            return False
        if resources.get('processes_per_node') not in (None, 1):
            return False
    return isinstance(spec.get('executable'), str)


def _resolved(path: str, directory: Optional[str]) -> str:
    if directory is None or os.path.isabs(path):
        return path
    return os.path.join(directory, path)


class TaskProcess:
    """One directly started task: its process, and whether it was told to stop. Only the
    worker reaps it (`poll`), so until then its pid and process group are the task's."""

    def __init__(self, pid: int, popen: Optional['subprocess.Popen[bytes]'] = None) -> None:
        self.pid = pid
        self.returncode: Optional[int] = None
        # A Popen object left to the garbage collector reaps the task itself (its __del__
        # polls, and subprocess polls it again at every later Popen): the worker would then
        # find no exit code. So it is kept until `poll` reaps the task, then told the code.
        self._popen = popen
        self.pidfd: Optional[int] = None
        if hasattr(os, 'pidfd_open'):
            try:
                self.pidfd = os.pidfd_open(pid)
            except OSError:
                self.pidfd = None  # the worker polls instead
        self.kill_at: Optional[float] = None
        self.canceled = False

    def poll(self) -> Optional[int]:
        """Reap the process if it ended: its exit code (-N: killed by signal N), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: no code to report
                pid, status = self.pid, 255 << 8
            if pid == 0:
                return None
            self.returncode = os.waitstatus_to_exitcode(status)
            if self._popen is not None:
                self._popen.returncode = self.returncode
                self._popen = None
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None
        return self.returncode

    def terminate(self) -> None:
        """SIGTERM to the task's process group; `KILL_GRACE` later, `tick` sends SIGKILL."""
        if self.returncode is not None:
            return
        self.canceled = True
        self._signal(signal.SIGTERM)
        if self.kill_at is None:
            self.kill_at = time.monotonic() + KILL_GRACE

    def tick(self, now: float) -> None:
        """Send the SIGKILL that `terminate` scheduled, once due."""
        if self.kill_at is not None and now >= self.kill_at and self.returncode is None:
            self._signal(signal.SIGKILL)
            self.kill_at = None

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self.pid, number)
        except ProcessLookupError:
            pass


class Starter:
    """Starts tasks for one worker: the worker's environment is encoded once, ``/dev/null``
    opened once."""

    def __init__(self) -> None:
        self.base_environment: Dict[bytes, bytes] = dict(os.environb)
        self.devnull = os.open(os.devnull, os.O_RDWR)

    def start(self, spec: Mapping[str, Any], extra: Mapping[str, str]) -> TaskProcess:
        """Start the stored spec ``spec`` (see `direct_start_possible`) with the variables
        ``extra`` added to its environment. Raises OSError (naming the field at fault) when
        the process cannot be started or a stream not opened.

        ``os.posix_spawn`` (vfork and exec, no Python in the child) when the executable is an
        absolute path and no directory is set (it has no chdir), else ``Popen``."""
        directory: Optional[str] = spec.get('directory')
        env = dict(self.base_environment) if spec.get('inherit_environment', True) else {}
        for key, value in (spec.get('environment') or {}).items():
            env[os.fsencode(key)] = os.fsencode(value)
        for key, value in extra.items():
            env[os.fsencode(key)] = os.fsencode(value)
        argv = [spec['executable'], *spec.get('arguments', [])]
        fds = self._open_streams(spec, directory)
        popen: Optional[subprocess.Popen[bytes]] = None
        try:
            if directory is None and os.path.isabs(argv[0]):
                actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
                pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
            else:
                popen = subprocess.Popen(argv, stdin=fds[0], stdout=fds[1], stderr=fds[2],
                                         cwd=directory, env=env, start_new_session=True)
                pid = popen.pid
        except OSError as error:
            raise OSError(error.errno, f'JobSpec.executable {argv[0]!r} cannot be run '
                                       f'(directory {directory!r}): {error.strerror}'
                          ) from error
        finally:
            for fd in set(fds):
                if fd != self.devnull:
                    os.close(fd)
        return TaskProcess(pid, popen)

    def _open_streams(self, spec: Mapping[str, Any], directory: Optional[str]) -> List[int]:
        """stdin, stdout, stderr of the task as descriptors (``/dev/null`` where unset)."""
        fds: List[int] = []
        try:
            for field, flags in (('stdin_path', os.O_RDONLY),
                                 ('stdout_path', os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                 ('stderr_path', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                path = spec.get(field)
                if path is None:
                    fds.append(self.devnull)
                elif field == 'stderr_path' and path == spec.get('stdout_path'):
                    fds.append(fds[1])
                else:
                    try:
                        fds.append(os.open(_resolved(path, directory), flags, 0o666))
                    except OSError as error:
                        raise OSError(error.errno, f'JobSpec.{field} {path!r} cannot be '
                                                   f'opened: {error.strerror}') from error
        except OSError:
            for fd in set(fds):
                if fd != self.devnull:
                    os.close(fd)
            raise
        return fds


def exit_message(exit_code: int) -> Optional[str]:
    """The status message of a task that ended with ``exit_code`` (None for 0)."""
    if exit_code == 0:
        return None
    if exit_code < 0:
        try:
            return f'killed by {signal.Signals(-exit_code).name}'
        except ValueError:
            return f'killed by signal {-exit_code}'
    return f'exit code {exit_code}'
