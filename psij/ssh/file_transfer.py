"""Files copied to and from the host of an `SshTransport`, as one tar stream per direction
over a session of the host's master (no new connection, nothing but ``tar`` and a POSIX
shell on the remote side).

`push` sends local files and directories to absolute remote paths: the session's fixed
command is ``exec tar -xf - -C /`` and the stream (made here, with Python's `tarfile`) names
each file by its remote path. `fetch` brings remote paths to local ones: a script on the
session's standard input runs ``tar -chf -`` (symbolic links followed: what arrives is
content) over those that exist, and the stream is unpacked here, next to each target, and
renamed into place (an existing target directory is merged into, as ``cp -R -T`` does).
"""

import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from typing import IO, Dict, List, Optional, Sequence, Set, Tuple

from psij.ssh.transport import SshTransport

#: What `fetch` says of a remote path that does not exist.
NOT_THERE = 'not there on the remote side'
#: The remote command of a `push` session (fixed: the login shell parses it).
PUSH_COMMAND = 'exec tar -xf - -C /'


def _relative(remote: str) -> str:
    return os.path.normpath(remote).lstrip('/')


def _stderr_text(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode(errors='replace').strip()


def push(transport: SshTransport, files: Sequence[Tuple[str, str]]) -> None:
    """Copy each local path of ``files`` (pairs local, absolute remote path) to the remote
    side; the remote parents are made. A local path that does not exist is left out (the job
    script then says it is missing). ConnectionError if ssh failed; OSError naming the file
    if a local file cannot be read or the remote side cannot write."""
    present = [(local, remote) for local, remote in files if os.path.lexists(local)]
    if not present:
        return
    argv = transport.session_argv(PUSH_COMMAND)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=errors)
        assert process.stdin is not None
        current = ''
        try:
            with tarfile.open(fileobj=process.stdin, mode='w|',
                              format=tarfile.PAX_FORMAT) as archive:
                for local, remote in present:
                    current = local
                    archive.add(local, arcname=_relative(remote))
            process.stdin.close()
        except BrokenPipeError:
            pass  # the remote tar stopped: its message says why
        except OSError as error:
            process.kill()
            process.wait()
            raise OSError(f'cannot read {current!r} to copy it to '
                          f'{transport.url.destination}: {error}') from error
        finally:
            if not process.stdin.closed:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    pass
        returncode = process.wait()
        said = _stderr_text(errors)
    if returncode == 255:
        raise ConnectionError(f'ssh to {transport.url.destination} failed: {said}')
    if returncode != 0:
        names = ', '.join(repr(remote) for _, remote in present)
        raise OSError(f'cannot write {names} on {transport.url.destination}: '
                      f'{said or f"tar exited with status {returncode}"}')


def fetch_script(remotes: Sequence[str]) -> str:
    """The remote script of `fetch`: a tar stream of those of ``remotes`` that exist."""
    lines = ['cd / || exit 1', 'set --']
    for remote in remotes:
        quoted = shlex.quote(_relative(remote))
        lines.append(f'if [ -e {quoted} ]; then set -- "$@" {quoted}; fi')
    lines += ['[ "$#" -gt 0 ] || exit 0', 'exec tar -chf - -- "$@"']
    return '\n'.join(lines) + '\n'


def _put_in_place(extracted: str, target: str) -> None:
    if os.path.isdir(target) and not os.path.islink(target):
        if not os.path.isdir(extracted):
            raise IsADirectoryError(f'{target!r} is a directory')
        shutil.copytree(extracted, target, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(extracted)
    else:
        os.replace(extracted, target)


class _Unpacker:
    """Puts the members of a fetch stream under their local targets (see `fetch`)."""

    def __init__(self, pairs: Sequence[Tuple[str, str]]) -> None:
        self.by_prefix = sorted(((_relative(remote), remote, local) for remote, local in pairs),
                                key=lambda entry: -len(entry[0]))
        self.staging: Dict[str, str] = {}  # remote -> temporary directory
        self.errors: Dict[str, str] = {}

    def entry_of(self, name: str) -> Optional[Tuple[str, str, str]]:
        name = name.rstrip('/')
        for prefix, remote, local in self.by_prefix:
            if name == prefix or name.startswith(prefix + '/'):
                return name[len(prefix):], remote, local
        return None

    def unpack(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        found = self.entry_of(member.name)
        if found is None:
            return
        rest, remote, local = found
        if remote in self.errors:
            return
        parts = [part for part in rest.split('/') if part]
        if '..' in parts or not (member.isfile() or member.isdir() or member.islnk()):
            self.errors[remote] = f'unexpected member {member.name!r} in the stream'
            return
        try:
            temporary = self.staging.get(remote)
            if temporary is None:
                parent = os.path.dirname(local) or '.'
                os.makedirs(parent, exist_ok=True)
                temporary = tempfile.mkdtemp(prefix='.psij-staging-', dir=parent)
                self.staging[remote] = temporary
            member.name = '/'.join(['x', *parts])
            if member.islnk():
                link = self.entry_of(member.linkname)
                if link is None or link[1] != remote:
                    raise OSError(f'a hard link to {member.linkname!r} outside {remote!r}')
                member.linkname = '/'.join(['x', *[p for p in link[0].split('/') if p]])
            archive.extract(member, temporary, set_attrs=True)
        except OSError as error:
            self.errors[remote] = str(error)

    def finish(self, pairs: Sequence[Tuple[str, str]]) -> None:
        for remote, local in pairs:
            temporary = self.staging.get(remote)
            if temporary is None:
                self.errors.setdefault(remote, NOT_THERE)
                continue
            try:
                if remote not in self.errors:
                    _put_in_place(os.path.join(temporary, 'x'), local)
            except OSError as error:
                self.errors[remote] = str(error)
            finally:
                shutil.rmtree(temporary, ignore_errors=True)


def fetch(transport: SshTransport,
          pairs: Sequence[Tuple[str, str]]) -> Dict[Tuple[str, str], str]:
    """Bring each remote path of ``pairs`` (remote, local target) to its target (missing
    local parents made); the failures, by pair, say why (a missing remote path:
    `NOT_THERE`). ConnectionError if ssh failed before anything arrived."""
    if not pairs:
        return {}
    once: List[Tuple[str, str]] = []
    seen: Set[str] = set()
    for pair in pairs:
        if pair[0] not in seen:
            seen.add(pair[0])
            once.append(pair)
    if len(once) < len(pairs):  # a remote path going to two targets: one stream per target
        again = [pair for pair in pairs if pair not in once]
        return {**_fetch(transport, once), **fetch(transport, again)}
    return _fetch(transport, pairs)


def _fetch(transport: SshTransport,
           pairs: Sequence[Tuple[str, str]]) -> Dict[Tuple[str, str], str]:
    argv = transport.session_argv()
    unpacker = _Unpacker(pairs)
    with tempfile.TemporaryFile() as script, tempfile.TemporaryFile() as errors:
        script.write(fetch_script([remote for remote, _ in pairs]).encode())
        script.seek(0)
        process = subprocess.Popen(argv, stdin=script, stdout=subprocess.PIPE, stderr=errors)
        assert process.stdout is not None
        broken: Optional[str] = None
        try:
            with tarfile.open(fileobj=process.stdout, mode='r|') as archive:
                data_filter = getattr(tarfile, 'data_filter', None)  # Python 3.12, backports
                if data_filter is not None:
                    archive.extraction_filter = data_filter
                for member in archive:
                    unpacker.unpack(archive, member)
        except tarfile.ReadError as error:
            if 'empty' not in str(error):
                broken = str(error)
        except tarfile.TarError as error:
            broken = str(error)
        finally:
            process.stdout.close()
        returncode = process.wait()
        said = _stderr_text(errors)
    if returncode == 255 and not unpacker.staging:
        raise ConnectionError(f'ssh to {transport.url.destination} failed: {said}')
    unpacker.finish(pairs)
    if returncode != 0 or broken:
        why = said or broken or f'tar exited with status {returncode}'
        for remote in unpacker.errors:
            unpacker.errors[remote] += f' ({why})'
    return {(remote, local): unpacker.errors[remote] for remote, local in pairs
            if remote in unpacker.errors}


def remove_remote(transport: SshTransport, paths: Sequence[str]) -> None:
    """Remove ``paths`` (files or directories) on the remote side; OSError if that fails."""
    if not paths:
        return
    result = transport.run_script(
        'rm -rf -- ' + ' '.join(shlex.quote(path) for path in paths) + '\n',
        ['rm', '-rf', *paths], 60.0)
    if not result.ok:
        raise OSError(f'cannot remove {list(paths)!r} on {transport.url.destination}: '
                      f'{result.stderr.strip() or result.describe()}')


def clean_remote(transport: SshTransport, directory: str, paths: Sequence[str]) -> List[str]:
    """Remove those of ``paths`` (relative to ``directory``, or absolute) whose parent,
    resolved, is inside ``directory``; the lines the remote side said (paths left alone)."""
    lines = [f'cd -- {shlex.quote(directory)} || exit 0', 'top=$(pwd -P)']
    for path in paths:
        quoted = shlex.quote(path)
        lines.append(
            f'parent=$(cd -- "$(dirname -- {quoted})" 2>/dev/null && pwd -P) && '
            f'case $parent/ in "$top"/*) rm -rf -- "$parent/$(basename -- {quoted})" ;; '
            f"*) printf 'psij: cleanup: %s is outside the job directory; left alone\\n' "
            f'{quoted} ;; esac')
    result = transport.run_script('\n'.join(lines) + '\n', ['cleanup', directory], 60.0)
    return [line for line in result.stdout.splitlines() if line]
