"""Controller RPCs made by the Slurm job scripts themselves: ``scontrol`` calls per job.

Run by hand (never part of the test suite) on a machine with a working Slurm:

    .venv/bin/python benchmarks/job_script_rpcs.py [--jobs 50]
        [--previous-python /tmp/old-venv/bin/python] [--json]

``scontrol`` goes through the logging wrapper of `command_log`, first on PATH; the jobs
inherit the submitter's environment, so a job script's own calls are logged too, with the
job's ``SLURM_JOB_ID`` (calls of the submitting process, such as the MaxArraySize look, have
none and are not counted). Each side runs in its own interpreter (this tree's, and with
--previous-python the code before issue 13 for comparison) and submits:

* N single-node jobs of ``/bin/true`` (one task each), one after the other, then waits;
* one job of 4 tasks on the one node (``SLURM_TASKS_PER_NODE=4``): still one node;
* one job whose ``SLURM_JOB_NODELIST`` is a range, ``node[01-04]`` with
  ``SLURM_TASKS_PER_NODE=2(x4)``, as Slurm sets them for a 4-node job. The CI cluster has one
  node, so the job sets those two variables itself (``JobSpec.environment``, exported by the
  job script before it writes the node file): the script then expands the list as it would
  in a real multi-node job. Its command prints ``$PSIJ_NODEFILE``, which must hold each of
  the 4 nodes twice.

Target (issue 13): no ``scontrol`` from a single-node job, at most one from any job.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, Dict

from command_log import CommandLog

JOB_NAME = f'job-script-rpcs-{os.getpid()}'
RANGE_NODELIST = 'node[01-04]'
RANGE_NODEFILE = [f'node0{node}' for node in range(1, 5) for _ in range(2)]

# Run by each side's interpreter: prints what it submitted, as JSON.
SIDE = textwrap.dedent('''
    import json, pathlib, sys
    from psij import Job, JobExecutor, JobSpec, ResourceSpecV1
    from psij.batch import BatchSchedulerExecutorConfig
    work, name, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
        work_directory=work, queue_polling_interval=5.0))
    single = [Job(JobSpec('/bin/true', name=name)) for _ in range(count)]
    four = Job(JobSpec('/bin/true', name=name, resources=ResourceSpecV1(process_count=4)))
    ranged = Job(JobSpec('/bin/sh', ['-c', 'cat "$PSIJ_NODEFILE"'], name=name, stdout_path=out,
                         environment={'SLURM_JOB_NODELIST': sys.argv[5],
                                      'SLURM_TASKS_PER_NODE': '2(x4)'}))
    for job in single + [four, ranged]:
        executor.submit(job)
    for job in single + [four, ranged]:
        job.wait(timeout=600)
    print(json.dumps({'single': [job.native_id for job in single],
                      'four': four.native_id, 'range': ranged.native_id,
                      'states': [job.status.state.name for job in single + [four, ranged]]}))
''')


def run_side(python: str, count: int, scratch: Path, label: str) -> Dict[str, Any]:
    out = scratch / f'{label}-nodefile.txt'
    with tempfile.TemporaryDirectory() as outside_checkout:  # the interpreter's own psij
        completed = subprocess.run(
            [python, '-c', SIDE, str(scratch / f'{label}-work'), JOB_NAME, str(count), str(out),
             RANGE_NODELIST], cwd=outside_checkout, capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        raise RuntimeError(f'{label} failed:\n{completed.stderr[-3000:]}')
    report: Dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    report['nodefile'] = out.read_text().split() if out.exists() else None
    return report


def count_calls(log: CommandLog, report: Dict[str, Any]) -> Dict[str, Any]:
    by_job = Counter(call.job_id for call in log.calls('scontrol') if call.job_id)
    single = [by_job[native_id] for native_id in report['single']]
    return {'jobs': len(single), 'single_total': sum(single),
            'single_max': max(single) if single else 0,
            'four_tasks': by_job[report['four']], 'range': by_job[report['range']],
            'range_nodefile_right': report['nodefile'] == RANGE_NODEFILE,
            'states': dict(Counter(report['states']))}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--jobs', type=int, default=50)
    parser.add_argument('--previous-python', default=None,
                        help='an interpreter with the code before issue 13 installed')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    sides: Dict[str, str] = {'psij': str(Path(sys.executable))}
    if args.previous_python:
        sides['previous'] = args.previous_python
    results: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix='job-script-rpcs-') as scratch:
        log = CommandLog(Path(scratch), ['scontrol', 'scancel'])
        try:
            for label, python in sides.items():
                print(f'{label}: {args.jobs} single-node jobs and 2 others', file=sys.stderr,
                      flush=True)
                results[label] = count_calls(log, run_side(python, args.jobs, Path(scratch),
                                                           label))
        finally:
            log.run_real('scancel', f'--name={JOB_NAME}')
    ours = results['psij']
    verdict = [
        'no scontrol from a single-node job: ' + (
            'met' if ours['single_total'] == 0 and ours['four_tasks'] == 0 else 'NOT met'),
        'at most one from a job whose node list is a range: ' + (
            'met' if ours['range'] <= 1 else 'NOT met')
        + ('' if ours['range_nodefile_right'] else ' (BUT its node file is wrong)'),
    ]
    if args.json:
        print(json.dumps({'results': results, 'verdict': verdict}, indent=2))
        return
    rows = [['', *results],
            [f'scontrol calls from {args.jobs} single-node jobs'] + [
                str(result['single_total']) for result in results.values()],
            ['most from one of them'] + [str(result['single_max'])
                                         for result in results.values()],
            ['from a 4-task job on one node'] + [str(result['four_tasks'])
                                                 for result in results.values()],
            [f'from a job with SLURM_JOB_NODELIST={RANGE_NODELIST}'] + [
                str(result['range']) for result in results.values()],
            ['its node file right (8 lines, 2 per node)'] + [
                'yes' if result['range_nodefile_right'] else 'NO'
                for result in results.values()],
            ['final states'] + [', '.join(f'{name} {number}' for name, number
                                          in sorted(result['states'].items()))
                                for result in results.values()]]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    print('\n'.join('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                    for row in rows))
    print('\n'.join(verdict))


if __name__ == '__main__':
    main()
