"""The local executor's budget within one process: settings, refusal, waiting, GPUs, cancel,
dependencies. Jobs are real processes; each writes its own start and end times."""

import pathlib
import time
from typing import Dict, List, Optional, Tuple

import pytest
from psij.executors.local import LocalJobExecutor, LocalJobExecutorConfig

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1
from psij.exceptions import InvalidJobException
from psij.resource_packing import DEFAULT_MAX_PASSES

Interval = Tuple[float, float]


def _executor(work: pathlib.Path, **budget: object) -> LocalJobExecutor:
    config = LocalJobExecutorConfig(work_directory=work, **budget)  # type: ignore[arg-type]
    executor = JobExecutor.get_instance('local', config=config)
    assert isinstance(executor, LocalJobExecutor)
    return executor


def _timed_job(out: pathlib.Path, name: str, seconds: float, cores: int = 1,
               gpus: Optional[int] = None, extra: str = '') -> Job:
    """A job that writes ``<name>.times`` (its own start and end) and runs ``seconds``."""
    script = (f'date +%s.%N > {name}.times; {extra} sleep {seconds}; '
              f'date +%s.%N >> {name}.times')
    return Job(JobSpec('/bin/sh', ['-c', script], directory=out,
                       stdout_path=out / f'{name}.out',
                       resources=ResourceSpecV1(cpu_cores_per_process=cores,
                                                gpu_cores_per_process=gpus)))


def _times(out: pathlib.Path, name: str) -> Interval:
    start, end = (float(line) for line in (out / f'{name}.times').read_text().split())
    return start, end


def _wait_all(jobs: List[Job], timeout: float = 60) -> None:
    for job in jobs:
        status = job.wait(timeout=timeout)
        assert status is not None and status.state == JobState.COMPLETED, status


@pytest.mark.parametrize('field, value', [
    ('cores', 0), ('cores', 'lots'), ('cores', True), ('cores', 1.5),
    ('gpus', -1), ('gpus', [1.5]), ('gpus', ['a', 'a']), ('gpus', ['a b']), ('gpus', 'some'),
    ('memory', '4X'), ('memory', 0), ('memory', -5), ('memory', [1])])
def test_a_bad_setting_is_refused_naming_the_field(field: str, value: object,
                                                   work_dir: pathlib.Path) -> None:
    with pytest.raises(ValueError, match=rf'LocalJobExecutorConfig\.{field}'):
        LocalJobExecutorConfig(work_directory=work_dir, **{field: value})  # type: ignore


def test_settings_all_and_sizes(work_dir: pathlib.Path) -> None:
    import psutil
    executor = _executor(work_dir, cores='all', memory='1.5G', gpus=['gpu-a', 7])
    budget = executor._budget
    assert budget is not None
    assert budget.budget.limits.cores == psutil.cpu_count()
    assert budget.budget.limits.memory == 3 * 1024 ** 3 // 2
    assert budget.budget.devices == ('gpu-a', '7')
    assert _executor(work_dir)._budget is None  # nothing set: no budget, as before


@pytest.mark.parametrize('budget, resources, named', [
    ({'cores': 2}, ResourceSpecV1(process_count=3), 'cores=2'),
    ({'cores': 4}, ResourceSpecV1(process_count=2, cpu_cores_per_process=3), 'cores=4'),
    ({'cores': 4, 'gpus': ['x']}, ResourceSpecV1(gpu_cores_per_process=2), 'gpus=1'),
    ({'memory': '1K'}, ResourceSpecV1(memory=2048), 'memory=1024')])
def test_a_job_over_the_whole_budget_is_refused_at_submit(
        budget: Dict[str, object], resources: ResourceSpecV1, named: str,
        work_dir: pathlib.Path) -> None:
    executor = _executor(work_dir, **budget)
    job = Job(JobSpec('/bin/true', resources=resources))
    with pytest.raises(InvalidJobException, match=named):
        executor.submit(job)
    assert job.status.state == JobState.NEW and job.native_id is None


def test_a_job_that_does_not_fit_waits_queued_saying_for_what(work_dir: pathlib.Path,
                                                              tmp_path: pathlib.Path) -> None:
    executor = _executor(work_dir, cores=2)
    first = _timed_job(tmp_path, 'first', 1.0, cores=2)
    second = _timed_job(tmp_path, 'second', 0.1, cores=2)
    executor.submit(first)
    executor.submit(second)
    assert first.status.state == JobState.ACTIVE
    # While it waits, its native id is its job id (another process may attach by it).
    assert second.status.state == JobState.QUEUED and second.native_id == second.id
    assert 'cores: needs 2, 0 available' in (second.status.message or '')
    _wait_all([first, second])
    assert (second.native_id or '').isdigit()  # its pid once it ran
    assert _times(tmp_path, 'second')[0] >= _times(tmp_path, 'first')[1]


def test_each_job_gets_its_own_gpus(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    devices = ['fake-gpu-0', 'fake-gpu-1', 'fake-gpu-2']
    executor = _executor(work_dir, cores=8, gpus=devices)
    show = ('echo "$CUDA_VISIBLE_DEVICES|$ROCR_VISIBLE_DEVICES|$HIP_VISIBLE_DEVICES" '
            '> {name}.gpus;')
    wants = {'a': 1, 'b': 2, 'c': 1, 'd': 2, 'none': None}
    jobs = {name: _timed_job(tmp_path, name, 0.4, gpus=count, extra=show.format(name=name))
            for name, count in wants.items()}
    for job in jobs.values():
        executor.submit(job)
    _wait_all(list(jobs.values()))
    seen: Dict[str, List[str]] = {}
    for name, count in wants.items():
        cuda, rocr, hip = (tmp_path / f'{name}.gpus').read_text().strip().split('|')
        assert cuda == rocr == hip
        seen[name] = cuda.split(',') if cuda else []
        assert len(seen[name]) == (count or 0) and set(seen[name]) <= set(devices)
    for one in wants:
        for other in wants:
            if one < other and set(seen[one]) & set(seen[other]):
                first, second = _times(tmp_path, one), _times(tmp_path, other)
                assert first[1] <= second[0] or second[1] <= first[0], (one, other)


def test_cancel_of_a_waiting_job_is_at_once_and_it_never_starts(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = _executor(work_dir, cores=1)
    running = _timed_job(tmp_path, 'running', 1.0)
    waiting = _timed_job(tmp_path, 'waiting', 0.1)
    executor.submit(running)
    executor.submit(waiting)
    assert waiting.status.state == JobState.QUEUED
    began = time.monotonic()
    waiting.cancel()
    status = waiting.wait(timeout=5)
    assert status is not None and status.state == JobState.CANCELED
    assert time.monotonic() - began < 0.5
    _wait_all([running])
    time.sleep(0.3)
    # It never had a process: its native id is still its job id.
    assert not (tmp_path / 'waiting.times').exists() and waiting.native_id == waiting.id


def test_a_big_job_among_many_small_ones_starts_within_a_bounded_time(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = _executor(work_dir, cores=4)
    older = [_timed_job(tmp_path, f'old{i}', 0.3) for i in range(4)]
    big = _timed_job(tmp_path, 'big', 0.2, cores=4)
    younger = [_timed_job(tmp_path, f'young{i}', 0.3) for i in range(40)]
    submitted = time.time()
    for job in older + [big] + younger:
        executor.submit(job)
    _wait_all(older + [big] + younger, timeout=120)
    big_start = _times(tmp_path, 'big')[0]
    ahead = [i for i in range(40) if _times(tmp_path, f'young{i}')[0] < big_start]
    # At most DEFAULT_MAX_PASSES younger jobs pass it, then it holds a reservation.
    assert len(ahead) <= DEFAULT_MAX_PASSES, ahead
    rounds = DEFAULT_MAX_PASSES // 4 + 2  # 4 small ones start per 0.3 s round
    assert big_start - submitted < rounds * 0.3 + 3.0


def test_dependencies_and_max_in_flight_hold_jobs_before_the_budget(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = _executor(work_dir, cores=2, max_in_flight=2)
    first = _timed_job(tmp_path, 'first', 0.5)
    after = _timed_job(tmp_path, 'after', 0.1, cores=2)
    after.depends_on(first)
    wide = _timed_job(tmp_path, 'wide', 0.3)
    executor.submit(first)
    executor.submit(after)
    executor.submit(wide)
    assert 'predecessor' in (after.status.message or '')
    _wait_all([first, after, wide])
    assert _times(tmp_path, 'after')[0] >= _times(tmp_path, 'first')[1]
    assert _times(tmp_path, 'after')[0] >= _times(tmp_path, 'wide')[1]


def test_a_failed_predecessor_fails_a_dependent_waiting_for_it(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = _executor(work_dir, cores=1)
    failing = Job(JobSpec('/bin/sh', ['-c', 'sleep 0.2; exit 3']))
    dependent = _timed_job(tmp_path, 'dependent', 0.1)
    dependent.depends_on(failing)
    executor.submit(failing)
    executor.submit(dependent)
    status = dependent.wait(timeout=10)
    assert status is not None and status.state == JobState.FAILED
    assert not (tmp_path / 'dependent.times').exists()


def test_memory_is_budgeted_like_cores(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = _executor(work_dir, memory='1K')
    jobs = [Job(JobSpec('/bin/sh', ['-c', f'date +%s.%N > m{i}.times; sleep 0.3; '
                                          f'date +%s.%N >> m{i}.times'], directory=tmp_path,
                        resources=ResourceSpecV1(memory=600))) for i in range(2)]
    for job in jobs:
        executor.submit(job)
    assert 'memory: needs 600, 424 available' in (jobs[1].status.message or '')
    _wait_all(jobs)
    assert _times(tmp_path, 'm1')[0] >= _times(tmp_path, 'm0')[1]


def test_a_damaged_ledger_is_started_anew(work_dir: pathlib.Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    (work_dir / 'local').mkdir(parents=True, exist_ok=True)
    (work_dir / 'local' / 'budget.json').write_text('{"reservations": [{"holder"\n')
    executor = _executor(work_dir, cores=1)
    job = Job(JobSpec('/bin/true'))
    executor.submit(job)
    _wait_all([job])
    assert 'damaged' in caplog.text
