"""What tracking many jobs costs the submitting process: memory and CPU time per poll cycle.

Run by hand (never part of the test suite) on a machine with a working Slurm:

    .venv/bin/python benchmarks/tracked_jobs.py [--elements 10000] [--jobs 1000]
        [--local 10000] [--watch 60] [--previous-python /tmp/old-venv/bin/python] [--json]

Each measurement runs in a fresh interpreter (this tree's, or with --previous-python the code
before issue 13), which imports psij, makes its executor, reads its own RSS, submits, lets the
status tracking settle (--settle seconds), then watches for --watch seconds while doing
nothing else, reading its CPU time (every thread of the process; the status commands it runs
are child processes, reported apart) and its RSS at the end. The measurements:

* ``slurm array``: --elements held elements (``slurm.hold``) in one ``JobArray``, which the
  executor splits at the cluster's MaxArraySize (1001 on the CI cluster: 10 ``sbatch
  --array`` for 10,000), this tree;
* ``slurm jobs``: --jobs held jobs, one ``sbatch`` each, this tree and the previous code (the
  figure of issue 13 was measured this way: 1,000 held jobs, polled every 5 s);
* ``local``: --local ``sleep`` jobs of the local executor, this tree and the previous code.

Slurm executors poll every 5 s (``queue_polling_interval=5``). A poll cycle is one status
command: ``squeue`` goes through the logging wrapper of `command_log`, and the cycles are the
``squeue`` calls during the watch; CPU per cycle is the watch's CPU time over that count.
The local executor has no cycle (one reaper thread waits on the jobs' pidfds): its CPU is
given per second. Every job is ended after the report (Slurm: ``scancel --name``; local: the
side SIGKILLs each job's pid and waits for the jobs, not ``cancel()``, whose walk of every
process on the machine makes 10,000 cancels take most of an hour).

Target (issue 13): at most 50 MB and 50 ms per cycle with 10,000 jobs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from command_log import CommandLog, aligned

JOB_NAME = f'tracked-jobs-{os.getpid()}'
POLL_INTERVAL = 5.0

# Run by each side's interpreter: submits, settles, watches, reports JSON on stdout.
SIDE = textwrap.dedent('''
    import gc, json, resource, sys, time
    from psij import Job, JobAttributes, JobExecutor, JobSpec
    mode, work, name, count, settle, watch, interval = sys.argv[1:8]
    count, settle, watch, interval = int(count), float(settle), float(watch), float(interval)

    def rss():
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024

    def children_cpu():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    if mode == 'local':
        from psij import JobExecutorConfig
        executor = JobExecutor.get_instance('local', config=JobExecutorConfig(
            work_directory=work))
        make = lambda: Job(JobSpec('/bin/sleep', ['3600']))
    else:
        from psij.batch import BatchSchedulerExecutorConfig
        executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
            work_directory=work, queue_polling_interval=interval))
        hold = JobAttributes(custom_attributes={'slurm.hold': True})
        make = lambda: Job(JobSpec('/bin/true', name=name, attributes=hold))
    gc.collect()
    before = rss()
    start = time.time()
    jobs = []
    if mode == 'slurm-array':
        from psij import JobArray
        array = JobArray(JobSpec('/bin/true', name=name, attributes=hold), count)
        executor.submit_array(array)  # split at the cluster's MaxArraySize
        jobs.extend(array.jobs)
    else:
        for _ in range(count):
            job = make()
            executor.submit(job)
            jobs.append(job)
    submitted = time.time()
    after_submit = rss()
    time.sleep(settle)
    states = {}
    for job in jobs:
        states[job.status.state.name] = states.get(job.status.state.name, 0) + 1
    cpu, children, watch_start = time.process_time(), children_cpu(), time.time()
    time.sleep(watch)
    cpu, children = time.process_time() - cpu, children_cpu() - children
    watch_end = time.time()
    report = {'rss_before': before, 'rss_after_submit': after_submit, 'rss_end': rss(),
              'submit_seconds': submitted - start, 'states': states, 'cpu': cpu,
              'children_cpu': children, 'watch_start': watch_start, 'watch_end': watch_end}
    print(json.dumps(report), flush=True)
    if mode == 'local':
        # Not with cancel(): each cancel walks every process on the machine (psutil's
        # children()), which with 10,000 jobs takes most of an hour. SIGKILL by pid instead.
        import os, signal
        for job in jobs:
            try:
                os.kill(int(job.native_id), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for job in jobs:
            job.wait(timeout=120)
        print(json.dumps({'final': sorted({job.status.state.name for job in jobs})}),
              flush=True)
''')


@dataclass
class Measurement:
    label: str
    code: str  # 'psij' (this tree) or 'previous'
    jobs: int
    submit_seconds: float
    states: Dict[str, int]
    rss_increase_mb: float  # from before the submissions to the end of the watch
    rss_after_submit_mb: float  # increase right after the submissions
    watch_seconds: float
    cpu_seconds: float  # the process's CPU time during the watch
    cycles: Optional[int]  # status commands during the watch (Slurm)
    cpu_ms_per_cycle: Optional[float]
    cpu_ms_per_second: float
    children_cpu_ms_per_cycle: Optional[float]  # the status commands' own CPU time


def measure(python: str, code: str, mode: str, count: int, settle: float, watch: float,
            scratch: Path, log: CommandLog) -> Measurement:
    label = {'slurm-array': 'slurm array', 'slurm-jobs': 'slurm jobs', 'local': 'local'}[mode]
    print(f'[{time.strftime("%H:%M:%S")}] {label}, {code}: {count}', file=sys.stderr,
          flush=True)
    work = scratch / f'{mode}-{code}'
    with tempfile.TemporaryDirectory() as outside_checkout:  # the interpreter's own psij
        completed = subprocess.run(
            [python, '-c', SIDE, mode, str(work), JOB_NAME, str(count), str(settle), str(watch),
             str(POLL_INTERVAL)], cwd=outside_checkout, capture_output=True, text=True,
            timeout=settle + watch + 1800)
    if mode != 'local':
        log.run_real('scancel', f'--name={JOB_NAME}')
    if completed.returncode != 0:
        raise RuntimeError(f'{label} ({code}) failed:\n{completed.stderr[-3000:]}')
    report: Dict[str, Any] = next(json.loads(line) for line in completed.stdout.splitlines()
                                  if line.startswith('{"rss_before"'))
    watched = report['watch_end'] - report['watch_start']
    cycles: Optional[int] = None
    if mode != 'local':
        cycles = len(log.calls('squeue', report['watch_start'], report['watch_end']))
    megabyte = 1024 * 1024
    return Measurement(
        label=label, code=code, jobs=count, submit_seconds=report['submit_seconds'],
        states=report['states'],
        rss_increase_mb=(report['rss_end'] - report['rss_before']) / megabyte,
        rss_after_submit_mb=(report['rss_after_submit'] - report['rss_before']) / megabyte,
        watch_seconds=watched, cpu_seconds=report['cpu'], cycles=cycles,
        cpu_ms_per_cycle=1000 * report['cpu'] / cycles if cycles else None,
        cpu_ms_per_second=1000 * report['cpu'] / watched,
        children_cpu_ms_per_cycle=1000 * report['children_cpu'] / cycles if cycles else None)


def table(results: List[Measurement]) -> str:
    def number(value: Optional[float], digits: int = 1) -> str:
        return '-' if value is None else f'{value:.{digits}f}'

    rows = [['', 'code', 'jobs', 'submit s', 'RSS +MB', 'cycles', 'CPU ms/cycle', 'CPU ms/s',
             'squeue CPU ms/cycle', 'states while watched']]
    for result in results:
        rows.append([result.label, result.code, str(result.jobs),
                     number(result.submit_seconds), number(result.rss_increase_mb),
                     '-' if result.cycles is None else str(result.cycles),
                     number(result.cpu_ms_per_cycle), number(result.cpu_ms_per_second, 2),
                     number(result.children_cpu_ms_per_cycle),
                     ', '.join(f'{name} {n}' for name, n in sorted(result.states.items()))])
    return aligned(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--elements', type=int, default=10000, help='held array elements')
    parser.add_argument('--jobs', type=int, default=1000, help='held Slurm jobs (0: skip)')
    parser.add_argument('--local', type=int, default=10000, help='local sleep jobs (0: skip)')
    parser.add_argument('--settle', type=float, default=10.0)
    parser.add_argument('--watch', type=float, default=60.0)
    parser.add_argument('--previous-python', default=None)
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    plan = []
    if args.elements:
        plan.append(('slurm-array', args.elements, False))
    if args.jobs:
        plan.append(('slurm-jobs', args.jobs, True))
    if args.local:
        plan.append(('local', args.local, True))
    results: List[Measurement] = []
    with tempfile.TemporaryDirectory(prefix='tracked-jobs-') as scratch:
        log = CommandLog(Path(scratch), ['squeue', 'scancel'])
        try:
            for mode, count, compared in plan:
                sides = [('psij', sys.executable)]
                if compared and args.previous_python:
                    sides.append(('previous', args.previous_python))
                for code, python in sides:
                    results.append(measure(python, code, mode, count, args.settle, args.watch,
                                           Path(scratch), log))
        finally:
            log.run_real('scancel', f'--name={JOB_NAME}')
    if args.json:
        print(json.dumps([asdict(result) for result in results], indent=2))
        return
    print(f'held Slurm jobs polled every {POLL_INTERVAL:g} s; settle {args.settle:g} s, '
          f'then watched {args.watch:g} s; RSS increase from before the first submit to the '
          'end of the watch')
    print(table(results))
    ours = [result for result in results if result.code == 'psij']
    print('at most 50 MB: ' + ('met' if all(r.rss_increase_mb <= 50 for r in ours)
                               else 'NOT met'))
    print('at most 50 ms per cycle: ' + ('met' if all(
        r.cpu_ms_per_cycle is None or r.cpu_ms_per_cycle <= 50 for r in ours) else 'NOT met'))


if __name__ == '__main__':
    main()
