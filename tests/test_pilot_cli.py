"""``psij pilot status`` and ``psij pilot output`` (`psij.cli.pilot_commands`,
`psij.pilot.status`, `psij.pilot.output_stream`) on pilots whose allocation the local
executor provides: tasks by state, workers, utilisation; a pilot that does not exist; outputs
streamed into one file per worker and read back. About 8 s."""

import json
import pathlib

import pytest
from pilot_checks import task_id, wait_all, wait_for

from psij import Job, JobSpec
from psij.cli import main
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor
from psij.pilot.output_stream import task_output


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


def test_streamed_outputs_one_file_per_worker_and_read_back(
        work_dir: pathlib.Path, capsys: pytest.CaptureFixture[str],
        tmp_path: pathlib.Path) -> None:
    pilot = PilotJobExecutor(config=PilotExecutorConfig(
        executor='local', name='streams', cores_per_node=2, max_allocations=1,
        idle_timeout=2, poll_interval=0.1, stream_outputs=True, work_directory=work_dir))
    jobs = [Job(JobSpec('/bin/sh', ['-c', f'echo out {index}; echo err {index} >&2']))
            for index in range(10)]
    own_file = Job(JobSpec('/bin/echo', ['mine'], stdout_path=tmp_path / 'mine.txt'))
    for job in jobs + [own_file]:
        pilot.submit(job)
    wait_all(jobs + [own_file], 20)
    outputs = work_dir / 'pilot' / 'streams' / 'outputs'
    assert len(list(outputs.iterdir())) == 1  # one worker, one file for every task
    for index, job in enumerate(jobs):
        assert job.status.state == JobState.COMPLETED
        assert task_output(outputs, task_id(job)) == f'out {index}\n'.encode()
        assert task_output(outputs, task_id(job), 'stderr') == f'err {index}\n'.encode()
    assert (tmp_path / 'mine.txt').read_text() == 'mine\n'  # a path given is kept
    with pytest.raises(KeyError):
        task_output(outputs, task_id(own_file))
    assert main(['pilot', 'output', '--name', 'streams', '--pilot-work-directory',
                 str(work_dir), str(jobs[3].native_id)]) == 0
    assert capsys.readouterr().out == 'out 3\n'
    assert main(['pilot', 'output', '--name', 'streams', '--pilot-work-directory',
                 str(work_dir), '--stderr', task_id(jobs[4])]) == 0
    assert capsys.readouterr().out == 'err 4\n'
    assert main(['pilot', 'output', '--name', 'streams', '--pilot-work-directory',
                 str(work_dir), task_id(own_file)]) == 67
