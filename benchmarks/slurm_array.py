"""A 1,000-element job array on the real Slurm: psij next to a raw ``sbatch --array`` loop.

Run by hand (never part of the test suite) on a machine with a working Slurm:

    .venv/bin/python benchmarks/slurm_array.py [--elements 1000] [--runs 1] [--json]

``sbatch``, ``squeue``, ``sacct`` and ``scontrol`` go through the logging wrappers of
`command_log` (first on PATH), so the commands are counted from outside psij. Each run
measures, in this process, one after the other (the order alternates from run to run):

* psij: ``executor.submit_array(JobArray(JobSpec('/bin/true'), N))`` with the default
  `BatchSchedulerExecutorConfig`, then every element waited for; end to end is the call to
  the last element's final state. Counted: ``sbatch`` calls, status commands (``squeue`` and
  ``sacct``) and the most of them in any 1 s window, ``scontrol`` calls (the submitting process
  reads MaxArraySize once per executor), this process's CPU time, and from the elements'
  ``.ec`` markers, when the last element ended and how long after its marker each element
  was final here;
* floor: ``sbatch --parsable --array=0-(N-1) --wrap true --output=/dev/null``, then ``squeue
  --array`` every 0.1 s until every element is final (MinJobAge keeps ended elements in the
  queue for 300 s on the CI cluster, so ``squeue`` alone sees every end).

The ratio psij / floor is the figure of issue 13 (target: at most 1.2). Every job is named
``slurm-array-<pid>`` and canceled by name at the end, whatever happened.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from command_log import CommandLog, aligned, cluster_cpus, gaps, most_in_window, slurm_limits

from psij import JobArray, JobExecutor, JobSpec
from psij.batch import BatchSchedulerExecutorConfig

JOB_NAME = f'slurm-array-{os.getpid()}'
FINAL_SLURM_STATES = {'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY',
                      'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'}
WAIT_LIMIT = 1800.0  # seconds; a side that takes longer has failed


@dataclass
class Side:
    """One side of one run."""

    side: str
    end_to_end: float  # seconds from the submission to the last element final
    submit: float  # seconds the submission took
    states: Dict[str, int]
    sbatch: int
    squeue: int
    sacct: int
    scontrol: int
    most_status_per_second: int
    shortest_status_gap: Optional[float]
    others_busy_cpus: int  # CPUs of other people's running jobs at the start
    cpu_seconds: Optional[float] = None  # psij: this process's CPU time meanwhile
    last_marker: Optional[float] = None  # psij: when the last element wrote its .ec
    lag_median: Optional[float] = None  # psij: .ec marker to final state
    lag_max: Optional[float] = None


def counted(log: CommandLog, start: float, end: float) -> Dict[str, Any]:
    """The fields of `Side` that come from the commands logged from ``start`` to ``end``
    (those of the submitting process: a job script's own calls are not status commands)."""
    calls = [call for call in log.calls(start=start, end=end) if not call.job_id]
    names = Counter(call.command for call in calls)
    status = [call.time for call in calls if call.command in ('squeue', 'sacct')]
    between = gaps(status)
    return {'sbatch': names['sbatch'], 'squeue': names['squeue'], 'sacct': names['sacct'],
            'scontrol': names['scontrol'], 'most_status_per_second': most_in_window(status),
            'shortest_status_gap': min(between) if between else None}


def run_psij(count: int, work_directory: Path, log: CommandLog) -> Side:
    busy = log.others_busy_cpus(JOB_NAME)
    executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
        work_directory=work_directory))
    array = JobArray(JobSpec('/bin/true', name=JOB_NAME), count)
    cpu = time.process_time()
    start = time.time()
    executor.submit_array(array)
    submitted = time.time()
    deadline = time.monotonic() + WAIT_LIMIT
    for job in array.jobs:
        if job.wait(timeout=max(deadline - time.monotonic(), 0)) is None:
            raise RuntimeError(f'element {job.native_id} not final after {WAIT_LIMIT:g} s')
    end = max(job.status.time for job in array.jobs)
    cpu = time.process_time() - cpu
    markers = work_directory / 'slurm'
    ended = {job.native_id: (markers / f'{job.native_id}.ec').stat().st_mtime
             for job in array.jobs if (markers / f'{job.native_id}.ec').exists()}
    lags = [job.status.time - ended[job.native_id] for job in array.jobs
            if job.native_id in ended]
    return Side(side='psij', end_to_end=end - start, submit=submitted - start,
                states=dict(Counter(job.status.state.name for job in array.jobs)),
                others_busy_cpus=busy, cpu_seconds=cpu,
                last_marker=max(ended.values()) - start if ended else None,
                lag_median=statistics.median(lags) if lags else None,
                lag_max=max(lags) if lags else None, **counted(log, start, end))


def run_floor(count: int, log: CommandLog) -> Side:
    busy = log.others_busy_cpus(JOB_NAME)
    start = time.time()
    result = subprocess.run(['sbatch', '--parsable', f'--array=0-{count - 1}',
                             f'--job-name={JOB_NAME}', '--output=/dev/null', '--wrap', 'true'],
                            capture_output=True, text=True, check=True)
    array_id = result.stdout.strip().split(';')[0]
    submitted = time.time()
    deadline = time.monotonic() + WAIT_LIMIT
    states: Dict[str, str] = {}
    while time.monotonic() < deadline:
        listed = subprocess.run(['squeue', '--noheader', '--array', '--states=all',
                                 '--format=%i|%T', f'--jobs={array_id}'],
                                capture_output=True, text=True)
        for line in listed.stdout.split():
            element, state = line.split('|')
            states[element] = state
        if len(states) == count and all(state in FINAL_SLURM_STATES
                                        for state in states.values()):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f'floor array {array_id} not final after {WAIT_LIMIT:g} s')
    end = time.time()
    return Side(side='floor', end_to_end=end - start, submit=submitted - start,
                states=dict(Counter(states.values())), others_busy_cpus=busy,
                **counted(log, start, end))


def spread(values: List[Optional[float]], unit: str = '', digits: int = 2) -> str:
    present = [value for value in values if value is not None]
    if not present:
        return '-'
    middle = statistics.median(present)
    if len(present) == 1:
        return f'{middle:.{digits}f}{unit}'
    return f'{middle:.{digits}f}{unit} ({min(present):.{digits}f}-{max(present):.{digits}f})'


def table(runs: List[Dict[str, Side]]) -> str:
    sides = ['psij', 'floor']
    rows = [['', *sides]]

    def row(label: str, field: str, unit: str = '', digits: int = 2) -> None:
        rows.append([label] + [spread([getattr(run[side], field) for run in runs], unit, digits)
                               for side in sides])

    row('end to end', 'end_to_end', ' s')
    row('submit', 'submit', ' s')
    rows.append(['states'] + [' / '.join(sorted({', '.join(f'{name} {number}' for name, number
                                                           in sorted(run[side].states.items()))
                                                 for run in runs})) for side in sides])
    row('sbatch calls', 'sbatch', digits=0)
    row('squeue calls', 'squeue', digits=0)
    row('sacct calls', 'sacct', digits=0)
    row('scontrol calls (submitter)', 'scontrol', digits=0)
    row('most status commands in 1 s', 'most_status_per_second', digits=0)
    row('shortest gap between them', 'shortest_status_gap', ' s')
    row("CPUs busy with others' jobs", 'others_busy_cpus', digits=0)
    row('CPU time of this process', 'cpu_seconds', ' s')
    row('last .ec marker written', 'last_marker', ' s')
    row('.ec marker to final: median', 'lag_median', ' s')
    row('.ec marker to final: max', 'lag_max', ' s')
    return aligned(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--elements', type=int, default=1000)
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    cpus, limits = cluster_cpus(), slurm_limits()
    runs: List[Dict[str, Side]] = []
    with tempfile.TemporaryDirectory(prefix='slurm-array-') as scratch:
        log = CommandLog(Path(scratch), ['sbatch', 'squeue', 'sacct', 'scontrol', 'scancel'])
        try:
            for number in range(1, args.runs + 1):
                run: Dict[str, Side] = {}
                for side in (['floor', 'psij'] if number % 2 else ['psij', 'floor']):
                    print(f'[{time.strftime("%H:%M:%S")}] run {number}: {side}, '
                          f'{args.elements} elements', file=sys.stderr, flush=True)
                    run[side] = (run_floor(args.elements, log) if side == 'floor' else
                                 run_psij(args.elements, Path(scratch) / f'psij-{number}', log))
                runs.append(run)
        finally:
            subprocess.run([log.real['scancel'], f'--name={JOB_NAME}'], check=False)
    ratios = [run['psij'].end_to_end / run['floor'].end_to_end for run in runs]
    verdict = [
        'one sbatch for the array: ' + ('met' if all(run['psij'].sbatch == 1 for run in runs)
                                        else 'NOT met'),
        'at most 1 status command in any 1 s: ' + (
            'met' if all(run['psij'].most_status_per_second <= 1 for run in runs)
            else 'NOT met'),
        'end to end within 1.2 x the floor: ' + ('met' if all(r <= 1.2 for r in ratios)
                                                 else 'NOT met')
        + f' ({", ".join(f"{r:.3f}" for r in ratios)})',
        'all elements COMPLETED: ' + ('yes' if all(run['psij'].states == {
            'COMPLETED': args.elements} for run in runs) else 'NO'),
    ]
    if args.json:
        print(json.dumps({'cpus': cpus, 'limits': limits, 'verdict': verdict,
                          'runs': [{side: asdict(result) for side, result in run.items()}
                                   for run in runs]}, indent=2))
        return
    print(f'{args.elements}-element array of /bin/true, {len(runs)} run(s): median (min-max); '
          f'the cluster advertises {cpus} CPUs; {limits}')
    print(table(runs))
    for number, (run, ratio) in enumerate(zip(runs, ratios), 1):
        print(f'run {number}: psij {run["psij"].end_to_end:.2f} s, floor '
              f'{run["floor"].end_to_end:.2f} s, ratio {ratio:.3f}')
    print('\n'.join(verdict))


if __name__ == '__main__':
    main()
