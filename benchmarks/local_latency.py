"""Two figures of the local executor: canceling running jobs, and submit to COMPLETED.

Run by hand (never part of the test suite):

    .venv/bin/python benchmarks/local_latency.py [--cancel 200] [--jobs 200] [--runs 3]
        [--previous-python /tmp/before-venv/bin/python]
        [--reference-python /tmp/refvenv/bin/python]

Each measurement runs in a fresh interpreter (this tree's, the previous code's, psij-python's),
from a temporary directory so that the interpreter's own psij is imported, with a work
directory of its own under ``~/.psij`` (the file system of the default one).

- cancel: N running ``/bin/sleep 300`` jobs (all ACTIVE, then 1 s so that every start is
  over), then ``cancel()`` on each in a loop. Measured: the loop's own time, and the time from
  the first ``cancel()`` until every job's process is gone (its pid no longer in ``/proc``:
  reaped, not a zombie), with the jobs' final states.
- latency: M ``/bin/true`` jobs one after the other; each from just before its ``submit()``
  to its COMPLETED status callback (a job's callback, on whichever thread delivers it), then
  the next. Median, 90th percentile and max. After each job, the floor: a plain
  ``subprocess.Popen(['/bin/true'], start_new_session=True).wait()`` in the same interpreter.

Targets (issue 16): 200 cancels until the processes are gone in 0.3 s in all (before: 0.98
s); submit to COMPLETED callback median 1 ms (before: 1.8 ms; psij-python 0.9.11: 10.9 ms).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from typing import Any, Dict, List

SIDE = textwrap.dedent('''
    import json, os, pathlib, sys, threading, time
    from datetime import timedelta
    from psij import Job, JobExecutor, JobSpec, JobState
    mode, work, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        from psij import JobExecutorConfig
        config = JobExecutorConfig(work_directory=pathlib.Path(work))
    except Exception:
        config = None
    executor = JobExecutor.get_instance('local', config=config)
    if mode == 'cancel':
        jobs = [Job(JobSpec('/bin/sleep', ['300'])) for _ in range(count)]
        for job in jobs:
            executor.submit(job)
        for job in jobs:
            job.wait(target_states=[JobState.ACTIVE], timeout=timedelta(seconds=60))
        pids = [int(job.native_id) for job in jobs]
        time.sleep(1)
        start = time.perf_counter()
        for job in jobs:
            job.cancel()
        returned = time.perf_counter()
        waiting = set(pids)
        deadline = start + 60
        while waiting and time.perf_counter() < deadline:
            waiting = {pid for pid in waiting if os.path.exists(f'/proc/{pid}')}
            if waiting:
                time.sleep(0.001)
        gone = time.perf_counter()
        for job in jobs:
            job.wait(timeout=timedelta(seconds=60))
        states = {}
        for job in jobs:
            states[str(job.status.state)] = states.get(str(job.status.state), 0) + 1
        print(json.dumps({'loop': returned - start, 'gone': gone - start,
                          'left': len(waiting), 'states': states}))
    else:
        import subprocess
        latencies, plain = [], []
        done = threading.Event()
        ended = [0.0]
        def seen(job, status):
            if status.state.final:
                ended[0] = time.perf_counter()
                done.set()
        for number in range(count + 10):  # the first 10 warm up
            job = Job(JobSpec('/bin/true'))
            job.set_job_status_callback(seen)
            done.clear()
            start = time.perf_counter()
            executor.submit(job)
            if not done.wait(30):
                raise SystemExit('no final callback in 30 s')
            if str(job.status.state) != 'COMPLETED':
                raise SystemExit(f'job ended {job.status}')
            if number >= 10:
                latencies.append(ended[0] - start)
            start = time.perf_counter()  # the floor, alternating with the jobs
            subprocess.Popen(['/bin/true'], start_new_session=True).wait()
            if number >= 10:
                plain.append(time.perf_counter() - start)
        print(json.dumps({'latencies': latencies, 'plain': plain}))
''')


def side(python: str, mode: str, count: int) -> Dict[str, Any]:
    root = os.path.expanduser('~/.psij')
    os.makedirs(root, mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as work, \
            tempfile.TemporaryDirectory() as outside_checkout:
        completed = subprocess.run([python, '-c', SIDE, mode, work, str(count)],
                                   cwd=outside_checkout, capture_output=True, text=True,
                                   timeout=600)
    if completed.returncode != 0:
        raise RuntimeError(f'{python} {mode} failed:\n{completed.stderr[-3000:]}')
    result: Dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--cancel', type=int, default=200, help='running jobs to cancel')
    parser.add_argument('--jobs', type=int, default=200, help='/bin/true jobs, one at a time')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--previous-python', default=None)
    parser.add_argument('--reference-python', default=None)
    args = parser.parse_args()
    sides = [('psij', sys.executable)]
    if args.previous_python:
        sides.append(('previous', args.previous_python))
    if args.reference_python:
        sides.append(('psij-python', args.reference_python))
    cancels: Dict[str, List[Dict[str, Any]]] = {label: [] for label, _ in sides}
    latencies: Dict[str, List[List[float]]] = {label: [] for label, _ in sides}
    floors: Dict[str, List[float]] = {label: [] for label, _ in sides}
    for run in range(1, args.runs + 1):
        for label, python in sides:  # one after the other, never two at once
            cancel = side(python, 'cancel', args.cancel)
            cancels[label].append(cancel)
            print(f'run {run} {label:12} cancel of {args.cancel}: loop {cancel["loop"]:.3f} s,'
                  f' processes gone {cancel["gone"]:.3f} s, left {cancel["left"]},'
                  f' {cancel["states"]}', flush=True)
            measured = side(python, 'latency', args.jobs)
            values = measured['latencies']
            latencies[label].append(values)
            floors[label].extend(measured['plain'])
            print(f'run {run} {label:12} submit to COMPLETED callback of {args.jobs}: median'
                  f' {statistics.median(values) * 1e3:.2f} ms, p90'
                  f' {statistics.quantiles(values, n=10)[-1] * 1e3:.2f} ms, max'
                  f' {max(values) * 1e3:.2f} ms; plain Popen + wait: median'
                  f' {statistics.median(measured["plain"]) * 1e3:.2f} ms', flush=True)
    print()
    print(f'{"":12} {"cancel loop s":>14} {"gone s (median)":>16} {"gone s (all runs)":>24}'
          f' {"latency median ms":>18} {"p90 ms":>7} {"plain median ms":>16}')
    for label, _ in sides:
        gone = [cancel['gone'] for cancel in cancels[label]]
        loops = [cancel['loop'] for cancel in cancels[label]]
        every = [value for values in latencies[label] for value in values]
        print(f'{label:12} {statistics.median(loops):14.3f} {statistics.median(gone):16.3f}'
              f' {", ".join(f"{value:.3f}" for value in gone):>24}'
              f' {statistics.median(every) * 1e3:18.2f}'
              f' {statistics.quantiles(every, n=10)[-1] * 1e3:7.2f}'
              f' {statistics.median(floors[label]) * 1e3:16.2f}')


if __name__ == '__main__':
    main()
