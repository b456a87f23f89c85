"""The slurm executor against the REAL Slurm cluster started by .ci/lrm/slurm-up.sh.

Under CI=true a missing cluster fails these tests (see `require_slurm`).
"""

import contextlib
import functools
import os
import pathlib
import subprocess
import time
from datetime import timedelta
from typing import Any, Dict, Iterator

import pytest
from batch_helpers import (
    attach_elsewhere,
    final_status,
    recorded_states,
    submit_and_wait_until_running,
)
from real_tools import require_slurm

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutorConfig

WAIT = 90.0  # seconds; jobs here end in a few seconds unless the cluster is busy

_states = recorded_states
_final = functools.partial(final_status, timeout=WAIT)
_submit_and_wait_until_running = functools.partial(submit_and_wait_until_running,
                                                   timeout=WAIT)


def _attach_elsewhere(work_dir: pathlib.Path, native_id: str) -> Dict[str, Any]:
    return attach_elsewhere('slurm', work_dir, native_id, {'outcome_timeout': 30})


@pytest.fixture
def executor(work_dir: pathlib.Path) -> Iterator[JobExecutor]:
    require_slurm()
    config = BatchSchedulerExecutorConfig(work_directory=work_dir, queue_polling_interval=5.0)
    yield JobExecutor.get_instance('slurm', config=config)


@contextlib.contextmanager
def _held(executor: JobExecutor, job: Job) -> Iterator[str]:
    """Submit ``job`` (which holds itself with ``slurm.hold``), give its native id to look at
    it in the queue, then cancel it and check that it ends CANCELED."""
    executor.submit(job)
    try:
        native_id = job.native_id
        assert native_id is not None
        yield native_id
    finally:
        job.cancel()
    assert _final(job).state == JobState.CANCELED


def _squeue_field(native_id: str, field: str) -> str:
    return subprocess.run(['squeue', '-h', '-t', 'all', '-j', native_id, '-o', field],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_job_completes_with_verbatim_arguments(executor: JobExecutor,
                                               tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out put.txt'
    arguments = ['a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü', '']
    job = Job(JobSpec('printf', ['[%s]\\n', *arguments], stdout_path=out, name='verbatim'))
    seen = _states(job)
    executor.submit(job)
    assert job.native_id is not None and job.native_id.isdigit()
    status = _final(job)
    assert status.state == JobState.COMPLETED and status.exit_code == 0, status
    assert out.read_text() == ''.join(f'[{argument}]\n' for argument in arguments)
    assert seen == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]


def test_exit_code_is_reported(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 3']))
    executor.submit(job)
    status = _final(job)
    assert (status.state, status.exit_code) == (JobState.FAILED, 3), status
    assert 'exit code 3' in (status.message or '')


def test_environment_directory_and_streams(executor: JobExecutor,
                                          tmp_path: pathlib.Path) -> None:
    directory = tmp_path / 'my dir'
    directory.mkdir()
    (directory / 'input.txt').write_text('from stdin\n')
    script = 'pwd; printf "%s|%s\\n" "$GREETING" "${OUTER-unset}"; cat; echo oops >&2'
    job = Job(JobSpec('/bin/sh', ['-c', script], directory=directory,
                      environment={'GREETING': "hi 'there' $USER"}, stdin_path='input.txt',
                      stdout_path='out.txt', stderr_path='err.txt', inherit_environment=False))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert (directory / 'out.txt').read_text() == (
        f"{directory}\nhi 'there' $USER|unset\nfrom stdin\n")
    assert (directory / 'err.txt').read_text() == 'oops\n'


def test_environment_is_inherited_by_default(executor: JobExecutor, tmp_path: pathlib.Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_OUTER', 'outer value')
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "$PSIJ_TEST_OUTER"'], stdout_path=out))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert out.read_text() == 'outer value\n'


def test_missing_directory_on_the_node_fails_with_a_message(executor: JobExecutor,
                                                            tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true', directory=tmp_path / 'nowhere'))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.FAILED
    assert 'JobSpec.directory' in (status.message or ''), status


def test_name_and_custom_attributes_reach_slurm(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/sleep', ['30'], name='psij named job', attributes=JobAttributes(
        custom_attributes={'slurm.comment': 'psij test comment', 'slurm.hold': True})))
    with _held(executor, job) as native_id:
        assert _squeue_field(native_id, '%j') == 'psij_named_job'
        assert _squeue_field(native_id, '%k') == 'psij test comment'
        assert _squeue_field(native_id, '%r') in ('JobHeldUser', 'JobHeldAdmin')


def test_cancel_pending_job(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes={'slurm.hold': True})))
    seen = _states(job)
    executor.submit(job)
    assert job.native_id in executor.list()
    started = time.monotonic()
    job.cancel()
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert time.monotonic() - started < 15
    assert seen == [JobState.QUEUED, JobState.CANCELED]


def test_cancel_running_job(executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    marker = tmp_path / 'running'
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{marker}"; exec sleep 120']))
    _submit_and_wait_until_running(executor, job, marker)
    assert job.wait(timeout=10, target_states=[JobState.ACTIVE]) is not None
    job.cancel()
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert job.native_id is not None
    assert _squeue_field(job.native_id, '%T') in ('CANCELLED', '')


def test_invalid_partition_names_the_field(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name='no_such_partition')))
    with pytest.raises(InvalidJobException, match='JobAttributes.queue_name'):
        executor.submit(job)
    assert job.status.state == JobState.NEW and job.executor is None


def test_srun_launcher_runs_two_copies_and_pre_post_once(executor: JobExecutor,
                                                          tmp_path: pathlib.Path) -> None:
    log = tmp_path / 'prepost.log'
    pre = tmp_path / 'pre.sh'
    pre.write_text(f'echo pre >> "{log}"\nexport FROM_PRE=yes\n')
    post = tmp_path / 'post.sh'
    post.write_text(f'echo "post $PSIJ_JOB_EXIT_CODE" >> "{log}"\n')
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "rank $PSIJ_RANK of $PSIJ_PROCESS_COUNT $FROM_PRE"'],
                      stdout_path=out, launcher='srun', pre_launch=pre, post_launch=post,
                      resources=ResourceSpecV1(process_count=2)))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.COMPLETED, status
    assert sorted(out.read_text().splitlines()) == ['rank 0 of 2 yes', 'rank 1 of 2 yes']
    assert log.read_text() == 'pre\npost 0\n'


def test_nodefile_has_a_line_per_process(executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'cat "$PSIJ_NODEFILE"'], stdout_path=out,
                      resources=ResourceSpecV1(node_count=1, processes_per_node=3)))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert out.read_text().splitlines() == ['vm'] * 3 or len(set(out.read_text().split())) == 1
    assert len(out.read_text().splitlines()) == 3


def test_many_jobs_are_all_accounted_for(executor: JobExecutor) -> None:
    jobs = [Job(JobSpec('/bin/sh', ['-c', f'exit {i % 3}'])) for i in range(30)]
    for job in jobs:
        executor.submit(job)
    for index, job in enumerate(jobs):
        status = _final(job, timeout=180)
        expected = JobState.COMPLETED if index % 3 == 0 else JobState.FAILED
        assert (status.state, status.exit_code) == (expected, index % 3), (index, status)


def test_attach_from_another_process_while_running_and_after(executor: JobExecutor,
                                                             work_dir: pathlib.Path,
                                                             tmp_path: pathlib.Path) -> None:
    marker = tmp_path / 'running'
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{marker}"; sleep 3; exit 7']))
    _submit_and_wait_until_running(executor, job, marker)
    assert job.native_id is not None
    during = _attach_elsewhere(work_dir, job.native_id)
    assert (during['state'], during['exit_code']) == ('FAILED', 7), during
    assert _final(job).exit_code == 7
    after = _attach_elsewhere(work_dir, job.native_id)
    assert (after['first'], after['state'], after['exit_code']) == ('FAILED', 'FAILED', 7), after


def test_attach_after_the_markers_are_gone_uses_accounting(executor: JobExecutor,
                                                           work_dir: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 5']))
    executor.submit(job)
    assert _final(job).exit_code == 5
    assert job.native_id is not None
    (work_dir / 'slurm' / f'{job.native_id}.ec').unlink()
    result = _attach_elsewhere(work_dir, job.native_id)
    assert (result['state'], result['exit_code']) == ('FAILED', 5), result


def test_attach_to_an_unknown_id_fails_clearly(executor: JobExecutor,
                                               work_dir: pathlib.Path) -> None:
    result = _attach_elsewhere(work_dir, '987654321')
    assert result['state'] == 'FAILED', result
    assert 'knows no job 987654321' in str(result['message'])


def test_attach_rejects_a_malformed_id(executor: JobExecutor) -> None:
    with pytest.raises(InvalidJobException, match='native_id'):
        executor.attach(Job(), '../etc')


def test_time_limit_ends_the_job_as_failed_naming_the_limit(executor: JobExecutor) -> None:
    # Slurm's minimum is one minute and it checks limits every 30 s: this takes 60-100 s.
    job = Job(JobSpec('/bin/sleep', ['600'], attributes=JobAttributes(
        duration=timedelta(minutes=1))))
    executor.submit(job)
    status = _final(job, timeout=240)
    assert status.state == JobState.FAILED, status
    assert 'time limit of 0:01:00 reached' in (status.message or ''), status


def test_work_directory_script_and_markers_are_user_only(executor: JobExecutor,
                                                         work_dir: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 2']))
    executor.submit(job)
    assert _final(job).exit_code == 2
    directory = work_dir / 'slurm'
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / f'{job.id}.sh').stat().st_mode & 0o777 == 0o600
    assert (directory / f'{job.native_id}.ec').stat().st_mode & 0o777 == 0o600
    assert (directory / f'{job.native_id}.ec').read_text() == f'2\nPSIJ-JOB: {job.id}\n'
    started = directory / f'{job.native_id}.started'
    assert started.stat().st_mode & 0o777 == 0o600
    assert started.read_text().splitlines()[1:] == [f'PSIJ-JOB: {job.id}']


def test_cancel_by_someone_else_is_canceled_saying_by_whom(executor: JobExecutor,
                                                            tmp_path: pathlib.Path) -> None:
    marker = tmp_path / 'running'
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{marker}"; exec sleep 120']))
    _submit_and_wait_until_running(executor, job, marker)
    assert job.native_id is not None
    subprocess.run(['scancel', job.native_id], check=True)  # an administrator, say
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert status.message == f'canceled by uid {os.getuid()}', status


def test_sbatch_variables_of_the_submitting_shell_do_not_override_the_job(
        executor: JobExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    # each of these would win over the script's #SBATCH line (the memory one makes sbatch
    # refuse --mem outright); the job's fields must win instead
    monkeypatch.setenv('SBATCH_TIMELIMIT', '1')
    monkeypatch.setenv('SBATCH_PARTITION', 'no_such_partition')
    monkeypatch.setenv('SBATCH_MEM_PER_CPU', '10')
    monkeypatch.setenv('SBATCH_JOB_NAME', 'from_the_environment')
    # an option the job leaves to the site still comes from the environment
    monkeypatch.setenv('SBATCH_NO_REQUEUE', '1')
    job = Job(JobSpec('/bin/sleep', ['30'], name='fields win', resources=ResourceSpecV1(
        memory=64 * 1024 * 1024), attributes=JobAttributes(
        duration=timedelta(minutes=7), queue_name='debug',
        custom_attributes={'slurm.hold': True})))
    with _held(executor, job) as native_id:
        assert _squeue_field(native_id, '%l') == '7:00'
        assert _squeue_field(native_id, '%P') == 'debug'
        assert _squeue_field(native_id, '%j') == 'fields_win'
        shown = subprocess.run(['scontrol', 'show', 'job', native_id], capture_output=True,
                               text=True, check=True).stdout
        assert 'MinMemoryNode=64M' in shown, shown
        assert 'Requeue=0' in shown, shown
