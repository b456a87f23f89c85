"""Futures of function jobs submitted by another process (a notebook that restarted).

The submitting process writes down, for every job that got a native id, which call files the
job runs (`psij.functions.calls.record_native_id`). `recover` reads that record, makes the
futures of the job's calls and settles them from the result file when it is already there
(whatever became of the job since: the runner wrote it as the job's last act). Otherwise it
attaches a `Job` to the native id and settles them when the job is final, as in the submitting
process.
"""

import logging
import pathlib
from typing import Any, List

from psij.functions.calls import CallFiles, find_native_id, read_result
from psij.functions.future import FunctionFuture, JobCalls
from psij.job import Job
from psij.job_executor import JobExecutor

logger = logging.getLogger('psij')


def recover(executor: JobExecutor, native_id: str,
            directory: pathlib.Path) -> List[FunctionFuture[Any]]:
    """The futures of the calls job ``native_id`` of ``executor`` runs, from the function
    files in ``directory`` (``<work directory>/functions``); `LookupError` if no function job
    of that id was submitted with that work directory."""
    if not isinstance(native_id, str) or not native_id:
        raise ValueError(f'recover: native_id must be a non-empty string, not {native_id!r}')
    record = find_native_id(directory, executor.name, native_id)
    files = CallFiles(directory, str(record['call_id']))
    job = Job()
    calls = JobCalls(job, files, int(record['count']))
    result = read_result(files)
    if result is not None:
        try:
            executor.attach(job, native_id)
        except Exception:  # the result is known; the job is only there to be looked at
            logger.debug('recover: could not attach job %s', native_id, exc_info=True)
        calls.settle(result, job.status)
        return list(calls.futures)
    job.set_job_status_callback(calls.status_changed)
    executor.attach(job, native_id)
    return list(calls.futures)
