"""Pilot tasks with `Job.depends_on`: held QUEUED by psij (`psij.submission_gate`) until
their predecessors, pilot tasks or jobs of another executor, end as required; a dependency
that can no longer be met ends the task FAILED, never queued; a held task canceled is never
queued. About 15 s."""

import pathlib
from typing import Iterator

import pytest
from pilot_checks import task_id, wait_all, wait_for

from psij import DependencyCondition, Job, JobExecutor, JobExecutorConfig, JobSpec
from psij.exceptions import InvalidJobException
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor
from psij.pilot.executor import RELEASED


@pytest.fixture
def pilot(work_dir: pathlib.Path) -> Iterator[PilotJobExecutor]:
    executor = JobExecutor.get_instance('pilot', config=PilotExecutorConfig(
        executor='local', name='deps', cores_per_node=2, idle_timeout=3, max_allocations=1,
        poll_interval=0.1, work_directory=work_dir))
    assert isinstance(executor, PilotJobExecutor)
    yield executor
    executor.pilot.allocations.cancel_all()


def _queued_ids(pilot: PilotJobExecutor) -> set[str]:
    directory = pilot.pilot.directory
    return {entry.task_id for entry in directory.queued()} | {
        entry.task_id for _, _, entry in directory.claims()}


def _started(pilot: PilotJobExecutor, job: Job) -> float:
    return float(pilot.pilot.outcomes.results[task_id(job)]['started'])


def test_a_task_is_held_until_its_predecessor_task_completed(
        pilot: PilotJobExecutor) -> None:
    first = Job(JobSpec('/bin/sleep', ['1']))
    second = Job(JobSpec('/bin/true'))
    canceled = Job(JobSpec('/bin/true'))
    second.depends_on(first)
    canceled.depends_on(first)
    seen: list[JobState] = []
    second.set_job_status_callback(lambda job, status: seen.append(status.state))
    for job in (first, second, canceled):
        pilot.submit(job)
    for held in (second, canceled):
        assert held.status.state == JobState.QUEUED and held.native_id is None
        assert held.status.message == 'held by psij: waiting for 1 predecessor(s) to end'
    assert _queued_ids(pilot) == {task_id(first)}  # only the predecessor is queued
    canceled.cancel()
    assert canceled.status.state == JobState.CANCELED and canceled.native_id is None
    wait_for('the held task queued', lambda: second.native_id is not None, 20)
    assert first.status.state == JobState.COMPLETED  # queued only once it had ended
    wait_all([second], 20)
    assert second.status.state == JobState.COMPLETED, second.status
    assert seen == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
    assert first.status.time is not None and _started(pilot, second) >= first.status.time
    assert canceled.native_id is None  # never reached the queue


def test_a_dependency_that_can_no_longer_be_met_fails_the_task(
        pilot: PilotJobExecutor) -> None:
    failing = Job(JobSpec('/bin/sh', ['-c', 'sleep 0.5; exit 3']))
    after_ok = Job(JobSpec('/bin/true'))
    after_any = Job(JobSpec('/bin/true'))
    after_ok.depends_on(failing)
    after_any.depends_on(failing, condition=DependencyCondition.ENDED)
    for job in (failing, after_ok, after_any):
        pilot.submit(job)
    wait_all([failing, after_ok, after_any], 30)
    assert failing.status.state == JobState.FAILED and failing.status.exit_code == 3
    assert after_ok.status.state == JobState.FAILED and after_ok.native_id is None
    assert after_ok.status.message is not None
    assert after_ok.status.message.startswith(
        f'dependency never satisfied: predecessor job {failing.id} ({failing.native_id}) '
        'ended FAILED')
    assert after_any.status.state == JobState.COMPLETED, after_any.status
    # Its predecessor failed before it was submitted: it fails at once, never queued.
    late = Job(JobSpec('/bin/true'))
    late.depends_on(failing)
    pilot.submit(late)
    assert late.status.state == JobState.FAILED and late.native_id is None


def test_a_task_waits_for_a_job_of_another_executor(pilot: PilotJobExecutor,
                                                    work_dir: pathlib.Path) -> None:
    local = JobExecutor.get_instance('local',
                                     config=JobExecutorConfig(work_directory=work_dir))
    other = Job(JobSpec('/bin/sleep', ['1']))
    local.submit(other)
    task = Job(JobSpec('/bin/true'))
    task.depends_on(other)
    pilot.submit(task)
    held = task.status
    assert held.state == JobState.QUEUED and task.native_id is None
    wait_all([other, task], 30)
    assert other.status.state == JobState.COMPLETED
    assert task.status.state == JobState.COMPLETED, task.status
    assert other.status.time is not None and _started(pilot, task) >= other.status.time
    with pytest.raises(InvalidJobException, match='never submitted'):
        never = Job(JobSpec('/bin/true'))
        never.depends_on(Job(JobSpec('/bin/true')))
        pilot.submit(never)
    assert never.executor is None  # refused: it may be submitted again, elsewhere


def test_the_released_message_replaces_the_held_one(pilot: PilotJobExecutor) -> None:
    first = Job(JobSpec('/bin/sleep', ['0.5']))
    second = Job(JobSpec('/bin/sleep', ['30']))
    second.depends_on(first)
    pilot.submit(first)
    pilot.submit(second)
    wait_for('the held task queued',
             lambda: 'held by psij' not in str(second.status.message), 20)
    assert second.native_id is not None
    # Queued (RELEASED) until a worker holds it, then ACTIVE with no message of its own.
    assert (second.status.state, second.status.message) in (
        (JobState.QUEUED, RELEASED), (JobState.ACTIVE, None)), second.status
    second.cancel()
    wait_all([second], 20)
    assert second.status.state == JobState.CANCELED
