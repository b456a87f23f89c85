"""One budget for the machine: psij processes sharing a work directory share its budget, a
holder killed with ``kill -9`` gives its cores back, and the command line takes the budget.

Every job writes its own start and end times, so "never more than the budget busy" is checked
from what the jobs saw, not from what psij says.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import List, Tuple

import pytest
from psij.executors.local import LocalJobExecutorConfig
from psij.executors.local_ledger import Ledger
from test_cli_support import psij

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

# argv: work directory, output directory, tag, budget cores, then "hold" or "wait", then one
# "cores:seconds" per job. Prints "<name> <state> <native id>" per job as it is submitted;
# "hold" then waits for stdin to close (a holder to kill), "wait" for the jobs' ends.
WORKER = textwrap.dedent('''
    import sys
    from psij import Job, JobExecutor, JobSpec, ResourceSpecV1
    from psij.executors.local import LocalJobExecutorConfig
    work, out, tag, cores, mode = sys.argv[1:6]
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=int(cores)))
    jobs = []
    for index, item in enumerate(sys.argv[6:]):
        need, seconds = item.split(':')
        name = f'{tag}{index}'
        script = (f'echo {need} $(date +%s.%N) > {name}.times; sleep {seconds}; '
                  f'date +%s.%N >> {name}.times')
        job = Job(JobSpec('/bin/sh', ['-c', script], directory=out,
                          resources=ResourceSpecV1(cpu_cores_per_process=int(need))))
        executor.submit(job)
        jobs.append(job)
        print(name, job.status.state.name, job.native_id, flush=True)
    if mode == 'hold':
        sys.stdin.read()
    for job in jobs:
        status = job.wait(timeout=120)
        print('end', status.state.name if status else 'timeout', flush=True)
''')


def _worker(work: pathlib.Path, out: pathlib.Path, tag: str, cores: int, mode: str,
            jobs: List[str]) -> 'subprocess.Popen[str]':
    return subprocess.Popen([sys.executable, '-c', WORKER, str(work), str(out), tag,
                             str(cores), mode, *jobs], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _intervals(out: pathlib.Path) -> List[Tuple[float, float, int]]:
    found = []
    for path in out.glob('*.times'):
        first, second = path.read_text().splitlines()
        need, start = first.split()
        found.append((float(start), float(second), int(need)))
    return found


def _most_busy(intervals: List[Tuple[float, float, int]]) -> int:
    """The most cores the jobs were running on at one moment."""
    events = sorted([(start, need) for start, _, need in intervals]
                    + [(end, -need) for _, end, need in intervals],
                    key=lambda event: (event[0], event[1]))  # an end before a start
    busy = most = 0
    for _, change in events:
        busy += change
        most = max(most, busy)
    return most


def test_two_processes_never_use_more_than_the_budget_together(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    jobs = ['1:0.3', '2:0.2', '1:0.2', '1:0.4', '2:0.3', '1:0.2', '1:0.3', '2:0.2']
    workers = [_worker(work_dir, tmp_path, tag, 2, 'wait', jobs) for tag in ('a', 'b')]
    for worker in workers:
        output, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors
        assert output.count('end COMPLETED') == len(jobs), output
    intervals = _intervals(tmp_path)
    assert len(intervals) == 2 * len(jobs)
    assert _most_busy(intervals) == 2
    # Each took its share: the whole run is no longer than one after the other.
    total = sum((end - start) * need for start, end, need in intervals) / 2
    span = max(end for _, end, _ in intervals) - min(start for start, _, _ in intervals)
    assert span < total + 6.0


def _wait_until(condition: 'object', timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_holder_killed_with_kill_9_gives_its_cores_back(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    holder = _worker(work_dir, tmp_path, 'h', 2, 'hold', ['2:60', '2:1'])
    assert holder.stdout is not None
    running = holder.stdout.readline().split()
    waiting = holder.stdout.readline().split()
    assert running[1] == 'ACTIVE' and waiting[1] == 'QUEUED', (running, waiting)
    job_pid = int(running[2])
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, cores=2))
    mine = Job(JobSpec('/bin/true', resources=ResourceSpecV1(cpu_cores_per_process=2)))
    executor.submit(mine)
    assert mine.status.state == JobState.QUEUED
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    # The holder's job runs on in its own session: its cores stay busy while it lives...
    time.sleep(1.0)
    assert mine.status.state == JobState.QUEUED
    ledger = Ledger(work_dir / 'local')
    entries = ledger.read()
    assert [r.process.pid for r in entries.reservations if r.process] == [job_pid]
    assert all(w.holder.pid != holder.pid for w in entries.waiting)  # its waiting job: gone
    # ...and are taken back once it is gone too.
    os.killpg(job_pid, signal.SIGKILL)
    status = mine.wait(timeout=5)
    assert status is not None and status.state == JobState.COMPLETED
    assert not (tmp_path / 'h1.times').exists()  # the dead holder's waiting job never ran


def test_a_holder_killed_before_its_job_started_frees_at_once(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ledger = Ledger(work_dir / 'local')
    sleeper = subprocess.Popen(['sleep', '60'])
    from psij.executors.local_ledger import Holder, Reservation
    holder = Holder.of(sleeper.pid)
    assert holder is not None
    ledger.update(lambda state: state.reservations.append(
        Reservation(holder, 'some-job', 2, (), 0)))
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, cores=2))
    mine = Job(JobSpec('/bin/true', resources=ResourceSpecV1(process_count=2)))
    executor.submit(mine)
    assert mine.status.state == JobState.QUEUED
    sleeper.kill()
    sleeper.wait()
    status = mine.wait(timeout=5)
    assert status is not None and status.state == JobState.COMPLETED
    assert ledger.read().reservations == [] or _wait_until(
        lambda: ledger.read().reservations == [], 2.0)


def test_psij_run_takes_the_budget_options(work_dir: pathlib.Path,
                                           tmp_path: pathlib.Path) -> None:
    result = psij(work_dir, 'run', '-e', 'local', '--local-cores', '2', '--local-gpus',
                  'gpu-x,gpu-y', '--gpus-per-process', '1', '-n', '2', '--',
                  'sh', '-c', 'echo "[$CUDA_VISIBLE_DEVICES]"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['[gpu-x,gpu-y]']  # 2 processes x 1 GPU each
    result = psij(work_dir, 'run', '-e', 'local', '--local-cores', '2', '-n', '3', '--',
                  'true')
    assert result.returncode != 0 and 'cores=2' in result.stderr
    result = psij(work_dir, 'run', '-e', 'sge', '--local-cores', '2', '--', 'true')
    assert result.returncode != 0 and '--local-cores' in result.stderr
    result = psij(work_dir, 'run', '-e', 'local', '--local-memory', 'lots', '--', 'true')
    assert result.returncode != 0 and '--local-memory' in result.stderr


@pytest.mark.parametrize('value, accepted', [('2', True), ('"all"', True), ('"lots"', False),
                                             ('[1]', False)])
def test_a_profile_sets_the_budget_and_a_bad_value_names_the_key(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, value: str, accepted: bool) -> None:
    config = tmp_path / 'config.toml'
    config.write_text(f'[profile.budget]\nexecutor = "local"\ncores = {value}\n')
    env = {'PSIJ_CONFIG': str(config), 'PSIJ_SITE_CONFIG': str(tmp_path / 'none.toml'),
           'XDG_CONFIG_HOME': str(tmp_path / 'xdg')}
    result = psij(work_dir, 'run', '--profile', 'budget', '--json', '--', 'true', env=env)
    if accepted:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)['state'] == 'COMPLETED'
    else:
        assert result.returncode != 0
        assert 'cores' in result.stderr and 'config.toml' in result.stderr, result.stderr


def test_psij_submit_jobs_waiting_for_room_are_seen_waited_for_and_canceled_from_other_processes(
        work_dir: pathlib.Path) -> None:
    ids = []
    for seconds in ('60', '0.5', '0.5'):
        result = psij(work_dir, 'submit', '-e', 'local', '--local-cores', '1', '--',
                      'sleep', seconds)
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    first, second, third = ids
    status = psij(work_dir, 'status', '-e', 'local', '--json', *ids)
    states = {job['native_id']: job for job in json.loads(status.stdout)['jobs']}
    assert states[first]['state'] == 'ACTIVE'
    assert states[second]['state'] == 'QUEUED'
    assert 'waiting for resources' in states[second]['message']
    assert psij(work_dir, 'cancel', '-e', 'local', third).returncode == 0
    assert psij(work_dir, 'cancel', '-e', 'local', first).returncode == 0  # room for second
    waited = psij(work_dir, 'wait', '-e', 'local', '--json', second, third)
    ends = {job['native_id']: job['state'] for job in json.loads(waited.stdout)['jobs']}
    assert ends == {second: 'COMPLETED', third: 'CANCELED'}, waited.stdout
