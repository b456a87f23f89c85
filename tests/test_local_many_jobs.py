"""Arrays, dependencies and the cap on jobs in flight of the local executor, with real
processes.

How many jobs ran at once is read from the processes themselves: each one appends a ``start``
line when it begins and an ``end`` line just before it exits to a log (one ``write`` each, to a
file opened for appending), so the overlap counted from the log can only be smaller than the
real one, never larger.
"""

import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from doubles.fake_batch_scheduler import (
    FakeClock,
    RecordingTransport,
    ScriptedScheduler,
    SimulatedPoller,
    SimulatedSubmitter,
    scripted_executor,
)
from psij.executors.local import LocalJobExecutorConfig

from psij import InvalidJobException, Job, JobExecutor, JobExecutorConfig, JobSpec, JobState
from psij.batch import SchedulerStatus
from psij.batch.registry import TrackerRegistry
from psij.dependencies import DependencyCondition
from psij.job_array import INDEX_TOKEN, JobArray

#: The shell of a job that logs its start and end: ``$LOG`` is the log, ``$1`` its name.
LOGGED = ('echo "start $(date +%s%N) $1" >> "$LOG"; sleep {seconds}; '
          'echo "end $(date +%s%N) $1" >> "$LOG"; {then}')


def logged(log: pathlib.Path, name: str, seconds: float = 0.2, then: str = 'exit 0',
           **settings: object) -> JobSpec:
    """A job that logs its start and end to ``log`` under ``name``, sleeps ``seconds`` in
    between and then runs ``then``."""
    return JobSpec('/bin/sh', ['-c', LOGGED.format(seconds=seconds, then=then), 'job', name],
                   environment={'LOG': str(log)}, **settings)  # type: ignore[arg-type]


def most_at_once(log: pathlib.Path) -> int:
    """The most jobs of ``log`` that were running at the same time (a job that ended at the
    instant another started does not count as overlapping it)."""
    events: List[Tuple[int, int]] = []
    for line in log.read_text().splitlines():
        word, stamp, _name = line.split()
        events.append((int(stamp), 0 if word == 'end' else 1))
    running = most = 0
    for _stamp, kind in sorted(events):
        running += 1 if kind else -1
        most = max(most, running)
    return most


def started(log: pathlib.Path) -> List[str]:
    """The names of the jobs that started, as they logged it."""
    if not log.exists():
        return []
    return [line.split()[2] for line in log.read_text().splitlines()
            if line.startswith('start ')]


@pytest.fixture
def executor(work_dir: pathlib.Path) -> JobExecutor:
    return JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work_dir))


def capped(work_dir: pathlib.Path, cap: int) -> JobExecutor:
    return JobExecutor.get_instance(
        'local', config=LocalJobExecutorConfig(work_directory=work_dir, max_in_flight=cap))


def wait_all(jobs: List[Job], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for job in jobs:
        assert job.wait(timeout=max(deadline - time.monotonic(), 0.0)) is not None, job.status


def all_final(jobs: List[Job]) -> Callable[[], bool]:
    """Whether every job of ``jobs`` is final, when called."""
    return lambda: all(job.status.final for job in jobs)


def psij_threads() -> Dict[str, int]:
    names = [thread.name for thread in threading.enumerate() if thread.name.startswith('psij')]
    return {name: names.count(name) for name in set(names)}


# --- arrays ----------------------------------------------------------------------------------

def test_an_array_runs_every_element_and_never_more_than_its_throttle_at_once(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    spec = logged(log, INDEX_TOKEN, then=f'echo element {INDEX_TOKEN}; '
                                         'exit $((PSIJ_ARRAY_INDEX % 4))',
                  stdout_path=tmp_path / f'out.{INDEX_TOKEN}')
    array = JobArray(spec, 20, throttle=3)
    began = time.monotonic()
    executor.submit_array(array)
    assert time.monotonic() - began < 1.0  # returns at once: 17 elements wait
    held = [job for job in array.jobs if job.native_id is None]
    assert len(held) == 17
    assert held[0].status.state == JobState.QUEUED
    assert held[0].status.message == \
        'held by psij: 3 elements of its array are in flight (JobArray.throttle=3)'
    threads = psij_threads()
    wait_all(array.jobs)
    threads_after = psij_threads()

    assert most_at_once(log) == 3
    assert sorted(started(log), key=int) == [str(index) for index in range(20)]
    for index, job in enumerate(array.jobs):
        code = index % 4
        assert (job.status.state, job.status.exit_code) == (
            JobState.COMPLETED if code == 0 else JobState.FAILED, code), index
        assert (tmp_path / f'out.{index}').read_text() == f'element {index}\n'
    assert len({job.native_id for job in array.jobs}) == 20
    for counts in (threads, threads_after):  # however many jobs: one thread of each kind
        assert all(count == 1 for count in counts.values()), counts
        assert counts.get('psij-status-poller', 0) <= 1


def test_an_array_with_a_bad_element_is_refused_before_any_element_starts(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    (tmp_path / 'dir.0').mkdir()
    log = tmp_path / 'log'
    array = JobArray(logged(log, INDEX_TOKEN, directory=tmp_path / f'dir.{INDEX_TOKEN}'), 3)
    with pytest.raises(InvalidJobException, match="JobSpec.directory '.*dir.1' is not an "
                                                  'existing directory'):
        executor.submit_array(array)
    time.sleep(0.3)
    assert started(log) == []
    assert all(job.status.state == JobState.NEW and job.executor is None
               for job in array.jobs)


def test_canceling_an_array_cancels_the_held_elements_before_they_start(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    array = JobArray(logged(log, INDEX_TOKEN, seconds=30), 10, throttle=2)
    executor.submit_array(array)
    assert psij_wait_for(lambda: len(started(log)) == 2)
    array.cancel()
    wait_all(array.jobs)
    assert all(job.status.state == JobState.CANCELED for job in array.jobs)
    assert [job.status.message for job in array.jobs[2:]] == \
        ['canceled while held by psij'] * 8
    time.sleep(0.3)
    assert sorted(started(log)) == ['0', '1']


def psij_wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait until ``condition()`` holds (looked at every 20 ms); whether it does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


ATTACHER = textwrap.dedent('''
    import sys
    from psij import Job, JobExecutor, JobExecutorConfig
    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=sys.argv[1]))
    job = Job()
    executor.attach(job, sys.argv[2])
    status = job.wait(timeout=30)
    print(status.state.name, status.exit_code, flush=True)
''')


def test_an_array_element_is_attached_from_another_process_by_its_native_id(
        executor: JobExecutor, work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    array = JobArray(logged(log, INDEX_TOKEN, seconds=0.5,
                            then='exit $((PSIJ_ARRAY_INDEX + 4))'), 3, throttle=2)
    executor.submit_array(array)
    last = array.jobs[2]
    assert last.native_id is None  # held by the throttle: it gets its pid when it starts
    assert psij_wait_for(lambda: last.native_id is not None)
    attacher = subprocess.run(
        [sys.executable, '-c', ATTACHER, str(work_dir), str(last.native_id)],
        capture_output=True, text=True, timeout=60)
    assert attacher.returncode == 0, attacher.stderr
    assert attacher.stdout.split() == ['FAILED', '6']
    wait_all(array.jobs)
    assert (last.status.state, last.status.exit_code) == (JobState.FAILED, 6)


# --- dependencies ----------------------------------------------------------------------------

def test_a_chain_whose_first_job_fails_ends_the_rest_failed_at_once_naming_why(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    first = Job(logged(log, 'first', seconds=0.3, then='exit 3'))
    chain = [first]
    for index in range(4):
        chain.append(Job(logged(log, f'step{index}')).depends_on(chain[-1]))
    for job in chain:
        executor.submit(job)
    assert chain[1].status.message == 'held by psij: waiting for 1 predecessor(s) to end'
    assert first.wait(timeout=10) is not None
    ended = time.monotonic()
    wait_all(chain[1:], timeout=5)
    assert time.monotonic() - ended < 1.0

    assert (first.status.state, first.status.exit_code) == (JobState.FAILED, 3)
    for predecessor, job in zip(chain, chain[1:]):
        status = job.status
        assert status.state == JobState.FAILED and job.native_id is None
        assert (status.message or '').startswith(
            f'dependency never satisfied: predecessor job {predecessor.id}')
        assert 'ended FAILED' in (status.message or '')
    assert f'({first.native_id}) ended FAILED: exit code 3' in (chain[1].status.message or '')
    assert started(log) == ['first']


def test_afterany_runs_after_a_failed_predecessor_and_afterok_does_not(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    ended = tmp_path / 'first-ended'
    first = Job(logged(log, 'first', seconds=0.3, then=f'touch {ended}; exit 2'))
    # The dependent checks by itself that its predecessor had finished when it began.
    anyway = Job(logged(log, 'anyway', seconds=0, then=f'test -e {ended}')).depends_on(
        first, condition=DependencyCondition.ENDED)
    after = Job(logged(log, 'after', seconds=0)).depends_on(first)
    for job in (first, anyway, after):
        executor.submit(job)
    wait_all([first, anyway, after])
    assert first.status.state == JobState.FAILED
    assert (anyway.status.state, anyway.status.exit_code) == (JobState.COMPLETED, 0)
    assert after.status.state == JobState.FAILED and after.native_id is None
    assert started(log) == ['first', 'anyway']


def test_an_array_waits_for_its_predecessor(executor: JobExecutor,
                                            tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    first = Job(logged(log, 'first', seconds=0.3))
    array = JobArray(logged(log, INDEX_TOKEN, seconds=0), 4).depends_on(first)
    executor.submit(first)
    executor.submit_array(array)
    assert all(job.native_id is None for job in array.jobs)
    wait_all(array.jobs)
    assert all(job.status.state == JobState.COMPLETED for job in array.jobs)
    names = started(log)
    assert names[0] == 'first' and sorted(names[1:]) == ['0', '1', '2', '3']


class ScriptedSite:
    """A batch executor of the scripted scheduler double, on simulated time."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.clock = FakeClock()
        self.poller = SimulatedPoller(self.clock)
        self.scheduler = ScriptedScheduler()
        registry = TrackerRegistry(clock=self.clock.monotonic, poller=self.poller)
        self.executor = scripted_executor(
            self.scheduler, RecordingTransport(self.clock.monotonic), tmp_path / 'batch',
            registry, SimulatedSubmitter(self.poller), queue_polling_interval=5.0,
            initial_queue_polling_delay=1.0, outcome_timeout=20.0)

    def end(self, job: Job, state: JobState, exit_code: int) -> None:
        """The scheduler says ``job`` ended; its tracker sees it at its next poll."""
        assert job.native_id is not None
        self.scheduler.queue[job.native_id] = SchedulerStatus(state, state.name,
                                                              exit_code=exit_code)
        assert self.poller.run_until(lambda: job.status.final, 120.0), job.status


@pytest.fixture
def site(tmp_path: pathlib.Path) -> Iterator[ScriptedSite]:
    yield ScriptedSite(tmp_path)


def test_a_local_job_waits_for_a_job_of_a_batch_scheduler(
        executor: JobExecutor, site: ScriptedSite, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    batch_job = Job(JobSpec('/bin/true'))
    site.executor.submit(batch_job)
    local_job = Job(logged(log, 'local', seconds=0)).depends_on(batch_job)
    executor.submit(local_job)
    time.sleep(0.3)
    assert local_job.native_id is None and started(log) == []
    assert 'waiting for 1 predecessor(s)' in (local_job.status.message or '')
    site.end(batch_job, JobState.COMPLETED, 0)
    status = local_job.wait(timeout=10)
    assert status is not None and status.state == JobState.COMPLETED
    assert started(log) == ['local']


def test_a_failed_batch_predecessor_fails_the_local_dependent(
        executor: JobExecutor, site: ScriptedSite, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    batch_job = Job(JobSpec('/bin/true'))
    site.executor.submit(batch_job)
    local_job = Job(logged(log, 'local', seconds=0)).depends_on(batch_job)
    executor.submit(local_job)
    site.end(batch_job, JobState.FAILED, 9)
    status = local_job.wait(timeout=5)
    assert status is not None and status.state == JobState.FAILED
    assert f'predecessor job {batch_job.id} ({batch_job.native_id}) ended FAILED' in (
        status.message or '')
    assert started(log) == []


def test_a_job_waits_for_a_job_of_another_local_executor(
        executor: JobExecutor, work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'log'
    other = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=work_dir / 'other'))
    first = Job(logged(log, 'first', seconds=0.3))
    other.submit(first)
    second = Job(logged(log, 'second', seconds=0)).depends_on(first)
    executor.submit(second)
    wait_all([first, second])
    assert second.status.state == JobState.COMPLETED
    assert started(log) == ['first', 'second']


# --- the cap on jobs in flight ---------------------------------------------------------------

def test_max_in_flight_runs_at_most_that_many_jobs_at_once(work_dir: pathlib.Path,
                                                           tmp_path: pathlib.Path) -> None:
    executor = capped(work_dir, 2)
    log = tmp_path / 'log'
    jobs = [Job(logged(log, str(index))) for index in range(8)]
    began = time.monotonic()
    for job in jobs:
        executor.submit(job)
    assert time.monotonic() - began < 1.0  # submit() returns at once
    assert [job.native_id is not None for job in jobs] == [True] * 2 + [False] * 6
    assert jobs[2].status.state == JobState.QUEUED
    assert jobs[2].status.message == \
        "held by psij: 2 of the executor's jobs are in flight (max_in_flight=2)"
    wait_all(jobs)
    assert all(job.status.state == JobState.COMPLETED for job in jobs)
    assert most_at_once(log) == 2
    assert sorted(started(log), key=int) == [str(index) for index in range(8)]


def test_a_held_job_canceled_ends_canceled_and_never_starts(work_dir: pathlib.Path,
                                                            tmp_path: pathlib.Path) -> None:
    executor = capped(work_dir, 1)
    log = tmp_path / 'log'
    first, second, third = (Job(logged(log, name, seconds=0.3))
                            for name in ('first', 'second', 'third'))
    states: List[JobState] = []
    second.set_job_status_callback(lambda _job, status: states.append(status.state))
    for job in (first, second, third):
        executor.submit(job)
    second.cancel()
    assert second.status.state == JobState.CANCELED
    assert second.status.message == 'canceled while held by psij'
    wait_all([first, third])
    time.sleep(0.3)
    assert started(log) == ['first', 'third']
    assert second.native_id is None and states == [JobState.QUEUED, JobState.CANCELED]


def test_the_cap_and_an_array_throttle_hold_together(work_dir: pathlib.Path,
                                                     tmp_path: pathlib.Path) -> None:
    executor = capped(work_dir, 3)
    log = tmp_path / 'log'
    array = JobArray(logged(log, f'a{INDEX_TOKEN}'), 6, throttle=2)
    jobs = [Job(logged(log, f'j{index}')) for index in range(3)]
    executor.submit_array(array)
    for job in jobs:
        executor.submit(job)
    # Two elements (the throttle), then one job (the cap); the rest wait.
    assert [job.native_id is not None for job in array.jobs + jobs] == \
        [True, True, False, False, False, False, True, False, False]
    wait_all(array.jobs + jobs)
    assert all(job.status.state == JobState.COMPLETED for job in array.jobs + jobs)
    assert most_at_once(log) <= 3
    lines = log.read_text().splitlines()
    assert len(started(log)) == 9
    running: List[str] = []
    for line in sorted(lines, key=lambda line: (int(line.split()[1]), line[0] == 's')):
        kind, _stamp, name = line.split()
        if kind == 'start':
            running.append(name)
            assert sum(1 for other in running if other.startswith('a')) <= 2, running
        else:
            running.remove(name)


@pytest.mark.parametrize('value', [0, -1, True, 2.0, '2'])
def test_a_bad_max_in_flight_is_refused_naming_the_field(work_dir: pathlib.Path,
                                                         value: object) -> None:
    with pytest.raises(ValueError, match='LocalJobExecutorConfig.max_in_flight must be a '
                                         'whole number of jobs, 1 or more, or None'):
        LocalJobExecutorConfig(work_directory=work_dir,
                               max_in_flight=value)  # type: ignore[arg-type]


def test_without_a_cap_every_job_starts_in_submit(work_dir: pathlib.Path) -> None:
    executor = JobExecutor.get_instance('local',
                                        config=LocalJobExecutorConfig(work_directory=work_dir))
    jobs = [Job(JobSpec('/bin/sleep', ['0.2'])) for _ in range(10)]
    for job in jobs:
        executor.submit(job)
    assert all(job.status.state == JobState.ACTIVE and job.native_id for job in jobs)
    wait_all(jobs)


def test_a_held_job_says_what_holds_it_once_its_predecessor_ended(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = capped(work_dir, 1)
    other = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=work_dir / 'other'))
    log = tmp_path / 'log'
    long, predecessor = Job(logged(log, 'long', seconds=1.0)), Job(logged(log, 'before'))
    executor.submit(long)
    other.submit(predecessor)
    dependent = Job(logged(log, 'dependent', seconds=0)).depends_on(predecessor)
    executor.submit(dependent)
    assert dependent.status.message == 'held by psij: waiting for 1 predecessor(s) to end'
    assert predecessor.wait(timeout=10) is not None
    cap_message = "held by psij: 1 of the executor's jobs are in flight (max_in_flight=1)"
    assert psij_wait_for(lambda: dependent.status.message == cap_message, 2.0), \
        dependent.status
    assert not long.status.final
    wait_all([long, dependent])
    assert dependent.status.state == JobState.COMPLETED
    assert started(log)[-1] == 'dependent'


# --- the gate, on a batch executor (arrays there are native submissions) ---------------------

def test_a_held_array_element_canceled_leaves_consecutive_slices_to_submit(
        site: ScriptedSite) -> None:
    executor = scripted_executor(
        site.scheduler, RecordingTransport(site.clock.monotonic),
        pathlib.Path(site.executor.directory).parent, site.executor.tracker_registry,
        SimulatedSubmitter(site.poller), max_in_flight=2)
    array = JobArray(JobSpec('/bin/true'), 6)
    executor.submit_array(array)
    array.jobs[3].cancel()
    for _ in range(10):  # both in flight end at once: room for two
        ending = [job for job in array.jobs if job.native_id and not job.status.final]
        for job in ending:
            site.scheduler.queue[job.native_id or ''] = SchedulerStatus(
                JobState.COMPLETED, 'COMPLETED', exit_code=0)
        assert site.poller.run_until(all_final(ending), 120.0)
        site.poller.run_for(5.0)
    slices = [(inputs.array.offset, inputs.array.count)
              for inputs in site.scheduler.submissions if inputs.array is not None]
    indices = [index for offset, count in slices for index in range(offset, offset + count)]
    assert indices == [0, 1, 2, 4, 5], slices  # never index 3, each other one once
    assert array.jobs[3].native_id is None
    assert [job.status.state for job in array.jobs] == [JobState.COMPLETED] * 3 + [
        JobState.CANCELED] + [JobState.COMPLETED] * 2


def test_an_array_whose_predecessor_already_failed_is_never_submitted(
        site: ScriptedSite) -> None:
    first = Job(JobSpec('/bin/true'))
    site.executor.submit(first)
    site.end(first, JobState.FAILED, 1)
    array = JobArray(JobSpec('/bin/true'), 3).depends_on(first)
    site.executor.submit_array(array)
    assert len(site.scheduler.submissions) == 1  # the predecessor's alone
    for job in array.jobs:
        assert job.status.state == JobState.FAILED and job.native_id is None
        assert f'predecessor job {first.id}' in (job.status.message or '')
