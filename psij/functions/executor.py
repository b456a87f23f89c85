"""`FunctionExecutor`: a `concurrent.futures.Executor` whose calls are psij jobs.

Each ``submit`` is one job; ``map`` over N items is ONE array submission
(`psij.JobArray`) of ``ceil(N / chunksize)`` elements, each running ``chunksize`` calls one
after another. Every job runs ``PYTHON -u <work directory>/functions/runner.py CALL_FILE``
(see `psij.functions.runner`) with the base `JobSpec`'s resources, attributes, launcher,
environment and directory. The cap on jobs in flight of the executor's config
(``max_in_flight``) applies as to any job; ``throttle`` caps the running elements of each map.

The files are where the jobs run, through the executor's transport (`psij.functions.store`):
an executor over SSH writes them on the cluster, and its jobs run ``python3`` there unless told
otherwise. Old files are pruned (`prune`) when the executor is made and about once an hour.
"""

import copy
import logging
import pathlib
import re
import sys
import threading
import time
import uuid
from concurrent.futures import Executor
from typing import Any, Callable, Iterable, Iterator, List, Optional, Set, TypeVar, Union

from psij.configuration.profile import Profile
from psij.functions.calls import CallFiles, call_file_text, pickle_call, pickle_function
from psij.functions.future import FunctionFuture, JobCalls
from psij.functions.recorded_job import RecordedJob, recorded_array
from psij.functions.recovery import recover
from psij.functions.store import CallStore
from psij.job import Job
from psij.job_array import INDEX_TOKEN
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec

logger = logging.getLogger('psij')

T = TypeVar('T')
#: Files older than this are pruned when the executor's config has no ``file_retention``.
DEFAULT_RETENTION = 30 * 24 * 3600.0
#: Old files are looked for this often (seconds) while an executor is used.
PRUNE_INTERVAL = 3600.0
_NAME_CHARACTERS = re.compile(r'[^A-Za-z0-9_]')


def _job_name(function: Callable[..., Any]) -> str:
    name = _NAME_CHARACTERS.sub('_', getattr(function, '__name__', 'call'))[:40]
    return f'psij-fn-{name}'


def _check_base_spec(spec: Optional[JobSpec]) -> JobSpec:
    if spec is None:
        return JobSpec()
    if not isinstance(spec, JobSpec):
        raise TypeError(f'FunctionExecutor.spec must be a JobSpec, not {type(spec).__name__}')
    for field in ('executable', 'stdout_path', 'stderr_path'):
        if getattr(spec, field) is not None:
            raise ValueError(f'FunctionExecutor.spec: JobSpec.{field} must be None: the '
                             f'function executor sets it (the runner, and files in the work '
                             f'directory that the future names)')
    if spec.arguments:
        raise ValueError('FunctionExecutor.spec: JobSpec.arguments must be empty: the '
                         'function executor sets them (the runner and its call file)')
    return spec


class FunctionExecutor(Executor):
    """Runs Python functions as psij jobs, with the `concurrent.futures` interface.

    :param executor: the psij executor: a name (``'local'``, ``'slurm'``...), a
        `JobExecutor` already made, or a `psij.configuration.Profile` (its executor, url and
        settings make the executor, and it fills the base spec as `Profile.fill` does).
    :param url: with a name: the executor's url; over SSH (``ssh://host``) the files are
        written and read on that host, over the executor's one shared connection.
    :param config: with a name: the executor's config (its ``work_directory`` holds the call
        files, and must be visible from the nodes; ``max_in_flight`` caps the jobs in flight;
        ``file_retention`` says when old files go).
    :param spec: the base of every job: resources, attributes (``duration``, queue,
        custom attributes), launcher, environment, directory. Its executable, arguments and
        stream paths must be unset.
    :param python: the Python that runs the functions on the nodes (``sys.executable`` by
        default; ``python3`` for an executor over SSH); it must have the submitter's
        major.minor version and cloudpickle.
    :param throttle: at most this many elements of each ``map`` run at once (None: no limit).
    :param keep_files: keep a call's call and result files once its result is delivered
        (removed by default: another process can then no longer recover it).
    :param file_retention: files of the functions directory older than this (seconds) are
        removed (None: the executor config's ``file_retention``, else 30 days).
    """

    def __init__(self, executor: Union[str, JobExecutor, Profile] = 'local', *,
                 url: Optional[str] = None, config: Optional[JobExecutorConfig] = None,
                 spec: Optional[JobSpec] = None, python: Optional[str] = None,
                 throttle: Optional[int] = None, keep_files: bool = False,
                 file_retention: Optional[float] = None) -> None:
        if isinstance(executor, JobExecutor):
            if url is not None or config is not None:
                raise ValueError('FunctionExecutor: give url and config only with an executor '
                                 'name, not with a JobExecutor')
            self.executor = executor
        elif isinstance(executor, str):
            self.executor = JobExecutor.get_instance(executor, url=url, config=config)
        elif isinstance(executor, Profile):
            if config is not None:
                raise ValueError('FunctionExecutor: give config only with an executor name; a '
                                 f'profile ({executor.name!r}) makes its own')
            self.executor = executor.executor(url=url)
        else:
            raise TypeError('FunctionExecutor.executor must be an executor name, a JobExecutor '
                            f'or a psij.configuration.Profile, not {type(executor).__name__}')
        self.spec = _check_base_spec(spec)
        if isinstance(executor, Profile):
            self.spec = executor.fill(copy.deepcopy(self.spec))
        if python is not None and (not isinstance(python, str) or not python):
            raise ValueError(f'FunctionExecutor.python must be a non-empty path or command '
                             f'name, not {python!r}')
        if throttle is not None and (isinstance(throttle, bool) or not isinstance(throttle, int)
                                     or throttle < 1):
            raise ValueError(f'FunctionExecutor.throttle is {throttle!r}; allowed: None or an '
                             'integer of 1 or more')
        self.throttle = throttle
        if not isinstance(keep_files, bool):
            raise ValueError(f'FunctionExecutor.keep_files must be True or False, not '
                             f'{keep_files!r}')
        self.keep_files = keep_files
        self.file_retention = _retention(file_retention, self.executor)
        #: The files' store: where the jobs run, through the executor's transport.
        self.store = CallStore.of(self.executor)
        if (getattr(self.executor, 'url', None) or '').startswith('ssh:') and \
                not self.store.remote:
            raise ValueError(f'FunctionExecutor: executor {self.executor.name!r} does not reach '
                             f'url {self.executor.url!r} (it runs its jobs on this machine); '
                             'over SSH, use a batch executor (slurm, sge, pbs, torque, lsf)')
        self.python = python or ('python3' if self.store.remote else sys.executable)
        #: Where the call, result and output files are (``<work directory>/functions``; on the
        #: far side for an executor over SSH).
        self.directory = self.store.directory
        self._runner = self.store.prepare()
        self._lock = threading.Lock()
        self._futures: Set[FunctionFuture[Any]] = set()
        self._shut_down = False
        self._next_prune = 0.0
        self._prune_if_due()

    # --- submitting ------------------------------------------------------------------------

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> FunctionFuture[T]:
        """Run ``fn(*args, **kwargs)`` as a job; its future. Raises `CallNotPicklable` naming
        the argument that cannot be pickled, before anything is submitted."""
        self._check_open()
        function = pickle_function(fn)
        call = pickle_call(args, kwargs)
        self._prune_if_due()
        files = CallFiles(self.directory, uuid.uuid4().hex)
        job = RecordedJob(self._job_spec(fn, files.call_id))
        calls = self._track(job, files, 1)
        try:
            # Over SSH the call file goes with the submit command, in one round trip.
            with self.store.deferring_records(), self.store.batched():
                self.store.write_call(files, call_file_text(function, [call]))
                self.executor.submit(job)
        except BaseException:
            self._forget(calls)
            raise
        future: FunctionFuture[T] = calls.futures[0]
        return future

    def map_futures(self, fn: Callable[..., T], *iterables: Iterable[Any],
                    chunksize: int = 1) -> List[FunctionFuture[T]]:
        """Submit ``fn`` over the items of ``iterables`` (as `map`) as ONE job array, each
        element running ``chunksize`` calls; the futures, in the items' order."""
        if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError(f'FunctionExecutor.map: chunksize is {chunksize!r}; allowed: an '
                             'integer of 1 or more')
        self._check_open()
        items = list(zip(*iterables))
        if not items:
            return []
        function = pickle_function(fn)
        calls = [pickle_call(item, {}, position) for position, item in enumerate(items)]
        chunks = [calls[start:start + chunksize] for start in range(0, len(calls), chunksize)]
        self._prune_if_due()
        batch = uuid.uuid4().hex
        array, jobs = recorded_array(self._job_spec(fn, f'{batch}-{INDEX_TOKEN}'), len(chunks),
                                     self.throttle)
        elements = [self._track(job, CallFiles(self.directory, f'{batch}-{index}'), len(chunk))
                    for index, (job, chunk) in enumerate(zip(jobs, chunks))]
        try:
            with self.store.deferring_records(), self.store.batched():
                for element, chunk in zip(elements, chunks):
                    self.store.write_call(element.files, call_file_text(function, chunk))
                self.executor.submit_array(array)
        except BaseException:
            for element in elements:
                self._forget(element)
            raise
        return [future for element in elements for future in element.futures]

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any],
            timeout: Optional[float] = None, chunksize: int = 1) -> Iterator[T]:
        """``fn`` over the items of ``iterables``, as ONE job array submitted at once (see
        `map_futures`); the results in order. Raises the first exception in order, and
        `TimeoutError` if a result is not there ``timeout`` seconds after this call; the calls
        not started are canceled when the iterator is closed early."""
        deadline = None if timeout is None else time.monotonic() + timeout
        futures = self.map_futures(fn, *iterables, chunksize=chunksize)

        def results() -> Iterator[T]:
            try:
                for future in futures:
                    left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                    yield future.result(timeout=left)
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def recover(self, native_id: str) -> List[FunctionFuture[Any]]:
        """The futures of the calls job ``native_id`` runs (one for a ``submit``, the chunk's
        for a ``map`` element), submitted by any process with this executor's work directory;
        see `psij.functions.recovery`."""
        return recover(self.executor, native_id, self.store, self.keep_files)

    def prune(self) -> int:
        """Remove the files of the functions directory older than `file_retention` (but
        those of this executor's calls in flight, and the runner); how many."""
        with self._lock:
            keep = {future.call_id for future in self._futures}
        return self.store.prune(self.file_retention, keep)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Submit nothing more; with ``cancel_futures``, cancel the calls not started; with
        ``wait``, return once every future is done. Running jobs are not canceled."""
        with self._lock:
            self._shut_down = True
            futures = list(self._futures)
        if cancel_futures:
            for future in futures:
                future.cancel()
        if wait:
            for future in futures:
                try:
                    future.exception()
                except BaseException:  # a canceled future raises CancelledError here
                    pass

    # --- helpers ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._shut_down:
            raise RuntimeError('cannot schedule new futures after shutdown')

    def _prune_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL
        try:
            removed = self.prune()
        except OSError as error:
            logger.warning('cannot remove old function files from %s: %s', self.directory,
                           error)
            return
        if removed:
            logger.info('removed %d function files older than %.0f s from %s', removed,
                        self.file_retention, self.directory)

    def _job_spec(self, fn: Callable[..., Any], call_id: str) -> JobSpec:
        spec = copy.deepcopy(self.spec)
        files = CallFiles(self.directory, call_id)
        spec.executable = self.python
        spec.arguments = ['-u', str(self._runner), str(files.call)]
        spec.stdout_path = files.stdout
        spec.stderr_path = files.stderr
        if spec.name is None:
            spec.name = _job_name(fn)
        return spec

    def _track(self, job: RecordedJob, files: CallFiles, count: int) -> JobCalls:
        name, store = self.executor.name, self.store

        def record(job: Job, native_id: str) -> None:
            store.record_native_id(name, native_id, files.call_id, count)

        # Recorded the moment it has a native id: also a job psij held and sends later.
        job.on_native_id = record
        calls = JobCalls(job, files, count, self.store, self.keep_files)
        job.set_job_status_callback(calls.status_changed)
        with self._lock:
            for future in calls.futures:
                self._futures.add(future)
                future.add_done_callback(self._done)
        return calls

    def _done(self, future: 'Any') -> None:
        with self._lock:
            self._futures.discard(future)

    def _forget(self, calls: JobCalls) -> None:
        """A submission that failed: its futures are dropped and its call file removed."""
        with self._lock:
            for future in calls.futures:
                self._futures.discard(future)
        try:
            self.store.remove([calls.files.call])
        except OSError:
            pass

    @property
    def work_directory(self) -> pathlib.Path:
        """The executor's work directory (as given: on this machine's terms; see
        `directory` for where the files are)."""
        return self.executor.config.work_directory

    def __repr__(self) -> str:
        return f'FunctionExecutor({self.executor!r}, python={self.python!r})'


def _retention(value: Optional[float], executor: JobExecutor) -> float:
    """``FunctionExecutor.file_retention``, checked; None: the executor config's, else
    `DEFAULT_RETENTION`."""
    if value is None:
        value = getattr(executor.config, 'file_retention', None) or DEFAULT_RETENTION
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f'FunctionExecutor.file_retention is {value!r}; allowed: None or a '
                         'number of seconds greater than 0')
    return float(value)
