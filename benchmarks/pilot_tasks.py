"""10,000 tasks of ``/bin/true`` through one pilot allocation on the real Slurm, next to the
same tasks as a Slurm job array and as a plain local loop (issue 18's speed section).

Run by hand (never part of the test suite) on a machine with a working Slurm:

    .venv/bin/python benchmarks/pilot_tasks.py [--tasks 10000] [--cores 2]
        [--array-elements 10000] [--json]

(On a small shared test cluster, ``--array-elements 1000``: 10,000 array elements hold its
CPUs for many minutes, starving everyone else's jobs.)

``sbatch``, ``squeue``, ``sacct`` and ``scancel`` go through the logging wrappers of
`command_log`, so the scheduler commands are counted from outside psij. In one run, one after
the other:

* floor: ``subprocess.Popen`` + ``wait`` of N ``/bin/true``, ``--cores`` at a time, in this
  process: what running the tasks costs with no scheduling at all (measured again before
  each pilot side, which is compared with the floor just before it);
* pilot: a `PilotJobExecutor` on ``slurm`` (one allocation of ``--cores`` cores,
  ``max_allocations=1``), N tasks submitted, every one waited for. Measured: the submission
  loop, end to end (first submit to last task final here), the time inside the allocation
  (its worker's start to the last task's outcome written), and from that the time per task
  per core, less the floor's: the pilot's overhead per task; and, less sensitive to a loaded
  machine, the worker's own CPU time per task (from its exit record; its tasks' CPU not
  counted) less the floor loop's CPU time per task (its children's not counted either);
* pilot-array: the same, the N tasks given as one ``submit_array`` of N elements (queued
  as batch files of `psij.pilot.task_batches.BATCH_SIZE` elements, not a file per task);
* array: ``submit_array(JobArray(JobSpec('/bin/true'), M))`` on ``slurm``, every element
  waited for (``--array-elements 0`` leaves it out).

Every Slurm job is named after this process and canceled by name at the end.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from command_log import CommandLog

from psij import Job, JobArray, JobExecutor, JobSpec
from psij.batch import BatchSchedulerExecutorConfig
from psij.pilot import PilotExecutorConfig, PilotJobExecutor

NAME = f'bench{os.getpid()}'


def run_floor(tasks: int, cores: int) -> Dict[str, Any]:
    """N /bin/true, ``cores`` at a time, with Popen."""
    started = time.monotonic()
    cpu = os.times()
    running: List[subprocess.Popen[bytes]] = []
    for _ in range(tasks):
        if len(running) >= cores:
            running.pop(0).wait()
        running.append(subprocess.Popen(['/bin/true']))
    for process in running:
        process.wait()
    wall = time.monotonic() - started
    spent = os.times()
    return {'side': 'floor', 'tasks': tasks, 'wall_s': wall,
            'per_task_core_ms': wall * cores / tasks * 1000,
            'cpu_ms_per_task': (spent.user + spent.system - cpu.user - cpu.system)
            / tasks * 1000}


def run_pilot(tasks: int, cores: int, work: Path, log: CommandLog,
              as_array: bool) -> Dict[str, Any]:
    """N /bin/true through one allocation of ``cores`` cores: N ``submit`` calls, or (with
    ``as_array``) one ``submit_array`` of N elements."""
    config = PilotExecutorConfig(
        executor='slurm', name=NAME, cores_per_node=cores, max_allocations=1,
        idle_timeout=5, duration=1800, work_directory=work,
        provider_config=BatchSchedulerExecutorConfig(work_directory=work,
                                                     queue_polling_interval=5.0))
    executor = PilotJobExecutor(config=config)
    array = JobArray(JobSpec('/bin/true'), tasks)
    jobs = array.jobs if as_array else [Job(JobSpec('/bin/true')) for _ in range(tasks)]
    wall_start = time.time()
    started = time.monotonic()
    if as_array:
        executor.submit_array(array)
    else:
        for job in jobs:
            executor.submit(job)
    submitted = time.monotonic() - started
    for job in jobs:
        job.wait()
    end_to_end = time.monotonic() - started
    states: Dict[str, int] = {}
    for job in jobs:
        states[job.status.state.value] = states.get(job.status.state.value, 0) + 1
    directory = executor.pilot.directory
    workers = [json.loads(path.read_text())
               for path in (directory.root / 'workers').glob('*/*.json')]
    worker_start = min(float(worker['started']) for worker in workers)
    executor.pilot.outcomes.refresh()
    last_outcome = max(float(result['time'])
                       for result in executor.pilot.outcomes.results.values())
    inside = last_outcome - worker_start
    deadline = time.monotonic() + 60  # the worker records its CPU time when it idles out
    while len(list((directory.root / 'workers').glob('*/*.exited'))) < len(workers) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    exits = [json.loads(path.read_text())
             for path in (directory.root / 'workers').glob('*/*.exited')]
    worker_cpu = sum(float(record.get('cpu_s', 'nan')) for record in exits)
    return {'side': 'pilot-array' if as_array else 'pilot', 'tasks': tasks, 'cores': cores,
            'submit_s': submitted,
            'end_to_end_s': end_to_end, 'in_allocation_s': inside,
            'per_task_core_ms': inside * cores / tasks * 1000,
            'worker_cpu_ms_per_task': worker_cpu / tasks * 1000,
            'sbatch': len(log.calls('sbatch', wall_start)),
            'allocations': len(executor.pilot.allocations.records()), 'states': states}


def run_array(elements: int, work: Path, log: CommandLog) -> Dict[str, Any]:
    """M /bin/true as psij job arrays on slurm."""
    executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
        work_directory=work))
    array = JobArray(JobSpec('/bin/true', name=f'pilot-{NAME}'), elements)
    wall_start = time.time()
    started = time.monotonic()
    executor.submit_array(array)
    submitted = time.monotonic() - started
    for job in array.jobs:
        job.wait()
    end_to_end = time.monotonic() - started
    states: Dict[str, int] = {}
    for job in array.jobs:
        states[job.status.state.value] = states.get(job.status.state.value, 0) + 1
    return {'side': 'array', 'tasks': elements, 'submit_s': submitted,
            'end_to_end_s': end_to_end, 'per_task_ms': end_to_end / elements * 1000,
            'sbatch': len(log.calls('sbatch', wall_start)), 'states': states}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tasks', type=int, default=10000)
    parser.add_argument('--cores', type=int, default=2)
    parser.add_argument('--array-elements', type=int, default=10000)
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--pilot-scratch', type=Path,
                        help='where the pilot\'s work directory goes (default: a temporary '
                             'directory in $HOME; e.g. /dev/shm to take the disk\'s file '
                             'creation cost out)')
    args = parser.parse_args()
    results: List[Dict[str, Any]] = []

    def show(result: Dict[str, Any]) -> None:
        if result['side'].startswith('pilot'):
            # Against the floor measured just before: the machine's speed drifts.
            floor = [earlier for earlier in results if earlier['side'] == 'floor'][-1]
            result['overhead_per_task_ms'] = (result['per_task_core_ms']
                                              - floor['per_task_core_ms'])
            result['overhead_cpu_ms_per_task'] = (result['worker_cpu_ms_per_task']
                                                  - floor['cpu_ms_per_task'])
        results.append(result)
        if not args.json:
            print('  '.join(f'{key}={value:.3f}' if isinstance(value, float) else
                            f'{key}={value}' for key, value in result.items()), flush=True)
    pilot_works: List[Path] = []
    with tempfile.TemporaryDirectory(prefix='pilot-bench-', dir=Path.home()) as scratch:
        log = CommandLog(Path(scratch), ['sbatch', 'squeue', 'sacct', 'scancel'])
        try:
            for side in ('floor', 'pilot', 'floor', 'pilot-array', 'array'):
                print(f'[{time.strftime("%H:%M:%S")}] {side}', file=sys.stderr, flush=True)
                if side == 'floor':
                    show(run_floor(args.tasks, args.cores))
                elif side.startswith('pilot'):
                    # Kept to the end: the pilot of this side is still polled meanwhile.
                    pilot_work = Path(tempfile.mkdtemp(prefix='pilot-bench-',
                                                       dir=args.pilot_scratch or scratch))
                    pilot_works.append(pilot_work)
                    show(run_pilot(args.tasks, args.cores, pilot_work, log,
                                   side == 'pilot-array'))
                elif args.array_elements:
                    show(run_array(args.array_elements, Path(scratch) / 'array', log))
        finally:
            subprocess.run(['scancel', f'--name=pilot-{NAME}'], capture_output=True)
            for pilot_work in pilot_works:
                shutil.rmtree(pilot_work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
