"""Futures of function jobs submitted by another process (a notebook that restarted).

The submitting process writes down, for every job, the moment it gets its native id, which
call files the job runs (`psij.functions.store.CallStore.record_native_id`, called by
`psij.functions.recorded_job.RecordedJob`: a job that psij held and sent later is recorded
when it is sent, not when it next changes state). `recover` reads that record, makes the
futures of the job's calls and settles them from the result file when it is already there
(whatever became of the job since: the runner wrote it as the job's last act). Otherwise it
attaches a `Job` to the native id and settles them when the job is final, as in the submitting
process. Over SSH the record and the files are on the far side, read through the executor's
transport, so any machine that reaches the cluster with the same url and work directory can
recover.

A job that psij held and that was never sent (its submitter ended first) has no native id:
there is nothing to recover, and nothing runs.
"""

import logging
from typing import Any, List

from psij.functions.calls import CallFiles
from psij.functions.future import FunctionFuture, JobCalls
from psij.functions.store import CallStore
from psij.job import Job
from psij.job_executor import JobExecutor

logger = logging.getLogger('psij')


def recover(executor: JobExecutor, native_id: str, store: CallStore,
            keep_files: bool = False) -> List[FunctionFuture[Any]]:
    """The futures of the calls job ``native_id`` of ``executor`` runs, from the function
    files of ``store``; `LookupError` if no function job of that id was submitted with that
    work directory, or if its result was delivered and its files removed."""
    if not isinstance(native_id, str) or not native_id:
        raise ValueError(f'recover: native_id must be a non-empty string, not {native_id!r}')
    record = store.find_native_id(executor.name, native_id)
    files = CallFiles(store.directory, str(record['call_id']))
    job = Job()
    calls = JobCalls(job, files, int(record['count']), store, keep_files)
    result = store.read_result(files)
    if result is not None:
        try:
            executor.attach(job, native_id)
        except Exception:  # the result is known; the job is only there to be looked at
            logger.debug('recover: could not attach job %s', native_id, exc_info=True)
        calls.settle(result, job.status)
        return list(calls.futures)
    if not store.call_exists(files):
        raise LookupError(f'function job {native_id!r} of executor {executor.name!r}: its '
                          f'result was delivered and its files removed ({files.call} is '
                          'gone); FunctionExecutor(keep_files=True) keeps them')
    job.set_job_status_callback(calls.status_changed)
    executor.attach(job, native_id)
    return list(calls.futures)
