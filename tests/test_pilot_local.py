"""The pilot executor (`psij.pilot`) with the local executor providing allocations: the
tasks' states and exit codes, placement by cores, cancels, an allocation canceled under
its tasks, the submitting process killed and another attaching, idle allocations ending,
and bad inputs. About 40 s in all."""

import pathlib
import time
from typing import Iterator, List, Optional, Set, Tuple

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
from pilot_checks import (
    local_pilot as make_pilot,
)

from psij import Job, JobSpec, ResourceSpecV1
from psij.exceptions import InvalidJobException
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor
from psij.pilot.executor import QUEUED_AGAIN, RUNNING_AGAIN, WAITING_AGAIN


@pytest.fixture
def pilot(work_dir: pathlib.Path) -> Iterator[PilotJobExecutor]:
    executor = make_pilot(work_dir, 'test')
    yield executor
    executor.pilot.allocations.cancel_all()


@pytest.fixture
def logs(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / 'locks').mkdir()
    return tmp_path





def test_mixed_core_counts_all_end_with_their_exit_codes(pilot: PilotJobExecutor,
                                                          logs: pathlib.Path) -> None:
    jobs = [logged_task(logs / 'log', logs / 'locks', 0.2, exit_code=index % 3,
                        cores=1 + index % 2) for index in range(30)]
    seen: List[JobState] = []
    jobs[0].set_job_status_callback(lambda job, status: seen.append(status.state))
    for job in jobs:
        pilot.submit(job)
        assert job.native_id is not None and job.native_id.startswith('test/')
    wait_all(jobs, 40)
    for index, job in enumerate(jobs):
        assert job.status.exit_code == index % 3
        assert job.status.state == (JobState.COMPLETED if index % 3 == 0 else JobState.FAILED)
    assert seen == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
    runs = runs_by_task(logs / 'log')
    assert all(runs[task_id(job)] == ['1 start', '1 end'] for job in jobs)
    records = pilot.pilot.allocations.records()
    assert len(records) == 2  # max_allocations, never more
    used = {str(job.status.metadata['allocation']) for job in jobs
            if job.status.metadata is not None}
    assert used == set(records)


def test_two_cores_per_worker_are_never_oversubscribed(work_dir: pathlib.Path,
                                                        logs: pathlib.Path) -> None:
    pilot = make_pilot(work_dir, 'packing', max_allocations=1)
    # Each task records how many tasks held the worker's cores when it started.
    jobs = []
    for index in range(8):
        cores = 2 if index % 4 == 0 else 1
        script = (f'n=$(ls {logs}/running | wc -l); echo "{cores} $n" >> {logs}/load; '
                  f'touch {logs}/running/$PSIJ_PILOT_TASK_ID.{cores}; sleep 0.3; '
                  f'rm {logs}/running/$PSIJ_PILOT_TASK_ID.{cores}')
        jobs.append(Job(JobSpec('/bin/sh', ['-c', script], resources=ResourceSpecV1(
            process_count=1, cpu_cores_per_process=cores))))
    (logs / 'running').mkdir()
    for job in jobs:
        pilot.submit(job)
    wait_all(jobs, 30)
    assert all(job.status.state == JobState.COMPLETED for job in jobs)
    for line in (logs / 'load').read_text().splitlines():
        cores, others = map(int, line.split())
        assert cores + others <= 2 or cores == 1 and others <= 1, line
    pilot.pilot.allocations.cancel_all()


def test_cancel_of_a_queued_and_of_a_running_task(pilot: PilotJobExecutor) -> None:
    running = [Job(JobSpec('/bin/sleep', ['30'])) for _ in range(4)]
    for job in running:
        pilot.submit(job)
    wait_for('two tasks running',
             lambda: sum(job.status.state == JobState.ACTIVE for job in running) >= 2, 20)
    active = next(job for job in running if job.status.state == JobState.ACTIVE)
    queued = Job(JobSpec('/bin/true'))
    pilot.submit(queued)
    queued.cancel()
    active.cancel()
    assert queued.wait(timeout=10) is not None and queued.status.state == JobState.CANCELED
    assert active.wait(timeout=10) is not None and active.status.state == JobState.CANCELED
    assert pilot.pilot.outcomes.results[task_id(queued)]['state'] == 'CANCELED'
    for job in running:
        job.cancel()
    wait_all(running, 15)


def test_a_canceled_allocation_s_tasks_finish_elsewhere_never_twice_at_once(
        pilot: PilotJobExecutor, logs: pathlib.Path) -> None:
    jobs = [logged_task(logs / 'log', logs / 'locks', 1.5) for _ in range(8)]
    for job in jobs:
        pilot.submit(job)
    wait_for('a task running', lambda: allocation_of_running_task(pilot) is not None, 20)
    key = allocation_of_running_task(pilot)
    assert key is not None
    pilot.pilot.allocations.jobs()[key].cancel()
    # Its tasks say that they wait, then run, again. Which message a sample sees depends on
    # timing: a task the submitting process had not yet seen ACTIVE waits again QUEUED (saying
    # QUEUED_AGAIN, not WAITING_AGAIN's "still ACTIVE") and then runs again, and a message
    # can be replaced within one poll when the other allocation's worker claims the task at
    # once. So the samples are checked for sense, and the second run itself is checked from
    # the tasks' log below.
    seen: Set[Tuple[JobState, Optional[str]]] = set()

    def settled() -> bool:
        seen.update((job.status.state, job.status.message) for job in jobs)
        return all(job.status.state.final for job in jobs)
    wait_for('every task ended', settled, 50)
    assert {message for _, message in seen} <= {None, WAITING_AGAIN, QUEUED_AGAIN,
                                                RUNNING_AGAIN}, seen
    assert (JobState.COMPLETED, RUNNING_AGAIN) not in seen and \
        (JobState.QUEUED, RUNNING_AGAIN) not in seen, seen
    assert (JobState.QUEUED, WAITING_AGAIN) not in seen and \
        (JobState.ACTIVE, QUEUED_AGAIN) not in seen, seen
    wait_all(jobs, 50)
    ran_once_each(jobs, logs / 'log')
    # (A task killed before its first line shows only its second run.)
    again = [job for job in jobs if '2 end' in runs_by_task(logs / 'log')[task_id(job)]]
    assert again, 'no task ran a second time after its allocation was canceled'
    ended = pilot.pilot.allocations.records()[key]['ended']
    assert ended is not None and ended['state'] == 'CANCELED'


def test_attempts_run_out_and_the_task_fails_saying_why(work_dir: pathlib.Path) -> None:
    pilot = make_pilot(work_dir, 'attempts', max_attempts=1, max_allocations=1)
    job = Job(JobSpec('/bin/sleep', ['30']))
    pilot.submit(job)
    wait_for('the task running', lambda: job.status.state == JobState.ACTIVE, 20)
    key = allocation_of_running_task(pilot)
    assert key is not None
    pilot.pilot.allocations.jobs()[key].cancel()
    status = job.wait(timeout=20)
    assert status is not None and status.state == JobState.FAILED, status
    assert status.message is not None
    assert f'allocation {key}' in status.message and 'ended CANCELED' in status.message
    assert '1 of at most 1' in status.message


def test_the_submitter_killed_and_another_process_carries_on(work_dir: pathlib.Path) -> None:
    pilot = make_pilot(work_dir, 'survivor')
    submitter_killed_and_another_attaching(pilot, dict(
        executor='local', name='survivor', cores_per_node=2, idle_timeout=3,
        poll_interval=0.1, work_directory=str(work_dir)))


def test_an_idle_allocation_ends_and_a_new_task_gets_a_new_one(
        pilot: PilotJobExecutor) -> None:
    first = Job(JobSpec('/bin/true'))
    pilot.submit(first)
    wait_all([first], 20)
    records = pilot.pilot.allocations.records
    wait_for('the idle allocation ended', lambda: all(
        record['ended'] is not None for record in records().values()), 15)
    assert len(records()) == 1
    time.sleep(1)
    assert len(records()) == 1  # nothing waits: nothing submitted
    second = Job(JobSpec('/bin/true'))
    pilot.submit(second)
    wait_all([second], 20)
    assert second.status.state == JobState.COMPLETED
    assert len(records()) == 2


def test_bad_inputs_are_refused_naming_the_field(pilot: PilotJobExecutor,
                                                 work_dir: pathlib.Path) -> None:
    with pytest.raises(InvalidJobException, match='ResourceSpecV1.node_count'):
        pilot.submit(Job(JobSpec('/bin/true', resources=ResourceSpecV1(node_count=2))))
    with pytest.raises(InvalidJobException, match='cores_per_node'):
        pilot.submit(Job(JobSpec('/bin/true', resources=ResourceSpecV1(
            process_count=3))))
    with pytest.raises(InvalidJobException, match="not a task of pilot 'test'"):
        pilot.attach(Job(), 'other/123')
    with pytest.raises(InvalidJobException, match='has no task'):
        pilot.attach(Job(), 'test/123')
    with pytest.raises(ValueError, match='PilotExecutorConfig.max_allocations'):
        PilotExecutorConfig(max_allocations=0)
    with pytest.raises(ValueError, match='PilotExecutorConfig.name'):
        PilotExecutorConfig(name='a/b')
    with pytest.raises(ValueError, match='PilotExecutorConfig.nodes'):
        PilotExecutorConfig(executor='local', nodes=0)
    with pytest.raises(TypeError, match='PilotExecutorConfig.idle_timeout'):
        PilotExecutorConfig(idle_timeout='soon')  # type: ignore[arg-type]
    assert not pilot.pilot.allocations.records()  # nothing was queued: nothing submitted


def test_a_task_no_worker_can_hold_fails_saying_why(work_dir: pathlib.Path) -> None:
    # No cores_per_node: submit cannot refuse it; the worker (this machine's cores) does.
    pilot = make_pilot(work_dir, 'toolarge', cores_per_node=None, max_allocations=1)
    big = Job(JobSpec('/bin/true', resources=ResourceSpecV1(process_count=4096)))
    small = Job(JobSpec('/bin/true'))
    pilot.submit(big)
    pilot.submit(small)
    wait_all([big, small], 20)
    assert small.status.state == JobState.COMPLETED
    assert big.status.state == JobState.FAILED and big.status.exit_code is None
    assert big.status.message is not None
    assert 'can never run in this pilot' in big.status.message
    assert 'needs 4096 cores' in big.status.message
    # Nothing it could run is left: the allocation ends after its idle time.
    wait_for('the allocation ended', lambda: all(
        record['ended'] is not None for record in pilot.pilot.allocations.records().values()),
        15)
