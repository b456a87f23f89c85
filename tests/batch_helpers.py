"""Helpers shared by the tests of the batch executors (Slurm, Grid Engine, LSF, PBS, Torque):
waiting for a job, attaching to it from another process, and golden job scripts."""

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Mapping

from psij import Job, JobExecutor, JobSpec, JobState, JobStatus
from psij.batch import JobScript, ScriptInputs

# Run by `attach_elsewhere` in a fresh interpreter: attach to a job by native id and report
# the state right after attach and the status it ends with.
_ATTACH_SCRIPT = '''
import json, sys
from psij import Job, JobExecutor
from psij.batch import BatchSchedulerExecutorConfig
name, work_directory, native_id, settings, wait = sys.argv[1:6]
config = BatchSchedulerExecutorConfig(work_directory=work_directory, **json.loads(settings))
executor = JobExecutor.get_instance(name, config=config)
job = Job()
executor.attach(job, native_id)
first = job.status.state.value
status = job.wait(timeout=float(wait))
print(json.dumps({'first': first, 'state': status and status.state.value,
                  'exit_code': status and status.exit_code,
                  'message': status and status.message}))
'''


def recorded_states(job: Job) -> List[JobState]:
    """A list that receives every state the job's callback is given from now on."""
    seen: List[JobState] = []
    job.set_job_status_callback(lambda _job, status: seen.append(status.state))
    return seen


def final_status(job: Job, timeout: float = 60.0) -> JobStatus:
    """The job's final status; the test fails if it is not final within ``timeout``."""
    status = job.wait(timeout=timeout)
    assert status is not None, f'job {job.native_id} not final after {timeout} s: {job.status}'
    return status


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; the test fails, naming ``what``, after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'{what} did not happen within {timeout} s'
        time.sleep(0.05)


def submit_and_wait_until_running(executor: JobExecutor, job: Job, started: pathlib.Path,
                                  timeout: float = 60.0) -> None:
    """Submit ``job``, whose command touches ``started`` first, and wait for that file."""
    executor.submit(job)
    wait_until(started.exists, 'the start of the job', timeout)


def attach_elsewhere(executor_name: str, work_directory: pathlib.Path, native_id: str,
                     settings: Mapping[str, float], wait: float = 90.0,
                     timeout: float = 150.0) -> Dict[str, Any]:
    """Attach to ``native_id`` from another Python process with the same work directory and
    `BatchSchedulerExecutorConfig` ``settings``; what it saw, as ``first`` (the state right
    after attach), ``state``, ``exit_code`` and ``message``. The child inherits this
    process's environment (PATH, so a test double on it is reached too)."""
    completed = subprocess.run(
        [sys.executable, '-c', _ATTACH_SCRIPT, executor_name, str(work_directory), native_id,
         json.dumps(dict(settings)), str(wait)],
        capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stderr
    result: Dict[str, Any] = json.loads(completed.stdout)
    return result


# --- golden batch scripts ----------------------------------------------------------------

#: The job id golden scripts are rendered with (file names in the scripts use it).
GOLDEN_JOB_ID = '00000000-0000-4000-8000-000000000000'


def golden_job(spec: JobSpec) -> Job:
    """A job of ``spec`` with the fixed id of golden scripts."""
    job = Job(spec)
    job._id = GOLDEN_JOB_ID
    return job


def check_golden(script: str, path: pathlib.Path, case: str) -> None:
    """``script`` must equal the golden file ``path``; with ``PSIJ_UPDATE_GOLDEN=1`` the file
    is rewritten first (review the diff)."""
    if os.environ.get('PSIJ_UPDATE_GOLDEN') == '1':
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
    assert script == path.read_text(), f'{case}: script differs from {path}'


def job_script(path: str, text: str = '#!/bin/bash\n') -> JobScript:
    """A `JobScript` of ``text`` written at ``path``, for the submit commands."""
    job = Job(JobSpec('/bin/true'))
    directory = pathlib.Path(path).parent
    inputs = ScriptInputs(job, directory, ['/bin/true'], directory / 'launcher.log')
    return JobScript(inputs, pathlib.PurePath(path), text)


def queued_job(executor: JobExecutor, native_id: str) -> Job:
    """A job of ``executor`` as if submitted as ``native_id`` and still queued (what a script
    that depends on it needs)."""
    job = Job(JobSpec('/bin/true'))
    job.native_id = native_id
    job.executor = executor
    job._set_status(JobStatus(JobState.QUEUED))
    return job
