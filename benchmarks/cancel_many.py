"""Canceling many Slurm jobs at once: wall time and ``scancel`` commands.

Run by hand (never part of the test suite) on a machine with a working Slurm:

    .venv/bin/python benchmarks/cancel_many.py [--jobs 1000] [--runs 1] [--local 2000]
        [--previous-python /tmp/old-venv/bin/python] [--json]

``scancel`` and ``squeue`` go through the logging wrappers of `command_log`, first on PATH.
Each measurement runs in a fresh interpreter (this tree's, or the previous code's with
--previous-python), which submits N held jobs (``slurm.hold``: they stay pending), waits until
psij has seen them all QUEUED, then calls ``cancel()`` on every job in a loop and waits for
all to be final. Measured: the time the loop of ``cancel()`` calls took, the wall time from
the first ``cancel()`` to the last job CANCELED (from the jobs' final status times), the
final states, and the ``scancel`` commands (and the ids they named) and ``squeue`` commands
run meanwhile. This tree is also measured canceling one ``JobArray`` of N held elements with
``array.cancel()``, and against the floor: the same N held jobs submitted with plain
``sbatch`` and canceled with ONE ``scancel`` of all their ids, timed to its exit (what Slurm
itself needs). With ``--local N``: N running local ``sleep`` jobs canceled in a loop (each
``cancel()`` signals the job's own process tree), this tree and the previous code.
Each line also says how many job records the controller held when it began (``squeue -t all``:
``scancel`` of many ids gets slower as the controller holds more).

Target (issue 13): 1,000 jobs canceled in under 1 s with at most a few commands (the code
before it ran one ``scancel`` per ``cancel()``: 1,000 jobs in 5.2 s).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List

from command_log import CommandLog, aligned

JOB_NAME = f'cancel-many-{os.getpid()}'

# Run by each side's interpreter: prints what it measured, as JSON.
SIDE = textwrap.dedent('''
    import json, sys, time
    from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState
    from psij.batch import BatchSchedulerExecutorConfig
    mode, work, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == 'local':
        executor = JobExecutor.get_instance('local')
        spec = lambda: JobSpec('/bin/sleep', ['300'], name=name)
    else:
        executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
            work_directory=work))
        spec = lambda: JobSpec('/bin/true', name=name, attributes=JobAttributes(
            custom_attributes={'slurm.hold': True}))
    submit_start = time.time()
    if mode == 'array':
        from psij import JobArray
        array = JobArray(spec(), count)
        executor.submit_array(array)
        jobs = array.jobs
    else:
        jobs = [Job(spec()) for _ in range(count)]
        for job in jobs:
            executor.submit(job)
    submitted = time.time()
    deadline = time.monotonic() + 120
    waited = JobState.ACTIVE if mode == 'local' else JobState.QUEUED
    while any(job.status.state != waited for job in jobs):
        if time.monotonic() > deadline:
            raise SystemExit(f'jobs not all {waited} after 120 s')
        time.sleep(0.05)
    time.sleep(2)  # the status look that follows the submissions has run
    start = time.time()
    if mode == 'array':
        array.cancel()
    else:
        for job in jobs:
            job.cancel()
    returned = time.time()
    for job in jobs:
        job.wait(timeout=300)
    end = max(job.status.time for job in jobs)
    states = {}
    for job in jobs:
        states[job.status.state.name] = states.get(job.status.state.name, 0) + 1
    print(json.dumps({'submit_seconds': submitted - submit_start, 'start': start,
                      'returned': returned, 'end': end, 'states': states,
                      'ids': [job.native_id for job in jobs]}))
''')


@dataclass
class Cancel:
    side: str
    jobs: int
    submit_seconds: float
    loop_seconds: float  # the loop of cancel() calls (or array.cancel()) returning
    all_final_seconds: float  # first cancel() to the last job final
    states: Dict[str, int]
    scancel_commands: int  # from the first cancel() to the last final state
    ids_per_scancel: List[int]
    squeue_commands: int
    records: int = 0  # job records the controller held at the start


def controller_records() -> int:
    """The job records slurmctld holds (pending, running and ended not yet purged)."""
    listing = subprocess.run(['squeue', '-h', '-t', 'all', '-o', '%i'], capture_output=True,
                             text=True, timeout=120)
    return len(listing.stdout.split())


def measure_floor(count: int, log: CommandLog) -> Cancel:
    """N held jobs by plain sbatch, then one scancel of all of them, timed to its exit."""
    print(f'[{time.strftime("%H:%M:%S")}] floor: {count} held, then canceled', file=sys.stderr,
          flush=True)
    records = controller_records()
    submit_start = time.time()
    ids = [log.run_real('sbatch', '--parsable', '-H', f'--job-name={JOB_NAME}', '-o',
                        '/dev/null', '--wrap', 'true').stdout.strip() for _ in range(count)]
    submitted = time.time()
    start = time.time()
    log.run_real('scancel', *ids)
    end = time.time()
    return Cancel(side='floor', jobs=count, submit_seconds=submitted - submit_start,
                  loop_seconds=end - start, all_final_seconds=end - start,
                  states={'CANCELED': count}, scancel_commands=1, ids_per_scancel=[count],
                  squeue_commands=0, records=records)


def measure(label: str, python: str, mode: str, count: int, scratch: Path,
            log: CommandLog) -> Cancel:
    print(f'[{time.strftime("%H:%M:%S")}] {label}: {count} held, then canceled', file=sys.stderr,
          flush=True)
    records = controller_records()
    with tempfile.TemporaryDirectory() as outside_checkout:  # the interpreter's own psij
        completed = subprocess.run(
            [python, '-c', SIDE, mode, str(scratch / label), JOB_NAME, str(count)],
            cwd=outside_checkout, capture_output=True, text=True, timeout=900)
    log.run_real('scancel', f'--name={JOB_NAME}')
    if completed.returncode != 0:
        raise RuntimeError(f'{label} failed:\n{completed.stderr[-3000:]}')
    report: Dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    start, end = report['start'], report['end']
    scancels = log.calls('scancel', start, end + 0.001)
    return Cancel(side=label, jobs=count, submit_seconds=report['submit_seconds'],
                  loop_seconds=report['returned'] - start, all_final_seconds=end - start,
                  states=report['states'], scancel_commands=len(scancels),
                  ids_per_scancel=[len(call.args.split()) for call in scancels],
                  squeue_commands=len(log.calls('squeue', start, end + 0.001)),
                  records=records)


def table(results: List[Cancel]) -> str:
    rows = [['', 'jobs', 'submit s', 'cancel() loop s', 'to all final s', 'scancel',
             'ids per scancel', 'squeue', 'records', 'final states']]
    for result in results:
        ids = result.ids_per_scancel
        shown = (str(ids) if len(ids) <= 4 else
                 f'{len(ids)} of median {statistics.median(ids):g}')
        rows.append([result.side, str(result.jobs), f'{result.submit_seconds:.2f}',
                     f'{result.loop_seconds:.3f}', f'{result.all_final_seconds:.3f}',
                     str(result.scancel_commands), shown, str(result.squeue_commands),
                     str(result.records),
                     ', '.join(f'{name} {n}' for name, n in sorted(result.states.items()))])
    return aligned(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--previous-python', default=None)
    parser.add_argument('--local', type=int, default=0,
                        help='also cancel this many running local sleep jobs (0: skip)')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    results: List[Cancel] = []
    with tempfile.TemporaryDirectory(prefix='cancel-many-') as scratch:
        log = CommandLog(Path(scratch), ['scancel', 'squeue'])
        try:
            for number in range(1, args.runs + 1):
                plan = [('psij jobs', sys.executable, 'jobs'),
                        ('psij array', sys.executable, 'array')]
                if args.previous_python:
                    plan.append(('previous jobs', args.previous_python, 'jobs'))
                for label, python, mode in plan:
                    results.append(measure(label, python, mode, args.jobs,
                                           Path(scratch) / f'run-{number}', log))
                results.append(measure_floor(args.jobs, log))
                if args.local:
                    results.append(measure('psij local', sys.executable, 'local', args.local,
                                           Path(scratch) / f'run-{number}', log))
                if args.local and args.previous_python:
                    results.append(measure('previous local', args.previous_python, 'local',
                                           args.local, Path(scratch) / f'run-{number}', log))
        finally:
            log.run_real('scancel', f'--name={JOB_NAME}')
    ours = [result for result in results if result.side.startswith('psij')]
    verdict = [
        f'{args.jobs} canceled in under 1 s: ' + (
            'met' if all(r.all_final_seconds < 1 for r in ours) else 'NOT met')
        + f' ({", ".join(f"{r.all_final_seconds:.2f}" for r in ours)} s)',
        'at most a few scancel commands (3): ' + (
            'met' if all(r.scancel_commands <= 3 for r in ours) else 'NOT met'),
        'all CANCELED: ' + ('yes' if all(r.states == {'CANCELED': r.jobs} for r in ours)
                            else 'NO'),
    ]
    if args.json:
        print(json.dumps({'results': [asdict(result) for result in results],
                          'verdict': verdict}, indent=2))
        return
    print(table(results))
    print('\n'.join(verdict))


if __name__ == '__main__':
    main()
