"""The lsf executor end to end, through the TEST DOUBLE of LSF in tests/doubles/fake_lsf.

LSF cannot be installed here. The `fake_lsf` fixture puts the double's ``bsub``, ``bjobs`` and
``bkill`` first on PATH, with a private state directory: the executor runs them by name as it
would run the real ones, the jobs really run (in the background, on this machine), and the
double answers in LSF's formats. What the double can and cannot stand for is in its docstring.
"""

import functools
import json
import os
import pathlib
import subprocess
from datetime import timedelta
from typing import Any, Dict, Iterator, List

import pytest
from batch_helpers import attach_elsewhere, final_status, recorded_states, wait_until

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig

DOUBLE = pathlib.Path(__file__).resolve().parent / 'doubles' / 'fake_lsf'
WAIT = 60.0  # seconds; jobs here end in a few seconds

_states = recorded_states
_final = functools.partial(final_status, timeout=WAIT)
_wait_for = functools.partial(wait_until, timeout=WAIT)
CONTROLS = ('PSIJ_FAKE_LSF_HOLD', 'PSIJ_FAKE_LSF_PEND_SECONDS', 'PSIJ_FAKE_LSF_ADMIN',
            'PSIJ_FAKE_LSF_SECONDS_PER_MINUTE', 'PSIJ_FAKE_LSF_QUEUES',
            'PSIJ_FAKE_LSF_CLEAN_PERIOD', 'PSIJ_FAKE_LSF_TERMINATE_INTERVAL')


class FakeLsf:
    """The test's handle on the double's state directory."""

    def __init__(self, state: pathlib.Path) -> None:
        self.state = state

    def calls(self, command: str) -> List[List[str]]:
        """The argv (without the command) of every call of ``command`` so far."""
        log = self.state / 'calls.log'
        lines = log.read_text().splitlines() if log.exists() else []
        return [call[1:] for call in map(json.loads, lines) if call[0] == command]

    def fail(self, command: str, text: str) -> None:
        """From now on ``command`` fails, printing ``text``, as when mbatchd is away."""
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / f'{command}.fail').write_text(text + '\n')

    def heal(self, command: str) -> None:
        (self.state / f'{command}.fail').unlink()

    def record(self, native_id: str) -> Dict[str, Any]:
        """The double's record of a job."""
        record: Dict[str, Any] = json.loads((self.state / 'jobs' / f'{native_id}.json')
                                            .read_text())
        return record

    def run(self, *argv: str) -> 'subprocess.CompletedProcess[str]':
        """Run a command of the double, as a person at a terminal would."""
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)

    def unfinished(self) -> List[str]:
        return [path.stem for path in (self.state / 'jobs').glob('*.json')
                if self.record(path.stem)['state'] not in ('DONE', 'EXIT')]


@pytest.fixture
def fake_lsf(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLsf]:
    state = tmp_path / 'fake-lsf'
    monkeypatch.setenv('PSIJ_FAKE_LSF_DIR', str(state))
    monkeypatch.setenv('PATH', f'{DOUBLE}{os.pathsep}{os.environ["PATH"]}')
    for name in CONTROLS:
        monkeypatch.delenv(name, raising=False)
    fake = FakeLsf(state)
    yield fake
    # A test that failed half-way may leave jobs running: end them.
    if (state / 'jobs').exists():
        for name in ('bjobs', 'bkill'):
            (state / f'{name}.fail').unlink(missing_ok=True)
        left = fake.unfinished()
        if left:
            fake.run('bkill', *left)


@pytest.fixture
def executor(fake_lsf: FakeLsf, work_dir: pathlib.Path) -> JobExecutor:
    return JobExecutor.get_instance('lsf', config=_config(work_dir))


def _config(work_dir: pathlib.Path) -> BatchSchedulerExecutorConfig:
    return BatchSchedulerExecutorConfig(work_directory=work_dir, queue_polling_interval=2.0,
                                        initial_queue_polling_delay=0.2, outcome_timeout=30.0)


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
        executor: JobExecutor, fake_lsf: FakeLsf, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out put.txt'
    arguments = ['a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü', '', '*']
    job = Job(JobSpec('printf', ['[%s]\\n', *arguments], stdout_path=out, name='verbatim'))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert out.read_text() == ''.join(f'[{argument}]\n' for argument in arguments)
    assert fake_lsf.calls('bsub') == [[]]  # no argument: the script came on stdin
    assert job.native_id is not None
    spooled = (fake_lsf.state / 'jobs' / f'{job.native_id}.script').read_text()
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


def test_name_queue_and_project_reach_lsf(executor: JobExecutor, fake_lsf: FakeLsf) -> None:
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


def test_thirty_jobs_at_once(executor: JobExecutor, fake_lsf: FakeLsf,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Each job waits in the queue a little, so that many are in the queue at once.
    monkeypatch.setenv('PSIJ_FAKE_LSF_PEND_SECONDS', '1.5')
    jobs = [Job(JobSpec('/bin/sh', ['-c', f'exit {index % 3}'])) for index in range(30)]
    for job in jobs:
        executor.submit(job)
    for index, job in enumerate(jobs):
        status = _final(job, timeout=120)
        expected = JobState.COMPLETED if index % 3 == 0 else JobState.FAILED
        assert (status.state, status.exit_code) == (expected, index % 3), (index, status)
    calls = fake_lsf.calls('bjobs')
    assert calls and all(call[:4] == ['-json', '-o', call[2], '-a'] for call in calls)
    # One bjobs asks about all tracked jobs at once, never one job at a time.
    assert max(len(call) - 4 for call in calls) > 1


# --- cancel ----------------------------------------------------------------------------------

def test_cancel_pending_job(executor: JobExecutor, fake_lsf: FakeLsf,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_FAKE_LSF_HOLD', '1')
    job = Job(JobSpec('/bin/true'))
    seen = _states(job)
    executor.submit(job)
    monkeypatch.delenv('PSIJ_FAKE_LSF_HOLD')
    assert job.native_id is not None
    assert job.native_id in executor.list()
    job.cancel()
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert 'killed by its owner (LSF TERM_OWNER' in (status.message or ''), status
    assert seen == [JobState.QUEUED, JobState.CANCELED]
    assert fake_lsf.calls('bkill') == [[job.native_id]]
    assert job.native_id not in executor.list()


def test_held_job_stays_queued_and_can_be_canceled(executor: JobExecutor,
                                                   fake_lsf: FakeLsf) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'lsf.H': True})))
    executor.submit(job)
    assert job.native_id is not None
    assert fake_lsf.record(job.native_id)['state'] == 'PSUSP'  # -H reached bsub
    _wait_for(lambda: any(job.native_id in call for call in fake_lsf.calls('bjobs')),
              'bjobs never asked about the job')
    assert job.status.state == JobState.QUEUED
    job.cancel()
    assert _final(job).state == JobState.CANCELED


def test_cancel_running_job_kills_its_processes(executor: JobExecutor, fake_lsf: FakeLsf,
                                                tmp_path: pathlib.Path) -> None:
    job = _submit_running(executor, tmp_path / 'running')
    job.cancel()
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert 'TERM_OWNER' in (status.message or '')
    assert job.native_id is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(fake_lsf.record(job.native_id)['pid'], 0)


def test_cancel_of_a_job_that_already_finished_is_not_an_error(
        executor: JobExecutor, fake_lsf: FakeLsf, tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true'))
    executor.submit(job)
    assert _final(job).state == JobState.COMPLETED
    assert job.native_id is not None
    # Another process (another work directory: no marker) attaches while bjobs cannot answer,
    # so it does not know yet that the job ended, and cancels it.
    fake_lsf.fail('bjobs', 'Cannot connect to LSF. Please wait ...')
    elsewhere = JobExecutor.get_instance('lsf', config=_config(tmp_path / 'elsewhere'))
    late = Job()
    elsewhere.attach(late, job.native_id)
    late.cancel()  # bkill: "Job has already finished" -- not an error
    assert fake_lsf.run('bkill', job.native_id).stderr.strip() == (
        f'Job <{job.native_id}>: Job has already finished')
    fake_lsf.heal('bjobs')
    status = _final(late)
    assert (status.state, status.exit_code) == (JobState.COMPLETED, 0), status
    assert [job.native_id] in fake_lsf.calls('bkill')


@pytest.mark.parametrize('admin, words', [
    (False, 'killed by its owner (LSF TERM_OWNER'),
    (True, 'killed by root or an LSF administrator (LSF TERM_ADMIN'),
])
def test_bkill_from_outside_is_canceled_with_a_message(executor: JobExecutor,
                                                       fake_lsf: FakeLsf,
                                                       tmp_path: pathlib.Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       admin: bool, words: str) -> None:
    job = _submit_running(executor, tmp_path / 'running')
    assert job.native_id is not None
    if admin:
        monkeypatch.setenv('PSIJ_FAKE_LSF_ADMIN', '1')
    killed = fake_lsf.run('bkill', job.native_id)
    assert killed.stdout == f'Job <{job.native_id}> is being terminated\n'
    status = _final(job)
    assert status.state == JobState.CANCELED, status
    assert words in (status.message or ''), status


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


# --- attach and list ---------------------------------------------------------------------

def _attach_elsewhere(work_dir: pathlib.Path, native_id: str) -> Dict[str, Any]:
    # The child inherits PATH and PSIJ_FAKE_LSF_DIR: it reaches the same (fake) LSF.
    return attach_elsewhere('lsf', work_dir, native_id,
                            {'outcome_timeout': 30, 'queue_polling_interval': 2}, wait=60,
                            timeout=120)


def test_attach_from_another_process_while_running_and_after(executor: JobExecutor,
                                                             work_dir: pathlib.Path,
                                                             tmp_path: pathlib.Path) -> None:
    started = tmp_path / 'running'
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{started}"; sleep 3; exit 7']))
    executor.submit(job)
    _wait_for(started.exists, 'the job never started')
    assert job.native_id is not None
    during = _attach_elsewhere(work_dir, job.native_id)
    assert (during['state'], during['exit_code']) == ('FAILED', 7), during
    assert _final(job).exit_code == 7
    after = _attach_elsewhere(work_dir, job.native_id)
    assert (after['first'], after['state'], after['exit_code']) == ('FAILED', 'FAILED', 7), after


def test_attach_after_the_markers_are_gone_uses_bjobs(executor: JobExecutor,
                                                      work_dir: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 5']))
    executor.submit(job)
    assert _final(job).exit_code == 5
    assert job.native_id is not None
    (work_dir / 'lsf' / f'{job.native_id}.ec').unlink()
    result = _attach_elsewhere(work_dir, job.native_id)
    assert (result['state'], result['exit_code']) == ('FAILED', 5), result


def test_attach_rejects_a_malformed_id(executor: JobExecutor) -> None:
    with pytest.raises(InvalidJobException, match='native_id'):
        executor.attach(Job(), '../etc')


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
        executor: JobExecutor, fake_lsf: FakeLsf, tmp_path: pathlib.Path,
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
