"""One-process pilot tasks started by the worker itself (`psij.pilot.task_process`), on a
local pilot: directory, environment, relative output paths, stdin, a missing executable, a
cancel of a running task. About 10 s."""

import pathlib

from pilot_checks import wait_all, wait_for

from psij import Job, JobExecutor, JobSpec
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor


def test_directory_environment_streams_and_failures(work_dir: pathlib.Path,
                                                    tmp_path: pathlib.Path) -> None:
    executor = JobExecutor.get_instance('pilot', config=PilotExecutorConfig(
        executor='local', name='direct', cores_per_node=2, idle_timeout=3, max_allocations=1,
        poll_interval=0.1, work_directory=work_dir))
    assert isinstance(executor, PilotJobExecutor)
    (tmp_path / 'in.txt').write_text('from stdin\n')
    shell = Job(JobSpec('/bin/sh', ['-c', 'pwd; echo "$GREETING"; cat; echo err >&2; exit 3'],
                        directory=tmp_path, environment={'GREETING': 'hello'},
                        stdin_path=pathlib.Path('in.txt'), stdout_path=pathlib.Path('out.txt'),
                        stderr_path=tmp_path / 'err.txt'))
    missing = Job(JobSpec('/no/such/program'))
    sleeper = Job(JobSpec('/bin/sleep', ['60']))
    try:
        for job in (shell, missing, sleeper):
            executor.submit(job)
        wait_for('the sleeper running', lambda: sleeper.status.state == JobState.ACTIVE, 30)
        sleeper.cancel()
        wait_all([shell, missing, sleeper], 30)
    finally:
        executor.pilot.allocations.cancel_all()
    assert shell.status.state == JobState.FAILED and shell.status.exit_code == 3
    assert (tmp_path / 'out.txt').read_text() == f'{tmp_path}\nhello\nfrom stdin\n'
    assert (tmp_path / 'err.txt').read_text() == 'err\n'
    assert missing.status.state == JobState.FAILED and missing.status.exit_code is None
    assert missing.status.message is not None and 'cannot be run' in missing.status.message
    assert '/no/such/program' in missing.status.message
    assert sleeper.status.state == JobState.CANCELED
