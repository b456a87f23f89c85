"""The local executor's budget (issue 16): packing of mixed jobs, and the cost of scheduling.

Run by hand (never part of the test suite):

    .venv/bin/python benchmarks/local_budget.py [--jobs 1000] [--cores 8] [--true-jobs 1000]
        [--rounds 3] [--seed 16] [--work-root DIR]

1. Packing: ``--jobs`` jobs of 1, 2 or 4 cores (equally likely), each ``/bin/sleep`` for 0.1 to
   0.5 s (uniform), all submitted at once to a local executor with ``cores=--cores``. Reported:
   the makespan (first submit to last end); the ideal packing's lower bound
   ``max(sum(cores x seconds) / budget, longest job)``, and its ratio to the makespan
   (``packing``: 1 would be a perfect packing); the utilisation (core-seconds the processes
   really ran, from their ACTIVE to their final status, over budget x makespan); and the
   scheduling overhead per job: wall time spent in ledger transactions (each takes the lock,
   reads the ledger, plans, writes it) divided by the number of jobs.
2. Throughput: ``--true-jobs`` jobs of ``/bin/true`` (1 core each) through an executor with
   ``cores=--cores``, and through one without a budget, each against a plain
   ``subprocess.Popen`` + ``wait`` loop in the same round; rounds alternate the order; medians.
"""

import argparse
import functools
import os
import pathlib
import random
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from psij.executors import local_ledger
from psij.executors.local import LocalJobExecutorConfig

from psij import Job, JobExecutor, JobSpec, JobState, JobStatus, ResourceSpecV1


class _Timer:
    """Wall time spent in wrapped functions (any thread)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds += time.perf_counter() - began
                    self.calls += 1
        return timed


def _timed_queue(timer: _Timer) -> None:
    """Time the budget's own work: every ledger transaction (lock, read, dead holders, plan,
    write), whichever thread makes it."""
    ledger = local_ledger.Ledger
    ledger.update = timer.wrap(ledger.update)  # type: ignore[method-assign]


def packing(count: int, cores: int, seed: int, work: str) -> Dict[str, float]:
    rng = random.Random(seed)
    shapes = [(rng.choice((1, 2, 4)), round(rng.uniform(0.1, 0.5), 3)) for _ in range(count)]
    timer = _Timer()
    _timed_queue(timer)
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=cores))
    active: Dict[str, float] = {}
    ended: Dict[str, float] = {}

    def seen(job: Job, status: JobStatus) -> None:
        if status.state == JobState.ACTIVE:
            active[job.id] = status.time
        elif status.final:
            ended[job.id] = status.time

    jobs = []
    for need, seconds in shapes:
        job = Job(JobSpec('/bin/sleep', [str(seconds)],
                          resources=ResourceSpecV1(cpu_cores_per_process=need)))
        job.set_job_status_callback(seen)
        jobs.append(job)
    began = time.time()
    submit_started = time.perf_counter()
    for job in jobs:
        executor.submit(job)
    submit_seconds = time.perf_counter() - submit_started
    for job in jobs:
        job.wait()
    bad = [job for job in jobs if job.status.state != JobState.COMPLETED]
    assert not bad, f'{len(bad)} jobs did not complete: {bad[0].status}'
    for job in jobs:  # callbacks may come after wait() returned
        ended[job.id] = job.status.time
    makespan = max(ended.values()) - began
    work_seconds = sum(need * seconds for need, seconds in shapes)
    ideal = max(work_seconds / cores, max(seconds for _, seconds in shapes))
    ran = sum(need * (ended[job.id] - active[job.id]) for job, (need, _) in zip(jobs, shapes))
    return {'makespan': makespan, 'ideal': ideal, 'packing': ideal / makespan,
            'utilisation': ran / (cores * makespan),
            'overhead_ms': 1000 * timer.seconds / count, 'submit_s': submit_seconds}


def plain_loop(count: int) -> float:
    start = time.perf_counter()
    processes = [subprocess.Popen(['/bin/true']) for _ in range(count)]
    for process in processes:
        process.wait()
    return count / (time.perf_counter() - start)


def psij_loop(count: int, work: str, cores: Optional[int]) -> float:
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=cores))
    start = time.perf_counter()
    jobs = [Job(JobSpec('/bin/true')) for _ in range(count)]
    for job in jobs:
        executor.submit(job)
    for job in jobs:
        job.wait()
    rate = count / (time.perf_counter() - start)
    failed = [job for job in jobs if job.status.state != JobState.COMPLETED]
    assert not failed, f'{len(failed)} jobs did not complete'
    return rate


def throughput(count: int, cores: int, rounds: int, root: str
               ) -> List[Tuple[float, float, float]]:
    results = []
    for index in range(rounds):
        with tempfile.TemporaryDirectory(dir=root) as budgeted, \
                tempfile.TemporaryDirectory(dir=root) as plain_work:
            if index % 2 == 0:
                plain = plain_loop(count)
                with_budget = psij_loop(count, budgeted, cores)
                without = psij_loop(count, plain_work, None)
            else:
                without = psij_loop(count, plain_work, None)
                with_budget = psij_loop(count, budgeted, cores)
                plain = plain_loop(count)
        results.append((plain, with_budget, without))
        print(f'round {index + 1}: plain {plain:7.0f} jobs/s   budget (cores={cores}) '
              f'{with_budget:7.0f} jobs/s ratio {with_budget / plain:.2f}   no budget '
              f'{without:7.0f} jobs/s ratio {without / plain:.2f}', flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--cores', type=int, default=8)
    parser.add_argument('--true-jobs', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seed', type=int, default=16)
    parser.add_argument('--work-root', default=None,
                        help='where work directories are made (default: ~/.psij)')
    args = parser.parse_args()
    root = args.work_root or os.path.expanduser('~/.psij')
    pathlib.Path(root).mkdir(parents=True, exist_ok=True)
    print(f'loadavg at start: {os.getloadavg()}', flush=True)
    results = throughput(args.true_jobs, args.cores, args.rounds, root)
    plain = statistics.median(r[0] for r in results)
    budget = statistics.median(r[1] / r[0] for r in results)
    without = statistics.median(r[2] / r[0] for r in results)
    print(f'median: plain {plain:.0f} jobs/s, ratio with budget {budget:.2f}, '
          f'without {without:.2f}', flush=True)
    with tempfile.TemporaryDirectory(dir=root) as work:
        found = packing(args.jobs, args.cores, args.seed, work)
    print(f'packing: {args.jobs} jobs (1/2/4 cores, 0.1-0.5 s) on cores={args.cores}: '
          f'makespan {found["makespan"]:.2f} s, ideal >= {found["ideal"]:.2f} s, '
          f'packing {found["packing"]:.3f}, utilisation {found["utilisation"]:.3f}, '
          f'scheduling overhead {found["overhead_ms"]:.3f} ms/job, '
          f'submit loop {found["submit_s"]:.2f} s', flush=True)
    print(f'loadavg at end: {os.getloadavg()}', flush=True)


if __name__ == '__main__':
    main()
