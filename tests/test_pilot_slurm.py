"""The pilot executor (`psij.pilot`) on the REAL Slurm cluster (one node that Slurm counts
as 8 CPUs, on 2 real cores: the allocations ask for 1 or 2 cores each, so two run at once).
Each test's pilot has a name of its own; its allocations are the Slurm jobs
``pilot-<name>``, canceled in the teardown. Under CI=true a missing cluster fails these
tests (`real_tools.require_slurm`).

Times: about 45 s in all (12 to 15 s of it the 500 tasks); the time-limit test (Slurm's
smallest limit is one minute) is marked ``slow``.
"""

import pathlib
import subprocess
import time
import uuid
from typing import Any, Dict, Iterator

import pytest
from pilot_checks import (
    allocation_of_running_task,
    logged_task,
    ran_once_each,
    runs_by_task,
    submitter_killed_and_another_attaching,
    task_id,
    wait_all,
    wait_for,
)
from pilot_load import load_logging_task, never_oversubscribed, starts
from real_tools import require_slurm

from psij import Job, JobSpec
from psij.batch import BatchSchedulerExecutorConfig
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor


def settings_for(work_dir: pathlib.Path, name: str, **overrides: Any) -> Dict[str, Any]:
    settings: Dict[str, Any] = dict(executor='slurm', name=name, cores_per_node=1,
                                    idle_timeout=3, max_allocations=2, duration=120,
                                    poll_interval=0.1, work_directory=str(work_dir))
    settings.update(overrides)
    return settings


def make_pilot(settings: Dict[str, Any]) -> PilotJobExecutor:
    provider = BatchSchedulerExecutorConfig(work_directory=settings['work_directory'],
                                            queue_polling_interval=3.0)
    return PilotJobExecutor(config=PilotExecutorConfig(provider_config=provider, **settings))


@pytest.fixture
def name() -> Iterator[str]:
    require_slurm()
    value = f'pt{uuid.uuid4().hex[:8]}'
    yield value
    subprocess.run(['scancel', f'--name=pilot-{value}'], capture_output=True, timeout=30)


@pytest.fixture
def logs(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / 'locks').mkdir()
    return tmp_path


def squeue_names() -> str:
    return subprocess.run(['squeue', '--noheader', '--format=%j'], capture_output=True,
                          text=True, timeout=30).stdout


def sbatch_calls(name: str) -> int:
    """The jobs of pilot ``name`` in Slurm's accounting: one per sbatch call."""
    output = subprocess.run(['sacct', '--noheader', '--allocations', '--parsable2',
                             '--starttime=now-2hours', f'--name=pilot-{name}',
                             '--format=JobID'], capture_output=True, text=True, check=True,
                            timeout=30).stdout
    return len(output.split())


def test_five_hundred_tasks_of_1_and_2_cores_through_two_allocations(
        work_dir: pathlib.Path, name: str, logs: pathlib.Path) -> None:
    # Two allocations of 2 cores (the node has room for both at once); a third of the tasks
    # take both cores of theirs. 20 ms each: about 5 s of work per allocation, so that both
    # take part, and a start can see the markers of the tasks still running beside it.
    pilot = make_pilot(settings_for(work_dir, name, cores_per_node=2))
    jobs = [load_logging_task(logs, '$SLURM_JOB_ID', 2 if index % 3 == 0 else 1, 0.02)
            for index in range(500)]
    for job in jobs:
        pilot.submit(job)
    wait_all(jobs, 120)
    assert [job.status.state for job in jobs] == [JobState.COMPLETED] * len(jobs)
    logged = [start.task_id for start in starts(logs)]
    assert sorted(logged) == sorted(task_id(job) for job in jobs)  # each exactly once
    records = pilot.pilot.allocations.records()
    assert len(records) == 2 and pilot.pilot.allocations.submissions == 2
    native_ids = {str(record['native_id']) for record in records.values()}
    # Each allocation has one worker: its job id names it; neither ran more than 2 cores.
    assert set(never_oversubscribed(logs, 2)) == native_ids
    used = {str(job.status.metadata['allocation']) for job in jobs
            if job.status.metadata is not None}
    assert used == set(records)
    # Slurm's own count: two jobs, i.e. two sbatch calls for 500 tasks.
    wait_for('both allocations in the accounting', lambda: sbatch_calls(name) >= 2, 20)
    assert sbatch_calls(name) == 2


def test_a_scanceled_allocation_s_tasks_finish_elsewhere_never_twice_at_once(
        work_dir: pathlib.Path, name: str, logs: pathlib.Path) -> None:
    pilot = make_pilot(settings_for(work_dir, name))
    # They ignore SIGTERM: the canceled allocation's worker must see them killed before it
    # ends, or the flock would catch a second run starting while the first still holds it.
    # Longer than the worker's wait for them (SIGKILL comes 2 s after the ignored SIGTERM).
    jobs = [logged_task(logs / 'log', logs / 'locks', 6, ignore_term=True) for _ in range(4)]
    for job in jobs:
        pilot.submit(job)
    wait_for('a task running', lambda: allocation_of_running_task(pilot) is not None, 30)
    key = allocation_of_running_task(pilot)
    assert key is not None
    native_id = pilot.pilot.allocations.records()[key]['native_id']
    subprocess.run(['scancel', str(native_id)], check=True, timeout=30)
    wait_all(jobs, 55)
    ran_once_each(jobs, logs / 'log')
    again = [job for job in jobs if '2 end' in runs_by_task(logs / 'log')[task_id(job)]]
    assert again, 'no task ran again after its allocation was canceled'
    ended = pilot.pilot.allocations.records()[key]['ended']
    assert ended is not None and ended['state'] in ('CANCELED', 'FAILED'), ended


def test_the_idle_allocation_ends(work_dir: pathlib.Path, name: str) -> None:
    pilot = make_pilot(settings_for(work_dir, name, max_allocations=1))
    job = Job(JobSpec('/bin/true'))
    pilot.submit(job)
    wait_all([job], 30)
    assert job.status.state == JobState.COMPLETED
    started = time.monotonic()
    wait_for('the allocation leaving the queue', lambda: f'pilot-{name}' not in squeue_names(),
             20)
    assert time.monotonic() - started >= 1  # it stayed for its idle time, then ended
    wait_for('its end recorded', lambda: all(
        record['ended'] is not None and record['ended']['state'] == 'COMPLETED'
        for record in pilot.pilot.allocations.records().values()), 20)


def test_the_submitter_killed_and_another_process_carries_on(work_dir: pathlib.Path,
                                                             name: str) -> None:
    settings = settings_for(work_dir, name)
    submitter_killed_and_another_attaching(make_pilot(settings), settings)


@pytest.mark.slow
def test_an_allocation_reaching_its_time_limit(work_dir: pathlib.Path, name: str,
                                               logs: pathlib.Path) -> None:
    pilot = make_pilot(settings_for(work_dir, name, duration=60, max_allocations=1))
    jobs = [logged_task(logs / 'log', logs / 'locks', 45) for _ in range(2)]
    for job in jobs:
        pilot.submit(job)
    wait_all(jobs, 200)
    ran_once_each(jobs, logs / 'log')
    second = runs_by_task(logs / 'log')[task_id(jobs[1])]
    assert second[0] == '1 start' and '2 end' in second, second
    ended = [record['ended'] for record in pilot.pilot.allocations.records().values()]
    assert any(end is not None and 'time limit' in str(end.get('message')) for end in ended)
