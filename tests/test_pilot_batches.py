"""Arrays on the pilot executor: their elements queued as batches (`psij.pilot.task_batches`),
run once each with their index, through an allocation canceled under them, canceled whole
or one by one. On the local executor providing allocations; about 30 s in all."""

import pathlib
from typing import Iterator

import pytest
from pilot_checks import (
    allocation_of_running_task,
    logged_task,
    ran_once_each,
    runs_by_task,
    task_id,
    wait_all,
    wait_for,
)
from pilot_checks import (
    local_pilot as make_pilot,
)

from psij import Job, JobArray, JobSpec
from psij.exceptions import InvalidJobException
from psij.job_state import JobState
from psij.pilot import PilotJobExecutor
from psij.pilot.task_batches import BATCH_SIZE, holds, put_batches, runs, task_count, task_ids
from psij.pilot.task_queue import PilotDirectory, TaskRequest


@pytest.fixture
def pilot(work_dir: pathlib.Path) -> Iterator[PilotJobExecutor]:
    executor = make_pilot(work_dir, 'arrays')
    yield executor
    executor.pilot.allocations.cancel_all()


@pytest.fixture
def logs(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / 'locks').mkdir()
    return tmp_path





def test_batch_names_hold_the_range_of_their_elements(tmp_path: pathlib.Path) -> None:
    assert runs([0, 1, 2, 5, 6, 9]) == [(0, 2), (5, 6), (9, 9)]
    assert runs(list(range(40))) == [(0, 15), (16, 31), (32, 39)]
    directory = PilotDirectory(tmp_path / 'pilot')
    directory.ensure()
    spec = {'executable': '/bin/true'}
    put_batches(directory, 'b1', TaskRequest(2), [(index, spec) for index in range(40)]
                + [(41, spec)], {'attempt': 1})
    entries = directory.queued()
    assert [task_count(entry.task_id) for entry in entries] == [16, 16, 8, 1]
    assert directory.waiting_count() == 41
    assert task_ids(entries[3].task_id) == ['b1.41']
    assert holds(entries[0].task_id, 'b1.15') and not holds(entries[0].task_id, 'b1.16')
    assert not holds(entries[0].task_id, 'b2.3') and not holds(entries[0].task_id, 'b1.x')
    assert all(entry.request == TaskRequest(2) for entry in entries)
    assert directory.locate('b1.39') == 'queue' and directory.locate('b1.40') is None


def test_every_element_runs_once_with_its_index(pilot: PilotJobExecutor,
                                                logs: pathlib.Path) -> None:
    spec = logged_task(logs / 'log', logs / 'locks', 0.05).spec
    assert spec is not None and spec.arguments is not None
    spec.arguments[-1] = f'echo "$PSIJ_ARRAY_INDEX" >> {logs / "indices"}; ' + spec.arguments[-1]
    array = JobArray(spec, 2 * BATCH_SIZE + 5)
    pilot.submit_array(array)
    ids = [job.native_id for job in array.jobs]
    assert len(set(ids)) == len(ids) and all(i is not None and i.startswith('arrays/')
                                             for i in ids)
    wait_all(array.jobs, 60)
    ran_once_each(array.jobs, logs / 'log')
    indices = sorted(int(line) for line in (logs / 'indices').read_text().split())
    assert indices == list(range(len(array))), indices
    assert sorted(pilot.list()) == []  # nothing waits or runs any more


def test_a_canceled_allocation_s_elements_finish_elsewhere_never_twice(
        pilot: PilotJobExecutor, logs: pathlib.Path) -> None:
    array = JobArray(logged_task(logs / 'log', logs / 'locks', 1.0).spec, 10)  # type: ignore
    pilot.submit_array(array)
    wait_for('an element running', lambda: allocation_of_running_task(pilot) is not None, 20)
    key = allocation_of_running_task(pilot)
    assert key is not None
    pilot.pilot.allocations.jobs()[key].cancel()
    wait_all(array.jobs, 80)
    ran_once_each(array.jobs, logs / 'log')
    again = [job for job in array.jobs if any(line.startswith('2 ') for line in
                                              runs_by_task(logs / 'log')[task_id(job)])]
    assert again, 'no element ran again after its allocation was canceled'


def test_an_array_canceled_while_queued_ends_canceled(pilot: PilotJobExecutor,
                                                      logs: pathlib.Path) -> None:
    array = JobArray(logged_task(logs / 'log', logs / 'locks', 5).spec, 20)  # type: ignore
    pilot.submit_array(array)
    array.cancel()
    statuses = array.wait(timeout=30)
    assert all(status is not None and status.state == JobState.CANCELED
               for status in statuses), statuses
    assert not any(line.endswith(' end') for lines in runs_by_task(logs / 'log').values()
                   for line in lines)


def test_one_canceled_element_never_runs_the_others_do(pilot: PilotJobExecutor,
                                                       logs: pathlib.Path) -> None:
    array = JobArray(logged_task(logs / 'log', logs / 'locks', 0.1).spec, 6)  # type: ignore
    pilot.submit_array(array)
    canceled = array.jobs[4]
    canceled.cancel()
    wait_all(array.jobs, 40)
    assert canceled.status.state == JobState.CANCELED, canceled.status
    others = [job for job in array.jobs if job is not canceled]
    assert all(job.status.state == JobState.COMPLETED for job in others)
    assert not any(line.endswith(' end')
                   for line in runs_by_task(logs / 'log').get(task_id(canceled), []))


def test_an_element_is_attached_by_its_native_id(pilot: PilotJobExecutor,
                                                  work_dir: pathlib.Path) -> None:
    array = JobArray(JobSpec('/bin/sleep', ['0.5']), 3)
    pilot.submit_array(array)
    other = make_pilot(work_dir, 'arrays')
    follower = Job()
    native_id = array.jobs[2].native_id
    assert native_id is not None
    other.attach(follower, native_id)
    status = follower.wait(timeout=30)
    assert status is not None and status.state == JobState.COMPLETED, status
    with pytest.raises(InvalidJobException, match='has no task'):
        other.attach(Job(), native_id.rsplit('.', 1)[0] + '.99')


def test_a_throttle_is_refused_naming_the_field(pilot: PilotJobExecutor) -> None:
    array = JobArray(JobSpec('/bin/true'), 4, throttle=2)
    with pytest.raises(InvalidJobException, match='JobArray.throttle'):
        pilot.submit_array(array)
    assert all(job.status.state == JobState.NEW and job.executor is None
               for job in array.jobs)
