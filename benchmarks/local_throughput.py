"""Local executor throughput against a plain subprocess.Popen + wait loop.

Run by hand (never part of the test suite):

    .venv/bin/python benchmarks/local_throughput.py [--jobs 1000] [--rounds 5]
        [--reference-python /path/to/venv-with-psij-python/bin/python] [--work-root DIR]

Each round times N jobs of /bin/true through psij (submit all, then wait for all) and, in the
same process, N plain Popen calls followed by waits. Rounds alternate which goes first; the
median ratio is reported, with the thread count while all N psij jobs were in flight. With
--reference-python, the same psij loop is also run under another interpreter (e.g. one with
the reference psij-python installed) for a side-by-side figure.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import List, Tuple

PSIJ_LOOP = textwrap.dedent('''
    import pathlib, sys, time
    from psij import Job, JobExecutor, JobSpec
    try:
        from psij import JobExecutorConfig
        config = JobExecutorConfig(work_directory=pathlib.Path(sys.argv[2]))
    except Exception:
        config = None
    executor = JobExecutor.get_instance('local', config=config)
    n = int(sys.argv[1])
    start = time.perf_counter()
    jobs = [Job(JobSpec('/bin/true')) for _ in range(n)]
    for job in jobs:
        executor.submit(job)
    for job in jobs:
        job.wait()
    print(n / (time.perf_counter() - start))
''')


def plain_loop(count: int) -> float:
    start = time.perf_counter()
    processes = [subprocess.Popen(['/bin/true']) for _ in range(count)]
    for process in processes:
        process.wait()
    return count / (time.perf_counter() - start)


def psij_loop(count: int, work_directory: str) -> Tuple[float, int]:
    from psij import Job, JobExecutor, JobExecutorConfig, JobSpec

    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=work_directory))
    start = time.perf_counter()
    jobs = [Job(JobSpec('/bin/true')) for _ in range(count)]
    for job in jobs:
        executor.submit(job)
    threads_in_flight = threading.active_count()
    for job in jobs:
        job.wait()
    rate = count / (time.perf_counter() - start)
    failed = [job for job in jobs if job.status.exit_code != 0]
    assert not failed, f'{len(failed)} jobs did not complete'
    return rate, threads_in_flight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--reference-python', default=None)
    parser.add_argument('--work-root', default=None,
                        help='where the per-round work directories are made (default: ~/.psij, '
                             'the file system of the default work directory)')
    args = parser.parse_args()
    if args.work_root is None:
        args.work_root = os.path.expanduser('~/.psij')
        os.makedirs(args.work_root, mode=0o700, exist_ok=True)

    plain_rates: List[float] = []
    psij_rates: List[float] = []
    ratios: List[float] = []
    threads: List[int] = []
    for round_number in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.work_root) as work_directory:
            if round_number % 2 == 0:
                plain = plain_loop(args.jobs)
                ours, in_flight = psij_loop(args.jobs, work_directory)
            else:
                ours, in_flight = psij_loop(args.jobs, work_directory)
                plain = plain_loop(args.jobs)
        plain_rates.append(plain)
        psij_rates.append(ours)
        ratios.append(ours / plain)
        threads.append(in_flight)
        print(f'round {round_number + 1}: plain {plain:7.0f} jobs/s   psij {ours:7.0f} jobs/s'
              f'   ratio {ours / plain:.2f}   threads with {args.jobs} in flight: {in_flight}')
    print(f'median: plain {statistics.median(plain_rates):.0f} jobs/s, '
          f'psij {statistics.median(psij_rates):.0f} jobs/s, '
          f'ratio {statistics.median(ratios):.2f}, threads {max(threads)}')
    if args.reference_python:
        with tempfile.TemporaryDirectory() as work_directory:
            output = subprocess.run([args.reference_python, '-c', PSIJ_LOOP, str(args.jobs),
                                     work_directory], check=True, capture_output=True,
                                    text=True, cwd=work_directory).stdout
        reference = float(output.strip().splitlines()[-1])
        plain = plain_loop(args.jobs)
        print(f'reference ({args.reference_python}): {reference:.0f} jobs/s, '
              f'plain {plain:.0f} jobs/s, ratio {reference / plain:.2f}')


if __name__ == '__main__':
    sys.exit(main())
