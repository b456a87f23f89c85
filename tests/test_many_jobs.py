"""Arrays, dependencies, the cap on jobs in flight and batched cancels, on the batch base with
a scripted scheduler on simulated time (no real scheduler: see tests/test_many_jobs_slurm.py
and tests/test_batch_contract.py for those)."""

import pathlib
from typing import List

import pytest
from doubles.fake_batch_scheduler import (
    CANCEL,
    SUBMIT,
    FakeClock,
    RecordingTransport,
    ScriptedScheduler,
    SimulatedPoller,
    SimulatedSubmitter,
    running,
    scripted_executor,
)

from psij import InvalidJobException, Job, JobSpec, JobState, SubmitException
from psij.batch import BatchSchedulerExecutor, SchedulerStatus
from psij.batch.registry import TrackerRegistry
from psij.dependencies import DependencyCondition
from psij.job_array import INDEX_TOKEN, JobArray


class Site:
    """One scripted scheduler, its transport and a registry on simulated time."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.clock = FakeClock()
        self.poller = SimulatedPoller(self.clock)
        self.scheduler = ScriptedScheduler()
        self.transport = RecordingTransport(self.clock.monotonic)
        self.registry = TrackerRegistry(clock=self.clock.monotonic, poller=self.poller)
        self.submitter = SimulatedSubmitter(self.poller)
        self.work = tmp_path / 'work'

    def executor(self, **settings: object) -> BatchSchedulerExecutor:
        return scripted_executor(self.scheduler, self.transport, self.work, self.registry,
                                 self.submitter,
                                 queue_polling_interval=30.0, initial_queue_polling_delay=1.0,
                                 marker_polling_interval=2.0, outcome_timeout=20.0,
                                 **settings)

    def end(self, job: Job, state: JobState = JobState.COMPLETED, exit_code: int = 0) -> None:
        """The scheduler reports ``job`` ended."""
        assert job.native_id is not None
        self.scheduler.queue[job.native_id] = SchedulerStatus(state, state.name,
                                                              exit_code=exit_code)

    def run_until(self, jobs: List[Job], seconds: float = 120.0) -> None:
        assert self.poller.run_until(lambda: all(job.status.final for job in jobs), seconds), \
            [job.status for job in jobs]

    def until_submitted(self, job: Job, seconds: float = 60.0) -> None:
        """Run polls (releases of held jobs among them) until ``job`` has a native id."""
        assert self.poller.run_until(lambda: job.native_id is not None, seconds), job.status

    def submits(self) -> int:
        return len(self.transport.runs_of(SUBMIT))


@pytest.fixture
def site(tmp_path: pathlib.Path) -> Site:
    return Site(tmp_path)


def true_job() -> Job:
    return Job(JobSpec('/bin/true'))


# --- arrays ----------------------------------------------------------------------------------

def test_an_array_is_one_submission_of_elements_that_are_full_jobs(site: Site) -> None:
    executor = site.executor()
    array = JobArray(JobSpec('/bin/echo', ['seed', INDEX_TOKEN],
                             stdout_path=f'/tmp/out.{INDEX_TOKEN}'), 4, throttle=2)
    executor.submit_array(array)

    assert site.submits() == 1
    (inputs,) = site.scheduler.submissions
    assert inputs.array is not None and (inputs.array.count, inputs.array.throttle) == (4, 2)
    assert [job.native_id for job in array.jobs] == [f'{array.native_id}_{i}' for i in range(4)]
    assert [job.array_index for job in array.jobs] == [0, 1, 2, 3]
    assert array.jobs[2].spec is not None and array.jobs[2].spec.arguments == ['seed', '2']
    assert str(array.jobs[2].spec.stdout_path) == '/tmp/out.2'
    assert all(job.status.state == JobState.QUEUED for job in array.jobs)
    site.end(array.jobs[0])
    site.end(array.jobs[1], JobState.FAILED, 3)
    site.end(array.jobs[2])
    site.end(array.jobs[3])
    site.run_until(array.jobs)
    assert [job.status.state for job in array.jobs] == [
        JobState.COMPLETED, JobState.FAILED, JobState.COMPLETED, JobState.COMPLETED]
    assert array.jobs[1].status.exit_code == 3


def test_array_elements_are_named_by_the_array_and_their_index() -> None:
    array = JobArray(JobSpec('/bin/true'), 3)
    assert [job.id for job in array.jobs] == [f'{array.id}-{i}' for i in range(3)]
    assert array.jobs[1].spec is not None and array.jobs[1].spec.environment == {
        'PSIJ_ARRAY_INDEX': '1'}


@pytest.mark.parametrize('count, throttle, field', [(0, None, 'count'), (3, 0, 'throttle')])
def test_an_array_of_nothing_is_refused_naming_the_field(count: int, throttle: int,
                                                        field: str) -> None:
    with pytest.raises(InvalidJobException, match=f'JobArray.{field} is 0; allowed: 1 or more'):
        JobArray(JobSpec('/bin/true'), count, throttle=throttle)


def test_an_array_over_the_scheduler_limit_is_split(site: Site) -> None:
    executor = site.executor()
    executor._array_limit = 4  # as the scheduler's array limit command would say
    array = JobArray(JobSpec('/bin/true'), 10)
    executor.submit_array(array)
    assert site.submits() == 3
    assert [(inputs.array.offset, inputs.array.count) for inputs in site.scheduler.submissions
            if inputs.array is not None] == [(0, 4), (4, 4), (8, 2)]
    assert len({job.native_id for job in array.jobs}) == 10


def test_an_array_the_scheduler_could_never_hold_is_refused_naming_the_field(
        site: Site) -> None:
    executor = site.executor()
    executor._array_limit, executor._job_limit = 4, 20  # as scontrol show config would say
    array = JobArray(JobSpec('/bin/true'), 21)
    with pytest.raises(InvalidJobException, match='JobArray.count is 21; allowed: 1 to 20'):
        executor.submit_array(array)
    assert site.submits() == 0
    assert all(job.executor is None and job.status.state == JobState.NEW for job in array.jobs)


# --- the cap on jobs in flight --------------------------------------------------------------

def test_jobs_over_the_cap_are_held_by_psij_and_go_as_others_end(site: Site) -> None:
    executor = site.executor(max_in_flight=2)
    jobs = [true_job() for _ in range(5)]
    for job in jobs:
        executor.submit(job)  # returns at once, for all five

    assert site.submits() == 2
    assert [job.native_id is not None for job in jobs] == [True, True, False, False, False]
    held = jobs[2].status
    assert held.state == JobState.QUEUED and 'held by psij' in (held.message or '')
    assert 'max_in_flight' in (held.message or '')
    site.end(jobs[0])
    site.run_until(jobs[:1])
    assert site.poller.run_until(lambda: jobs[2].native_id is not None, 10.0)
    assert site.submits() == 3 and jobs[3].native_id is None
    for job in jobs:
        site.until_submitted(job)
        site.end(job)
    site.run_until(jobs)
    assert site.submits() == 5
    assert all(job.status.state == JobState.COMPLETED for job in jobs)


def test_a_held_job_canceled_never_reaches_the_scheduler(site: Site) -> None:
    executor = site.executor(max_in_flight=1)
    first, second = true_job(), true_job()
    executor.submit(first)
    executor.submit(second)
    second.cancel()
    assert second.status.state == JobState.CANCELED
    site.end(first)
    site.run_until([first])
    site.poller.run_for(30.0)
    assert site.submits() == 1 and second.native_id is None
    assert site.transport.runs_of(CANCEL) == []


def test_an_array_larger_than_the_cap_goes_in_parts(site: Site) -> None:
    executor = site.executor(max_in_flight=3)
    array = JobArray(JobSpec('/bin/true'), 7)
    executor.submit_array(array)
    assert [inputs.array.count for inputs in site.scheduler.submissions
            if inputs.array is not None] == [3]
    for _ in range(10):
        for job in array.jobs:
            if job.native_id is not None and not job.status.final:
                site.end(job)
        site.poller.run_for(5.0)
    site.run_until(array.jobs)
    counts = [inputs.array.count for inputs in site.scheduler.submissions
              if inputs.array is not None]
    assert sum(counts) == 7 and max(counts) <= 3
    assert all(job.status.state == JobState.COMPLETED for job in array.jobs)


# --- dependencies ----------------------------------------------------------------------------

def test_a_dependency_goes_to_the_scheduler_with_the_predecessors_ids(site: Site) -> None:
    executor = site.executor()
    first, second = true_job(), true_job()
    after = true_job().depends_on(first, second)
    anyway = true_job().depends_on(first, condition=DependencyCondition.ENDED)
    for job in (first, second, after, anyway):
        executor.submit(job)
    assert site.submits() == 4
    deps = {inputs.job.id: inputs.dependencies for inputs in site.scheduler.submissions}
    assert [(d.condition, d.native_ids) for d in deps[after.id]] == [
        (DependencyCondition.COMPLETED, (first.native_id, second.native_id))]
    assert [(d.condition, d.native_ids) for d in deps[anyway.id]] == [
        (DependencyCondition.ENDED, (first.native_id,))]


def test_a_failed_predecessor_fails_its_afterok_dependents_at_once(site: Site) -> None:
    executor = site.executor()
    first = true_job()
    after = true_job().depends_on(first)
    anyway = true_job().depends_on(first, condition=DependencyCondition.ENDED)
    for job in (first, after, anyway):
        executor.submit(job)
    site.end(first, JobState.FAILED, 2)
    site.run_until([first, after])
    status = after.status
    assert status.state == JobState.FAILED
    assert f'predecessor job {first.id} ({first.native_id}) ended FAILED' in (
        status.message or '')
    site.poller.run_for(1.0)  # the cancel of the pending dependent goes in its batch
    assert [run.argv for run in site.transport.runs_of(CANCEL)] == [(CANCEL, after.native_id)]
    assert not anyway.status.final  # afterany still runs
    site.end(anyway)
    site.run_until([anyway])
    assert anyway.status.state == JobState.COMPLETED


def test_a_dependent_of_a_held_predecessor_waits_with_it(site: Site) -> None:
    executor = site.executor(max_in_flight=1)
    first, second = true_job(), true_job()
    after = true_job().depends_on(second)
    for job in (first, second, after):
        executor.submit(job)
    assert after.native_id is None and 'held by psij' in (after.status.message or '')
    site.end(first)
    assert site.poller.run_until(lambda: second.native_id is not None, 30.0)
    site.end(second)
    assert site.poller.run_until(lambda: after.native_id is not None, 30.0)
    (inputs,) = [inputs for inputs in site.scheduler.submissions if inputs.job is after]
    assert inputs.dependencies == ()  # its predecessor had completed: nothing to wait for


def test_a_predecessor_never_submitted_is_refused() -> None:
    executor = Site(pathlib.Path('/tmp')).executor()
    dependent = true_job().depends_on(true_job())
    with pytest.raises(InvalidJobException, match='predecessor job .* was never submitted'):
        executor.submit(dependent)
    assert dependent.status.state == JobState.NEW and dependent.executor is None


def test_a_cycle_is_refused() -> None:
    first, second = true_job(), true_job()
    first.depends_on(second)
    second.depends_on(first)
    executor = Site(pathlib.Path('/tmp')).executor()
    second.executor = executor  # as if submitted, so the cycle is what remains wrong
    with pytest.raises(InvalidJobException, match='cycle'):
        executor.submit(first)


def test_depends_on_names_its_mistakes() -> None:
    job = true_job()
    with pytest.raises(InvalidJobException, match='cannot depend on itself'):
        job.depends_on(job)
    with pytest.raises(TypeError, match='jobs or job arrays'):
        job.depends_on('job-1')  # type: ignore[arg-type]


# --- cancels ---------------------------------------------------------------------------------

def test_cancels_made_close_together_go_as_one_command(site: Site) -> None:
    executor = site.executor()
    jobs = [true_job() for _ in range(200)]
    for job in jobs:
        executor.submit(job)
        site.scheduler.queue[job.native_id or ''] = running()
    for job in jobs:
        job.cancel()  # returns at once
    site.poller.run_for(0.5)
    cancels = site.transport.runs_of(CANCEL)
    assert len(cancels) == 1 and len(cancels[0].argv) == 201
    for job in jobs:
        site.scheduler.queue.pop(job.native_id or '')
    site.run_until(jobs)
    assert all(job.status.state == JobState.CANCELED for job in jobs)


def test_a_cancel_the_scheduler_cannot_take_now_is_sent_again(site: Site) -> None:
    executor = site.executor()
    job = true_job()
    executor.submit(job)
    site.scheduler.cancel_error = SubmitException('cannot contact the controller',
                                                  transient=True)
    job.cancel()
    site.poller.run_for(5.0)
    assert len(site.transport.runs_of(CANCEL)) >= 2
    site.scheduler.cancel_error = None
    site.poller.run_for(30.0)
    site.scheduler.queue.pop(job.native_id or '')
    site.run_until([job])
    assert job.status.state == JobState.CANCELED


def test_a_refused_cancel_is_said_and_the_job_goes_on(site: Site) -> None:
    executor = site.executor()
    job = true_job()
    executor.submit(job)
    site.scheduler.queue[job.native_id or ''] = running()
    site.poller.run_for(2.0)
    site.scheduler.cancel_error = SubmitException('permission denied', transient=False)
    job.cancel()
    site.poller.run_for(5.0)
    assert len(site.transport.runs_of(CANCEL)) == 1
    assert job.status.state == JobState.ACTIVE
    assert 'cancel refused by scripted: permission denied' in (job.status.message or '')


def test_canceling_an_array_is_one_command(site: Site) -> None:
    executor = site.executor()
    array = JobArray(JobSpec('/bin/true'), 50)
    executor.submit_array(array)
    array.cancel()
    site.poller.run_for(1.0)
    assert len(site.transport.runs_of(CANCEL)) == 1
