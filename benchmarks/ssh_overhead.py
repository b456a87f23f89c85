"""50 jobs of ``/bin/true`` on the real Slurm through SSH to this machine, next to the same
executor without SSH, in one run (issue 14: within 1.3 x, and 1 SSH connection).

Run by hand (never part of the test suite), after ``.ci/setup`` started the test sshd:

    .venv/bin/python benchmarks/ssh_overhead.py [--jobs 50] [--runs 3] [--json]

Each run submits N jobs one after the other and waits for all of them, end to end (first
submit to last final state), once with ``url='ssh://psij-test'`` (the test user psijssh,
``PSIJ_SSH_CONFIG`` set to the test sshd's client config) and once locally (root); the order
alternates from run to run. For SSH it counts the TCP connections to the sshd's port opened
during the run (``ss``, sampled every 50 ms: a master is one connection) and the ssh commands
this process started. The ratio SSH / local is the figure of the issue.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import threading
import time
import uuid
from typing import Dict, List, Set

from psij import Job, JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutorConfig
from psij.ssh.transport import control_directory

CONFIG = pathlib.Path(os.environ.get('PSIJ_SSHD_DIR', '/tmp/psij-sshd')) / 'client' / 'config'
PORT = 2222


def connections() -> Set[str]:
    """The local ends of the established connections to the test sshd."""
    listing = subprocess.run(['ss', '-Htn', 'state', 'established', f'( dport = :{PORT} )'],
                             capture_output=True, text=True).stdout
    return {line.split()[2] for line in listing.splitlines() if len(line.split()) > 2}


def close_master() -> None:
    subprocess.run(['ssh', '-F', str(CONFIG), '-o', f'ControlPath={control_directory()}/%C',
                    '-O', 'exit', 'psij-test'], capture_output=True)


def run_jobs(url: str, count: int) -> Dict[str, float]:
    work = pathlib.Path.home() / '.psij' / 'bench-ssh' / str(uuid.uuid4())
    config = BatchSchedulerExecutorConfig(work_directory=work)
    seen: Set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.update(connections())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    before = connections()
    sampler.start()
    started = time.monotonic()
    executor = JobExecutor.get_instance('slurm', url=url or None, config=config)
    jobs = [Job(JobSpec('/bin/true')) for _ in range(count)]
    for job in jobs:
        executor.submit(job)
    submitted = time.monotonic() - started
    for job in jobs:
        status = job.wait(timeout=600)
        assert status is not None and status.state == JobState.COMPLETED, status
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    return {'seconds': elapsed, 'submit_seconds': submitted,
            'connections': float(len(seen - before))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=50)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--json', action='store_true')
    options = parser.parse_args()
    os.environ['PSIJ_SSH_CONFIG'] = str(CONFIG)
    results: Dict[str, List[Dict[str, float]]] = {'ssh': [], 'local': []}
    for run in range(options.runs):
        order = ['ssh', 'local'] if run % 2 == 0 else ['local', 'ssh']
        for kind in order:
            close_master()
            results[kind].append(run_jobs('ssh://psij-test' if kind == 'ssh' else '',
                                          options.jobs))
    close_master()
    if options.json:
        print(json.dumps(results, indent=2))
        return
    print(f'{options.jobs} jobs of /bin/true, {options.runs} runs (median; all runs)')
    for kind in ('local', 'ssh'):
        seconds = [result['seconds'] for result in results[kind]]
        submits = [result['submit_seconds'] for result in results[kind]]
        opened = [int(result['connections']) for result in results[kind]]
        shown = ', '.join(f'{value:.2f}' for value in seconds)
        print(f'{kind:6} end to end {statistics.median(seconds):6.2f} s [{shown}]; submits '
              f'{statistics.median(submits):5.2f} s; ssh connections opened {opened}')
    ratio = statistics.median(r['seconds'] for r in results['ssh']) / statistics.median(
        r['seconds'] for r in results['local'])
    print(f'ssh / local = {ratio:.2f} (target: at most 1.3)')


if __name__ == '__main__':
    main()
