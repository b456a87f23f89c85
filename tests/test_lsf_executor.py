"""The lsf executor end to end, through the TEST DOUBLE of LSF in tests/doubles/fake_lsf.

LSF cannot be installed here. The `fake_lsf` fixture puts the double's ``bsub``, ``bjobs`` and
``bkill`` first on PATH, with a private state directory: the executor runs them by name as it
would run the real ones, the jobs really run (in the background, on this machine), and the
double answers in LSF's formats. What the double can and cannot stand for is in its docstring.
Attach, cancel, many jobs at once and the work directory's files are tested for every batch
executor by tests/test_batch_contract.py; what is LSF's own is here.
"""

import functools
import json
import pathlib
from datetime import timedelta
from typing import Iterator

import pytest
from batch_backends import Backend, fake_lsf_backend, fake_lsf_config
from batch_helpers import final_status, recorded_states, wait_until

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutor

WAIT = 60.0  # seconds; jobs here end in a few seconds

_states = recorded_states
_final = functools.partial(final_status, timeout=WAIT)
_wait_for = functools.partial(wait_until, timeout=WAIT)


@pytest.fixture
def fake_lsf(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The fake LSF, with a state directory of the test's own."""
    yield from fake_lsf_backend(tmp_path, monkeypatch)


@pytest.fixture
def executor(fake_lsf: Backend) -> JobExecutor:
    return fake_lsf.executor


def _submit_running(executor: JobExecutor, started: pathlib.Path, seconds: int = 120) -> Job:
    """A job that touches ``started`` then sleeps; returned once it is ACTIVE."""
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{started}"; exec sleep {seconds}']))
    executor.submit(job)
    _wait_for(started.exists, 'the job never started')
    assert job.wait(timeout=WAIT, target_states=[JobState.ACTIVE]) is not None
    return job


# --- running jobs ----------------------------------------------------------------------------

@pytest.mark.parametrize('command, state, exit_code', [
    ('exit 0', JobState.COMPLETED, 0), ('exit 3', JobState.FAILED, 3),
    ('kill -9 $$', JobState.FAILED, 137),
])
def test_exit_codes(executor: JobExecutor, command: str, state: JobState,
                    exit_code: int) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', command]))
    seen = _states(job)
    executor.submit(job)
    assert job.native_id is not None and job.native_id.isdigit()
    status = _final(job)
    assert (status.state, status.exit_code) == (state, exit_code), status
    assert seen == [JobState.QUEUED, JobState.ACTIVE, state]
    if exit_code:
        assert f'exit code {exit_code}' in (status.message or '')


def test_script_goes_to_bsub_on_stdin_and_arguments_arrive_verbatim(
        executor: JobExecutor, fake_lsf: Backend, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out put.txt'
    arguments = ['a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü', '', '*']
    job = Job(JobSpec('printf', ['[%s]\\n', *arguments], stdout_path=out, name='verbatim'))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert out.read_text() == ''.join(f'[{argument}]\n' for argument in arguments)
    assert fake_lsf.calls('bsub') == [[]]  # no argument: the script came on stdin
    assert job.native_id is not None
    spooled = (fake_lsf.double() / 'jobs' / f'{job.native_id}.script').read_text()
    assert isinstance(executor, BatchSchedulerExecutor)
    assert spooled == executor.generate_script(job)


def test_environment_directory_and_streams(executor: JobExecutor, tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_OUTER', 'outer value')
    directory = tmp_path / 'my dir'
    directory.mkdir()
    (directory / 'input.txt').write_text('from stdin\n')
    script = 'pwd; printf "%s|%s\\n" "$GREETING" "${PSIJ_TEST_OUTER-unset}"; cat; echo oops >&2'
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


def test_missing_directory_fails_with_a_message(executor: JobExecutor,
                                                tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true', directory=tmp_path / 'nowhere'))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.FAILED and 'JobSpec.directory' in (status.message or '')


def test_name_queue_and_project_reach_lsf(executor: JobExecutor, fake_lsf: Backend) -> None:
    job = Job(JobSpec('/bin/true', name='psij named job', attributes=JobAttributes(
        queue_name='short', account='proj-1', custom_attributes={'lsf.app': 'gpu app'})))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert job.native_id is not None
    shown = fake_lsf.run('bjobs', '-json', '-a', '-o', 'job_name queue', job.native_id)
    assert json.loads(shown.stdout)['RECORDS'] == [
        {'JOB_NAME': 'psij_named_job', 'QUEUE': 'short'}]


def test_unknown_queue_names_the_field(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name='nosuchqueue')))
    with pytest.raises(InvalidJobException, match='JobAttributes.queue_name') as raised:
        executor.submit(job)
    assert 'No such queue' in str(raised.value)
    assert job.status.state == JobState.NEW and job.executor is None


def test_multiple_launcher_runs_copies_and_the_nodefile_has_them(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    nodes = tmp_path / 'nodes.txt'
    job = Job(JobSpec('/bin/sh', ['-c', f'echo "rank $PSIJ_RANK of $PSIJ_PROCESS_COUNT"; '
                                  f'[ "$PSIJ_RANK" != 0 ] || cp "$PSIJ_NODEFILE" "{nodes}"'],
                      stdout_path=out, launcher='multiple',
                      resources=ResourceSpecV1(process_count=3)))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.COMPLETED, status
    assert sorted(out.read_text().splitlines()) == [f'rank {rank} of 3' for rank in range(3)]
    assert len(nodes.read_text().splitlines()) == 3


# --- cancel ----------------------------------------------------------------------------------

def test_hold_attribute_reaches_bsub(executor: JobExecutor, fake_lsf: Backend) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'lsf.H': True})))
    executor.submit(job)
    assert job.native_id is not None
    assert fake_lsf.double_job(job.native_id)['state'] == 'PSUSP'  # -H reached bsub
    job.cancel()
    assert _final(job).state == JobState.CANCELED


def test_cancel_of_a_job_that_already_finished_is_not_an_error(
        executor: JobExecutor, fake_lsf: Backend, tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true'))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert job.native_id is not None
    # Another process (another work directory: no marker) attaches while bjobs cannot answer,
    # so it does not know yet that the job ended, and cancels it.
    fake_lsf.fail('bjobs', 'Cannot connect to LSF. Please wait ...')
    elsewhere = JobExecutor.get_instance('lsf', config=fake_lsf_config(tmp_path / 'elsewhere'))
    late = Job()
    elsewhere.attach(late, job.native_id)
    late.cancel()  # bkill: "Job has already finished" -- not an error
    assert fake_lsf.run('bkill', job.native_id).stderr.strip() == (
        f'Job <{job.native_id}>: Job has already finished')
    fake_lsf.heal('bjobs')
    status = _final(late)
    assert (status.state, status.exit_code) == (JobState.COMPLETED, 0), status
    assert [job.native_id] in fake_lsf.calls('bkill')


def test_bkill_by_an_administrator_is_canceled_saying_so(executor: JobExecutor,
                                                         fake_lsf: Backend,
                                                         tmp_path: pathlib.Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A bkill by the job's owner from outside psij: tests/test_batch_contract.py.
    job = _submit_running(executor, tmp_path / 'running')
    assert job.native_id is not None
    monkeypatch.setenv('PSIJ_FAKE_LSF_ADMIN', '1')
    killed = fake_lsf.run('bkill', job.native_id)
    assert killed.stdout == f'Job <{job.native_id}> is being terminated\n'
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert 'killed by root or an LSF administrator (LSF TERM_ADMIN' in (status.message or ''), \
        status


def test_run_limit_ends_the_job_as_failed_naming_the_limit(executor: JobExecutor,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv('PSIJ_FAKE_LSF_SECONDS_PER_MINUTE', '1')  # the double's minute: 1 s
    job = Job(JobSpec('/bin/sleep', ['600'], attributes=JobAttributes(
        duration=timedelta(seconds=50))))
    executor.submit(job)
    status = _final(job)
    assert status.state == JobState.FAILED, status
    assert 'time limit of 0:01:00 reached' in (status.message or ''), status
    assert 'TERM_RUNLIMIT' in (status.message or '')


# --- list ------------------------------------------------------------------------------------

def test_list_shows_unfinished_jobs_only(executor: JobExecutor,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert executor.list() == []
    done = Job(JobSpec('/bin/true'))
    executor.submit(done)
    assert _final(done).state == JobState.COMPLETED
    monkeypatch.setenv('PSIJ_FAKE_LSF_HOLD', '1')
    held = Job(JobSpec('/bin/true'))
    executor.submit(held)
    monkeypatch.delenv('PSIJ_FAKE_LSF_HOLD')
    assert executor.list() == [held.native_id]
    held.cancel()
    assert _final(held).state == JobState.CANCELED


# --- a failing status command ------------------------------------------------------------

def test_status_command_failing_for_a_while_every_job_still_right(
        executor: JobExecutor, fake_lsf: Backend, tmp_path: pathlib.Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_lsf.fail('bjobs', 'Cannot connect to LSF. Please wait ...')
    monkeypatch.setenv('PSIJ_FAKE_LSF_HOLD', '1')
    held = Job(JobSpec('/bin/true'))
    executor.submit(held)
    monkeypatch.delenv('PSIJ_FAKE_LSF_HOLD')
    ok = Job(JobSpec('/bin/true'))
    failing = Job(JobSpec('/bin/sh', ['-c', 'exit 4']))
    for job in (ok, failing):
        executor.submit(job)
    killed = _submit_running(executor, tmp_path / 'running')
    assert killed.native_id is not None and held.native_id is not None
    fake_lsf.run('bkill', killed.native_id)
    # The jobs' own markers settle the ones that ended by themselves...
    assert (_final(ok).state, _final(failing).exit_code) == (JobState.COMPLETED, 4)
    # ...while the others keep their states as long as LSF cannot be heard.
    failures = len(fake_lsf.calls('bjobs'))
    _wait_for(lambda: len(fake_lsf.calls('bjobs')) >= failures + 2, 'bjobs was not retried')
    assert (held.status.state, killed.status.state) == (JobState.QUEUED, JobState.ACTIVE)
    fake_lsf.heal('bjobs')
    status = _final(killed)
    assert status.state == JobState.CANCELED and 'TERM_OWNER' in (status.message or '')
    assert held.status.state == JobState.QUEUED
    held.cancel()
    assert _final(held).state == JobState.CANCELED
