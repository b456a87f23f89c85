"""The futures of function jobs, and how they learn their results from a job's end.

One job runs one call (``submit``) or a chunk of calls (an element of ``map``); `JobCalls` ties
the job to the futures of its calls. When the job is final, the result file decides: a whole
result file wins over the job's state (it is the runner's own record of every call; the local
executor, for one, cannot know the exit code of a job whose submitting process ended), a result
file with an error raises `RunnerError`, and no result file raises `NoResultError` with the
job's final status (a time limit, a cancel, a kill...). The files are read through the
executor's `CallStore` (over SSH, on the far side); once a result is delivered, the call's call
and result files are removed, unless the executor keeps them.
"""

import concurrent.futures
import logging
import pathlib
import time
from typing import Any, List, Optional, TypeVar

from psij.functions.calls import CallFiles, Result, outcome_value
from psij.functions.errors import FunctionJobError, NoResultError, RunnerError
from psij.functions.store import CallStore
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus

logger = logging.getLogger('psij')

T = TypeVar('T')
#: How long a job that COMPLETED may take to show its result file (a shared file system may
#: show the rename a moment after the job's end is known), in seconds.
RESULT_GRACE = 2.0
#: How long a result file that cannot be read (a dropped SSH connection) is tried again.
READ_PATIENCE = 60.0


class FunctionFuture(concurrent.futures.Future[T]):
    """The future of one call of a function, run by a psij job (`job`).

    `cancel` cancels a call whose job has not started (for a ``map`` chunk, the job is
    canceled once every call of the chunk is); a started call cannot be canceled this way
    (``future.job.cancel()`` kills it: the future then raises `NoResultError`).
    """

    def __init__(self, calls: 'JobCalls', position: int) -> None:
        super().__init__()
        self._calls = calls
        #: The position of this call among the calls its job runs (0 for ``submit``).
        self.position = position

    @property
    def job(self) -> Job:
        """The psij job that runs this call."""
        return self._calls.job

    @property
    def native_id(self) -> Optional[str]:
        """The job's native id, once it has one (keep it to `FunctionExecutor.recover` the
        result from another process)."""
        return self._calls.job.native_id

    @property
    def call_id(self) -> str:
        """The name of the job's files in the work directory (``<call_id>.call``...)."""
        return self._calls.files.call_id

    @property
    def stdout_path(self) -> pathlib.Path:
        """The file holding the job's standard output (shared by the calls of a chunk)."""
        return self._calls.files.stdout

    @property
    def stderr_path(self) -> pathlib.Path:
        """The file holding the job's standard error (shared by the calls of a chunk)."""
        return self._calls.files.stderr

    @property
    def result_path(self) -> pathlib.Path:
        """The result file the job writes."""
        return self._calls.files.result

    def running(self) -> bool:
        """True while the job is ACTIVE and this future has no result yet."""
        return not self.done() and self._calls.job.status.state == JobState.ACTIVE

    def cancel(self) -> bool:
        """Cancel the call if its job has not started; True if the future is now canceled."""
        if self.done():
            return self.cancelled()
        if self._calls.job.status.state == JobState.ACTIVE or not super().cancel():
            return False
        # Moves the future to CANCELLED_AND_NOTIFIED, which wait() and as_completed() watch.
        self.set_running_or_notify_cancel()
        self._calls.one_canceled()
        return True

    def __repr__(self) -> str:
        return (f'<FunctionFuture {self._state.lower()} job={self._calls.job.id} '
                f'native_id={self.native_id} position={self.position}>')


def _settle(future: 'FunctionFuture[Any]', ok: bool, value: Any) -> None:
    if future.done():
        return
    try:
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
    except concurrent.futures.InvalidStateError:
        pass  # canceled meanwhile: its result is not wanted


class JobCalls:
    """A job and the futures of the ``count`` calls it runs, whose files are in ``store``.

    :param keep_files: keep the call and result files once the result is delivered.
    """

    def __init__(self, job: Job, files: CallFiles, count: int, store: CallStore,
                 keep_files: bool = False) -> None:
        self.job = job
        self.files = files
        self.store = store
        self.keep_files = keep_files
        self.futures: List[FunctionFuture[Any]] = [FunctionFuture(self, index)
                                                   for index in range(count)]

    def status_changed(self, job: Job, status: JobStatus) -> None:
        """The job's status callback."""
        if status.state.final:
            self.resolve(status)

    def _read(self) -> Optional[Result]:
        """The result file, tried again for `READ_PATIENCE` while it cannot be read."""
        deadline = time.monotonic() + READ_PATIENCE
        delay = 0.5
        while True:
            try:
                return self.store.read_result(self.files)
            except OSError as error:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning('cannot read %s yet, trying again in %.1f s: %s',
                               self.files.result, delay, error)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def one_canceled(self) -> None:
        """A future was canceled: cancel the job once all of them are."""
        if all(future.cancelled() for future in self.futures):
            self.job.cancel()

    def resolve(self, status: Optional[JobStatus] = None) -> None:
        """Settle every future from the result file (the job is final, or the file is
        there)."""
        status = status or self.job.status
        try:
            result = self._read()
            if result is None and status.state == JobState.COMPLETED:
                deadline = time.monotonic() + RESULT_GRACE
                while result is None and time.monotonic() < deadline:
                    time.sleep(0.1)
                    result = self._read()
        except (OSError, ValueError) as error:
            # Not a result, nor evidence that there is none: say where it stays.
            failure = FunctionJobError(
                f'function job {self.job.id} ({self.job.native_id}) ended {status.state}, but '
                f'its result file {self.files.result} could not be read: {error}; it stays '
                f'there (recover the job by its native id to try again)')
            for future in self.futures:
                _settle(future, False, failure)
            return
        self.settle(result, status)

    def settle(self, result: Optional[Result], status: JobStatus) -> None:
        """Settle every future from ``result`` (None: there is none) and the job's ``status``."""
        try:
            self._settle(result, status)
        finally:
            if result is not None and not self.keep_files:
                self.store.remove_delivered(self.files)

    def _settle(self, result: Optional[Result], status: JobStatus) -> None:
        if result is not None and result.error is not None:
            error = RunnerError(f'function job {self.job.id} ({self.job.native_id}) could not '
                                f'run: {result.error}', self.job, status)
            for future in self.futures:
                _settle(future, False, error)
            return
        outcomes = result.outcomes if result is not None else []
        for future in self.futures:
            if future.position < len(outcomes):
                ok, value = outcome_value(outcomes[future.position])
                _settle(future, ok, value)
                continue
            detail = ''
            if status.state == JobState.COMPLETED:
                detail = (f' (it completed, but {self.files.result} holds no result of this '
                          'call: another process may have recovered it and removed the files; '
                          'FunctionExecutor(keep_files=True) keeps them)')
            _settle(future, False, NoResultError(self.job, status, detail))
