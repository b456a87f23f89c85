"""What a batch executor needs of the far side of its transport (an executor over SSH):
where its work directory is there, which user it is there, and the launcher scripts.

A transport of this machine has none of ``remote_path``, ``user`` and ``install_files``: the
work directory, user and launch command are then left as they are.

A job script runs its launcher script (``bash <psij>/launchers/single.sh ...``) from psij's
installed package. On a remote cluster psij is not installed, so a transport that can place
files there (``install_files``, as `psij.ssh.SshTransport` has) gets a copy of the scripts,
once, in ``<remote work directory>/launchers/<hash of their contents>``, and the launch
command names that copy.
"""

import hashlib
import pathlib
from typing import Callable, Dict, List, Optional, Tuple

from psij.launchers._script import SCRIPT_DIRECTORY
from psij.transport import Transport

_scripts: Optional[Tuple[Dict[str, str], str]] = None


def launcher_scripts() -> Tuple[Dict[str, str], str]:
    """The launcher shell scripts of this installation, by file name, and a digest of them
    (read and hashed once: every submission over SSH names them)."""
    global _scripts
    if _scripts is None:
        scripts = {path.name: path.read_text()
                   for path in sorted(SCRIPT_DIRECTORY.glob('*.sh'))}
        digest = hashlib.sha256(''.join(f'{name}\0{text}\0' for name, text in
                                        sorted(scripts.items())).encode()).hexdigest()[:16]
        _scripts = (scripts, digest)
    return _scripts


def placed_launch_command(transport: Transport, work_directory: pathlib.Path,
                          command: List[str]) -> List[str]:
    """``command`` with the launcher scripts it names replaced by their copies on the remote
    side of ``transport`` (installed there first), or ``command`` itself (see the module
    docstring)."""
    install: Optional[Callable[[pathlib.Path, Dict[str, str]], None]] = getattr(
        transport, 'install_files', None)
    local = f'{SCRIPT_DIRECTORY}/'
    if install is None or not any(word.startswith(local) for word in command):
        return command
    scripts, digest = launcher_scripts()
    remote = work_directory / 'launchers' / digest
    install(remote, scripts)
    return [f'{remote}/{word[len(local):]}' if word.startswith(local) else word
            for word in command]


def remote_path(transport: Transport, local: pathlib.Path) -> pathlib.Path:
    """Where the path ``local`` (the work directory) is on the side of ``transport``: the
    transport's ``remote_path`` says if it has one, else it is the same path."""
    translate: Optional[Callable[[pathlib.Path], pathlib.Path]] = getattr(
        transport, 'remote_path', None)
    return translate(local) if translate is not None else local


def remote_user(transport: Transport) -> Optional[str]:
    """The user commands run as on the side of ``transport``, if it says (``user``); None for
    a transport of this machine."""
    user: Optional[Callable[[], str]] = getattr(transport, 'user', None)
    return user() if user is not None else None
