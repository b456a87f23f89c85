"""`TrackerRegistry`: which executors share a tracker, and when a tracker is forgotten; and the
one rule for the shared settings of jobs whose executors' configs differ (`Pace`)."""

import pathlib
from typing import Dict, List, Sequence

from doubles.fake_batch_scheduler import (
    STATUS,
    FakeClock,
    RecordingTransport,
    ScriptedScheduler,
    SimulatedPoller,
    running,
    scripted_executor,
)
from psij.executors.sge import GridEngine
from psij.executors.slurm import Slurm

from psij import Job, JobSpec, JobState
from psij.batch import (
    BatchSchedulerExecutor,
    BatchSchedulerExecutorConfig,
    CommandResult,
    SchedulerStatus,
)
from psij.batch.cadence import Pace
from psij.batch.registry import TrackerRegistry


def simulated_registry() -> TrackerRegistry:
    clock = FakeClock()
    return TrackerRegistry(clock=clock.monotonic, poller=SimulatedPoller(clock))


def submit(executor: BatchSchedulerExecutor, count: int = 1) -> List[Job]:
    jobs = [Job(JobSpec('/bin/true')) for _ in range(count)]
    for job in jobs:
        executor.submit(job)
    return jobs


def test_executors_of_one_scheduler_and_transport_share_one_tracker(
        tmp_path: pathlib.Path) -> None:
    registry = simulated_registry()
    scheduler, transport = ScriptedScheduler(), RecordingTransport()
    first = scripted_executor(scheduler, transport, tmp_path / 'a', registry)
    second = scripted_executor(scheduler, transport, tmp_path / 'b', registry)
    submit(first), submit(second)
    assert len(registry) == 1
    assert first.tracker is second.tracker is not None


def test_a_scheduler_subclass_gets_its_own_tracker_and_its_own_parsers(
        tmp_path: pathlib.Path) -> None:
    class Variant(ScriptedScheduler):
        """A subclass reporting every job as running, whatever the queue says."""

        def parse_status_output(self, result: CommandResult,
                                native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
            return {native_id: running() for native_id in native_ids}

    clock = FakeClock()
    poller = SimulatedPoller(clock)
    registry = TrackerRegistry(clock=clock.monotonic, poller=poller)
    transport = RecordingTransport(clock.monotonic)
    plain = scripted_executor(ScriptedScheduler(), transport, tmp_path / 'plain', registry)
    variant = scripted_executor(Variant(), transport, tmp_path / 'variant', registry)
    (plain_job,), (variant_job,) = submit(plain), submit(variant)
    assert len(registry) == 2 and plain.tracker is not variant.tracker
    poller.run_until(lambda: variant_job.status.state == JobState.ACTIVE, 10.0)
    assert variant_job.status.state == JobState.ACTIVE
    assert plain_job.status.state == JobState.QUEUED
    assert len(transport.runs_of(STATUS)) == 2  # one status command per tracker


def test_transports_of_another_class_with_the_same_key_are_not_merged(
        tmp_path: pathlib.Path) -> None:
    class OtherTransport(RecordingTransport):
        """Same key, other class: it may reach another place."""

    registry = simulated_registry()
    scheduler = ScriptedScheduler()
    one = RecordingTransport()
    other = OtherTransport()
    other.key = one.key
    submit(scripted_executor(scheduler, one, tmp_path / 'one', registry))
    submit(scripted_executor(scheduler, other, tmp_path / 'other', registry))
    assert len(registry) == 2


def test_a_tracker_is_forgotten_when_its_last_job_ends(tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    poller = SimulatedPoller(clock)
    registry = TrackerRegistry(clock=clock.monotonic, poller=poller)
    scheduler = ScriptedScheduler()
    executor = scripted_executor(scheduler, RecordingTransport(clock.monotonic),
                                 tmp_path / 'work', registry)
    jobs = submit(executor, 3)
    first_tracker = executor.tracker
    assert first_tracker is not None and len(registry) == 1
    for job in jobs:
        scheduler.queue[job.native_id or ''] = SchedulerStatus(JobState.COMPLETED, 'COMPLETED',
                                                               exit_code=0)
    assert poller.run_until(lambda: all(job.status.final for job in jobs), 30.0)
    poller.run_for(1.0)
    assert len(registry) == 0 and executor.tracker is None
    (later,) = submit(executor)
    assert executor.tracker is not None and executor.tracker is not first_tracker
    assert len(registry) == 1
    assert later.status.state == JobState.QUEUED


def test_schedulers_are_equal_by_class_and_settings() -> None:
    assert Slurm() == Slurm() and hash(Slurm()) == hash(Slurm())
    assert GridEngine('mpi', user='alice') == GridEngine('mpi', user='alice')
    assert GridEngine('mpi', user='alice') != GridEngine('smp', user='alice')
    assert GridEngine() != Slurm()
    doubled = ScriptedScheduler()  # unhashable state: only itself
    assert doubled == doubled and doubled != ScriptedScheduler()


def test_the_most_eager_config_sets_the_shared_pace() -> None:
    slow = BatchSchedulerExecutorConfig(queue_polling_interval=60, initial_queue_polling_delay=3,
                                        marker_polling_interval=5, command_timeout=120)
    eager = BatchSchedulerExecutorConfig(queue_polling_interval=10,
                                         initial_queue_polling_delay=0.5,
                                         marker_polling_interval=1, command_timeout=30)
    assert Pace.of([slow, eager, slow]) == Pace(initial_delay=0.5, status_ceiling=10.0,
                                                marker_ceiling=1.0, command_timeout=30.0)


def test_jobs_of_a_slow_executor_are_looked_at_at_the_pace_of_an_eager_one(
        tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    poller = SimulatedPoller(clock)
    registry = TrackerRegistry(clock=clock.monotonic, poller=poller)
    scheduler, transport = ScriptedScheduler(), RecordingTransport(clock.monotonic)
    slow = scripted_executor(scheduler, transport, tmp_path / 'slow', registry,
                             queue_polling_interval=120.0)
    eager = scripted_executor(scheduler, transport, tmp_path / 'eager', registry,
                              queue_polling_interval=10.0)
    submit(slow), submit(eager)
    poller.run_for(200.0)
    times = [command.at for command in transport.runs_of(STATUS)]
    assert max(later - earlier for earlier, later in zip(times, times[1:])) <= 10.0 + 1e-6
