"""A pilot task started by its worker directly, as one process, without psij's local executor.

Most pilot tasks are one process (``/bin/true``, a script): for those the local executor's
work (its journal, launcher script, ``/proc`` reads, a `JobSpec` built and type-checked field
by field) costs more than the task. `direct_start_possible` says whether a task's spec, as
stored in its task file (`psij.serialize.spec_to_dict`), is such a task: launcher ``single``
(or none), one process, no staging, cleanup, pre- or post-launch script. `start` runs it with
``subprocess.Popen`` from the stored dict as the local executor would (environment, directory,
stdin/stdout/stderr, a session of its own); the worker reaps it itself (`TaskProcess.poll`,
woken by the process's pidfd) and stops it with `TaskProcess.terminate` (SIGTERM to its
process group, SIGKILL `KILL_GRACE` seconds later). Every other task goes through the local
executor. Unlike the local executor, descendants that left the task's process group are not
hunted down.
"""

import os
import signal
import subprocess
import time
from typing import IO, Any, Dict, List, Mapping, Optional

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
    """One directly started task: its process, and whether it was told to stop."""

    def __init__(self, process: 'subprocess.Popen[bytes]') -> None:
        self.process = process
        self.pid = process.pid
        self.pidfd: Optional[int] = None
        if hasattr(os, 'pidfd_open'):
            try:
                self.pidfd = os.pidfd_open(self.pid)
            except OSError:
                self.pidfd = None  # the worker polls instead
        self.kill_at: Optional[float] = None
        self.canceled = False

    def poll(self) -> Optional[int]:
        """Reap the process if it ended: its exit code (-N: killed by signal N), else None."""
        code = self.process.poll()
        if code is not None and self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return code

    def terminate(self) -> None:
        """SIGTERM to the task's process group; `KILL_GRACE` later, `tick` sends SIGKILL.
        Safe from pid reuse: only the worker reaps the process, so until `poll` returns its
        exit code the group id is the task's."""
        if self.process.returncode is not None:
            return
        self.canceled = True
        self._signal(signal.SIGTERM)
        if self.kill_at is None:
            self.kill_at = time.monotonic() + KILL_GRACE

    def tick(self, now: float) -> None:
        """Send the SIGKILL that `terminate` scheduled, once due."""
        if self.kill_at is not None and now >= self.kill_at \
                and self.process.returncode is None:
            self._signal(signal.SIGKILL)
            self.kill_at = None

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self.pid, number)
        except ProcessLookupError:
            pass


def start(spec: Mapping[str, Any], extra: Mapping[str, str]) -> TaskProcess:
    """Start the stored spec ``spec`` (see `direct_start_possible`) with the variables
    ``extra`` added to its environment. Raises OSError (with the field at fault named in its
    message) when the process cannot be started or a stream not opened."""
    directory: Optional[str] = spec.get('directory')
    env: Dict[bytes, bytes] = dict(os.environb) if spec.get('inherit_environment', True) \
        else {}
    for key, value in (spec.get('environment') or {}).items():
        env[os.fsencode(key)] = os.fsencode(value)
    for key, value in extra.items():
        env[os.fsencode(key)] = os.fsencode(value)
    opened: List[IO[bytes]] = []

    def stream(field: str, mode: str) -> Any:
        path = spec.get(field)
        if path is None:
            return subprocess.DEVNULL
        try:
            opened.append(open(_resolved(path, directory), mode))
        except OSError as error:
            raise OSError(error.errno, f'JobSpec.{field} {path!r} cannot be opened: '
                                       f'{error.strerror}') from error
        return opened[-1]

    try:
        stdin = stream('stdin_path', 'rb')
        stdout = stream('stdout_path', 'wb')
        if spec.get('stderr_path') is not None and spec.get('stderr_path') == \
                spec.get('stdout_path'):
            stderr: Any = subprocess.STDOUT
        else:
            stderr = stream('stderr_path', 'wb')
        argv = [spec['executable'], *spec.get('arguments', [])]
        try:
            process = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                       cwd=directory, env=env, start_new_session=True)
        except OSError as error:
            raise OSError(error.errno, f'JobSpec.executable {argv[0]!r} cannot be run '
                                       f'(directory {directory!r}): {error.strerror}'
                          ) from error
    finally:
        for opened_stream in opened:
            opened_stream.close()
    return TaskProcess(process)


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
