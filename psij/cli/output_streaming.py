"""``psij run`` shows the job's standard output and error while it runs, as ``srun`` does.

The job writes its streams to files: the paths the spec (``--stdout``/``--stderr``) names,
else files psij chooses in ``<work directory>/run-output/`` (``<job id>.out``, ``.err``;
removed once shown in full). One thread follows them and copies what is added to this
process's stdout (the job's stdout) and stderr (the job's stderr) as bytes, flushed at once
(binary-safe; a partial line shows without waiting for its newline).

Files are looked at every `Pace.shortest` seconds while they grow, less often (up to
`Pace.longest`) while nothing changes. Local files (the local executor, a batch scheduler on
this machine) are read directly; a batch executor over SSH reads them through its transport,
one round trip for all files per look (``tail -c +N | head -c M | base64`` on the existing
master connection).

Nothing is lost or shown twice: once the job is final, the files are read to the end, and a
batch job's files, which may reach a shared file system late, until their content has not
changed for `BATCH_SETTLE.quiet` seconds (at most `BATCH_SETTLE.limit`). A file the user named
that already held data before the submission is shown only once the job has rewritten it (its
size, inode or modification time changed), never the old content; a file that is not a
regular file (``/dev/null``, a terminal) is not followed.
"""

import base64
import os
import pathlib
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, List, Optional, Protocol, Sequence, Tuple

from psij.batch.executor import BatchSchedulerExecutor
from psij.cli.exit_status import CliError, ExitStatus
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_state import JobState
from psij.private_directories import make_private_directory
from psij.transport import LocalTransport, Transport

#: Where psij puts the streams of a job whose spec names none, under the work directory.
OUTPUT_DIRECTORY = 'run-output'
#: At most this many bytes of one file are read per look (a full read looks again at once).
CHUNK = 1 << 20


@dataclass(frozen=True)
class Pace:
    """How often files are looked at: `shortest` apart while they grow, each idle look
    waiting `growth` times longer, up to `longest`."""

    shortest: float
    longest: float
    growth: float = 1.5


LOCAL_PACE = Pace(0.05, 0.5)
#: Over SSH each look is a round trip: less often.
REMOTE_PACE = Pace(0.25, 1.0)


@dataclass(frozen=True)
class Settle:
    """After the job's end: a file is complete once `quiet` seconds passed without new data;
    a missing one is waited for (when `wait_for_missing`) up to `limit` seconds after the end,
    which also bounds the whole drain."""

    quiet: float
    limit: float
    wait_for_missing: bool


#: The local executor's job has exited and its files are closed: read to the end, once.
LOCAL_SETTLE = Settle(quiet=0.0, limit=2.0, wait_for_missing=False)
#: A batch job's files may be written on another node of a shared file system.
BATCH_SETTLE = Settle(quiet=0.5, limit=5.0, wait_for_missing=True)


@dataclass
class FollowedFile:
    """One file being followed, and where its bytes go."""

    path: str
    #: The stream of this process the bytes are copied to (a binary stdout or stderr).
    sink: IO[bytes]
    #: What the job's stream is (``standard output``), for messages.
    what: str
    #: True if psij chose the path (the file is removed once shown in full).
    chosen: bool
    #: The signature of the file before submission when it held data (not the job's).
    stale: Optional[str] = None
    offset: int = 0
    #: 'missing', 'file' or 'other' (not a regular file: not followed), as last seen.
    kind: str = 'missing'
    #: When data last came (monotonic), or when the drain started.
    changed_at: float = field(default_factory=time.monotonic)
    sink_broken: bool = False


@dataclass(frozen=True)
class Look:
    """What one look at a file saw: its ``kind`` ('missing', 'file', 'other', or 'stale':
    still the file from before the submission), its size and the bytes past the offset."""

    kind: str
    size: int = 0
    data: bytes = b''


class FileAccess(Protocol):
    """Reads the followed files where they are."""

    def signatures(self, paths: Sequence[str]) -> List[Optional[str]]:
        """For each path: its signature (inode, size, modification time) if it is a
        regular file holding data, else None."""

    def look(self, files: Sequence[FollowedFile]) -> List[Look]:
        """One look at each file: up to `CHUNK` bytes from its offset."""

    def make_directory(self, path: str) -> None:
        """Create ``path`` (user-only) if needed."""

    def remove(self, path: str) -> None:
        """Remove the file ``path`` if it exists."""


def _local_signature(info: os.stat_result) -> str:
    return f'{info.st_ino} {info.st_size} {info.st_mtime_ns}'


class LocalFiles:
    """A `FileAccess` to files of this machine."""

    def signatures(self, paths: Sequence[str]) -> List[Optional[str]]:
        """See `FileAccess.signatures`."""
        result: List[Optional[str]] = []
        for path in paths:
            try:
                info = os.stat(path)
            except OSError:
                result.append(None)
                continue
            result.append(_local_signature(info)
                          if stat.S_ISREG(info.st_mode) and info.st_size > 0 else None)
        return result

    def look(self, files: Sequence[FollowedFile]) -> List[Look]:
        """See `FileAccess.look`."""
        return [self._look_at(item) for item in files]

    @staticmethod
    def _look_at(item: FollowedFile) -> Look:
        try:
            # stat first: opening a FIFO would block, a terminal would read the keyboard.
            if not stat.S_ISREG(os.stat(item.path).st_mode):
                return Look('other')
            with open(item.path, 'rb') as stream:
                info = os.fstat(stream.fileno())
                if item.stale is not None and _local_signature(info) == item.stale:
                    return Look('stale', info.st_size)
                offset = item.offset if info.st_size >= item.offset else 0
                stream.seek(offset)
                return Look('file', info.st_size, stream.read(CHUNK))
        except FileNotFoundError:
            return Look('missing')

    def make_directory(self, path: str) -> None:
        """See `FileAccess.make_directory`."""
        make_private_directory(pathlib.Path(path), 0o700)

    def remove(self, path: str) -> None:
        """See `FileAccess.remove`."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


#: One line per file (arguments: path, offset, stale signature or '-', per file):
#: M (missing), O (not a regular file), S (still the stale file), F SIZE BASE64.
_LOOK_SCRIPT = f'''while [ $# -ge 3 ]; do
  p=$1 o=$2 s=$3; shift 3
  if [ ! -e "$p" ]; then echo M; continue; fi
  if [ ! -f "$p" ]; then echo O; continue; fi
  sig=$(stat -c '%i %s %y' -- "$p") || {{ echo M; continue; }}
  if [ "$sig" = "$s" ]; then echo S; continue; fi
  size=${{sig#* }}; size=${{size%% *}}
  [ "$size" -lt "$o" ] && o=0
  printf 'F %s ' "$size"
  tail -c +$((o + 1)) -- "$p" | head -c {CHUNK} | base64 | tr -d '\\n'
  echo
done
'''
_SIGNATURE_SCRIPT = '''for p; do
  if [ -f "$p" ] && [ -s "$p" ]; then stat -c '%i %s %y' -- "$p"; else echo -; fi
done
'''


class RemoteFiles:
    """A `FileAccess` to files where a batch executor's transport runs its commands."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _run(self, script: str, arguments: Sequence[str]) -> List[str]:
        result = self.transport.run(['sh', '-c', script, 'sh', *arguments], timeout=60.0)
        if not result.ok:
            raise OSError(result.describe())
        return result.stdout.splitlines()

    def signatures(self, paths: Sequence[str]) -> List[Optional[str]]:
        """See `FileAccess.signatures`."""
        lines = self._run(_SIGNATURE_SCRIPT, paths)
        if len(lines) != len(paths):
            raise OSError(f'{len(lines)} lines for {len(paths)} files from stat')
        return [None if line == '-' else line for line in lines]

    def look(self, files: Sequence[FollowedFile]) -> List[Look]:
        """See `FileAccess.look`."""
        arguments: List[str] = []
        for item in files:
            arguments += [item.path, str(item.offset), item.stale or '-']
        lines = self._run(_LOOK_SCRIPT, arguments)
        if len(lines) != len(files):
            raise OSError(f'{len(lines)} lines for {len(files)} files from the look')
        return [self._parse(line, item) for line, item in zip(lines, files)]

    @staticmethod
    def _parse(line: str, item: FollowedFile) -> Look:
        if line == 'M':
            return Look('missing')
        if line == 'O':
            return Look('other')
        if line == 'S':
            return Look('stale')
        _, size, *encoded = line.split(' ')
        return Look('file', int(size), base64.b64decode(''.join(encoded)))

    def make_directory(self, path: str) -> None:
        """See `FileAccess.make_directory`."""
        self.transport.make_directory(pathlib.Path(path), 0o700)

    def remove(self, path: str) -> None:
        """See `FileAccess.remove`."""
        self.transport.remove_file(pathlib.Path(path))


class OutputFollower:
    """The thread that copies the files' new bytes to their sinks (see the module
    docstring): `start` after the submission, `finish` once the job is final."""

    def __init__(self, files: List[FollowedFile], access: FileAccess, pace: Pace,
                 settle: Settle, warnings: IO[str]) -> None:
        self.files = files
        self.access = access
        self.pace = pace
        self.settle = settle
        self.warnings = warnings
        self.error: Optional[str] = None
        self._finishing = threading.Event()
        self._final_state: Optional[JobState] = None
        self._thread = threading.Thread(target=self._follow, name='psij-run-output',
                                        daemon=True)

    def start(self) -> None:
        """Follow the files until `finish`."""
        sys.stdout.flush()  # what was printed as text goes before the job's bytes
        self._thread.start()

    def finish(self, state: JobState) -> None:
        """The job ended in ``state``: show the rest of its files, warn about what could not
        be shown, remove the files psij chose that were shown in full."""
        self._final_state = state
        self._finishing.set()
        if self._thread.ident is None:
            self._thread.start()  # never started: it drains at once
        self._thread.join()
        self._report_and_clean()

    def abandon(self) -> None:
        """The job was never submitted: remove the files psij chose (if already made)."""
        for item in self.files:
            if item.chosen:
                self._remove(item.path)

    # --- the thread ------------------------------------------------------------------------

    def _follow(self) -> None:
        wait = self.pace.shortest
        while not self._finishing.is_set():
            progressed, full = self._look_once()
            if full:
                continue
            wait = self.pace.shortest if progressed else min(wait * self.pace.growth,
                                                             self.pace.longest)
            self._finishing.wait(wait)
        self._drain()

    def _look_once(self) -> Tuple[bool, bool]:
        """One look at every followed file: (any bytes copied, some read was a full chunk)."""
        active = [item for item in self.files if item.kind != 'other']
        if not active:
            return False, False
        try:
            looks = self.access.look(active)
        except OSError as error:
            self.error = str(error)
            return False, False
        self.error = None
        progressed = full = False
        now = time.monotonic()
        for item, look in zip(active, looks):
            item.kind = 'file' if look.kind == 'stale' else look.kind
            if look.kind != 'file':
                continue
            if look.size < item.offset:  # rewritten from the start (the job truncated it)
                item.offset = 0
            if look.data:
                item.offset += len(look.data)
                item.changed_at = now
                progressed = True
                full = full or len(look.data) >= CHUNK
                self._copy(item, look.data)
        return progressed, full

    def _copy(self, item: FollowedFile, data: bytes) -> None:
        if item.sink_broken:
            return
        try:
            item.sink.write(data)
            item.sink.flush()
        except (BrokenPipeError, ValueError, OSError):
            item.sink_broken = True  # nobody reads any more (psij run | head)

    def _settled(self, item: FollowedFile, now: float, started: float) -> bool:
        if item.kind == 'other':
            return True
        if item.kind == 'missing':
            return (not self.settle.wait_for_missing or self._final_state == JobState.CANCELED
                    or now - started >= self.settle.limit)
        return now - item.changed_at >= self.settle.quiet

    def _drain(self) -> None:
        started = time.monotonic()
        for item in self.files:
            item.changed_at = max(item.changed_at, started)
        while True:
            progressed, full = self._look_once()
            now = time.monotonic()
            if now - started >= self.settle.limit:
                return
            if full or progressed:
                continue
            if self.error is None and all(self._settled(item, now, started)
                                          for item in self.files):
                return
            time.sleep(min(0.1, max(self.settle.quiet, 0.05)))

    # --- after the drain -------------------------------------------------------------------

    def _report_and_clean(self) -> None:
        for item in self.files:
            if item.kind == 'other':
                continue
            if self.error is not None:
                self._warn(f"the job's {item.what} ({item.path}) could not be read to the "
                           f'end: {self.error}')
            elif item.kind == 'missing':
                if self._final_state != JobState.CANCELED and self.settle.wait_for_missing:
                    self._warn(f"the job's {item.what} ({item.path}) did not appear within "
                               f'{self.settle.limit:g} s of its end; nothing of it was shown')
            elif item.chosen:
                self._remove(item.path)

    def _remove(self, path: str) -> None:
        try:
            self.access.remove(path)
        except OSError:
            pass  # left in the work directory; harmless

    def _warn(self, message: str) -> None:
        self.warnings.write(f'psij: warning: {message}\n')
        self.warnings.flush()


# --- planning --------------------------------------------------------------------------------


def _job_side_path(path: pathlib.Path, job: Job, executor: JobExecutor,
                   remote: bool) -> str:
    """Where the job writes ``path``, as the follower names it (see `psij.cli.spec_input`: a
    relative path is under the job's directory, or where the submission ran)."""
    spec = job.spec
    assert spec is not None
    if not path.is_absolute() and spec.directory is not None:
        path = spec.directory / path
    if remote:
        paths = getattr(getattr(executor, 'batch_config', None), 'remote_paths', None)
        if paths:
            return str(paths.to_remote(str(path)))
        return str(path)  # relative: the remote home, where the transport's commands run
    return str(path if path.is_absolute() else pathlib.Path.cwd() / path)


def prepare_streaming(executor: JobExecutor, job: Job, quiet: bool
                      ) -> Optional[OutputFollower]:
    """The follower of ``job``'s output (None when ``quiet``), before its submission: a
    stream the spec names no file for gets one chosen by psij (see the module docstring)."""
    spec = job.spec
    if quiet or spec is None:
        return None
    transport = getattr(executor, 'transport', None) \
        if isinstance(executor, BatchSchedulerExecutor) else None
    remote = transport is not None and not isinstance(transport, LocalTransport)
    access: FileAccess = RemoteFiles(transport) if remote and transport is not None \
        else LocalFiles()
    if isinstance(executor, BatchSchedulerExecutor):
        directory = str(executor.directory.parent / OUTPUT_DIRECTORY)
    else:
        directory = str(pathlib.Path(executor.config.work_directory) / OUTPUT_DIRECTORY)
    joined = spec.stdout_path is not None and spec.stdout_path == spec.stderr_path
    files: List[FollowedFile] = []
    streams = [('stdout_path', 'standard output', sys.stdout.buffer, 'out')]
    if not joined:
        streams.append(('stderr_path', 'standard error', sys.stderr.buffer, 'err'))
    chosen_any = False
    for name, what, sink, suffix in streams:
        given: Optional[pathlib.Path] = getattr(spec, name)
        if given is None:
            path = f'{directory}/{job.id}.{suffix}'
            setattr(spec, name, pathlib.Path(path))
            chosen_any = True
            files.append(FollowedFile(path, sink, what, chosen=True))
        else:
            files.append(FollowedFile(_job_side_path(given, job, executor, remote), sink,
                                      what, chosen=False))
    given_files = [item for item in files if not item.chosen]
    try:
        if chosen_any:
            access.make_directory(directory)
        if given_files:
            signatures = access.signatures([item.path for item in given_files])
            for item, signature in zip(given_files, signatures):
                item.stale = signature
    except OSError as error:
        raise CliError(ExitStatus.BACKEND, f"cannot prepare to show the job's output "
                                           f'(--quiet does without): {error}') from error
    return OutputFollower(files, access, REMOTE_PACE if remote else LOCAL_PACE,
                          BATCH_SETTLE if transport is not None else LOCAL_SETTLE,
                          sys.stderr)
