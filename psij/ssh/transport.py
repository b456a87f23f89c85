"""`SshTransport`: a batch executor's commands and files on another machine, through the
system OpenSSH client (``ssh``), over one shared connection per host.

Every command is ``ssh <options> [user@]host exec /bin/sh -s`` with a script on its standard
input (`psij.ssh.remote_shell`). The options (`ssh_options`) make the connections of this
user to the host share one master (``ControlMaster``/``ControlPersist``, a short
``ControlPath`` in ``~/.psij/ssh``) and never prompt (``BatchMode=yes``); everything else
(ProxyJump, keys, Kerberos, host key checking) is the user's ``~/.ssh/config``, or the file
``PSIJ_SSH_CONFIG`` names (``ssh -F``). An unknown host key is refused as ssh refuses it.

ssh exits with 255 when it could not reach the host (or the connection dropped): such a
result has ``returncode`` None, as for a command that could not run, so a status command is
retried and no job changes state.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import subprocess
import threading
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from psij.private_directories import make_private_directory
from psij.ssh import remote_shell
from psij.ssh.url import SshUrl
from psij.transport import (
    CommandResult,
    FinishedCommand,
    LocalRunningCommand,
    RunningCommand,
)

#: ssh's exit status when it failed itself (could not connect, connection lost).
SSH_FAILED = 255
#: The exit status of a command whose held-back file operations failed (see `batched`).
HELD_FAILED = 97
#: How long a master stays after its last command.
CONTROL_PERSIST = '10m'
#: How long a file operation (mkdir, write, read, list) may take.
FILE_TIMEOUT = 60.0


#: The longest socket path every system takes (sun_path is 104 bytes on macOS, 108 on Linux).
MAX_SOCKET_PATH = 100


def control_directory() -> pathlib.Path:
    """Where the masters' sockets are: ``~/.psij/ssh`` (user-only), or ``/tmp/psij-ssh-UID``
    when a home directory's path is too long for a socket path (``%C`` adds 41 bytes)."""
    directory = pathlib.Path.home() / '.psij' / 'ssh'
    if len(str(directory)) + 41 > MAX_SOCKET_PATH:
        directory = pathlib.Path(f'/tmp/psij-ssh-{os.getuid()}')
    return directory


def ssh_options(url: SshUrl) -> List[str]:
    """The ssh options of every connection to ``url`` (see the module docstring)."""
    options = ['-o', 'BatchMode=yes', '-o', f'ControlPath={control_directory()}/%C',
               '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4',
               '-o', 'ConnectTimeout=30']
    if url.master == 'auto':
        options += ['-o', 'ControlMaster=auto', '-o', f'ControlPersist={CONTROL_PERSIST}']
    else:
        options += ['-o', 'ControlMaster=no']
    config = os.environ.get('PSIJ_SSH_CONFIG')
    if config:
        options = ['-F', config] + options
    if url.port is not None:
        options += ['-p', str(url.port)]
    return options


def open_master_command(url: SshUrl) -> str:
    """The command a user runs to open the master a ``master=existing`` url needs."""
    words = ['ssh', '-fN', '-o', 'ControlMaster=yes', '-o', 'ControlPersist=yes',
             '-o', f'ControlPath={control_directory()}/%C']
    config = os.environ.get('PSIJ_SSH_CONFIG')
    if config:
        words += ['-F', config]
    if url.port is not None:
        words += ['-p', str(url.port)]
    return remote_shell.words(words + [url.destination])


class SshTransport:
    """A `psij.transport.Transport` to the host of an ``ssh://`` url (see the module
    docstring). Transports to the same url are equal: their jobs share one tracker."""

    def __init__(self, url: SshUrl) -> None:
        self.url = url
        self.key = str(url)
        self._identity: Optional[Tuple[pathlib.PurePosixPath, str]] = None
        self._launchers: Dict[str, str] = {}
        # Per thread: the file operations `batched` holds back for the thread's next command.
        self._held = threading.local()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and getattr(other, 'key', None) == self.key

    def __hash__(self) -> int:
        return hash((type(self), self.key))

    def __repr__(self) -> str:
        return f'SshTransport({self.key})'

    # --- commands --------------------------------------------------------------------------

    def _argv(self, remote_command: str = remote_shell.REMOTE_COMMAND) -> List[str]:
        directory = control_directory()
        make_private_directory(directory)
        if directory.stat().st_uid != os.getuid():
            raise OSError(f'{directory} (the SSH master sockets) belongs to another user')
        return ['ssh', *ssh_options(self.url), self.url.destination, remote_command]

    def session_argv(self, remote_command: str = remote_shell.REMOTE_COMMAND) -> List[str]:
        """The ssh argv of one more session over this host's master, running the FIXED
        ``remote_command`` (the login shell parses it: it must hold no data), for a caller
        that streams bytes itself (`psij.ssh.file_transfer`). ConnectionError, with the
        command that opens it, if the url needs a master that is not open."""
        refused = self._check_master()
        if refused is not None:
            raise ConnectionError(refused.stderr)
        return self._argv(remote_command)

    def _check_master(self) -> Optional[CommandResult]:
        """With ``master=existing``: None if the master is open, else the failed result."""
        if self.url.master != 'existing':
            return None
        options = ssh_options(self.url)
        check = subprocess.run(['ssh', *options, '-O', 'check', self.url.destination],
                               capture_output=True, text=True)
        if check.returncode == 0:
            return None
        return CommandResult(
            ['ssh'], None, '',
            f'no SSH master connection to {self.url.destination} is open, and this executor '
            f'(url {self.url}, master=existing) opens none; open it with: '
            f'{open_master_command(self.url)}')

    def run_script(self, script: str, argv: Sequence[str],
                   timeout: float = 60.0) -> CommandResult:
        """Run the POSIX sh ``script`` on the remote side; the result names ``argv``."""
        command = self.start_script(script, argv, timeout)
        result = command.poll(timeout + 5.0)
        while result is None:
            result = command.poll(1.0)
        return result

    def start_script(self, script: str, argv: Sequence[str],
                     timeout: float = 60.0) -> RunningCommand:
        """Start the POSIX sh ``script`` on the remote side (after the file operations this
        thread's `batched` block holds back)."""
        refused = self._check_master()
        if refused is not None:
            return FinishedCommand(CommandResult(list(argv), None, '', refused.stderr))
        held: List[str] = getattr(self._held, 'scripts', [])
        if held:
            self._held.scripts = []
            script = ''.join(held) + script
        return SshRunningCommand(self._argv(), script, timeout, list(argv), self.url)

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """While the block runs, this thread's `make_directory` and `write_file` go with its
        next command, in the same round trip (a submission: the job script, then sbatch); a
        failed one stops that command, which then exits with `HELD_FAILED` and says why. What
        is still held when the block ends is done then."""
        previous = getattr(self._held, 'active', False)
        self._held.active = True
        try:
            yield
        finally:
            self._held.active = previous
            held: List[str] = getattr(self._held, 'scripts', [])
            if held and not previous:
                self._held.scripts = []
                self._file_operation(''.join(held), 'write', pathlib.PurePath('(held files)'))

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        """Run ``argv`` on the remote side; see `psij.transport.Transport.run`."""
        return self.run_script(remote_shell.command_script(argv, stdin), argv, timeout)

    def start(self, argv: Sequence[str], stdin: Optional[str] = None,
              timeout: float = 60.0) -> RunningCommand:
        """Start ``argv`` on the remote side; see `psij.transport.Transport.start`."""
        return self.start_script(remote_shell.command_script(argv, stdin), argv, timeout)

    # --- files -----------------------------------------------------------------------------

    def _file_operation(self, script: str, what: str, path: pathlib.PurePath) -> CommandResult:
        result = self.run_script(script, [what, str(path)], FILE_TIMEOUT)
        if result.returncode is None:  # ssh failed: nothing was done there
            raise ConnectionError(f'{what} {path}: {result.stderr.strip()}')
        if not result.ok:
            raise OSError(f'{what} {path} on {self.url.destination} failed: '
                          f'{result.stderr.strip() or result.describe()}')
        return result

    def _hold(self, script: str, what: str, path: pathlib.PurePath) -> bool:
        """Hold ``script`` back for this thread's next command, inside `batched`."""
        if not getattr(self._held, 'active', False):
            return False
        guard = remote_shell.words([f'psij: {what} {path} failed on {self.url.destination}'])
        scripts: List[str] = getattr(self._held, 'scripts', [])
        scripts.append(f'{{\n{script}}} || {{ echo {guard} >&2; exit {HELD_FAILED}; }}\n')
        self._held.scripts = scripts
        return True

    def make_directory(self, path: pathlib.Path, mode: int = 0o700) -> None:
        """See `psij.transport.Transport.make_directory` (on the remote side; held back
        inside `batched`)."""
        script = remote_shell.make_directory_script(path, mode)
        if not self._hold(script, 'mkdir', path):
            self._file_operation(script, 'mkdir', path)

    def write_file(self, path: pathlib.Path, text: str, mode: int = 0o600) -> None:
        """See `psij.transport.Transport.write_file` (on the remote side; held back inside
        `batched`)."""
        script = remote_shell.write_file_script(path, text, mode)
        if not self._hold(script, 'write', path):
            self._file_operation(script, 'write', path)

    def read_file(self, path: pathlib.Path) -> Optional[str]:
        """See `psij.transport.Transport.read_file` (on the remote side)."""
        return self.read_files(path.parent, [path.name]).get(path.name)

    def read_files(self, directory: pathlib.Path, names: Iterable[str]) -> Dict[str, str]:
        """The contents of those of ``names`` that are files in ``directory``, in one round
        trip (the status tracker reads all new markers so)."""
        result = self._file_operation(remote_shell.read_files_script(directory, names),
                                      'read', directory)
        return remote_shell.parse_read_files(result.stdout)

    def list_directory(self, path: pathlib.Path) -> Set[str]:
        """See `psij.transport.Transport.list_directory` (on the remote side)."""
        result = self._file_operation(remote_shell.list_directory_script(path), 'ls', path)
        return set(remote_shell.lines_of(result.stdout))

    def remove_file(self, path: pathlib.Path) -> None:
        """See `psij.transport.Transport.remove_file` (on the remote side)."""
        self._file_operation(f'rm -f -- {remote_shell.words([str(path)])}\n', 'rm', path)

    def old_files(self, path: pathlib.Path, age: float) -> Set[str]:
        """See `psij.transport.Transport.old_files` (on the remote side)."""
        result = self._file_operation(remote_shell.old_files_script(path, age), 'find', path)
        return set(remote_shell.lines_of(result.stdout))

    # --- paths -----------------------------------------------------------------------------

    def _whoami(self) -> Tuple[pathlib.PurePosixPath, str]:
        """The remote home directory and user name: asked once per url and remembered in
        the master sockets' directory, so that an executor made later (an attach in another
        process) needs no connection to be made."""
        if self._identity is not None:
            return self._identity
        remembered = control_directory() / (
            hashlib.sha256(self.key.encode()).hexdigest()[:20] + '.whoami')
        try:
            home, user = json.loads(remembered.read_text())
            self._identity = (pathlib.PurePosixPath(str(home)), str(user))
            return self._identity
        except (OSError, ValueError, TypeError):
            pass
        result = self.run_script('printf "%s\\n%s\\n" "$HOME" "$(id -un)"\n',
                                 ['id', '-un'], FILE_TIMEOUT)
        lines = result.stdout.splitlines()
        if not result.ok or len(lines) != 2 or not lines[0].startswith('/'):
            raise OSError(f'cannot reach {self.url.destination} to find the remote user '
                          f'and home directory: '
                          f'{result.stderr.strip() or result.describe()}')
        self._identity = (pathlib.PurePosixPath(lines[0]), lines[1])
        temporary = remembered.with_suffix('.tmp')
        temporary.write_text(json.dumps(lines))
        os.replace(temporary, remembered)
        return self._identity

    def home(self) -> pathlib.PurePosixPath:
        """The remote user's home directory."""
        return self._whoami()[0]

    def user(self) -> str:
        """The remote user's name (whose jobs the scheduler lists)."""
        return self._whoami()[1]

    def remote_path(self, local: pathlib.Path) -> pathlib.Path:
        """Where ``local`` is on the remote side: a path under this user's home is the same
        path under the remote user's home; any other path is the same path."""
        try:
            relative = local.relative_to(pathlib.Path.home())
        except ValueError:
            return local
        return pathlib.Path(self.home()) / relative

    def install_files(self, directory: pathlib.Path, files: Dict[str, str]) -> None:
        """Make ``directory`` hold ``files`` (names and texts; executable), once per
        transport: the launcher scripts, which job scripts run on the remote side."""
        if str(directory) in self._launchers:
            return
        script = [remote_shell.make_directory_script(directory, 0o700)]
        for name, text in sorted(files.items()):
            script.append(remote_shell.write_file_script(directory / name, text, 0o700))
        result = self.run_script(''.join(script), ['install', str(directory)], FILE_TIMEOUT)
        if not result.ok:
            raise OSError(f'cannot install the launcher scripts in {directory} on '
                          f'{self.url.destination}: {result.stderr.strip() or result.describe()}')
        self._launchers[str(directory)] = 'installed'


class SshRunningCommand(LocalRunningCommand):
    """An ssh process running a remote script; its result names the remote command, and
    says ``returncode`` None when ssh itself failed (exit status 255)."""

    def __init__(self, ssh_argv: List[str], script: str, timeout: float, shown: List[str],
                 url: SshUrl) -> None:
        super().__init__(ssh_argv, script, timeout)
        self._shown = shown
        self._url = url

    def poll(self, wait: float = 0.0) -> Optional[CommandResult]:
        """See `psij.transport.RunningCommand.poll`."""
        result = super().poll(wait)
        if result is None:
            return None
        if result.returncode == SSH_FAILED or result.returncode is None:
            said = result.stderr.strip().splitlines()
            return CommandResult(self._shown, None, result.stdout,
                                 f'ssh to {self._url.destination} failed: '
                                 f'{said[-1] if said else "no answer"}')
        return CommandResult(self._shown, result.returncode, result.stdout, result.stderr)
