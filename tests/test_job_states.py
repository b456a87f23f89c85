"""The Job state machine, driven directly through `Job._set_status` (no real executor).

`_set_status` is what executors call when they learn of a state change; these tests call it
from one or many threads and check what callbacks and `wait` see.
"""

import logging
import threading
import time
from datetime import timedelta
from typing import List, Optional, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psij import Job, JobExecutor, JobSpec, JobState, JobStatus, JobStatusCallback

NEW, QUEUED, ACTIVE = JobState.NEW, JobState.QUEUED, JobState.ACTIVE
COMPLETED, FAILED, CANCELED = JobState.COMPLETED, JobState.FAILED, JobState.CANCELED
FINAL_STATES = (COMPLETED, FAILED, CANCELED)


class Recorder:
    """A status callback that remembers what it was given, safe to call from any thread.

    With a ``delay`` each call takes that long, so that calls made at the same time from
    several threads would overlap; ``most_at_once`` counts how many ever did.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.statuses: List[JobStatus] = []
        self.jobs: List[Job] = []
        self.running = 0
        self.most_at_once = 0

    def __call__(self, job: Job, status: JobStatus) -> None:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.jobs.append(job)
            self.statuses.append(status)
            self.running -= 1

    @property
    def states(self) -> List[JobState]:
        with self.lock:
            return [status.state for status in self.statuses]


class StubExecutor(JobExecutor):
    """An executor that runs nothing; it only records cancel requests."""

    name = 'stub'

    def __init__(self) -> None:
        super().__init__()
        self.canceled: List[Job] = []

    def submit(self, job: Job) -> None:
        raise NotImplementedError

    def cancel(self, job: Job) -> None:
        self.canceled.append(job)

    def attach(self, job: Job, native_id: str) -> None:
        raise NotImplementedError

    def list(self) -> List[str]:
        return []


def job_with_recorders(delay: float = 0.0) -> Tuple[Job, Recorder, Recorder]:
    """A job with a job-level and an executor-level recording callback."""
    job = Job(JobSpec(executable='/bin/true'))
    job_recorder, executor_recorder = Recorder(delay), Recorder(delay)
    executor = StubExecutor()
    executor.set_job_status_callback(executor_recorder)
    job.executor = executor
    job.native_id = '1'  # as after a submission
    job.set_job_status_callback(job_recorder)
    return job, job_recorder, executor_recorder


def test_a_job_canceled_before_submission_was_never_queued() -> None:
    job = Job(JobSpec(executable='/bin/true'))
    job_recorder = Recorder(0.0)
    job.set_job_status_callback(job_recorder)
    job.cancel()
    assert job_recorder.states == [CANCELED]


def assert_valid_history(states: Sequence[JobState]) -> None:
    """Forward only, no step missing, at most one final state and nothing after it."""
    main_path = [QUEUED, ACTIVE]
    finals = [state for state in states if state.final]
    assert len(finals) <= 1, states
    if finals:
        assert states[-1] == finals[0], states
    not_final = [state for state in states if not state.final]
    assert not_final == main_path[:len(not_final)], states
    if COMPLETED in states:
        assert ACTIVE in states, states


# --- filling in missing steps --------------------------------------------------------------


@pytest.mark.parametrize('steps, delivered', [
    ([JobStatus(QUEUED)], [QUEUED]),
    ([JobStatus(ACTIVE)], [QUEUED, ACTIVE]),
    ([JobStatus(COMPLETED, exit_code=0)], [QUEUED, ACTIVE, COMPLETED]),
    ([JobStatus(FAILED, exit_code=3)], [QUEUED, ACTIVE, FAILED]),
    ([JobStatus(FAILED, message='refused by the scheduler')], [QUEUED, FAILED]),
    ([JobStatus(CANCELED)], [QUEUED, CANCELED]),
    ([JobStatus(QUEUED), JobStatus(COMPLETED)], [QUEUED, ACTIVE, COMPLETED]),
    ([JobStatus(ACTIVE), JobStatus(CANCELED)], [QUEUED, ACTIVE, CANCELED]),
    ([JobStatus(ACTIVE), JobStatus(FAILED, exit_code=1)], [QUEUED, ACTIVE, FAILED]),
])
def test_missing_steps_are_filled_in(steps: List[JobStatus],
                                     delivered: List[JobState]) -> None:
    job, job_recorder, executor_recorder = job_with_recorders()
    for status in steps:
        assert job._set_status(status) is True
    assert job_recorder.states == delivered
    assert executor_recorder.states == delivered
    assert job.status is steps[-1]
    # The statuses given are delivered themselves, not copies.
    for status in steps:
        assert any(seen is status for seen in job_recorder.statuses)
    assert all(job is seen for seen in job_recorder.jobs + executor_recorder.jobs)


def test_filled_in_steps_carry_the_time_of_the_status_that_implied_them() -> None:
    job, job_recorder, _ = job_with_recorders()
    job._set_status(JobStatus(COMPLETED, time=1234.5, exit_code=0))
    assert [status.time for status in job_recorder.statuses] == [1234.5, 1234.5, 1234.5]


# --- never backwards, nothing after a final state ------------------------------------------


def test_a_status_that_would_go_backwards_is_ignored() -> None:
    job, job_recorder, executor_recorder = job_with_recorders()
    active = JobStatus(ACTIVE)
    job._set_status(active)
    assert job._set_status(JobStatus(QUEUED)) is False
    assert job._set_status(JobStatus(ACTIVE)) is False  # a repeat is not a change
    assert job._set_status(JobStatus(NEW)) is False
    assert job.status is active
    assert job_recorder.states == [QUEUED, ACTIVE]
    assert executor_recorder.states == [QUEUED, ACTIVE]


def test_a_new_message_in_the_same_state_updates_the_status_without_a_callback() -> None:
    job, job_recorder, executor_recorder = job_with_recorders()
    job._set_status(JobStatus(QUEUED))
    reason = JobStatus(QUEUED, message='pending: Resources')
    assert job._set_status(reason) is False
    assert job.status is reason
    assert job._set_status(JobStatus(QUEUED)) is False  # no message: nothing new to keep
    assert job.status is reason
    assert job_recorder.states == [QUEUED]
    assert executor_recorder.states == [QUEUED]


@pytest.mark.parametrize('final', FINAL_STATES)
def test_nothing_changes_after_a_final_state(final: JobState) -> None:
    job, job_recorder, _ = job_with_recorders()
    final_status = JobStatus(final, exit_code=0 if final == COMPLETED else None)
    job._set_status(JobStatus(ACTIVE))
    assert job._set_status(final_status) is True
    for state in JobState:
        assert job._set_status(JobStatus(state, exit_code=1)) is False
    assert job.status is final_status
    assert job_recorder.states == [QUEUED, ACTIVE, final]


# --- many threads --------------------------------------------------------------------------


@pytest.mark.parametrize('round_number', range(30))
def test_racing_final_states_give_exactly_one_final(round_number: int) -> None:
    job, job_recorder, executor_recorder = job_with_recorders(delay=0.001)
    updates = [JobStatus(FINAL_STATES[index % 3], exit_code=index) for index in range(12)]
    updates += [JobStatus(QUEUED), JobStatus(ACTIVE)] * 3
    barrier = threading.Barrier(len(updates))
    accepted: List[JobStatus] = []
    accepted_lock = threading.Lock()

    def apply(status: JobStatus) -> None:
        barrier.wait()
        if job._set_status(status):
            with accepted_lock:
                accepted.append(status)

    threads = [threading.Thread(target=apply, args=(status,)) for status in updates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)

    winners = [status for status in accepted if status.final]
    assert len(winners) == 1
    assert job.status is winners[0]
    for recorder in (job_recorder, executor_recorder):
        assert_valid_history(recorder.states)
        final_seen = [status for status in recorder.statuses if status.final]
        assert final_seen == winners
        # One job's callbacks never run at the same time, whatever thread set the status.
        assert recorder.most_at_once == 1
    assert job_recorder.states == executor_recorder.states


# Each update: (thread number, state, exit code).
UPDATES = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3),
              st.sampled_from([QUEUED, ACTIVE, COMPLETED, FAILED, CANCELED]),
              st.none() | st.integers(min_value=0, max_value=255)),
    max_size=12)


@settings(deadline=None, max_examples=150)
@given(UPDATES)
def test_any_interleaving_delivers_a_valid_history(
        updates: List[Tuple[int, JobState, Optional[int]]]) -> None:
    job, job_recorder, executor_recorder = job_with_recorders(delay=0.0002)
    per_thread: List[List[JobStatus]] = [[], [], [], []]
    for thread_number, state, exit_code in updates:
        per_thread[thread_number].append(JobStatus(state, exit_code=exit_code))
    barrier = threading.Barrier(len(per_thread))
    accepted: List[JobStatus] = []
    rejected: List[JobStatus] = []
    lock = threading.Lock()

    def apply(statuses: List[JobStatus]) -> None:
        barrier.wait()
        for status in statuses:
            result = job._set_status(status)
            with lock:
                (accepted if result else rejected).append(status)

    threads = [threading.Thread(target=apply, args=(statuses,)) for statuses in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    delivered = job_recorder.statuses
    assert executor_recorder.statuses == delivered
    assert job_recorder.most_at_once <= 1
    assert_valid_history([status.state for status in delivered])
    # Every accepted status is delivered exactly once; no rejected one is delivered.
    for status in accepted:
        assert sum(seen is status for seen in delivered) == 1
    for status in rejected:
        assert not any(seen is status for seen in delivered)
    # The job ends in the last accepted status, which is the last one delivered.
    if accepted:
        assert job.status is delivered[-1]
        assert job.status in accepted
    else:
        assert job.status.state == NEW
        assert delivered == []
    given_states = [state for _, state, _ in updates]
    if any(state.final for state in given_states):
        assert job.status.final
    elif given_states:
        assert job.status.state == max(given_states, key=lambda state: state.order)


def test_a_callback_may_set_the_next_status_without_deadlock_or_disorder() -> None:
    job = Job()
    seen: List[JobState] = []

    def advance(job: Job, status: JobStatus) -> None:
        seen.append(status.state)
        assert job.status.state.order >= status.state.order
        if status.state == QUEUED:
            job._set_status(JobStatus(ACTIVE))
        elif status.state == ACTIVE:
            job._set_status(JobStatus(COMPLETED, exit_code=0))

    job.set_job_status_callback(advance)
    runner = threading.Thread(target=job._set_status, args=(JobStatus(QUEUED),))
    runner.start()
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert seen == [QUEUED, ACTIVE, COMPLETED]
    assert job.status.state == COMPLETED


# --- callbacks -----------------------------------------------------------------------------


def test_a_raising_job_callback_is_logged_and_the_executor_callback_still_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    job, _, executor_recorder = job_with_recorders()
    calls: List[JobState] = []

    def broken(job: Job, status: JobStatus) -> None:
        calls.append(status.state)
        raise RuntimeError('callback bug')

    job.set_job_status_callback(broken)
    with caplog.at_level(logging.ERROR, logger='psij'):
        job._set_status(JobStatus(COMPLETED, exit_code=0))
    assert calls == [QUEUED, ACTIVE, COMPLETED]  # still called for every state
    assert executor_recorder.states == [QUEUED, ACTIVE, COMPLETED]
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 3
    for record in errors:
        assert record.name == 'psij'
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        assert job.id in record.getMessage()


def test_a_raising_executor_callback_is_logged_and_the_job_callback_still_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    job, job_recorder, _ = job_with_recorders()

    class BrokenCallback(JobStatusCallback):
        def job_status_changed(self, job: Job, job_status: JobStatus) -> None:
            raise ValueError('executor callback bug')

    assert job.executor is not None
    job.executor.set_job_status_callback(BrokenCallback())
    with caplog.at_level(logging.ERROR, logger='psij'):
        job._set_status(JobStatus(ACTIVE))
        job._set_status(JobStatus(FAILED, exit_code=2))
    assert job_recorder.states == [QUEUED, ACTIVE, FAILED]
    assert job.status.state == FAILED
    raised = [record for record in caplog.records
              if record.exc_info and isinstance(record.exc_info[1], ValueError)]
    assert len(raised) == 3


def test_setting_the_callback_to_none_removes_it() -> None:
    job, job_recorder, executor_recorder = job_with_recorders()
    job._set_status(JobStatus(QUEUED))
    job.set_job_status_callback(None)
    job._set_status(JobStatus(ACTIVE))
    assert job_recorder.states == [QUEUED]
    assert executor_recorder.states == [QUEUED, ACTIVE]
    assert job.executor is not None
    job.executor.set_job_status_callback(None)
    job._set_status(JobStatus(COMPLETED))
    assert executor_recorder.states == [QUEUED, ACTIVE]
    assert job.status.state == COMPLETED


def test_a_new_callback_replaces_the_old_one() -> None:
    job = Job()
    first, second = Recorder(), Recorder()
    job.set_job_status_callback(first)
    job._set_status(JobStatus(QUEUED))
    job.set_job_status_callback(second)
    job._set_status(JobStatus(ACTIVE))
    assert first.states == [QUEUED]
    assert second.states == [ACTIVE]


def test_job_status_callback_objects_work_for_job_and_executor() -> None:
    class Collecting(JobStatusCallback):
        def __init__(self) -> None:
            self.seen: List[Tuple[Job, JobState]] = []

        def job_status_changed(self, job: Job, job_status: JobStatus) -> None:
            self.seen.append((job, job_status.state))

    job = Job()
    job_callback, executor_callback = Collecting(), Collecting()
    executor = StubExecutor()
    executor.set_job_status_callback(executor_callback)
    job.executor = executor
    job.set_job_status_callback(job_callback)
    job._set_status(JobStatus(ACTIVE))
    assert job_callback.seen == [(job, QUEUED), (job, ACTIVE)]
    assert executor_callback.seen == [(job, QUEUED), (job, ACTIVE)]


@pytest.mark.parametrize('not_a_callback', [5, 'print', object()])
def test_something_that_is_not_a_callback_is_refused(not_a_callback: object) -> None:
    with pytest.raises(TypeError, match='callback'):
        Job().set_job_status_callback(not_a_callback)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='callback'):
        StubExecutor().set_job_status_callback(not_a_callback)  # type: ignore[arg-type]


# --- wait ----------------------------------------------------------------------------------


def set_later(job: Job, statuses: Sequence[JobStatus], delay: float = 0.05) -> threading.Thread:
    """Set ``statuses`` on ``job`` from another thread after ``delay`` seconds."""
    def run() -> None:
        time.sleep(delay)
        for status in statuses:
            job._set_status(status)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize('timeout', [0.05, timedelta(milliseconds=50)])
def test_wait_returns_none_on_timeout(timeout: object) -> None:
    job = Job()
    job._set_status(JobStatus(ACTIVE))
    started = time.monotonic()
    assert job.wait(timeout=timeout) is None  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert 0.04 <= elapsed < 5


def test_wait_with_zero_timeout_does_not_block() -> None:
    job = Job()
    started = time.monotonic()
    assert job.wait(timeout=0) is None
    assert job.wait(timeout=timedelta(0), target_states=[ACTIVE]) is None
    assert time.monotonic() - started < 1


@pytest.mark.parametrize('timeout', [5.0, 5, timedelta(seconds=5), None])
def test_wait_returns_the_final_status_when_it_comes(timeout: object) -> None:
    job = Job()
    completed = JobStatus(COMPLETED, exit_code=0)
    thread = set_later(job, [JobStatus(ACTIVE), completed])
    assert job.wait(timeout=timeout) is completed  # type: ignore[arg-type]
    thread.join()


@pytest.mark.parametrize('targets', [[ACTIVE], ACTIVE, (QUEUED, ACTIVE)])
def test_wait_for_active_returns_when_active(targets: object) -> None:
    job = Job()
    active = JobStatus(ACTIVE)
    thread = set_later(job, [JobStatus(QUEUED), active])
    assert job.wait(timeout=5, target_states=targets) is active  # type: ignore[arg-type]
    assert job.status.state == ACTIVE
    thread.join()


@pytest.mark.parametrize('final', FINAL_STATES)
def test_wait_for_active_returns_when_a_final_state_comes_first(final: JobState) -> None:
    job = Job()
    final_status = JobStatus(final)
    thread = set_later(job, [JobStatus(QUEUED), final_status])
    assert job.wait(timeout=5, target_states=[ACTIVE]) is final_status
    thread.join()


def test_wait_for_queued_returns_when_the_job_went_past_it() -> None:
    job = Job()
    active = JobStatus(ACTIVE)
    thread = set_later(job, [active])
    assert job.wait(timeout=5, target_states=[QUEUED]) is active
    thread.join()


def test_wait_for_a_state_already_reached_returns_at_once() -> None:
    job = Job()
    job._set_status(JobStatus(ACTIVE))
    assert job.wait(timeout=0, target_states=[QUEUED]) is job.status
    assert job.wait(timeout=0, target_states=[ACTIVE]) is job.status


def test_wait_does_not_return_early_for_an_earlier_state() -> None:
    job = Job()
    job._set_status(JobStatus(QUEUED))
    assert job.wait(timeout=0.05, target_states=[ACTIVE]) is None
    assert job.wait(timeout=0.05) is None


def test_many_waiters_are_all_woken() -> None:
    job = Job()
    results: List[Optional[JobStatus]] = []
    lock = threading.Lock()

    def waiter() -> None:
        status = job.wait(timeout=10)
        with lock:
            results.append(status)

    waiters = [threading.Thread(target=waiter) for _ in range(8)]
    for thread in waiters:
        thread.start()
    time.sleep(0.05)
    completed = JobStatus(COMPLETED)
    job._set_status(completed)
    for thread in waiters:
        thread.join(timeout=10)
    assert results == [completed] * 8


# --- cancel --------------------------------------------------------------------------------


def test_cancel_of_a_job_never_submitted_makes_it_canceled() -> None:
    job = Job(JobSpec(executable='/bin/true'))
    recorder = Recorder()
    job.set_job_status_callback(recorder)
    job.cancel()
    assert job.status.state == CANCELED
    assert job.status.final
    assert job.wait(timeout=0) is job.status
    assert [state for state in recorder.states if state.final] == [CANCELED]
    assert recorder.states[-1] == CANCELED
    job.cancel()  # a second cancel changes nothing
    assert job.status.state == CANCELED
    assert [state for state in recorder.states if state.final] == [CANCELED]


def test_cancel_of_a_job_with_an_executor_asks_the_executor() -> None:
    job, job_recorder, _ = job_with_recorders()
    assert isinstance(job.executor, StubExecutor)
    job.cancel()
    assert job.executor.canceled == [job]
    assert job.status.state == NEW  # the executor reports the change when it happens
    assert job_recorder.states == []


def test_a_failure_after_a_cancel_request_is_reported_as_canceled() -> None:
    job, job_recorder, _ = job_with_recorders()
    job._set_status(JobStatus(ACTIVE))
    job._cancel_requested = True
    job._set_status(JobStatus(FAILED, exit_code=137))
    assert job.status.state == CANCELED
    assert job.status.exit_code == 137
    assert job_recorder.states == [QUEUED, ACTIVE, CANCELED]


# --- states --------------------------------------------------------------------------------


def test_state_order_and_finality() -> None:
    assert [state.final for state in JobState] == [False, False, False, True, True, True]
    assert ACTIVE.is_greater_than(QUEUED)
    assert COMPLETED.is_greater_than(ACTIVE)
    assert CANCELED.is_greater_than(NEW)
    assert not QUEUED.is_greater_than(ACTIVE)
    assert not FAILED.is_greater_than(COMPLETED)
    assert not COMPLETED.is_greater_than(COMPLETED)
    assert JobState.from_name('ACTIVE') is ACTIVE
    with pytest.raises(ValueError, match='RUNNING.*allowed: NEW, QUEUED'):
        JobState.from_name('RUNNING')


def test_job_status_requires_a_job_state() -> None:
    with pytest.raises(TypeError, match='JobStatus.state must be JobState'):
        JobStatus('ACTIVE')  # type: ignore[arg-type]
