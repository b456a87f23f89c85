"""Slurm executor latency and status-command load, next to the cluster's own floor.

Run by hand (never part of the test suite) on a machine with a working Slurm:

    .venv/bin/python benchmarks/slurm_latency.py [--jobs 50] [--runs 3] [--held 10]
        [--hold-seconds 70] [--reference-python /tmp/refvenv/bin/python] [--json]

A directory of ``squeue`` and ``sacct`` wrappers is put first on PATH (in this process's
environment, so every command the executor runs, and the reference subprocess, goes through
it). Each wrapper appends ``<time> <command> <args>`` to a log and execs the real command, so
the status commands are counted from outside the executor.

Each run measures:

* floor: N ``sbatch --parsable --wrap true`` submitted one after the other, then ``squeue``
  (``sacct`` for jobs it no longer shows) polled every 0.1 s until every job is final: how
  fast the cluster itself gets N jobs through (it runs about 8 at a time here);
* psij (phase 1): N jobs of ``/bin/true`` through this package's slurm executor, submitted one
  after the other, then waited for: first submit to last final state, the submit time, the
  final states, the squeue and sacct calls, and the most status commands in any 1 s window.
  The ``<id>.ec`` markers the jobs leave give, to the millisecond, when each job ended, so the
  lag from a job's end to its final state here is shown as well;
* reference (with --reference-python): phase 1 under psij-python in another interpreter
  (``JobExecutor.get_instance('slurm')``, its defaults), run from a directory outside this
  checkout so that it imports its own psij;
* held (phase 2): M jobs submitted with ``--hold`` (custom attribute ``slurm.hold``), so they
  only wait in the queue; watched for --hold-seconds. The first status command after the
  last submit is the settling one (it finds every job waiting); the gaps between it and the
  later ones must be at least 30 s. Then every job is canceled and must end CANCELED.

Runs alternate whether the floor or psij goes first, and share this process (so psij's one
status tracker carries over from one run to the next, as in any long-lived program). Each
measurement records the CPUs other people's jobs held when it started and whether slurmctld
was restarted while it ran (its BOOT_TIME changed): such a run says nothing about psij. The
table names the psij code measured by a hash of its files.

Every job is named ``slurm-latency-<pid>``; whatever happens, ``scancel --name`` of that name
runs at the end so nothing is left in the queue.
"""

import argparse
import hashlib
import importlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from command_log import gaps, most_in_window

from psij import Job, JobAttributes, JobExecutor, JobSpec
from psij.batch import BatchSchedulerExecutorConfig

JOB_NAME = f'slurm-latency-{os.getpid()}'
STATUS_COMMANDS = ('squeue', 'sacct')
FINAL_SLURM_STATES = {'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY',
                      'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'}
WAIT_LIMIT = 600.0  # seconds; a phase that takes longer has failed

REFERENCE_PHASE_1 = textwrap.dedent('''
    import json, sys, time
    from psij import Job, JobExecutor, JobSpec

    count, name = int(sys.argv[1]), sys.argv[2]
    executor = JobExecutor.get_instance('slurm')
    jobs = [Job(JobSpec(executable='/bin/true', name=name)) for _ in range(count)]
    start = time.time()
    for job in jobs:
        executor.submit(job)
    submitted = time.time()
    for job in jobs:
        job.wait()
    print(json.dumps({'start': start, 'submitted': submitted,
                      'end': max(job.status.time for job in jobs),
                      'states': [str(job.status.state) for job in jobs],
                      'native_ids': [job.native_id for job in jobs]}))
''')


# --- the PATH shim ---------------------------------------------------------------------------

class CommandLog:
    """The ``squeue``/``sacct`` wrappers, first on PATH, and the log they append to."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / 'commands.log'
        self.path.touch()
        self.real: Dict[str, str] = {}
        shim = directory / 'bin'
        shim.mkdir()
        for name in STATUS_COMMANDS:
            real = shutil.which(name)
            if real is None:
                raise SystemExit(f'{name} is not on PATH; is Slurm installed?')
            self.real[name] = real
            wrapper = shim / name
            log = shlex.quote(str(self.path))
            wrapper.write_text(
                '#!/bin/sh\n'
                f'printf \'%s %s %s\\n\' "$(date +%s.%N)" {name} "$*" >>{log}\n'
                f'exec {shlex.quote(real)} "$@"\n')
            wrapper.chmod(0o755)
        os.environ['PATH'] = f'{shim}{os.pathsep}{os.environ.get("PATH", "")}'

    def others_busy_cpus(self) -> int:
        """CPUs used right now by running jobs that are not this benchmark's (through the
        real squeue, so it is not logged)."""
        listed = subprocess.run([self.real['squeue'], '--noheader', '--states=RUNNING',
                                 '--format=%C|%j'], capture_output=True, text=True)
        return sum(int(line.split('|')[0]) for line in listed.stdout.splitlines()
                   if '|' in line and line.split('|', 1)[1] != JOB_NAME)

    def between(self, start: float, end: float) -> List[Tuple[float, str]]:
        """(time, command name) of every logged call from ``start`` to ``end``."""
        calls = []
        for line in self.path.read_text().splitlines():
            stamp, name, _ = (line.split(' ', 2) + [''])[:3]
            if start <= float(stamp) <= end:
                calls.append((float(stamp), name))
        return sorted(calls)


def code_fingerprint() -> str:
    """A short hash of the psij package measured (its .py, .mustache and .sh files), since
    results only hold for the code they were taken with."""
    digest = hashlib.sha256()
    for package in ('psij', 'psij.executors', 'psij.launchers'):
        root = Path(str(importlib.import_module(package).__file__)).parent
        for path in sorted(root.rglob('*')):
            if path.suffix in ('.py', '.mustache', '.sh'):
                digest.update(str(path.relative_to(root)).encode() + b'\0' + path.read_bytes())
    return digest.hexdigest()[:12]


def controller_boot_time() -> str:
    """slurmctld's BOOT_TIME: it changes when someone restarts the controller, which stalls
    every job for several seconds and makes that measurement meaningless."""
    shown = subprocess.run(['scontrol', 'show', 'config'], capture_output=True, text=True)
    for line in shown.stdout.splitlines():
        if line.startswith('BOOT_TIME'):
            return line.split('=', 1)[1].strip()
    return '?'


# --- phase 1: N short jobs -----------------------------------------------------------------

@dataclass
class Commands:
    """The status commands the shim logged during one measurement."""

    squeue: int
    sacct: int
    most_per_second: int  # most status commands in any 1 s window
    shortest_gap: Optional[float]  # between two consecutive status commands, seconds
    times: List[float]  # seconds from the start of the measurement

    @classmethod
    def logged(cls, log: CommandLog, start: float, end: float) -> 'Commands':
        calls = log.between(start, end)
        times = [moment for moment, _ in calls]
        counts = Counter(name for _, name in calls)
        between = gaps(times)
        return cls(squeue=counts['squeue'], sacct=counts['sacct'],
                   most_per_second=most_in_window(times),
                   shortest_gap=min(between) if between else None,
                   times=[round(moment - start, 3) for moment in times])


@dataclass
class Throughput:
    """Phase 1 (or the floor) for one side."""

    side: str
    end_to_end: float  # first submit to the last final state, seconds
    submit: float  # first submit to the last submit returning
    states: Dict[str, int]
    commands: Commands
    others_busy_cpus: int  # CPUs of other people's running jobs just before the start
    controller_restarted: bool = False  # slurmctld restarted during the measurement
    #: psij only: when the last job wrote its exit-code marker, from the first submit, and the
    #: lag from each job's marker to its final state here (median, max).
    last_marker: Optional[float] = None
    lag_median: Optional[float] = None
    lag_max: Optional[float] = None


def run_psij(count: int, work_directory: Path, log: CommandLog) -> Throughput:
    busy = log.others_busy_cpus()
    config = BatchSchedulerExecutorConfig(work_directory=work_directory)
    executor = JobExecutor.get_instance('slurm', config=config)
    jobs = [Job(JobSpec('/bin/true', name=JOB_NAME)) for _ in range(count)]
    start = time.time()
    for job in jobs:
        executor.submit(job)
    submitted = time.time()
    deadline = time.monotonic() + WAIT_LIMIT
    for job in jobs:
        if job.wait(timeout=max(deadline - time.monotonic(), 0)) is None:
            raise RuntimeError(f'job {job.native_id} not final after {WAIT_LIMIT:g} s')
    end = max(job.status.time for job in jobs)
    markers = work_directory / 'slurm'
    ended_at = {job.native_id: (markers / f'{job.native_id}.ec').stat().st_mtime
                for job in jobs if (markers / f'{job.native_id}.ec').exists()}
    lags = [job.status.time - ended_at[job.native_id] for job in jobs
            if job.native_id in ended_at]
    return Throughput(
        side='psij', end_to_end=end - start, submit=submitted - start,
        states=dict(Counter(str(job.status.state) for job in jobs)),
        last_marker=max(ended_at.values()) - start if ended_at else None,
        lag_median=statistics.median(lags) if lags else None,
        lag_max=max(lags) if lags else None,
        commands=Commands.logged(log, start, end), others_busy_cpus=busy)


def run_reference(python: str, count: int, log: CommandLog) -> Throughput:
    busy = log.others_busy_cpus()
    with tempfile.TemporaryDirectory() as outside_checkout:
        result = subprocess.run([python, '-c', REFERENCE_PHASE_1, str(count), JOB_NAME],
                                cwd=outside_checkout, capture_output=True, text=True,
                                timeout=WAIT_LIMIT)
    if result.returncode != 0:
        raise RuntimeError(f'the reference run failed:\n{result.stderr[-3000:]}')
    report = json.loads(result.stdout.strip().splitlines()[-1])
    start, end = report['start'], report['end']
    return Throughput(
        side='reference', end_to_end=end - start, submit=report['submitted'] - start,
        states=dict(Counter(report['states'])),
        commands=Commands.logged(log, start, end), others_busy_cpus=busy)


def run_floor(count: int, log: CommandLog) -> Throughput:
    """Plain sbatch, then squeue (and sacct for what squeue no longer shows) every 0.1 s."""
    busy = log.others_busy_cpus()
    start = time.time()
    ids = []
    for _ in range(count):
        result = subprocess.run(['sbatch', '--parsable', f'--job-name={JOB_NAME}',
                                 '--output=/dev/null', '--wrap', 'true'],
                                capture_output=True, text=True, check=True)
        ids.append(result.stdout.strip().split(';')[0])
    submitted = time.time()
    states: Dict[str, str] = {}
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline:
        listed = subprocess.run(['squeue', '--noheader', '--states=all', '--format=%i|%T',
                                 '--jobs=' + ','.join(ids)], capture_output=True, text=True)
        for line in listed.stdout.split():
            native_id, state = line.split('|')
            states[native_id] = state
        missing = [native_id for native_id in ids if native_id not in states]
        if missing:
            recorded = subprocess.run(['sacct', '--noheader', '--parsable2', '--allocations',
                                       '--format=JobID,State', '--jobs=' + ','.join(missing)],
                                      capture_output=True, text=True)
            for line in recorded.stdout.splitlines():
                if '|' not in line:
                    continue
                native_id, state = line.split('|')
                states[native_id] = state.split()[0]  # 'CANCELLED by 0': CANCELLED
        if all(states.get(native_id) in FINAL_SLURM_STATES for native_id in ids):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f'floor jobs not final after {WAIT_LIMIT:g} s')
    end = time.time()
    return Throughput(
        side='floor', end_to_end=end - start, submit=submitted - start,
        states=dict(Counter(states[native_id] for native_id in ids)),
        commands=Commands.logged(log, start, end), others_busy_cpus=busy)


# --- phase 2: jobs that only wait ----------------------------------------------------------

@dataclass
class Held:
    """Phase 2: jobs that only wait in the queue, then their cancellation."""

    jobs: int
    submit: float  # first submit to the last submit returning, seconds
    watched: float  # from the last submit
    states_before_cancel: Dict[str, int]
    status_times: List[float]  # every status command while watching, from the FIRST submit
    #: The settling status command is the first one after the last submit (it sees every job
    #: waiting); when it ran, from the last submit.
    settled_at: Optional[float]
    after_settling: int  # status commands after the settling one, while watching
    shortest_gap: Optional[float]  # between the settling one and the later ones
    longest_gap: Optional[float]
    cancel_seconds: float  # first cancel() to the last final state
    cancel_commands: List[Tuple[float, str]]  # from the first cancel()
    final_states: Dict[str, int]
    controller_restarted: bool = False  # slurmctld restarted during the phase


def run_held(count: int, seconds: float, work_directory: Path, log: CommandLog) -> Held:
    config = BatchSchedulerExecutorConfig(work_directory=work_directory)
    executor = JobExecutor.get_instance('slurm', config=config)
    attributes = JobAttributes(custom_attributes={'slurm.hold': True})
    jobs = [Job(JobSpec('/bin/true', name=JOB_NAME, attributes=attributes))
            for _ in range(count)]
    start = time.time()
    for job in jobs:
        executor.submit(job)
    submitted = time.time()
    time.sleep(seconds)
    watched_until = time.time()
    states_before = dict(Counter(str(job.status.state) for job in jobs))
    every = [moment for moment, _ in log.between(start, watched_until)]
    settled = [moment for moment in every if moment >= submitted]
    settled_gaps = gaps(settled)

    cancel_start = time.time()
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + WAIT_LIMIT
    for job in jobs:
        if job.wait(timeout=max(deadline - time.monotonic(), 0)) is None:
            raise RuntimeError(f'held job {job.native_id} not final after cancel')
    cancel_end = max(job.status.time for job in jobs)
    return Held(
        jobs=count, submit=submitted - start, watched=watched_until - submitted,
        states_before_cancel=states_before,
        status_times=[round(moment - start, 3) for moment in every],
        settled_at=settled[0] - submitted if settled else None,
        after_settling=max(len(settled) - 1, 0),
        shortest_gap=min(settled_gaps) if settled_gaps else None,
        longest_gap=max(settled_gaps) if settled_gaps else None,
        cancel_seconds=cancel_end - cancel_start,
        cancel_commands=[(round(moment - cancel_start, 3), name)
                         for moment, name in log.between(cancel_start, cancel_end)],
        final_states=dict(Counter(str(job.status.state) for job in jobs)))


# --- report --------------------------------------------------------------------------------

def spread(values: Sequence[Optional[float]], unit: str = '', digits: int = 2) -> str:
    """``median (min-max)`` of the values that are there."""
    present = [value for value in values if value is not None]
    if not present:
        return '-'
    median = statistics.median(present)
    if len(present) == 1:
        return f'{median:.{digits}f}{unit}'
    return f'{median:.{digits}f}{unit} ({min(present):.{digits}f}-{max(present):.{digits}f})'


def throughput_table(runs: List[Dict[str, Throughput]]) -> str:
    sides = [side for side in ('psij', 'reference', 'floor') if side in runs[0]]
    rows = [['', *sides]]

    def numbers(label: str, value: Callable[[Throughput], Optional[float]], unit: str = '',
                digits: int = 2) -> None:
        rows.append([label] + [spread([value(run[side]) for run in runs], unit, digits)
                               for side in sides])

    def texts(label: str, value: Callable[[Throughput], str]) -> None:
        rows.append([label] + [' / '.join(sorted({value(run[side]) for run in runs}))
                               for side in sides])

    numbers('end to end', lambda result: result.end_to_end, ' s')
    numbers('submit', lambda result: result.submit, ' s')
    texts('states', lambda result: ', '.join(f'{name} {number}'
                                             for name, number in sorted(result.states.items())))
    numbers('squeue calls', lambda result: result.commands.squeue, digits=0)
    numbers('sacct calls', lambda result: result.commands.sacct, digits=0)
    numbers('most status commands in 1 s', lambda result: result.commands.most_per_second,
            digits=0)
    numbers('shortest gap between them', lambda result: result.commands.shortest_gap, ' s')
    numbers("CPUs busy with others' jobs", lambda result: result.others_busy_cpus, digits=0)
    numbers('last .ec marker written', lambda result: result.last_marker, ' s')
    numbers('.ec marker to final: median', lambda result: result.lag_median, ' s')
    numbers('.ec marker to final: max', lambda result: result.lag_max, ' s')
    widths = [max(len(line[column]) for line in rows) for column in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in rows)


def held_table(runs: List[Held]) -> str:
    lines = [
        f'{runs[0].jobs} held jobs, submitted in {spread([run.submit for run in runs], " s")}, '
        f'watched {spread([run.watched for run in runs], " s", 1)} after the last submit',
        'states while held: ' + ' / '.join(sorted({str(run.states_before_cancel)
                                                   for run in runs})),
        'settling status command (the first after the last submit) at '
        f'{spread([run.settled_at for run in runs], " s")} after the last submit',
        'status commands after it while watching: '
        f'{spread([run.after_settling for run in runs], digits=0)}; '
        f'gaps: shortest {spread([run.shortest_gap for run in runs], " s")}, '
        f'longest {spread([run.longest_gap for run in runs], " s")}',
        f'cancel() of all to all final: {spread([run.cancel_seconds for run in runs], " s")}',
        'final states: ' + ' / '.join(sorted({str(run.final_states) for run in runs})),
    ]
    for number, run in enumerate(runs, 1):
        lines.append(f'run {number}: status commands at {run.status_times} s after the first '
                     f'submit; after the first cancel(): {run.cancel_commands}'
                     + ('; slurmctld RESTARTED during it' if run.controller_restarted else ''))
    return '\n'.join(lines)


def verdict(count: int, runs: List[Dict[str, Throughput]], held: List[Held]) -> List[str]:
    ours = [run['psij'] for run in runs]
    lines = [
        'psij end to end under 5 s: '
        + ('met' if all(result.end_to_end < 5 for result in ours) else 'NOT met')
        + f' ({", ".join(f"{result.end_to_end:.2f}" for result in ours)} s)',
        'psij at most 1 status command in any 1 s: '
        + ('met' if all(result.commands.most_per_second <= 1 for result in ours)
           else 'NOT met'),
        'psij all COMPLETED: '
        + ('yes' if all(result.states == {'COMPLETED': count} for result in ours) else 'NO'),
    ]
    if held:
        lines.append('held: at most 1 status command per 30 s once only waiting: ' + (
            'met' if all(run.shortest_gap is None or run.shortest_gap >= 29.9 for run in held)
            else 'NOT met'))
        lines.append('held: all CANCELED after cancel: ' + (
            'yes' if all(run.final_states == {'CANCELED': run.jobs} for run in held) else 'NO'))
    return lines


def progress(message: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


def advertised_cpus() -> str:
    """The CPUs the cluster's nodes advertise, as ``sinfo`` sums them ('?' if it cannot)."""
    result = subprocess.run(['sinfo', '-h', '-N', '-o', '%c'], capture_output=True, text=True,
                            check=False)
    counts = [int(line) for line in result.stdout.split() if line.isdigit()]
    return str(sum(counts)) if result.returncode == 0 and counts else '?'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=50, help='jobs in phase 1 and the floor')
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--held', type=int, default=10, help='held jobs in phase 2 (0: skip)')
    parser.add_argument('--hold-seconds', type=float, default=70.0)
    parser.add_argument('--reference-python', default=None,
                        help='an interpreter with psij-python installed')
    parser.add_argument('--json', action='store_true',
                        help='print the results as JSON instead of the table')
    args = parser.parse_args()

    runs: List[Dict[str, Throughput]] = []
    held: List[Held] = []
    with tempfile.TemporaryDirectory(prefix='slurm-latency-') as scratch:
        log = CommandLog(Path(scratch))
        try:
            for number in range(1, args.runs + 1):
                run: Dict[str, Throughput] = {}
                sides = ['floor', 'psij'] if number % 2 else ['psij', 'floor']
                if args.reference_python:
                    sides.append('reference')
                for side in sides:
                    progress(f'run {number}: {side}, {args.jobs} jobs')
                    booted = controller_boot_time()
                    if side == 'floor':
                        run[side] = run_floor(args.jobs, log)
                    elif side == 'psij':
                        run[side] = run_psij(args.jobs, Path(scratch) / f'psij-{number}', log)
                    else:
                        run[side] = run_reference(args.reference_python, args.jobs, log)
                    run[side].controller_restarted = controller_boot_time() != booted
                runs.append(run)
                if args.held:
                    progress(f'run {number}: {args.held} held jobs, '
                             f'watched {args.hold_seconds:g} s')
                    booted = controller_boot_time()
                    held.append(run_held(args.held, args.hold_seconds,
                                         Path(scratch) / f'held-{number}', log))
                    held[-1].controller_restarted = controller_boot_time() != booted
        finally:
            subprocess.run(['scancel', f'--name={JOB_NAME}'], check=False)

    cpus = advertised_cpus()
    if args.json:
        print(json.dumps({'code': code_fingerprint(), 'advertised_cpus': cpus,
                          'runs': [{side: asdict(result) for side, result in run.items()}
                                   for run in runs],
                          'held': [asdict(run) for run in held],
                          'verdict': verdict(args.jobs, runs, held)}, indent=2))
        return
    print(f'{args.jobs} jobs of /bin/true, {len(runs)} run(s): median (min-max); psij code '
          f'{code_fingerprint()}; the cluster advertises {cpus} CPUs (at most that many '
          'one-CPU jobs run at once)')
    print(throughput_table(runs))
    for number, run in enumerate(runs, 1):
        ours = run['psij']
        others = ', '.join(f'{side} {result.end_to_end:.2f} s'
                           for side, result in run.items() if side != 'psij')
        restarted = [side for side, result in run.items() if result.controller_restarted]
        print(f'run {number}: psij {ours.end_to_end:.2f} s (last .ec marker at '
              f'{ours.last_marker or 0:.2f} s, status commands at {ours.commands.times} s), '
              f'{others}' + (f'; slurmctld RESTARTED during: {", ".join(restarted)}'
                             if restarted else ''))
    if held:
        print()
        print(held_table(held))
    print()
    print('\n'.join(verdict(args.jobs, runs, held)))


if __name__ == '__main__':
    main()
