"""Python functions as jobs: calls per second and submit-to-result latency (issue 17).

Run by hand (never part of the test suite) on a machine with a working Slurm:

    python3 -m venv /tmp/submitit-venv && /tmp/submitit-venv/bin/pip install submitit
    .venv/bin/python benchmarks/function_calls.py [--local 200] [--slurm 50]
        [--submitit-python /tmp/submitit-venv/bin/python] [--json]

In the same run, side by side, each measurement in a fresh interpreter:

* local: ``--local`` calls of a trivial function (``bench_increment(x) = x + 1``) through
  `psij.functions.FunctionExecutor` over ``local`` (``map``: one job array; and ``submit`` in
  a loop), against submitit's ``LocalExecutor`` (``map_array`` and ``submit`` in a loop) and
  ``concurrent.futures.ProcessPoolExecutor`` (``submit`` in a loop; its default workers);
* slurm: ``--slurm`` calls on the real Slurm (partition ``debug``, 1 cpu, a 5 minute limit for
  both) through ``FunctionExecutor('slurm')`` against submitit's ``AutoExecutor`` (Slurm).

submitit runs in its own venv (``--submitit-python``), never in this tree's; psij and the
process pool run with this tree's interpreter. Every side submits all its calls, then waits
for all their results. Measured per side: the time to submit all, calls per second (the
first submit to the last result), and each call's latency from the start of its submission
(the ``map`` call for an array) to its result being there. For psij and the process pool a
result is "there" when its future's done callback runs; submitit has no callbacks, so its
jobs' ``done()`` (which looks for the result file) is polled every 20 ms, more often than its
own ``result()`` does (every 1 s): that favours submitit, if anything. Every result is checked.

Both use their defaults otherwise: psij's Slurm executor looks at ``squeue`` first 1 s after a
submission, then backs off (``BatchSchedulerExecutorConfig``), and at the jobs' exit-code
markers every 2 s at most; submitit polls nothing until asked. Every Slurm job is named
(``psij-fn-bench_increment``, ``function-calls-bench``) and ``scancel --name`` of both runs at
the end, whatever happened.

Target (issue 17): ahead of submitit on both calls per second and latency.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List

from command_log import aligned

SUBMITIT_NAME = 'function-calls-bench'
PSIJ_NAME = 'psij-fn-bench_increment'

# Run by this tree's interpreter: psij's FunctionExecutor, or a ProcessPoolExecutor.
OURS = textwrap.dedent('''
    import concurrent.futures, json, sys, time
    from datetime import timedelta
    side, mode, work, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def bench_increment(x):
        return x + 1

    if side == 'pool':
        executor = concurrent.futures.ProcessPoolExecutor()
    else:
        from psij import JobAttributes, JobExecutorConfig, JobSpec, ResourceSpecV1
        from psij.batch import BatchSchedulerExecutorConfig
        from psij.functions import FunctionExecutor
        if side == 'psij-local':
            executor = FunctionExecutor('local', config=JobExecutorConfig(work_directory=work))
        else:
            spec = JobSpec(resources=ResourceSpecV1(cpu_cores_per_process=1),
                           attributes=JobAttributes(duration=timedelta(minutes=5),
                                                    queue_name='debug'))
            executor = FunctionExecutor('slurm', spec=spec, config=BatchSchedulerExecutorConfig(
                work_directory=work))
    done = {}

    def settled(index):
        return lambda future: done.setdefault(index, time.time())

    started = []
    first = time.time()
    if mode == 'map':
        futures = executor.map_futures(bench_increment, range(count))
        started = [first] * count
    else:
        futures = []
        for x in range(count):
            started.append(time.time())
            futures.append(executor.submit(bench_increment, x))
    for index, future in enumerate(futures):
        future.add_done_callback(settled(index))
    submitted = time.time()
    concurrent.futures.wait(futures, timeout=900)
    results = [future.result(timeout=0) for future in futures]
    assert results == [x + 1 for x in range(count)], results
    ends = [done[index] for index in range(count)]
    executor.shutdown()
    print(json.dumps({'first': first, 'submitted': submitted, 'started': started,
                      'ends': ends}))
''')

# Run by the submitit venv's interpreter.
SUBMITIT = textwrap.dedent('''
    import json, sys, time
    import submitit
    side, mode, work, count, name = (sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]),
                                     sys.argv[5])

    def bench_increment(x):
        return x + 1

    if side == 'submitit-local':
        executor = submitit.LocalExecutor(folder=work)
        executor.update_parameters(timeout_min=5)
    else:
        executor = submitit.AutoExecutor(folder=work, cluster='slurm')
        executor.update_parameters(timeout_min=5, slurm_partition='debug', cpus_per_task=1,
                                   nodes=1, tasks_per_node=1, name=name)
    started = []
    first = time.time()
    if mode == 'map':
        jobs = executor.map_array(bench_increment, range(count))
        started = [first] * count
    else:
        jobs = []
        for x in range(count):
            started.append(time.time())
            jobs.append(executor.submit(bench_increment, x))
    submitted = time.time()
    ends = [None] * count
    pending = set(range(count))
    deadline = time.monotonic() + 900
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f'{len(pending)} results not there after 900 s')
        for index in list(pending):
            if jobs[index].done():
                ends[index] = time.time()
                pending.discard(index)
        time.sleep(0.02)
    results = [job.result() for job in jobs]
    assert results == [x + 1 for x in range(count)], results
    print(json.dumps({'first': first, 'submitted': submitted, 'started': started,
                      'ends': ends}))
''')


@dataclass
class Calls:
    side: str
    mode: str
    calls: int
    submit_seconds: float  # all submitted
    total_seconds: float  # first submit to last result
    calls_per_second: float
    median_latency: float  # a call's submission to its result
    max_latency: float


def measure(side: str, mode: str, count: int, python: str, scratch: Path) -> Calls:
    print(f'[{time.strftime("%H:%M:%S")}] {side} {mode}: {count} calls', file=sys.stderr,
          flush=True)
    work = scratch / f'{side}-{mode}'
    work.mkdir(parents=True)
    if side.startswith('submitit'):
        command = [python, '-c', SUBMITIT, side, mode, str(work), str(count), SUBMITIT_NAME]
    else:
        command = [python, '-c', OURS, side, mode, str(work), str(count)]
    # Run from the scratch directory: each interpreter imports its own installed packages.
    completed = subprocess.run(command, cwd=scratch, capture_output=True, text=True,
                               timeout=1200)
    if completed.returncode != 0:
        raise RuntimeError(f'{side} {mode} failed:\n{completed.stderr[-3000:]}')
    report: Dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    latencies = [end - start for start, end in zip(report['started'], report['ends'])]
    total = max(report['ends']) - report['first']
    return Calls(side=side, mode=mode, calls=count,
                 submit_seconds=report['submitted'] - report['first'], total_seconds=total,
                 calls_per_second=count / total, median_latency=statistics.median(latencies),
                 max_latency=max(latencies))


def table(results: List[Calls]) -> str:
    rows = [['', 'mode', 'calls', 'submit s', 'to last result s', 'calls/s',
             'latency median s', 'latency max s']]
    for result in results:
        rows.append([result.side, result.mode, str(result.calls),
                     f'{result.submit_seconds:.3f}', f'{result.total_seconds:.3f}',
                     f'{result.calls_per_second:.2f}', f'{result.median_latency:.3f}',
                     f'{result.max_latency:.3f}'])
    return aligned(rows)


def verdict(results: List[Calls], ours: str, theirs: str) -> List[str]:
    """Ours against submitit, mode by mode (map against map_array, submit against submit):
    met only when ours is ahead in every mode."""
    pairs = [(mine, other) for mine in results if mine.side == ours
             for other in results if other.side == theirs and other.mode == mine.mode]
    if not pairs:
        return []
    lines = []
    for label, key, higher in (('calls/s', 'calls_per_second', True),
                               ('median latency s', 'median_latency', False),
                               ('max latency s', 'max_latency', False)):
        ahead = [getattr(mine, key) > getattr(other, key) if higher
                 else getattr(mine, key) < getattr(other, key) for mine, other in pairs]
        figures = ', '.join(f'{mine.mode} {getattr(mine, key):.3f} / {getattr(other, key):.3f}'
                            for mine, other in pairs)
        lines.append(f'{ours} ahead of {theirs} on {label}: '
                     f'{"met" if all(ahead) else "NOT met"} (ours / theirs: {figures})')
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--local', type=int, default=200, help='local calls (0: skip)')
    parser.add_argument('--slurm', type=int, default=50, help='Slurm calls (0: skip)')
    parser.add_argument('--submitit-python', default='/tmp/submitit-venv/bin/python')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    plan = []
    if args.local:
        plan += [(side, mode, args.local, python) for side, python in (
            ('psij-local', sys.executable), ('submitit-local', args.submitit_python))
            for mode in ('map', 'submit')]
        # The pool's map gives an iterator, not futures: it is measured with submit only.
        plan.append(('pool', 'submit', args.local, sys.executable))
    if args.slurm:
        plan += [(side, mode, args.slurm, python) for side, python in (
            ('psij-slurm', sys.executable), ('submitit-slurm', args.submitit_python))
            for mode in ('map', 'submit')]
    results: List[Calls] = []
    with tempfile.TemporaryDirectory(prefix='function-calls-', dir='/tmp') as scratch:
        try:
            for side, mode, count, python in plan:
                results.append(measure(side, mode, count, python, Path(scratch)))
        finally:
            if args.slurm:
                subprocess.run(['scancel', f'--name={PSIJ_NAME},{SUBMITIT_NAME}'],
                               check=False, timeout=120)
    lines = (verdict(results, 'psij-local', 'submitit-local')
             + verdict(results, 'psij-slurm', 'submitit-slurm'))
    if args.json:
        print(json.dumps({'results': [asdict(result) for result in results],
                          'verdict': lines}, indent=2))
        return
    print(table(results))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
