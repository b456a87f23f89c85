"""A pilot task's duration against the time its allocation has left (`psij.pilot.worker`,
`psij.pilot.worker_allocation`, `psij.pilot.task_needs`): a worker starts no task longer
than what is left, such a task runs in a newer allocation, and one longer than an allocation
is refused at submit; on the real Slurm, a worker takes the job's own end. About 15 s."""

import pathlib
import subprocess
import sys
import time
from datetime import timedelta
from typing import Iterator

import pytest
from pilot_checks import task_id, wait_all, wait_for
from real_tools import require_slurm

from psij import Job, JobAttributes, JobExecutor, JobSpec
from psij.exceptions import InvalidJobException
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor
from psij.pilot.allocations import worker_arguments
from psij.pilot.outcomes import ResultReader
from psij.pilot.task_needs import checked_needs, task_duration
from psij.pilot.task_queue import PilotDirectory, TaskRequest, entry_name, parse_entry_name
from psij.pilot.worker import Worker
from psij.pilot.worker_allocation import allocation_end, parse_slurm_end
from psij.resource_packing import Resources
from psij.serialize import spec_to_dict


def _spec(seconds: float, script: str = 'true') -> JobSpec:
    return JobSpec('/bin/sh', ['-c', script],
                   attributes=JobAttributes(duration=timedelta(seconds=seconds)))


@pytest.fixture
def short_pilot(work_dir: pathlib.Path) -> Iterator[PilotJobExecutor]:
    executor = JobExecutor.get_instance('pilot', config=PilotExecutorConfig(
        executor='local', name='clock', cores_per_node=2, idle_timeout=1, max_allocations=1,
        duration=8, poll_interval=0.1, work_directory=work_dir))
    assert isinstance(executor, PilotJobExecutor)
    yield executor
    executor.pilot.allocations.cancel_all()


def test_a_worker_starts_no_task_longer_than_its_allocation_has_left(
        tmp_path: pathlib.Path) -> None:
    directory = PilotDirectory(tmp_path / 'pilot')
    directory.ensure()
    # The allocation has 5 s when the worker starts, 3.5 s when it first lists the queue.
    worker = Worker(directory, 'a1', 'w1', Resources(2, 0, 0), idle_timeout=0.5,
                    poll_interval=0.05, ends=time.time() + 5)
    time.sleep(1.5)
    for name, seconds in (('short', 1), ('long', 4), ('never', 6)):
        spec = _spec(seconds)
        directory.put(name, TaskRequest(1), {'id': name, 'attempt': 1,
                                             'spec': spec_to_dict(spec)},
                      task_duration(spec))
    assert worker.run() == 0  # idle: the long task does not keep it busy
    reader = ResultReader(directory.done)
    reader.refresh()
    assert reader.results['short']['state'] == 'COMPLETED'
    # Fits an allocation, not what this one has left: queued still, for a newer one.
    assert [entry.task_id for entry in directory.queued()] == ['long']
    assert 'long' not in reader.results
    # Longer than any allocation has once its worker started: it could never run.
    never = reader.results['never']
    assert never['state'] == 'FAILED', never
    assert 'can never run in this pilot' in never['message']
    assert 'JobAttributes.duration' in never['message']
    assert 'PilotExecutorConfig.duration' in never['message']


def test_a_task_too_long_for_the_time_left_runs_in_a_newer_allocation(
        short_pilot: PilotJobExecutor) -> None:
    first = Job(_spec(4, 'sleep 3'))
    short_pilot.submit(first)
    wait_for('the first task running', lambda: first.status.state == JobState.ACTIVE, 20)
    # Its worker started before it was seen ACTIVE: 2.2 s later, under 5.8 s of the 8 are
    # left, and the second task says it needs 6.
    time.sleep(2.2)
    second = Job(_spec(6, 'sleep 0.5'))
    short_pilot.submit(second)
    wait_all([first, second], 40)
    assert first.status.state == JobState.COMPLETED, first.status
    assert second.status.state == JobState.COMPLETED, second.status
    assert first.status.metadata is not None and second.status.metadata is not None
    assert second.status.metadata['attempt'] == 1  # started once, where it had the time
    assert second.status.metadata['allocation'] != first.status.metadata['allocation']
    assert len(short_pilot.pilot.allocations.records()) == 2
    started = short_pilot.pilot.outcomes.results[task_id(second)]['started']
    assert started >= first.status.time  # the first allocation ended, idle, before


def test_a_task_no_live_allocation_has_time_for_gets_one_of_its_own(
        work_dir: pathlib.Path) -> None:
    pilot = JobExecutor.get_instance('pilot', config=PilotExecutorConfig(
        executor='local', name='room', cores_per_node=2, idle_timeout=20, max_allocations=2,
        duration=10, poll_interval=0.1, work_directory=work_dir))
    assert isinstance(pilot, PilotJobExecutor)
    try:
        first = Job(_spec(8, 'sleep 6'))
        pilot.submit(first)
        wait_for('the first task running', lambda: first.status.state == JobState.ACTIVE, 20)
        time.sleep(2.5)  # under 7.5 s left of the first allocation's 10
        second = Job(_spec(8, 'sleep 0.5'))
        pilot.submit(second)
        wait_all([first, second], 40)
        assert first.status.state == second.status.state == JobState.COMPLETED
        assert first.status.metadata is not None and second.status.metadata is not None
        assert second.status.metadata['allocation'] != first.status.metadata['allocation']
        # It did not wait for the first allocation to idle out (20 s): it ran beside it.
        started = pilot.pilot.outcomes.results[task_id(second)]['started']
        assert first.status.time is not None and started < first.status.time
    finally:
        pilot.pilot.allocations.cancel_all()


def test_submit_refuses_a_task_not_shorter_than_an_allocation(
        short_pilot: PilotJobExecutor) -> None:
    for seconds in (8, 20):
        with pytest.raises(InvalidJobException,
                           match='JobAttributes.duration.*PilotExecutorConfig.duration'):
            short_pilot.submit(Job(_spec(seconds)))
    assert not short_pilot.pilot.allocations.records()  # nothing queued: nothing submitted
    config = short_pilot.pilot_config
    # The default duration (10 minutes) says nothing: such a task fits any allocation.
    assert checked_needs(JobSpec('/bin/true'), config) == (TaskRequest(1), 0)
    assert checked_needs(_spec(2.1), config) == (TaskRequest(1), 3)  # rounded up


def test_the_queue_entry_carries_the_duration_and_reads_old_names() -> None:
    entry = parse_entry_name(entry_name('t1', TaskRequest(2, 1, 5), 90))
    assert entry is not None and entry.request == TaskRequest(2, 1, 5) and entry.duration == 90
    old = parse_entry_name('t2~1~0~0.task')
    assert old is not None and old.task_id == 't2' and old.duration == 0
    assert parse_entry_name('t3~1~0~0~x.task') is None


def test_when_the_worker_takes_its_allocation_to_end(tmp_path: pathlib.Path) -> None:
    started = 1_800_000_000.0
    assert allocation_end(None, started, {}) == float('inf')
    assert allocation_end(600, started, {}) == started + 600
    # Slurm's own end is taken when it is earlier (the clock started before the worker).
    told = {'SLURM_JOB_END_TIME': str(int(started) + 590)}
    assert allocation_end(600, started, told) == started + 590
    assert allocation_end(600, started, {'SLURM_JOB_END_TIME': str(int(started) + 700)}) \
        == started + 600
    # As `squeue -h -j ID -o %e` printed it inside a job (Slurm 22.05, the CI cluster).
    assert parse_slurm_end('2026-12-03T14:08:43\n') == time.mktime(
        (2026, 12, 3, 14, 8, 43, 0, 0, -1))
    assert parse_slurm_end('N/A\n') is None and parse_slurm_end('') is None
    config = PilotExecutorConfig(executor='local', duration=timedelta(minutes=90, seconds=0.5))
    arguments = worker_arguments(config, PilotDirectory(tmp_path), 'a1')
    assert arguments[arguments.index('--allocation-duration') + 1] == '5400.5'


_END_SEEN_IN_A_JOB = (
    'import time; from psij.pilot.worker_allocation import allocation_end; '
    'print(allocation_end(3600, time.time()) - time.time())')


def test_on_slurm_a_worker_takes_the_job_s_own_end() -> None:
    require_slurm()
    # A job of a 2-minute limit: what is left is Slurm's end, not the 3600 s given.
    result = subprocess.run(['srun', '--time=2', '-n', '1', sys.executable, '-c',
                             _END_SEEN_IN_A_JOB], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    left = float(result.stdout)
    assert 60 < left <= 120, result.stdout
