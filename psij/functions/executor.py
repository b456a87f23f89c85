"""`FunctionExecutor`: a `concurrent.futures.Executor` whose calls are psij jobs.

Each ``submit`` is one job; ``map`` over N items is ONE array submission
(`psij.JobArray`) of ``ceil(N / chunksize)`` elements, each running ``chunksize`` calls one
after another. Every job runs ``PYTHON -u <work directory>/functions/runner.py CALL_FILE``
(see `psij.functions.runner`) with the base `JobSpec`'s resources, attributes, launcher,
environment and directory. The cap on jobs in flight of the executor's config
(``max_in_flight``) applies as to any job; ``throttle`` caps the running elements of each map.
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

from psij.functions.calls import (
    CallFiles,
    functions_directory,
    install_runner,
    pickle_call,
    pickle_function,
    record_native_id,
    write_call_file,
)
from psij.functions.future import FunctionFuture, JobCalls
from psij.functions.recovery import recover
from psij.job import Job
from psij.job_array import INDEX_TOKEN, JobArray
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec

logger = logging.getLogger('psij')

T = TypeVar('T')
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

    :param executor: the psij executor: a name (``'local'``, ``'slurm'``...) or a
        `JobExecutor` already made.
    :param url: with a name: the executor's url. Executors over SSH are not supported (the
        call files are written on this machine).
    :param config: with a name: the executor's config (its ``work_directory`` holds the call
        files, and must be visible from the nodes; ``max_in_flight`` caps the jobs in flight).
    :param spec: the base of every job: resources, attributes (``duration``, queue,
        custom attributes), launcher, environment, directory. Its executable, arguments and
        stream paths must be unset.
    :param python: the Python that runs the functions on the nodes (``sys.executable`` by
        default); it must have the submitter's major.minor version and cloudpickle.
    :param throttle: at most this many elements of each ``map`` run at once (None: no limit).
    """

    def __init__(self, executor: Union[str, JobExecutor] = 'local', *,
                 url: Optional[str] = None, config: Optional[JobExecutorConfig] = None,
                 spec: Optional[JobSpec] = None, python: Optional[str] = None,
                 throttle: Optional[int] = None) -> None:
        if (url or getattr(executor, 'url', None) or '').startswith('ssh:'):
            raise ValueError(f'FunctionExecutor: url {url or getattr(executor, "url", "")!r}: '
                             'executors over SSH are not supported (call files are written on '
                             'this machine); run the FunctionExecutor on the cluster\'s login '
                             'node')
        if isinstance(executor, JobExecutor):
            if url is not None or config is not None:
                raise ValueError('FunctionExecutor: give url and config only with an executor '
                                 'name, not with a JobExecutor')
            self.executor = executor
        elif isinstance(executor, str):
            self.executor = JobExecutor.get_instance(executor, url=url, config=config)
        else:
            raise TypeError('FunctionExecutor.executor must be an executor name or a '
                            f'JobExecutor, not {type(executor).__name__}')
        self.spec = _check_base_spec(spec)
        if python is not None and (not isinstance(python, str) or not python):
            raise ValueError(f'FunctionExecutor.python must be a non-empty path or command '
                             f'name, not {python!r}')
        self.python = python or sys.executable
        if throttle is not None and (isinstance(throttle, bool) or not isinstance(throttle, int)
                                     or throttle < 1):
            raise ValueError(f'FunctionExecutor.throttle is {throttle!r}; allowed: None or an '
                             'integer of 1 or more')
        self.throttle = throttle
        #: Where the call, result and output files are (``<work directory>/functions``).
        self.directory = functions_directory(self.executor.config.work_directory)
        self._runner = install_runner(self.directory)
        self._lock = threading.Lock()
        self._futures: Set[FunctionFuture[Any]] = set()
        self._shut_down = False

    # --- submitting ------------------------------------------------------------------------

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> FunctionFuture[T]:
        """Run ``fn(*args, **kwargs)`` as a job; its future. Raises `CallNotPicklable` naming
        the argument that cannot be pickled, before anything is submitted."""
        self._check_open()
        function = pickle_function(fn)
        call = pickle_call(args, kwargs)
        files = CallFiles(self.directory, uuid.uuid4().hex)
        job = Job(self._job_spec(fn, files.call_id))
        calls = self._track(job, files, 1)
        write_call_file(files, function, [call])
        try:
            self.executor.submit(job)
        except BaseException:
            self._forget(calls)
            raise
        self._record_if_known(calls)
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
        batch = uuid.uuid4().hex
        array = JobArray(self._job_spec(fn, f'{batch}-{INDEX_TOKEN}'), len(chunks),
                         throttle=self.throttle)
        elements = [self._track(job, CallFiles(self.directory, f'{batch}-{index}'), len(chunk))
                    for index, (job, chunk) in enumerate(zip(array.jobs, chunks))]
        for element, chunk in zip(elements, chunks):
            write_call_file(element.files, function, chunk)
        try:
            self.executor.submit_array(array)
        except BaseException:
            for element in elements:
                self._forget(element)
            raise
        for element in elements:
            self._record_if_known(element)
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
        return recover(self.executor, native_id, self.directory)

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

    def _track(self, job: Job, files: CallFiles, count: int) -> JobCalls:
        name = self.executor.name

        def record(job: Job) -> None:
            record_native_id(self.directory, name, str(job.native_id), files.call_id, count)

        calls = JobCalls(job, files, count, on_native_id=record)
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
        for path in (calls.files.call,):
            try:
                path.unlink()
            except OSError:
                pass

    def _record_if_known(self, calls: JobCalls) -> None:
        # The job's callback records the id when the job moves; a job that got its id without
        # a status change is recorded here (at most once either way: see JobCalls).
        if calls.job.native_id is not None:
            calls.status_changed(calls.job, calls.job.status)

    @property
    def work_directory(self) -> pathlib.Path:
        """The executor's work directory."""
        return self.executor.config.work_directory

    def __repr__(self) -> str:
        return f'FunctionExecutor({self.executor!r}, python={self.python!r})'
