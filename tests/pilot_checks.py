"""Checks shared by the pilot tests on the local executor and on the real Slurm: tasks that
log each run (task id, attempt, start and end) under an flock of their own, so that a task
run twice at the same time leaves a ``CONCURRENT`` line that a check can find."""

import collections
import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, Dict, List, Optional

from psij import Job, JobExecutor, JobSpec, ResourceSpecV1
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor


def logged_task(log: pathlib.Path, locks: pathlib.Path, seconds: float, exit_code: int = 0,
                cores: int = 1, ignore_term: bool = False) -> Job:
    """A task that logs ``start``/``end`` lines with its id and attempt to ``log``, holding
    ``locks/<task id>`` (flock -n) meanwhile, sleeps ``seconds``, exits ``exit_code``;
    ``ignore_term``: it ignores SIGTERM (only SIGKILL ends it early)."""
    trap = "trap '' TERM; " if ignore_term else ''
    line = f'"$PSIJ_PILOT_TASK_ID $PSIJ_PILOT_ATTEMPT %s" >> {shlex.quote(str(log))}'
    body = f'{trap}echo {line % "start"}; sleep {seconds}; echo {line % "end"}'
    script = (f'exec 9>{shlex.quote(str(locks))}/"$PSIJ_PILOT_TASK_ID" && flock -n 9 || '
              f'{{ echo "$PSIJ_PILOT_TASK_ID $PSIJ_PILOT_ATTEMPT CONCURRENT" >> '
              f'{shlex.quote(str(log))}; exit 99; }}; {body}; exit {exit_code}')
    return Job(JobSpec('/bin/sh', ['-c', script],
                       resources=ResourceSpecV1(process_count=1, cpu_cores_per_process=cores)))


def runs_by_task(log: pathlib.Path) -> Dict[str, List[str]]:
    """Each task id's log lines (``'1 start'``, ``'1 end'``, ``'2 CONCURRENT'``...)."""
    runs: Dict[str, List[str]] = collections.defaultdict(list)
    if log.exists():
        for line in log.read_text().splitlines():
            task_id, attempt, what = line.split()
            runs[task_id].append(f'{attempt} {what}')
    return runs


def task_id(job: Job) -> str:
    """The task id part of a pilot task's native id."""
    assert job.native_id is not None
    return job.native_id.split('/', 1)[1]


def wait_all(jobs: List[Job], timeout: float) -> None:
    """Wait until every job is final; fail naming those that are not."""
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(timeout=max(0.1, deadline - time.monotonic()))
    late = [job for job in jobs if not job.status.state.final]
    assert not late, f'{len(late)} tasks not final after {timeout} s: {late[:3]}'


def wait_for(condition_name: str, check: 'collections.abc.Callable[[], bool]',
             timeout: float) -> None:
    """Wait until ``check()`` holds; fail naming ``condition_name`` if it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f'{condition_name}: not within {timeout} s'
        time.sleep(0.1)


def allocation_of_running_task(executor: PilotJobExecutor) -> Optional[str]:
    """The key of an allocation that holds a task now, or None."""
    for allocation, _, _ in executor.pilot.directory.claims():
        return allocation
    return None


def ran_once_each(jobs: List[Job], log: pathlib.Path) -> None:
    """Every job COMPLETED, and its log shows one whole run: no run twice at once."""
    runs = runs_by_task(log)
    for job in jobs:
        assert job.status.state == JobState.COMPLETED, job.status
        lines = runs[task_id(job)]
        assert not any('CONCURRENT' in line for line in lines), lines
        assert sum(line.endswith(' end') for line in lines) == 1, lines


_SUBMITTER = textwrap.dedent('''
    import json, sys, time
    from psij import Job, JobSpec
    from psij.pilot import PilotExecutorConfig, PilotJobExecutor
    executor = PilotJobExecutor(config=PilotExecutorConfig(**json.loads(sys.argv[1])))
    for index in range(6):
        job = Job(JobSpec('/bin/sh', ['-c', f'sleep 1; exit {index}']))
        executor.submit(job)
        print(job.native_id, flush=True)
    time.sleep(600)
''')


def submitter_killed_and_another_attaching(pilot: PilotJobExecutor,
                                           settings: Dict[str, Any]) -> None:
    """Another process submits 6 tasks (``sleep 1; exit i``) to a pilot made with
    ``settings`` and is killed (SIGKILL) once its first allocation is recorded; ``pilot``
    (the same name and work directory) attaches to the tasks by native id: each ends with
    its exit code, and the allocations the dead process left end and are released."""
    process = subprocess.Popen([sys.executable, '-c', _SUBMITTER, json.dumps(settings)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    ids = [process.stdout.readline().strip() for _ in range(6)]
    # Killed once its allocation is submitted and recorded (a kill during the submission
    # leaves a record without a native id, taken as ended after UNCONFIRMED_GRACE).
    wait_for('an allocation submitted by the first process', lambda: any(
        record.get('native_id') for record in pilot.pilot.allocations.records().values()), 30)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    jobs = []
    for native_id in ids:
        job = Job()
        pilot.attach(job, native_id)
        jobs.append(job)
    wait_all(jobs, 40)
    assert [job.status.exit_code for job in jobs] == list(range(6))
    assert [job.status.state for job in jobs] == [JobState.COMPLETED] + [JobState.FAILED] * 5
    wait_for('every allocation ended and released', lambda: all(
        record['ended'] is not None for record in pilot.pilot.allocations.records().values()),
        30)


def local_pilot(work_dir: pathlib.Path, name: str, **settings: object) -> PilotJobExecutor:
    """A pilot on the local executor: 2 cores per worker, 2 allocations, quick to idle."""
    values: Dict[str, Any] = dict(executor='local', name=name, cores_per_node=2, idle_timeout=3,
                                  max_allocations=2, poll_interval=0.1, work_directory=work_dir)
    values.update(settings)
    executor = JobExecutor.get_instance('pilot', config=PilotExecutorConfig(**values))
    assert isinstance(executor, PilotJobExecutor)
    return executor

