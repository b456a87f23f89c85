"""The slurm executor against the REAL Slurm cluster started by .ci/lrm/slurm-up.sh.

Under CI=true a missing cluster fails these tests (see `require_slurm`). Attach, cancel, many
jobs at once and the work directory's files are tested for every batch executor by
tests/test_batch_contract.py; what is Slurm's own is here.
"""

import contextlib
import functools
import pathlib
import subprocess
from datetime import timedelta
from typing import Iterator

import pytest
from batch_backends import real_backend
from batch_helpers import final_status, recorded_states

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)

WAIT = 90.0  # seconds; jobs here end in a few seconds unless the cluster is busy

_states = recorded_states
_final = functools.partial(final_status, timeout=WAIT)


@pytest.fixture
def executor(work_dir: pathlib.Path) -> Iterator[JobExecutor]:
    yield real_backend('slurm', work_dir).executor


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


def test_time_limit_ends_the_job_as_failed_naming_the_limit(executor: JobExecutor) -> None:
    # Slurm's minimum is one minute and it checks limits every 30 s: this takes 60-100 s.
    job = Job(JobSpec('/bin/sleep', ['600'], attributes=JobAttributes(
        duration=timedelta(minutes=1))))
    executor.submit(job)
    status = _final(job, timeout=240)
    assert status.state == JobState.FAILED, status
    assert 'time limit of 0:01:00 reached' in (status.message or ''), status


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
