"""The pbs executor's behaviour, through the fake PBS Professional server of
``tests/doubles/fake_pbs`` (a test double: qsub, qstat, qdel and qselect that run each job at
once on this machine and answer in PBS's formats).

Attach, cancel, many jobs at once and the files of the work directory are the contract of
every batch executor: tests/test_batch_contract.py tests them, for PBS and Torque too. Most
tests here are shared with the torque executor: tests/test_torque_executor.py runs them
against the double's Torque flavour, and tests/test_torque_slurm_wrappers.py runs those that
need no double against Slurm's Torque-compatible commands. Each gets the `site` fixture of
its module, a `batch_backends.Backend`: an executor, its work directory, and the double's
state directory (None when the commands are real).
"""

import functools
import pathlib
import re
import time
from datetime import timedelta
from typing import Iterator

import pytest
from batch_backends import Backend, fake_pbs_backend
from batch_helpers import final_status, recorded_states, wait_until

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobSpec,
    JobState,
    JobStatus,
    ResourceSpecV1,
)

WAIT = 60.0  # seconds; jobs of the double end within a few seconds

states_of = recorded_states
final = functools.partial(final_status, timeout=WAIT)
wait_for = functools.partial(wait_until, timeout=WAIT)
#: Where a test's jobs go (the name the modules that share these tests know it by).
Site = Backend


@pytest.fixture
def site(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from fake_pbs_backend(tmp_path, monkeypatch, 'pbspro', 'pbs')


# --- helpers ---------------------------------------------------------------------------------

def submit_running(site: Site, tmp_path: pathlib.Path, command: str = 'exec sleep 120',
                   **spec: object) -> Job:
    """Submit a job that touches a file, then runs ``command``; return once it runs."""
    started = tmp_path / f'started-{time.monotonic_ns()}'
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{started}"; {command}'],
                      **spec))  # type: ignore[arg-type]
    site.executor.submit(job)
    wait_for(started.exists, f'start of job {job.native_id}')
    return job


# --- shared behaviour (also run for Torque, and without the double for the wrappers) -----------

def test_exit_codes_and_states(site: Site) -> None:
    ok = Job(JobSpec('/bin/true'))
    bad = Job(JobSpec('/bin/sh', ['-c', 'exit 3']))
    seen = states_of(ok)
    site.executor.submit(ok)
    site.executor.submit(bad)
    assert ok.native_id is not None and site.executor.scheduler.is_valid_native_id(
        ok.native_id)
    status = final(ok)
    assert (status.state, status.exit_code) == (JobState.COMPLETED, 0), status
    assert seen == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
    status = final(bad)
    assert (status.state, status.exit_code, status.message) == (JobState.FAILED, 3,
                                                                'exit code 3'), status


def test_arguments_arrive_verbatim(site: Site, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out put.txt'
    arguments = ['a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü', '', '*']
    job = Job(JobSpec('printf', ['[%s]\\n', *arguments], stdout_path=out, name='verbatim'))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert out.read_text() == ''.join(f'[{argument}]\n' for argument in arguments)


def test_environment_directory_and_streams(site: Site, tmp_path: pathlib.Path) -> None:
    directory = tmp_path / 'my dir'
    directory.mkdir()
    (directory / 'input.txt').write_text('from stdin\n')
    script = 'pwd; printf "%s|%s|%s\\n" "$GREETING" "$EMPTY" "$N"; cat; echo oops >&2'
    job = Job(JobSpec('/bin/sh', ['-c', script], directory=directory,
                      environment={'GREETING': "hi 'there' $USER `x` \\n", 'EMPTY': '', 'N': 7},
                      stdin_path='input.txt', stdout_path='out.txt', stderr_path='err.txt'))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert (directory / 'out.txt').read_text() == (
        f"{directory}\nhi 'there' $USER `x` \\n||7\nfrom stdin\n")
    assert (directory / 'err.txt').read_text() == 'oops\n'


def test_without_a_directory_the_job_starts_where_it_was_submitted(site: Site) -> None:
    job = Job(JobSpec('/bin/pwd', stdout_path='where.txt'))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert (site.submit_dir / 'where.txt').read_text() == f'{site.submit_dir}\n'


def test_missing_directory_fails_with_a_message(site: Site, tmp_path: pathlib.Path) -> None:
    job = Job(JobSpec('/bin/true', directory=tmp_path / 'nowhere'))
    site.executor.submit(job)
    status = final(job)
    assert status.state == JobState.FAILED
    assert 'JobSpec.directory' in (status.message or ''), status


def test_cancel_of_a_job_that_has_ended_is_not_an_error(site: Site) -> None:
    job = Job(JobSpec('/bin/true'))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    # A job this process still thinks is queued, but that the scheduler has finished: qdel
    # says so ("Job has finished", or nothing at all from Slurm's Torque-compatible qdel).
    stale = Job(JobSpec('/bin/true'))
    stale.executor = site.executor
    stale.native_id = job.native_id
    stale._set_status(JobStatus(JobState.QUEUED))
    site.executor.cancel(stale)
    if site.state is not None:
        assert site.calls('qdel')[-1] == [job.native_id]


def test_multiple_launcher_starts_every_copy(site: Site, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'ranks.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "rank $PSIJ_RANK of $PSIJ_PROCESS_COUNT '
                                        '$(wc -l < "$PSIJ_NODEFILE")"'],
                      stdout_path=out, launcher='multiple',
                      resources=ResourceSpecV1(process_count=3)))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert sorted(out.read_text().split('\n')[:-1]) == [f'rank {rank} of 3 3'
                                                       for rank in range(3)]


def test_bad_queue_names_the_field(site: Site) -> None:
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name='no_such_queue')))
    with pytest.raises(InvalidJobException, match='JobAttributes.queue_name'):
        site.executor.submit(job)
    assert job.status.state == JobState.NEW and job.executor is None


# --- shared behaviour that needs the double --------------------------------------------------

def test_submitter_environment_is_not_copied(site: Site, tmp_path: pathlib.Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    site.double()
    monkeypatch.setenv('PSIJ_TEST_OUTER', 'outer value')
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "${PSIJ_TEST_OUTER-unset} $PBS_ENVIRONMENT"'],
                      stdout_path=out, environment={'INNER': 'x'}))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert out.read_text() == 'unset PBS_BATCH\n'  # PBS's login environment: no -V
    assert job.native_id is not None
    spooled = site.double() / 'jobs' / f'{job.native_id.split(".")[0]}.script'
    assert not any(line.startswith('#PBS -V') for line in spooled.read_text().splitlines())


def test_walltime_limit_ends_the_job_as_failed_naming_it(site: Site) -> None:
    site.double()
    job = Job(JobSpec('/bin/sleep', ['60'], attributes=JobAttributes(
        duration=timedelta(seconds=2))))
    site.executor.submit(job)
    status = final(job)
    assert status.state == JobState.FAILED, status
    assert 'walltime limit of 0:00:02 reached' in (status.message or ''), status


def test_list_shows_the_jobs_still_in_the_queue(site: Site, tmp_path: pathlib.Path) -> None:
    site.double()
    held = Job(JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes={f'{site.prefix}.h': True})))
    site.executor.submit(held)
    running = submit_running(site, tmp_path)
    done = Job(JobSpec('/bin/true'))
    site.executor.submit(done)
    assert final(done).state == JobState.COMPLETED
    listed = site.executor.list()
    assert held.native_id in listed and running.native_id in listed
    assert done.native_id not in listed
    assert site.calls('qselect')[-1][:2] == ['-u', site.executor.user()]


def test_job_that_vanishes_without_a_marker_has_an_unknown_outcome(site: Site) -> None:
    """Torque's keep_completed=0, PBS without job history: once a job ends, qstat no longer
    knows it; with no exit-code marker either, its outcome is unknown (never COMPLETED)."""
    (site.double() / 'keep_completed').write_text('0')
    job = Job(JobSpec('/bin/sleep', ['60'], attributes=JobAttributes(
        duration=timedelta(seconds=1))))
    site.executor.submit(job)
    status = final(job)
    assert status.state == JobState.FAILED, status
    assert (status.message or '').startswith('outcome unknown'), status


def test_unknown_resource_names_the_custom_attribute(site: Site) -> None:
    site.double()
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes={f'{site.prefix}.l.nosuchthing': 1})))
    with pytest.raises(InvalidJobException, match='JobAttributes.custom_attributes') as raised:
        site.executor.submit(job)
    assert 'Unknown resource Resource_List.nosuchthing' in str(raised.value)


def test_failing_status_command_changes_no_job(site: Site) -> None:
    """qstat fails for a while: jobs that end with a marker still end right; a job only the
    scheduler can settle (killed at its walltime, no marker) stays as it was until qstat
    answers again; a held job stays QUEUED."""
    (site.double() / 'qstat.fail').write_text(
        'Communication failure.\nqstat: cannot connect to server fake (errno=15031)\n')
    ok = Job(JobSpec('/bin/true'))
    bad = Job(JobSpec('/bin/sh', ['-c', 'exit 2']))
    killed = Job(JobSpec('/bin/sleep', ['60'], attributes=JobAttributes(
        duration=timedelta(seconds=1))))
    held = Job(JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes={f'{site.prefix}.h': True})))
    for job in (ok, bad, killed, held):
        site.executor.submit(job)
    assert (final(ok).state, final(ok).exit_code) == (JobState.COMPLETED, 0)
    assert (final(bad).state, final(bad).exit_code) == (JobState.FAILED, 2)
    assert killed.native_id is not None
    wait_for(lambda: site.double_job(str(killed.native_id))['exit_status'] is not None,
             'the walltime kill')
    failures = len(site.calls('qstat'))
    wait_for(lambda: len(site.calls('qstat')) >= failures + 2, 'two more failing qstat calls')
    assert not killed.status.state.final, killed.status
    assert held.status.state == JobState.QUEUED
    (site.double() / 'qstat.fail').unlink()
    status = final(killed)
    assert status.state == JobState.FAILED and 'walltime limit' in (status.message or '')
    assert held.status.state == JobState.QUEUED
    held.cancel()
    assert final(held).state == JobState.CANCELED


# --- PBS Professional only -------------------------------------------------------------------

def test_status_is_one_qstat_for_all_jobs_with_history(site: Site) -> None:
    jobs = [Job(JobSpec('/bin/sleep', ['3'])) for _ in range(3)]
    for job in jobs:
        site.executor.submit(job)
    for job in jobs:
        assert final(job).state == JobState.COMPLETED
    status_calls = [call for call in site.calls('qstat') if len(call) > 4]
    assert status_calls, 'no status command ran'
    for call in status_calls:
        assert call[:4] == ['-f', '-F', 'json', '-x']
        assert all(re.fullmatch(r'\d+\.fake-pbs', native_id) for native_id in call[4:])
    assert any(len(call) == 7 for call in status_calls)  # all three in one command


def test_select_statement_reaches_the_scheduler(site: Site) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'wc -l < "$PBS_NODEFILE"'], stdout_path='n.txt',
                      resources=ResourceSpecV1(node_count=2, processes_per_node=3)))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert job.native_id is not None
    resources = site.double_job(job.native_id)['resources']
    assert resources == {'walltime': '00:10:00', 'select': '2:ncpus=3:mpiprocs=3',
                         'place': 'scatter'}
    assert (site.submit_dir / 'n.txt').read_text().strip() == '6'
