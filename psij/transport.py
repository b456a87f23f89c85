"""How a batch executor reaches the machine where its scheduler runs.

A batch executor never runs a command or opens a file itself: it hands an argv to a
`Transport` and gets a `CommandResult` back, and it reads and writes its scripts and markers
through the same object. `LocalTransport` does both on this machine; a transport over SSH
implements the same methods.
"""

import errno
import os
import pathlib
import select
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Optional, Protocol, Sequence, Set, Tuple

from psij.private_directories import make_private_directory


def command_name(argv: Sequence[str]) -> str:
    """The program ``argv`` runs, for messages: past ``env`` and its options and variables
    (``env -u SBATCH_TIMELIMIT sbatch ...`` is sbatch)."""
    words = list(argv)
    if words and words[0] in ('env', '/usr/bin/env'):
        index = 1
        while index < len(words) and (words[index].startswith('-') or '=' in words[index]):
            index += 2 if words[index] in ('-u', '--unset', '-C', '--chdir') else 1
        words = words[index:]
    return words[0] if words else 'command'


@dataclass(frozen=True)
class CommandResult:
    """What one command did: its argv, exit status and output (decoded, errors replaced).

    A command that could not be started at all (not installed, timed out) has
    ``returncode`` None and says why in ``stderr``.
    """

    argv: Sequence[str]
    returncode: Optional[int]
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True if the command ran and exited with status 0."""
        return self.returncode == 0

    def describe(self) -> str:
        """One line for messages: the command, its status and the first line of stderr."""
        status = ('did not run' if self.returncode is None
                  else f'exited with status {self.returncode}')
        detail = self.stderr.strip().splitlines()
        shown = f': {detail[0]}' if detail else ''
        return f'{command_name(self.argv)} {status}{shown}'


class RunningCommand(Protocol):
    """A command started by `Transport.start`, looked at without blocking the caller."""

    def poll(self, wait: float = 0.0) -> Optional[CommandResult]:
        """The result once the command has ended, waiting at most ``wait`` seconds for it;
        None while it runs. Past the command's timeout it is killed, and the result says so."""

    def cancel(self) -> None:
        """Kill the command if it still runs, and release what it holds."""


class FinishedCommand:
    """A `RunningCommand` that has already ended: for a transport that can only run
    commands to completion, ``start`` returns ``FinishedCommand(self.run(...))``."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result

    def poll(self, wait: float = 0.0) -> Optional[CommandResult]:
        """The result; see `RunningCommand.poll`."""
        return self.result

    def cancel(self) -> None:
        """Nothing to do; see `RunningCommand.cancel`."""


class Transport(Protocol):
    """Runs commands and handles files where the scheduler runs."""

    #: Names where commands run (``local``, ``ssh://host``...). Transports that compare equal
    #: (same class, same key) reach the same place: their executors' jobs share one status
    #: tracker.
    key: str

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        """Run ``argv`` (no shell) and wait for it at most ``timeout`` seconds."""

    def start(self, argv: Sequence[str], stdin: Optional[str] = None,
              timeout: float = 60.0) -> RunningCommand:
        """Start ``argv`` (no shell) and return at once; the status tracker uses this, so that
        a scheduler command that hangs does not hold up everything else on the poller
        thread."""

    def make_directory(self, path: pathlib.Path, mode: int = 0o700) -> None:
        """Create ``path`` (and its parents) if needed and set its mode to ``mode``."""

    def write_file(self, path: pathlib.Path, text: str, mode: int = 0o600) -> None:
        """Create or replace ``path`` with ``text``, readable only as ``mode`` allows."""

    def read_file(self, path: pathlib.Path) -> Optional[str]:
        """The contents of ``path``, or None if it does not exist."""

    def list_directory(self, path: pathlib.Path) -> Set[str]:
        """The names in directory ``path`` (empty if it does not exist)."""

    def remove_file(self, path: pathlib.Path) -> None:
        """Remove ``path``; nothing happens if it does not exist."""

    def old_files(self, path: pathlib.Path, age: float) -> Set[str]:
        """The names of the regular files in directory ``path`` not modified for ``age``
        seconds (empty if the directory does not exist)."""


class LocalTransport:
    """A `Transport` for a scheduler whose commands and files are on this machine.

    Transports of the same class and `key` are equal: they reach the same place, so the jobs
    of their executors share one status tracker.
    """

    key = 'local'

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and getattr(other, 'key', None) == self.key

    def __hash__(self) -> int:
        return hash((type(self), self.key))

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        """Run ``argv`` as a subprocess; see `Transport.run`."""
        try:
            completed = subprocess.run(
                list(argv), input=stdin.encode() if stdin is not None else None,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True, timeout=timeout)
        except FileNotFoundError:
            return CommandResult(argv, None, '', f'{argv[0]}: command not found on PATH')
        except PermissionError as error:
            return CommandResult(argv, None, '', f'{argv[0]}: {error.strerror}')
        except subprocess.TimeoutExpired:
            return CommandResult(argv, None, '',
                                 f'{command_name(argv)}: no answer after {timeout:g} s')
        return CommandResult(argv, completed.returncode,
                             completed.stdout.decode(errors='replace'),
                             completed.stderr.decode(errors='replace'))

    def start(self, argv: Sequence[str], stdin: Optional[str] = None,
              timeout: float = 60.0) -> RunningCommand:
        """Start ``argv`` as a subprocess; see `Transport.start`."""
        try:
            return LocalRunningCommand(argv, stdin, timeout)
        except FileNotFoundError:
            return FinishedCommand(
                CommandResult(argv, None, '', f'{argv[0]}: command not found on PATH'))
        except PermissionError as error:
            return FinishedCommand(CommandResult(argv, None, '', f'{argv[0]}: {error.strerror}'))

    def make_directory(self, path: pathlib.Path, mode: int = 0o700) -> None:
        """See `Transport.make_directory`; the parents it creates are user-only (0700), and
        parents that exist are left as they are."""
        make_private_directory(path, mode)

    def write_file(self, path: pathlib.Path, text: str, mode: int = 0o600) -> None:
        """See `Transport.write_file`."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, 'w') as stream:
            stream.write(text)

    def read_file(self, path: pathlib.Path) -> Optional[str]:
        """See `Transport.read_file`."""
        try:
            with open(path, errors='replace') as stream:
                return stream.read()
        except FileNotFoundError:
            return None

    def directory_version(self, path: pathlib.Path) -> Optional[Tuple[int, int]]:
        """The directory's modification time (ns) and inode, or None if it cannot be read:
        while it is the same, no entry was added, removed or renamed."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def list_directory(self, path: pathlib.Path) -> Set[str]:
        """See `Transport.list_directory`."""
        try:
            return set(os.listdir(path))
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                return set()
            raise

    def remove_file(self, path: pathlib.Path) -> None:
        """See `Transport.remove_file`."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def old_files(self, path: pathlib.Path, age: float) -> Set[str]:
        """See `Transport.old_files`."""
        limit = time.time() - age
        names: Set[str] = set()
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False) and \
                                entry.stat(follow_symlinks=False).st_mtime < limit:
                            names.add(entry.name)
                    except FileNotFoundError:
                        continue
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                return set()
            raise
        return names


def wait_for_exit(process: 'subprocess.Popen[bytes]', wait: float) -> Optional[int]:
    """``process``'s exit status once it has ended, waiting at most ``wait`` seconds for it;
    None while it runs.

    It waits on a pidfd (Linux 5.3+), which wakes the moment the process exits:
    ``Popen.wait(timeout)`` sleeps in doubling steps of up to 50 ms instead, which a 20 ms
    command (a submission over SSH) pays as about 32 ms."""
    if wait <= 0 or process.returncode is not None:
        return process.poll()
    if hasattr(os, 'pidfd_open'):
        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:  # an old kernel, or already reaped: poll() says which
            pidfd = None
        if pidfd is not None:
            try:
                waiter = select.poll()
                waiter.register(pidfd, select.POLLIN)
                waiter.poll(wait * 1000)
            finally:
                os.close(pidfd)
            return process.poll()
    try:
        return process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return None


class LocalRunningCommand:
    """A subprocess started by `LocalTransport.start`. Its output goes to unnamed temporary
    files, so a command that prints a lot never blocks on a full pipe while nobody reads."""

    def __init__(self, argv: Sequence[str], stdin: Optional[str], timeout: float) -> None:
        self.argv = list(argv)
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._result: Optional[CommandResult] = None
        self._stdout: IO[bytes] = tempfile.TemporaryFile()
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        input_file: Optional[IO[bytes]] = None
        try:
            if stdin is not None:
                input_file = tempfile.TemporaryFile()
                input_file.write(stdin.encode())
                input_file.seek(0)
            self._process = subprocess.Popen(
                self.argv, stdin=input_file if input_file is not None else subprocess.DEVNULL,
                stdout=self._stdout, stderr=self._stderr)
        except BaseException:
            self._stdout.close()
            self._stderr.close()
            raise
        finally:
            if input_file is not None:
                input_file.close()

    def poll(self, wait: float = 0.0) -> Optional[CommandResult]:
        """See `RunningCommand.poll`."""
        if self._result is not None:
            return self._result
        wait = min(wait, max(self._deadline - time.monotonic(), 0.0))
        returncode = wait_for_exit(self._process, wait)
        if returncode is None:
            if time.monotonic() < self._deadline:
                return None
            self._kill()
            self._result = CommandResult(
                self.argv, None, '', f'{command_name(self.argv)}: no answer after '
                                     f'{self._timeout:g} s')
            return self._result
        self._result = CommandResult(self.argv, returncode, self._read(self._stdout),
                                     self._read(self._stderr))
        return self._result

    def cancel(self) -> None:
        """See `RunningCommand.cancel`."""
        if self._result is None:
            self._kill()
            self._result = CommandResult(self.argv, None, '',
                                         f'{command_name(self.argv)}: canceled')

    def _kill(self) -> None:
        self._process.kill()
        self._process.wait()
        self._stdout.close()
        self._stderr.close()

    @staticmethod
    def _read(stream: IO[bytes]) -> str:
        stream.seek(0)
        text = stream.read().decode(errors='replace')
        stream.close()
        return text


#: The urls that mean "this machine" (psij-python passes None).
LOCAL_URLS = (None, '', 'local://', 'local:', 'localhost')


def transport_for_url(url: Optional[str]) -> Transport:
    """The transport of a batch executor's PSI/J ``url``: this machine (None, ``local://``),
    or a host reached over SSH (``ssh://[user@]host[:port]``, `psij.ssh`). ValueError naming
    the url and the allowed forms otherwise."""
    if url in LOCAL_URLS:
        return LocalTransport()
    if isinstance(url, str) and url.startswith('ssh:'):
        from psij.ssh import SshTransport, parse_ssh_url  # only for executors that use it
        return SshTransport(parse_ssh_url(url))
    raise ValueError(f'JobExecutor url {url!r} is not one psij knows; allowed: None or '
                     "'local://' (this machine), 'ssh://[user@]host[:port]' (over SSH)")
