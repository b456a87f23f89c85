"""``psij pilot status`` (`psij.cli.pilot_commands`, `psij.pilot.status`) on a pilot whose
allocation the local executor provides: tasks by state, workers, utilisation; a pilot that
does not exist. About 5 s."""

import json
import pathlib

import pytest
from pilot_checks import wait_for

from psij import Job, JobSpec
from psij.cli import main
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor


def test_status_of_a_busy_pilot(work_dir: pathlib.Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    pilot = PilotJobExecutor(config=PilotExecutorConfig(
        executor='local', name='busy', cores_per_node=2, max_allocations=1, idle_timeout=5,
        poll_interval=0.1, work_directory=work_dir))
    jobs = [Job(JobSpec('/bin/sleep', ['30'])) for _ in range(3)]
    done = Job(JobSpec('/bin/true'))
    pilot.submit(done)
    done.wait(timeout=20)
    for job in jobs:
        pilot.submit(job)
    try:
        wait_for('two tasks running',
                 lambda: sum(job.status.state == JobState.ACTIVE for job in jobs) == 2, 20)
        assert main(['pilot', 'status', '--name', 'busy', '--pilot-work-directory',
                     str(work_dir), '--json']) == 0
        status = json.loads(capsys.readouterr().out)
        assert status['tasks'] == {'QUEUED': 1, 'ACTIVE': 2, 'COMPLETED': 1}
        assert status['utilisation'] == 1.0
        [allocation] = status['allocations']
        assert allocation['executor'] == 'local' and allocation['ended'] is None
        [worker] = allocation['workers']
        assert (worker['cores'], worker['busy_cores'], worker['running']) == (2, 2, 2)
        assert main(['pilot', 'status', '--name', 'busy', '--pilot-work-directory',
                     str(work_dir)]) == 0
        text = capsys.readouterr().out
        assert 'tasks: QUEUED 1, ACTIVE 2, COMPLETED 1' in text
        assert 'utilisation: 100%' in text and '2/2 cores busy, 2 task(s)' in text
    finally:
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(timeout=20)
        pilot.pilot.allocations.cancel_all()


def test_status_of_no_pilot(work_dir: pathlib.Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['pilot', 'status', '--name', 'none', '--pilot-work-directory',
                 str(work_dir)]) == 67
    assert "no pilot 'none'" in capsys.readouterr().err
