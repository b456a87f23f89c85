"""``psij campaign cancel``: while another process runs the campaign, and after that process
was killed (the cancel then takes the campaign over). Nothing more is submitted, the jobs in
flight end canceled, and a later reattach submits nothing."""

import os
import pathlib
import signal
import subprocess

import psutil
import pytest
from test_campaign_support import (
    campaign,
    ran,
    records,
    require_executor,
    states,
    write_map,
    )
from test_cli_support import PSIJ, eventually, psij_environment

from psij.campaigns.runner import CANCELED_UNSUBMITTED

#: Five jobs that say they ran, then sleep far longer than any test waits.
MAP = 'echo {{1,2,3,4,5}} >> ran.txt; sleep 300\n'


def _start(name: str, tmp_path: pathlib.Path, work_dir: pathlib.Path
           ) -> 'subprocess.Popen[str]':
    write_map(tmp_path, MAP)
    submitter = subprocess.Popen(
        [str(PSIJ), 'campaign', 'submit', 'jobs.map', '--logs', 'logs', '-e', name,
         '--max-running', '2'], cwd=tmp_path, env=psij_environment(work_dir),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    eventually(lambda: states(tmp_path / 'logs').count('running') == 2, 'two jobs running',
               timeout=120)
    return submitter


def _check_canceled(tmp_path: pathlib.Path) -> None:
    jobs = records(tmp_path / 'logs')
    assert [job['state'] for job in jobs] == ['failed'] * 5, jobs
    assert all('canceled' in job['message'] for job in jobs[:2]), jobs[:2]
    assert [job['message'] for job in jobs[2:]] == [CANCELED_UNSUBMITTED] * 3
    assert ran(tmp_path / 'ran.txt') == ['1', '2']


@pytest.mark.parametrize('name', ['local', 'slurm'])
def test_cancel_while_another_process_runs_the_campaign(name: str, tmp_path: pathlib.Path,
                                                        work_dir: pathlib.Path) -> None:
    require_executor(name)
    submitter = _start(name, tmp_path, work_dir)
    try:
        result = campaign(work_dir, tmp_path, 'cancel', '--logs', 'logs')
        assert result.returncode == 0, str(result)
        assert 'cancel requested; the campaign in' in result.stdout
        assert f'pid {submitter.pid}' in result.stdout
        output, errors = submitter.communicate(timeout=90)
    finally:
        submitter.kill()
    assert submitter.returncode != 0, (output, errors)
    assert 'canceled: 2 job(s) in flight are canceled' in output
    _check_canceled(tmp_path)


def test_cancel_after_the_runner_was_killed_takes_the_campaign_over(
        tmp_path: pathlib.Path, work_dir: pathlib.Path) -> None:
    submitter = _start('local', tmp_path, work_dir)
    os.kill(submitter.pid, signal.SIGKILL)
    submitter.communicate(timeout=30)
    running = [int(job['native_id']) for job in records(tmp_path / 'logs')[:2]]
    assert all(psutil.pid_exists(pid) for pid in running)

    result = campaign(work_dir, tmp_path, 'cancel', '--logs', 'logs')
    assert result.returncode == 0, str(result)
    assert 'psij campaign: 5 jobs: failed 5' in result.stdout.splitlines(), result.stdout
    _check_canceled(tmp_path)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != 'zombie'
                   for pid in running)

    again = campaign(work_dir, tmp_path, 'reattach', '--logs', 'logs')
    assert states(tmp_path / 'logs') == ['failed'] * 5, str(again)
    assert ran(tmp_path / 'ran.txt') == ['1', '2']
