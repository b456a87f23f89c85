"""Campaign throughput: many one-second commands with a cap on jobs in flight, on a real
scheduler, and how busy the cluster's slots were kept.

Run by hand (never part of the test suite), when nothing else uses the cluster:

    .venv/bin/python benchmarks/campaign_throughput.py [--jobs 2000] [--max-running 50]
        [--seconds 1] [--grouping 1] [--executor slurm] [--floor-jobs 0] [--keep] [--json]

It writes a map of ``--jobs`` commands (``sleep SECONDS``), runs ``psij campaign submit`` on
it as a user would (the installed ``psij``, output to a pipe), and meanwhile asks the
scheduler every 0.5 s how many of the campaign's jobs it holds (``squeue``/``qstat`` of this
user, counted by the campaign's job names). Afterwards it reads, from the logs folder:

* the most jobs in flight by the campaign's own records (submitted to ended), and the most
  the scheduler was seen holding not ended (pending or running: both must be at most
  ``--max-running``), and listing in all, with those COMPLETING (a Slurm job whose script has
  exited, so psij has seen it end, stays listed as CG for a moment while slurmd cleans up);
* each job's run on its node, from its result file (the script's own start and end, to the
  microsecond): the most running at once, and the slots' utilisation: the time jobs ran
  over slots x makespan (first submission to last end), and the same for the commands'
  useful time alone (``--jobs x --seconds``), next to the floor a perfect packing gives
  (``--jobs x --seconds / slots``);
* the command's exit status and every job's final state (all must complete).

With ``--floor-jobs M`` (Slurm only) it then measures the cluster's own floor for such jobs:
M jobs of the same command submitted at once with plain ``sbatch`` (no psij, no cap), each
writing its start and end; their utilisation is the most any client can get from them.

Slots: the CPUs the scheduler offers (Slurm: ``sinfo``; Grid Engine: the slots of
``qstat -g c``); each job asks for one. The table names the psij code measured by a hash of
its files. The campaign's folder (under ``~``) is removed at the end unless ``--keep``.
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
PSIJ = pathlib.Path(sys.executable).parent / 'psij'


def code_hash() -> str:
    """A short hash of the library's files: which code the figures belong to."""
    digest = hashlib.sha256()
    for folder in ('psij', 'executors', 'launchers'):
        for path in sorted((ROOT / folder).rglob('*')):
            if path.suffix in ('.py', '.mustache', '.sh'):
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def slots(executor: str) -> int:
    """The CPUs (slots) the scheduler offers in all."""
    if executor == 'slurm':
        out = subprocess.run(['sinfo', '-h', '-o', '%C'], capture_output=True, text=True,
                             check=True).stdout.split('/')
        return int(out[3])  # allocated/idle/other/total
    out = subprocess.run(['qstat', '-g', 'c'], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return sum(int(line.split()[5]) for line in out[2:] if line.strip())


def scheduler_jobs(executor: str) -> Tuple[int, int]:
    """How many of this user's jobs named ``campaign-*`` the scheduler holds now: those not
    ended (pending, running...), and all it lists, with those COMPLETING (Slurm keeps a job
    whose script has exited listed as CG while its step is cleaned up)."""
    user = os.environ.get('USER') or subprocess.run(['id', '-un'], capture_output=True,
                                                    text=True).stdout.strip()
    if executor == 'slurm':
        argv = ['squeue', '-h', '-u', user, '-o', '%j|%T']
    else:
        argv = ['qstat', '-u', user]
    lines = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
    ours = [line for line in lines if 'campaign-' in line]
    return sum(1 for line in ours if not line.endswith('|COMPLETING')), len(ours)


class Sampler(threading.Thread):
    """Counts the scheduler's jobs of the campaign every 0.5 s."""

    def __init__(self, executor: str) -> None:
        super().__init__(daemon=True)
        self.executor = executor
        self.most = 0  # not ended
        self.most_listed = 0  # with those COMPLETING
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            live, listed = scheduler_jobs(self.executor)
            self.most = max(self.most, live)
            self.most_listed = max(self.most_listed, listed)
            self.samples += 1


def overlap(intervals: List[Tuple[float, float]]) -> int:
    """The most intervals that hold one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, change in events:
        current += change
        most = max(most, current)
    return most


def measure(options: argparse.Namespace) -> Dict[str, Any]:
    directory = pathlib.Path(tempfile.mkdtemp(prefix='campaign-bench-', dir=pathlib.Path.home()))
    commands = options.jobs * options.grouping
    numbers = ','.join(str(number) for number in range(1, commands + 1))
    (directory / 'bench.map').write_text(f'sleep {options.seconds} # {{{{{numbers}}}}}\n')
    sampler = Sampler(options.executor)
    sampler.start()
    started = time.time()
    result = subprocess.run(
        [str(PSIJ), 'campaign', 'submit', 'bench.map', '--logs', 'logs', '-e', options.executor,
         '--max-running', str(options.max_running), '--grouping', str(options.grouping)],
        cwd=directory, capture_output=True, text=True)
    wall = time.time() - started
    sampler.done.set()
    sampler.join()
    logs = directory / 'logs'
    records = [json.loads(path.read_text()) for path in sorted(logs.glob('[0-9]*.json'))]
    in_flight = [(r['times']['submitted'], r['times']['ended']) for r in records]
    runs: List[Tuple[float, float]] = []
    for record in records:
        lines = pathlib.Path(record['result']).read_text().splitlines()
        start = float(next(line for line in lines if line.startswith('started ')).split()[1]
                      .replace(',', '.'))
        end = float(next(line for line in lines if line.startswith('exit ')).split()[2]
                    .replace(',', '.'))
        runs.append((start, end))
    cpus = slots(options.executor)
    first = min(start for start, _ in in_flight)
    last = max(end for _, end in in_flight)
    makespan = last - first
    busy = sum(end - start for start, end in runs)
    useful = commands * options.seconds
    if not options.keep:
        shutil.rmtree(directory)
    return {
        'executor': options.executor, 'jobs': options.jobs, 'commands': commands,
        'seconds': options.seconds, 'max_running': options.max_running,
        'grouping': options.grouping, 'slots': cpus, 'exit_status': result.returncode,
        'states': sorted({record['state'] for record in records}),
        'wall_s': round(wall, 1), 'makespan_s': round(makespan, 1),
        'floor_s': round(useful / cpus, 1),
        'most_in_flight_records': overlap(in_flight),
        'most_in_flight_scheduler': sampler.most,
        'most_listed_with_completing': sampler.most_listed,
        'scheduler_samples': sampler.samples,
        'most_running': overlap(runs),
        'utilisation_busy': round(busy / (cpus * makespan), 3),
        'utilisation_useful': round(useful / (cpus * makespan), 3),
        'jobs_per_s': round(options.jobs / makespan, 2),
        'code': code_hash(), 'logs': str(logs) if options.keep else None,
        'stderr_tail': result.stderr[-500:],
    }


def floor(options: argparse.Namespace) -> Dict[str, Any]:
    """The cluster alone: ``--floor-jobs`` plain sbatch jobs of the command, all at once."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix='campaign-floor-', dir=pathlib.Path.home()))
    script = directory / 'job.sh'
    script.write_text('#!/bin/bash\ns=$EPOCHREALTIME\n'
                      f'sleep {options.seconds}\n'
                      f'echo "$s $EPOCHREALTIME" > {directory}/$SLURM_JOB_ID.times\n')
    count = options.floor_jobs
    started = time.time()
    for _ in range(count):
        subprocess.run(['sbatch', '--parsable', '--job-name=floor', '--output=/dev/null',
                        str(script)], capture_output=True, check=True)
    while len(list(directory.glob('*.times'))) < count:
        time.sleep(0.2)
    runs = [tuple(float(value.replace(',', '.')) for value in path.read_text().split())
            for path in directory.glob('*.times')]
    makespan = max(end for _, end in runs) - started
    cpus = slots('slurm')
    busy = sum(end - start for start, end in runs)
    shutil.rmtree(directory)
    return {'floor_jobs': count, 'floor_makespan_s': round(makespan, 1),
            'floor_utilisation_busy': round(busy / (cpus * makespan), 3),
            'floor_utilisation_useful': round(count * options.seconds / (cpus * makespan), 3),
            'floor_jobs_per_s': round(count / makespan, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--max-running', type=int, default=50)
    parser.add_argument('--seconds', type=float, default=1.0)
    parser.add_argument('--grouping', type=int, default=1)
    parser.add_argument('--executor', default='slurm', choices=['slurm', 'sge'])
    parser.add_argument('--floor-jobs', type=int, default=0,
                        help="then measure the cluster's floor with this many plain sbatch jobs")
    parser.add_argument('--keep', action='store_true', help='keep the logs folder')
    parser.add_argument('--json', action='store_true')
    options = parser.parse_args()
    figures = measure(options)
    if options.floor_jobs and options.executor == 'slurm':
        figures.update(floor(options))
    if options.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for key, value in figures.items():
            print(f'{key:28} {value}')
    ok = (figures['exit_status'] == 0 and figures['states'] == ['completed']
          and figures['most_in_flight_records'] <= options.max_running
          and figures['most_in_flight_scheduler'] <= options.max_running)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
