"""Checks shared by the pilot tests on the local executor and on the real Slurm: tasks that
log each run (task id, attempt, start and end) under an flock of their own, so that a task
run twice at the same time leaves a ``CONCURRENT`` line that a check can find."""

import collections
import pathlib
import shlex
import time
from typing import Dict, List, Optional

from psij import Job, JobSpec, ResourceSpecV1
from psij.job_state import JobState
from psij.pilot import PilotJobExecutor


def logged_task(log: pathlib.Path, locks: pathlib.Path, seconds: float, exit_code: int = 0,
                cores: int = 1) -> Job:
    """A task that logs ``start``/``end`` lines with its id and attempt to ``log``, holding
    ``locks/<task id>`` (flock -n) meanwhile, sleeps ``seconds``, exits ``exit_code``."""
    body = (f'echo "$PSIJ_PILOT_TASK_ID $PSIJ_PILOT_ATTEMPT start" >> {shlex.quote(str(log))}; '
            f'sleep {seconds}; '
            f'echo "$PSIJ_PILOT_TASK_ID $PSIJ_PILOT_ATTEMPT end" >> {shlex.quote(str(log))}')
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
