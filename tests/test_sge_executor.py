"""The sge executor against the REAL Grid Engine started by .ci/lrm/sge-up.sh.

Under CI=true a missing Grid Engine fails these tests (see `require_sge`). The qmaster here
schedules every second and writes accounting at once, so jobs end within a few seconds.
Attach, cancel, many jobs at once and the work directory's files are tested for every batch
executor by tests/test_batch_contract.py; what is Grid Engine's own is here.
"""

import functools
import pathlib
import subprocess
import time
from datetime import timedelta
from typing import Dict, Iterator

import pytest
from batch_backends import real_backend
from batch_helpers import final_status, recorded_states
from psij.executors.sge import SgeExecutorConfig
from real_tools import require_command, require_sge

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)

WAIT = 60.0  # seconds; jobs here end in a few seconds unless the cluster is busy

_states = recorded_states
_final = functools.partial(final_status, timeout=WAIT)


@pytest.fixture
def executor(work_dir: pathlib.Path) -> Iterator[JobExecutor]:
    yield real_backend('sge', work_dir).executor


def _qstat_j(native_id: str) -> Dict[str, str]:
    """``qstat -j ID`` as ``field -> value`` (the first line of each field)."""
    text = subprocess.run(['qstat', '-j', native_id], capture_output=True, text=True,
                          check=True).stdout
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(':')
        if colon and not key.startswith(' '):
            fields.setdefault(key.strip(), value.strip())
    return fields


def test_job_completes_with_verbatim_arguments(executor: JobExecutor,
                                               tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out put.txt'
    arguments = ['a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü', '',
                 'not a\n#$ -N directive', '#$ -l h_rt=1', 'tab\there', 'back\\slash']
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
                                          tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_OUTER', 'outer value')
    directory = tmp_path / 'my dir'
    directory.mkdir()
    (directory / 'input.txt').write_text('from stdin\n')
    script = ('pwd; printf "%s|%s|%s\\n" "$GREETING" "$MULTI" "${PSIJ_TEST_OUTER-unset}"; cat; '
              'echo oops >&2')
    job = Job(JobSpec('/bin/sh', ['-c', script], directory=directory,
                      environment={'GREETING': "hi 'there' $USER",
                                   'MULTI': 'one\n#$ -q nowhere\ntwo'},
                      stdin_path='input.txt', stdout_path='out.txt', stderr_path='err.txt',
                      inherit_environment=False))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert (directory / 'out.txt').read_text() == (
        f"{directory}\nhi 'there' $USER|one\n#$ -q nowhere\ntwo|unset\nfrom stdin\n")
    assert (directory / 'err.txt').read_text() == 'oops\n'


def test_environment_is_inherited_by_default(executor: JobExecutor, tmp_path: pathlib.Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_OUTER', 'outer value\nwith a line break')
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "$PSIJ_TEST_OUTER"'], stdout_path=out))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert out.read_text() == 'outer value\nwith a line break\n'


def test_job_starts_in_the_submitting_directory(executor: JobExecutor, tmp_path: pathlib.Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    job = Job(JobSpec('/bin/pwd', stdout_path=tmp_path / 'out.txt'))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert (tmp_path / 'out.txt').read_text() == f'{tmp_path}\n'


def test_missing_directory_on_the_node_fails_with_a_message(executor: JobExecutor,
                                                            tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true', directory=tmp_path / 'nowhere'))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.FAILED
    assert 'JobSpec.directory' in (status.message or ''), status


def test_name_resources_and_custom_attributes_reach_grid_engine(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true', name='3 psij named job', attributes=JobAttributes(
        duration=timedelta(minutes=5, seconds=1), queue_name='all.q',
        custom_attributes={'sge.ac': 'note=a b\\c $x', 'sge.h': True}),
        resources=ResourceSpecV1(process_count=2, memory=512 * 1024 ** 2)))
    executor.submit(job)
    try:
        assert job.native_id is not None
        fields = _qstat_j(job.native_id)
        assert fields['job_name'] == '_3_psij_named_job'
        assert fields['context'] == 'note=a b\\c $x'
        assert fields['hard resource_list'] == 'h_rt=301,h_vmem=256M'
        assert fields['hard_queue_list'] == 'all.q'
        assert fields['parallel environment'].split() == ['smp', 'range:', '2']
    finally:
        job.cancel()
    assert _final(job).state == JobState.CANCELED


def test_pending_job_deleted_by_someone_else_ends_with_an_unknown_outcome(
        work_dir: pathlib.Path) -> None:
    # Grid Engine keeps no record of a job deleted before it started: see docs/executors/sge.md.
    require_sge()
    executor = JobExecutor.get_instance('sge', config=SgeExecutorConfig(
        work_directory=work_dir, outcome_timeout=4))
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.h': True})))
    executor.submit(job)
    assert job.native_id is not None
    subprocess.run(['qdel', job.native_id], check=True, capture_output=True)
    status = _final(job)
    assert status.state == JobState.FAILED, status
    assert (status.message or '').startswith(f'outcome unknown: sge job {job.native_id} left '
                                             'the queue'), status


def test_error_state_is_a_failure_saying_why(executor: JobExecutor,
                                             tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'sge.wd': str(tmp_path / 'missing')})))
    executor.submit(job)
    try:
        status = _final(job)
        assert job.native_id is not None
        assert status.state == JobState.FAILED, status
        assert status.message == (
            'Grid Engine could not start the job (Grid Engine: failed 28 : changing into working '
            'directory, exit_status 0); unless it was deleted, it waits in error state (Eqw): '
            f'`qmod -cj {job.native_id}` runs it again, `qdel {job.native_id}` deletes it')
        assert executor.list() == [job.native_id] or job.native_id in executor.list()
    finally:
        subprocess.run(['qdel', str(job.native_id)], capture_output=True)


def test_time_limit_ends_the_job_as_failed_naming_the_limit(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/sleep', ['600'], attributes=JobAttributes(
        duration=timedelta(seconds=3))))
    started = time.monotonic()
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.FAILED, status
    assert 'time limit of 0:00:03 reached' in (status.message or ''), status
    assert time.monotonic() - started < 30


def test_invalid_queue_names_the_field(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name='no_such.q')))
    with pytest.raises(InvalidJobException, match='JobAttributes.queue_name'):
        executor.submit(job)
    assert job.status.state == JobState.NEW and job.executor is None


def test_exclusive_node_use_without_the_complex_names_the_field(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true', resources=ResourceSpecV1(exclusive_node_use=True)))
    with pytest.raises(InvalidJobException, match='exclusive_node_use'):
        executor.submit(job)


def test_two_slots_with_the_multiple_launcher(executor: JobExecutor,
                                              tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    nodes = tmp_path / 'nodes.txt'
    job = Job(JobSpec('/bin/sh', ['-c', f'echo "rank $PSIJ_RANK of $PSIJ_PROCESS_COUNT slots '
                                        f'$NSLOTS"; if [ "$PSIJ_RANK" = 0 ]; then '
                                        f'cp "$PSIJ_NODEFILE" "{nodes}"; fi'],
                      stdout_path=out, launcher='multiple',
                      resources=ResourceSpecV1(process_count=2)))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert sorted(out.read_text().splitlines()) == ['rank 0 of 2 slots 2', 'rank 1 of 2 slots 2']
    lines = nodes.read_text().splitlines()
    assert len(lines) == 2 and len(set(lines)) == 1, lines


def test_a_serial_job_has_one_slot_whatever_the_submitting_environment_says(
        executor: JobExecutor, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As when psij itself runs in a parallel Grid Engine job: -V would pass these on.
    monkeypatch.setenv('PE', 'smp')
    monkeypatch.setenv('PE_HOSTFILE', str(tmp_path / 'pe_hostfile'))
    (tmp_path / 'pe_hostfile').write_text('elsewhere 4 all.q@elsewhere UNDEFINED\n')
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'cat "$PSIJ_NODEFILE"; echo "${PE_HOSTFILE-unset}"'],
                      stdout_path=out))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and lines[0] != 'elsewhere' and lines[1] == 'unset', lines


@pytest.mark.mpi
def test_two_slots_with_the_mpirun_launcher_in_the_mpi_environment(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    require_sge()
    require_command('mpirun')
    executor = JobExecutor.get_instance('sge', config=SgeExecutorConfig(
        work_directory=work_dir, parallel_environment='mpi'))
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "rank $PSIJ_RANK of $PSIJ_PROCESS_COUNT"'],
                      stdout_path=out, launcher='mpirun',
                      resources=ResourceSpecV1(process_count=2)))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.COMPLETED, status
    assert sorted(out.read_text().splitlines()) == ['rank 0 of 2', 'rank 1 of 2']


