"""A campaign killed mid-run with ``kill -9`` and reattached from another process, on this
machine and on the real Slurm and Grid Engine: every command runs exactly once, and never
more than ``--max-running`` jobs are in flight, across both processes."""

import os
import pathlib
import shutil
import signal
import subprocess

import pytest
from test_campaign_support import (
    REAL_EXECUTORS,
    campaign,
    most_in_flight,
    ran,
    records,
    require_executor,
    states,
    write_map,
)
from test_cli_support import PSIJ, eventually, psij_environment

#: Eight commands, each appending its number once; long enough that some are in flight at
#: any moment, short enough for the cluster tests.
MAP = 'sleep 2; echo {{1,2,3,4,5,6,7,8}} >> ran.txt\n'
MAX_RUNNING = 3


def mid_run(logs: pathlib.Path) -> bool:
    """Some jobs done, some in flight, some not submitted yet."""
    now = states(logs)
    return bool(now) and 'completed' in now and 'unsubmitted' in now and (
        'running' in now or 'pending' in now)


@pytest.mark.parametrize('name', REAL_EXECUTORS)
def test_a_campaign_killed_mid_run_is_reattached(name: str, tmp_path: pathlib.Path,
                                                 work_dir: pathlib.Path) -> None:
    require_executor(name)
    write_map(tmp_path, MAP)
    submitter = subprocess.Popen(
        [str(PSIJ), 'campaign', 'submit', 'jobs.map', '--logs', 'logs', '-e', name,
         '--max-running', str(MAX_RUNNING)], cwd=tmp_path, env=psij_environment(work_dir),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: mid_run(tmp_path / 'logs'), 'the campaign half-way', timeout=120)
    finally:
        os.kill(submitter.pid, signal.SIGKILL)
        submitter.communicate(timeout=30)
    assert submitter.returncode == -signal.SIGKILL
    at_kill = states(tmp_path / 'logs')
    result = campaign(work_dir, tmp_path, 'reattach', '--logs', 'logs', timeout=240)
    assert result.returncode == 0, f'states at the kill: {at_kill}\n{result}'
    assert ran(tmp_path / 'ran.txt') == [str(number) for number in range(1, 9)]
    jobs = records(tmp_path / 'logs')
    assert [job['state'] for job in jobs] == ['completed'] * 8
    # A kill that lands while a submission is under way leaves an attempt the reattaching
    # process proved never ran (it looked before submitting again); each command still ran
    # exactly once (ran.txt, above), and at most one attempt per job was set aside.
    assert all(len(job['attempts']) <= 1 for job in jobs), [job['attempts'] for job in jobs]
    assert sum(len(job['attempts']) for job in jobs) <= 1, [job['attempts'] for job in jobs]
    assert most_in_flight(jobs) <= MAX_RUNNING


SUBMIT_COMMANDS = {'slurm': 'sbatch', 'sge': 'qsub'}


@pytest.mark.parametrize('name', ['slurm', 'sge'])
def test_killed_while_the_submit_command_runs_the_job_is_found_not_resubmitted(
        name: str, tmp_path: pathlib.Path, work_dir: pathlib.Path) -> None:
    """The narrowest window: killed after recording "submitting", while ``sbatch``/``qsub``
    runs. The submit command (a child, not killed with its parent) still submits the job; the
    process that takes over finds it by the markers it leaves and does not submit it again."""
    require_executor(name)
    command = SUBMIT_COMMANDS[name]
    real = shutil.which(command)
    assert real is not None
    slow = tmp_path / 'slow-bin'
    slow.mkdir()
    inside, delay = tmp_path / 'inside-submit', tmp_path / 'delay'
    delay.write_text('')
    (slow / command).write_text(f'#!/bin/sh\n: > {inside}\n[ -e {delay} ] && sleep 3\n'
                                f'exec {real} "$@"\n')
    (slow / command).chmod(0o755)
    environment = psij_environment(work_dir, {'PATH': f'{slow}:{os.environ["PATH"]}'})
    write_map(tmp_path, 'echo {{1,2}} >> ran.txt\n')
    submitter = subprocess.Popen(
        [str(PSIJ), 'campaign', 'submit', 'jobs.map', '--logs', 'logs', '-e', name,
         '--max-running', '1'], cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        eventually(inside.exists, f'{command} called', timeout=60)
    finally:
        os.kill(submitter.pid, signal.SIGKILL)
        submitter.communicate(timeout=30)
    delay.unlink()
    assert states(tmp_path / 'logs') == ['submitting', 'unsubmitted']
    result = subprocess.run([str(PSIJ), 'campaign', 'reattach', '--logs', 'logs'],
                            cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'job 1: the interrupted submission reached the executor' in result.stdout
    assert ran(tmp_path / 'ran.txt') == ['1', '2']
    first, second = records(tmp_path / 'logs')
    assert first['attempts'] == [] and first['native_id'] is not None
    assert [first['state'], second['state']] == ['completed', 'completed']
