"""`CallStore`: the function files of one executor, where its jobs run, through its transport.

A batch executor reaches its scheduler through a `psij.transport.Transport`: this machine, or
the far side of an SSH connection (`psij.ssh`). The call files, the runner, the results and
the native id records (`psij.functions.calls`) go through the same transport, so a
`FunctionExecutor` over SSH writes them on the cluster and reads the results back over the
executor's one shared connection (its ControlMaster), with nothing but a POSIX shell there: all
these files are text. An executor without a transport (the local executor, a plugin's) keeps
them on this machine.

Round trips over SSH: the directories and the runner are written in one when the store is
prepared; a call file goes with the job's submit command (`batched`), and so do the native id
records of the jobs a ``submit`` or ``map`` sends at once (`deferring_records`); reading a
result is one, and removing a delivered call's files is one.

Files are pruned (`prune`) by the rules of docs/functions.md: a call's call and result files go
once its result was delivered, everything older than the retention goes.
"""

import contextlib
import logging
import os
import pathlib
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from psij.batch.remote_side import remote_path
from psij.functions import runner
from psij.functions.calls import (
    NATIVE_SUBDIRECTORY,
    RUNNER_NAME,
    SUBDIRECTORY,
    CallFiles,
    Result,
    native_record_name,
    native_record_text,
    parse_native_record,
    parse_result,
)
from psij.job_executor import JobExecutor
from psij.transport import LocalTransport, Transport

logger = logging.getLogger('psij')


def _is_remote(transport: Transport) -> bool:
    # A transport that places files on the far side (`psij.batch.remote_side`) is a remote one.
    return getattr(transport, 'install_files', None) is not None


class CallStore:
    """The function files in ``directory`` (``<work directory>/functions``, on the side of
    ``transport``).

    :param transport: how the files are reached.
    :param directory: where they are, as a path on the side of ``transport``.
    """

    def __init__(self, transport: Transport, directory: pathlib.Path) -> None:
        self.transport = transport
        self.directory = directory
        #: True if the files are on another machine (over SSH).
        self.remote = _is_remote(transport)
        self._deferred = threading.local()

    @classmethod
    def of(cls, executor: JobExecutor) -> 'CallStore':
        """The store of ``executor``: through its transport, if it has one, in its work
        directory on the far side of it (the same path under the remote home for a work
        directory under the local home, as the batch executors' files)."""
        transport: Transport = getattr(executor, 'transport', None) or LocalTransport()
        work = remote_path(transport, executor.config.work_directory)
        return cls(transport, work / SUBDIRECTORY)

    @property
    def native_directory(self) -> pathlib.Path:
        """Where the native id records are."""
        return self.directory / NATIVE_SUBDIRECTORY

    @property
    def runner(self) -> pathlib.Path:
        """The runner's copy the jobs run."""
        return self.directory / RUNNER_NAME

    # --- writing -----------------------------------------------------------------------------

    def _write(self, path: pathlib.Path, text: str) -> None:
        if self.remote:
            self.transport.write_file(path, text, 0o600)  # atomic there (a rename)
        else:
            runner.write_atomically(str(path), text.encode('utf-8'))

    def batched(self) -> 'contextlib.AbstractContextManager[Any]':
        """Inside the block, this thread's writes go with its next command (over SSH: with
        the job's submit command, in one round trip); elsewhere nothing changes."""
        batched: Optional[Callable[[], contextlib.AbstractContextManager[Any]]] = getattr(
            self.transport, 'batched', None)
        return batched() if batched is not None else contextlib.nullcontext()

    def prepare(self) -> pathlib.Path:
        """Make the directories (user-only) and write the runner's copy if it differs from
        this psij's; the copy's path. OSError (ConnectionError over SSH) if that fails."""
        source = pathlib.Path(runner.__file__).read_text(encoding='utf-8')
        with self.batched():
            self.transport.make_directory(self.directory, 0o700)
            self.transport.make_directory(self.native_directory, 0o700)
            if self.remote:  # reading it first would cost as much as writing it
                self._write(self.runner, source)
        if not self.remote:
            try:
                same = self.runner.read_text(encoding='utf-8') == source
            except OSError:
                same = False
            if not same:
                self._write(self.runner, source)
        return self.runner

    def write_call(self, files: CallFiles, text: str) -> None:
        """Write the call file of ``files`` (mode 0600)."""
        self._write(files.call, text)

    # --- results -----------------------------------------------------------------------------

    def read_result(self, files: CallFiles) -> Optional[Result]:
        """The result file of ``files``, or None if there is none (yet). ValueError if it is
        not a result file; OSError (ConnectionError over SSH) if it cannot be read."""
        text = self.transport.read_file(files.result)
        if text is None:
            return None
        return parse_result(text, str(files.result))

    def call_exists(self, files: CallFiles) -> bool:
        """True if the call file of ``files`` is there; OSError if that cannot be known."""
        if not self.remote:
            return files.call.exists()
        result = self.transport.run(['test', '-f', str(files.call)])
        if result.returncode is None:
            raise ConnectionError(f'cannot look for {files.call}: {result.stderr.strip()}')
        return result.ok

    def remove(self, paths: Sequence[pathlib.Path]) -> None:
        """Remove ``paths`` (files; missing ones are no error), in one round trip over SSH."""
        if not paths:
            return
        if self.remote and hasattr(self.transport, 'run_script'):
            from psij.ssh.file_transfer import remove_remote  # only over SSH
            remove_remote(self.transport, [str(path) for path in paths])  # type: ignore[arg-type]
            return
        for path in paths:
            self.transport.remove_file(path)

    def remove_delivered(self, files: CallFiles) -> None:
        """Remove the call and result files of a call whose result was delivered (its stdout
        and stderr stay, as the future names them, until the retention); failures are logged,
        not raised (the result is delivered)."""
        try:
            self.remove([files.call, files.result])
        except OSError as error:
            logger.warning('could not remove the files of delivered call %s: %s',
                           files.call_id, error)

    # --- native ids --------------------------------------------------------------------------

    @contextlib.contextmanager
    def deferring_records(self) -> Iterator[None]:
        """While the block runs, this thread's `record_native_id` calls are collected; they
        are written when it ends, together (one round trip over SSH). Failures are logged."""
        if getattr(self._deferred, 'records', None) is not None:
            yield
            return
        self._deferred.records = []
        try:
            yield
        finally:
            records: List[Tuple[pathlib.Path, str]] = self._deferred.records
            self._deferred.records = None
            self._write_records(records)

    def _write_records(self, records: Sequence[Tuple[pathlib.Path, str]]) -> None:
        if not records:
            return
        try:
            with self.batched():
                for path, text in records:
                    self._write(path, text)
        except OSError as error:
            logger.error('could not record the native ids of %d function job(s) in %s (they '
                         'cannot be recovered from another process): %s', len(records),
                         self.native_directory, error)

    def record_native_id(self, executor: str, native_id: str, call_id: str, count: int) -> None:
        """Write down that job ``native_id`` of ``executor`` runs the ``count`` calls of
        ``call_id`` (at once, or at the end of a `deferring_records` block of this thread)."""
        path = self.native_directory / native_record_name(executor, native_id)
        text = native_record_text(executor, native_id, call_id, count)
        deferred: Optional[List[Tuple[pathlib.Path, str]]] = getattr(
            self._deferred, 'records', None)
        if deferred is not None:
            deferred.append((path, text))
        else:
            self._write_records([(path, text)])

    def find_native_id(self, executor: str, native_id: str) -> Dict[str, Any]:
        """The record `record_native_id` wrote; `LookupError` saying where it looked if none."""
        path = self.native_directory / native_record_name(executor, native_id)
        text = self.transport.read_file(path)
        if text is None:
            where = f' on {self.transport.key}' if self.remote else ''
            raise LookupError(f'no function job {native_id!r} of executor {executor!r} was '
                              f'submitted with the work directory {self.directory.parent}'
                              f'{where} (looked for {path})')
        return parse_native_record(text, str(path))

    # --- pruning -----------------------------------------------------------------------------

    def prune(self, age: float, keep: Iterable[str] = ()) -> int:
        """Remove the files of the functions directory and of its native id records not
        modified for ``age`` seconds, except the runner and the files of the call ids
        ``keep``; how many. OSError if the directory cannot be listed."""
        kept = set(keep)
        old: List[pathlib.Path] = []
        for name in sorted(self.transport.old_files(self.directory, age)):
            if name != RUNNER_NAME and _call_id_of(name) not in kept:
                old.append(self.directory / name)
        old_records: Set[str] = self.transport.old_files(self.native_directory, age)
        old.extend(self.native_directory / name for name in sorted(old_records))
        self.remove(old)
        return len(old)

    def __repr__(self) -> str:
        return f'CallStore({self.transport!r}, {str(self.directory)!r})'


def _call_id_of(name: str) -> str:
    """The call id a file name of the functions directory belongs to."""
    for suffix in (runner.CALL_SUFFIX, runner.RESULT_SUFFIX, runner.STDOUT_SUFFIX,
                   runner.STDERR_SUFFIX):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return os.path.splitext(name)[0]
