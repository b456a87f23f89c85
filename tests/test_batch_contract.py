"""What every batch executor promises, run once over every backend: attach, cancel, many jobs
at once and the modes and fate of the files in the work directory.

The backends are real Slurm and Grid Engine (.ci/lrm/; under CI=true a missing cluster FAILS
these tests, see `real_tools`) and the test doubles of PBS Professional, Torque and LSF
(`batch_backends`). Each is set up once for this module and shared by its tests. Where the
backends differ (their messages, what their accounting can tell, how an outside cancel shows),
the contract says so in `EXPECTED`; what only one backend has (its states, options, quirks)
is tested in its own module.

tests/test_torque_slurm_wrappers.py runs some of these tests too, against Slurm's
Torque-compatible commands (see ``test_pbs_executor``, which hands them over).
"""

import inspect
import os
import pathlib
import re
import subprocess
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import pytest
from batch_backends import Backend, fake_lsf_backend, fake_pbs_backend, real_backend
from batch_helpers import (
    attach_elsewhere,
    final_status,
    recorded_states,
    submit_and_wait_until_running,
    wait_until,
)

from psij import InvalidJobException, Job, JobAttributes, JobSpec, JobState, JobStatus
from psij.batch import markers

WAIT = 90.0  # seconds; jobs here end in a few seconds unless the cluster is busy
#: A cancel (of a queued or a running job) is final this soon.
CANCEL_WITHIN = 10.0
#: The job id nobody ever submitted (the doubles start their ids far below it).
NEVER_SUBMITTED = '987654321'
JOB_COUNT = 30


def _squeue_state_is_cancelled(backend: Backend, native_id: str) -> None:
    shown = subprocess.run(['squeue', '-h', '-t', 'all', '-j', native_id, '-o', '%T'],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown in ('CANCELLED', ''), shown  # '': Slurm has forgotten the job already


def _lsf_job_processes_are_gone(backend: Backend, native_id: str) -> None:
    with pytest.raises(ProcessLookupError):
        os.killpg(backend.double_job(native_id)['pid'], 0)


@dataclass(frozen=True)
class Expected:
    """What the contract expects where backends differ. A message is a regular expression the
    whole message must match; None: not checked on this backend."""

    #: `BatchSchedulerExecutorConfig` settings of another process that attaches.
    attach_settings: Mapping[str, float]
    #: A native id the executor refuses outright.
    malformed_id: str
    #: The message of a queued job, and of a running job, that psij canceled (a job the
    #: queue last showed waiting ends with the cancel command's answer: 'canceled').
    canceled_queued: Optional[str]
    canceled_running: Optional[str]
    #: A cancel by psij is final within `CANCEL_WITHIN` (False: within `WAIT`).
    quick_cancel: bool = True
    #: The executor's `list()` works (it shows the jobs waiting or running).
    lists: bool = True
    #: What the scheduler itself says of a running job psij canceled (asserts).
    after_cancel: Optional[Callable[[Backend, str], None]] = None
    #: The state, exit code (None: not checked) and message of a running job canceled with the
    #: scheduler's own cancel command from outside psij; None: not tested on this backend.
    outside_cancel: Optional[Tuple[JobState, Optional[int], str]] = None
    #: What the message of an attach to an id that never existed contains, and the settings of
    #: the attaching process (how long it waits for the scheduler to tell); None: not tested.
    never_existed: Optional[Tuple[str, Mapping[str, float]]] = None
    #: Environment of the submissions of `test_many_jobs_at_once` (the double's knobs).
    many_jobs_environment: Mapping[str, str] = field(default_factory=dict)


#: How a process attaching to a job of the fake PBS (or of Torque's commands) polls.
_PBS_ATTACH = {'outcome_timeout': 8, 'initial_queue_polling_delay': 0.2}
#: Without accounting, the doubles learn that an id never existed only when the outcome wait
#: ends: keep it short.
_NEVER_EXISTED_IN_A_DOUBLE = ('outcome unknown', {'outcome_timeout': 3,
                                                  'initial_queue_polling_delay': 0.2})
_UID = os.getuid()

EXPECTED: Dict[str, Expected] = {
    'slurm': Expected(
        attach_settings={'outcome_timeout': 30}, malformed_id='../etc',
        canceled_queued='canceled', canceled_running='canceled',
        after_cancel=_squeue_state_is_cancelled,
        outside_cancel=(JobState.CANCELED, None, f'canceled by uid {_UID}'),
        never_existed=(f'knows no job {NEVER_SUBMITTED}', {'outcome_timeout': 30})),
    'sge': Expected(
        attach_settings={'outcome_timeout': 30}, malformed_id='12.1-4:1',
        canceled_queued='canceled', canceled_running='canceled',
        outside_cancel=(JobState.CANCELED, None, r'deleted with qdel, or killed with SIGKILL '
                                                 r'\(Grid Engine: failed 100.*'),
        never_existed=(f'knows no job {NEVER_SUBMITTED}', {'outcome_timeout': 30})),
    'pbs': Expected(
        attach_settings=_PBS_ATTACH, malformed_id='../etc',
        canceled_queued='canceled|deleted before it started',
        canceled_running=r'deleted while running: killed by SIGTERM \(PBS Exit_status 271\)',
        outside_cancel=(JobState.CANCELED, None,
                        r'deleted while running: killed by SIGTERM \(PBS Exit_status 271\)'),
        never_existed=_NEVER_EXISTED_IN_A_DOUBLE),
    # Torque does not say who deleted a job (docs/executors/torque.md): killed by a signal.
    'torque': Expected(
        attach_settings=_PBS_ATTACH, malformed_id='../etc',
        canceled_queued='canceled|deleted before it started',
        canceled_running=r'canceled \(killed by SIGTERM \(Torque exit_status 271\)\)',
        outside_cancel=(JobState.FAILED, -15, r'killed by SIGTERM \(Torque exit_status 271\)'),
        never_existed=_NEVER_EXISTED_IN_A_DOUBLE),
    'lsf': Expected(
        attach_settings={'outcome_timeout': 30, 'queue_polling_interval': 2},
        malformed_id='../etc',
        canceled_queued=r'canceled|.*killed by its owner \(LSF TERM_OWNER.*',
        canceled_running=r'.*killed by its owner \(LSF TERM_OWNER.*',
        after_cancel=_lsf_job_processes_are_gone,
        outside_cancel=(JobState.CANCELED, None, r'.*killed by its owner \(LSF TERM_OWNER.*'),
        never_existed=('outcome unknown', {'outcome_timeout': 3, 'queue_polling_interval': 2,
                                           'initial_queue_polling_delay': 0.2}),
        # Each job waits in the queue a little, so that many are in the queue at once.
        many_jobs_environment={'PSIJ_FAKE_LSF_PEND_SECONDS': '1.5'}),
    # Slurm's Torque-compatible commands (tests/test_torque_slurm_wrappers.py): no qselect,
    # and a running job canceled before it wrote its exit code waits for outcome_timeout.
    'torque on slurm wrappers': Expected(
        attach_settings=_PBS_ATTACH, malformed_id='../etc', canceled_queued=None,
        canceled_running=None, quick_cancel=False, lists=False),
}
BACKENDS = ['slurm', 'sge', 'pbs', 'torque', 'lsf']


@pytest.fixture(scope='module', params=BACKENDS)
def backend(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One backend, set up once for all the tests of this module that use it."""
    name: str = request.param
    directory = tmp_path_factory.mktemp(f'contract-{name}')
    with pytest.MonkeyPatch.context() as monkeypatch:
        if name in ('slurm', 'sge'):
            yield real_backend(name, directory / 'psij-work')
        elif name == 'lsf':
            yield from fake_lsf_backend(directory, monkeypatch)
        else:
            yield from fake_pbs_backend(directory, monkeypatch,
                                        'torque' if name == 'torque' else 'pbspro', name)


def expected(backend: Backend) -> Expected:
    """What the contract expects of ``backend`` where backends differ."""
    return EXPECTED[backend.label or backend.name]


def final(job: Job, timeout: float = WAIT) -> JobStatus:
    return final_status(job, timeout=timeout)


def _running(backend: Backend, tmp_path: pathlib.Path, command: str = 'exec sleep 120') -> Job:
    """A job that writes its pid to ``tmp_path/pid``, then runs ``command``; returned once it
    has started."""
    pid = tmp_path / 'pid'
    job = Job(JobSpec('/bin/sh', ['-c', f'echo $$ > "{pid}.tmp" && mv "{pid}.tmp" "{pid}"; '
                                        f'{command}']))
    submit_and_wait_until_running(backend.executor, job, pid, timeout=WAIT)
    assert job.native_id is not None
    return job


def _attach(backend: Backend, native_id: str,
            settings: Optional[Mapping[str, float]] = None) -> Dict[str, object]:
    return attach_elsewhere(backend.name, backend.work_dir, native_id,
                            settings if settings is not None else expected(backend)
                            .attach_settings, wait=60, timeout=120)


def _matches(pattern: Optional[str], message: Optional[str]) -> bool:
    return pattern is None or re.fullmatch(pattern, message or '') is not None


def _files_of(directory: pathlib.Path, job: Job) -> Dict[str, pathlib.Path]:
    """The files of ``job`` in ``directory``, by suffix (``.sh``, ``.ec``...)."""
    prefixes = [f'{job.id}.', f'{job.native_id}.']
    found: Dict[str, pathlib.Path] = {}
    for name in os.listdir(directory):
        for prefix in prefixes:
            if name.startswith(prefix):
                found[name[len(prefix) - 1:]] = directory / name
    return found


# --- (a) attach --------------------------------------------------------------------------------

def test_attach_while_running_and_after(backend: Backend, tmp_path: pathlib.Path) -> None:
    job = _running(backend, tmp_path, 'sleep 3; exit 7')
    assert job.native_id is not None
    during = _attach(backend, job.native_id)
    assert (during['state'], during['exit_code']) == ('FAILED', 7), during
    assert final(job).exit_code == 7
    after = _attach(backend, job.native_id)
    assert (after['first'], after['state'], after['exit_code']) == ('FAILED', 'FAILED', 7), after


def test_attach_after_the_markers_are_gone_asks_the_scheduler(backend: Backend) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'exit 5']))
    backend.executor.submit(job)
    assert final(job).exit_code == 5
    assert job.native_id is not None
    for suffix in (markers.EXIT_CODE, markers.STARTED):
        (backend.executor.directory / f'{job.native_id}{suffix}').unlink()
    result = _attach(backend, job.native_id)
    assert (result['state'], result['exit_code']) == ('FAILED', 5), result


def test_attach_to_an_id_that_never_existed_fails_saying_so(backend: Backend) -> None:
    never_existed = expected(backend).never_existed
    assert never_existed is not None, 'no expectation for this backend'
    words, settings = never_existed
    result = _attach(backend, NEVER_SUBMITTED, settings)
    assert result['state'] == 'FAILED', result
    assert words in str(result['message']), result


def test_attach_refuses_a_malformed_id(backend: Backend) -> None:
    with pytest.raises(InvalidJobException, match='native_id'):
        backend.executor.attach(Job(), expected(backend).malformed_id)


# --- (b) cancel --------------------------------------------------------------------------------

def _cancel_calls(backend: Backend) -> List[List[str]]:
    return backend.calls(backend.executor.scheduler.cancel_command(['0'])[0])


def test_cancel_queued_job(backend: Backend) -> None:
    executor, expect = backend.executor, expected(backend)
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes=backend.hold())))
    seen = recorded_states(job)
    cancels_before = len(_cancel_calls(backend)) if backend.state is not None else 0
    executor.submit(job)
    native_id = job.native_id
    assert native_id is not None
    assert job.status.state == JobState.QUEUED
    if expect.lists:
        assert native_id in executor.list()
    started = time.monotonic()
    job.cancel()
    status = final(job)
    assert status.state == JobState.CANCELED, status
    assert _matches(expect.canceled_queued, status.message), status
    if expect.quick_cancel:
        assert time.monotonic() - started < CANCEL_WITHIN
    assert seen == [JobState.QUEUED, JobState.CANCELED]
    if backend.state is not None:
        assert _cancel_calls(backend)[cancels_before:] == [[native_id]]
    if expect.lists:
        assert native_id not in executor.list()


def test_cancel_running_job(backend: Backend, tmp_path: pathlib.Path) -> None:
    expect = expected(backend)
    job = _running(backend, tmp_path)
    assert job.native_id is not None
    pid = int((tmp_path / 'pid').read_text())
    assert job.wait(timeout=WAIT, target_states=[JobState.ACTIVE]) is not None
    started = time.monotonic()
    job.cancel()
    status = final(job)
    assert status.state == JobState.CANCELED, status
    assert _matches(expect.canceled_running, status.message), status
    if expect.quick_cancel:
        assert time.monotonic() - started < CANCEL_WITHIN
    wait_until(lambda: not _alive(pid), "the end of the job's process", timeout=CANCEL_WITHIN)
    if expect.after_cancel is not None:
        expect.after_cancel(backend, job.native_id)


def _alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie has ended: only its parent has yet to wait
    for it)."""
    try:
        stat = pathlib.Path(f'/proc/{pid}/stat').read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(')')[2].split()[0] != 'Z'


def test_cancel_from_outside_with_the_schedulers_own_command(backend: Backend,
                                                             tmp_path: pathlib.Path) -> None:
    outside = expected(backend).outside_cancel
    assert outside is not None, 'no expectation for this backend'
    state, exit_code, message = outside
    job = _running(backend, tmp_path)
    assert job.native_id is not None
    # an administrator, say
    subprocess.run(backend.executor.scheduler.cancel_command([job.native_id]), check=True,
                   capture_output=True)
    status = final(job)
    assert status.state == state, status
    if exit_code is not None:
        assert status.exit_code == exit_code, status
    assert _matches(message, status.message), status


# --- (c) many jobs -----------------------------------------------------------------------------

def test_many_jobs_at_once(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 jobs submitted at once all end with their own exit codes, watched by a few status
    commands each asking about many jobs; a held job stays QUEUED meanwhile."""
    executor = backend.executor
    for name, value in expected(backend).many_jobs_environment.items():
        monkeypatch.setenv(name, value)
    status_name = executor.scheduler.status_command([])[0]
    calls_before = len(backend.calls(status_name)) if backend.state is not None else 0
    # The held job keeps the tracker (and its command counts) alive throughout.
    held = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes=backend.hold())))
    seen = recorded_states(held)
    executor.submit(held)
    try:
        tracker = executor.tracker
        assert tracker is not None
        counted_before = tracker.command_counts['status']
        jobs = [Job(JobSpec('/bin/sh', ['-c', f'exit {index % 3}']))
                for index in range(JOB_COUNT)]
        for job in jobs:
            executor.submit(job)
        for index, job in enumerate(jobs):
            status = final(job, timeout=180)
            ended_as = JobState.COMPLETED if index % 3 == 0 else JobState.FAILED
            assert (status.state, status.exit_code) == (ended_as, index % 3), (index, status)
        status_commands = tracker.command_counts['status'] - counted_before
        assert 0 < status_commands <= JOB_COUNT // 2, status_commands
        assert held.status.state == JobState.QUEUED, held.status
        if backend.state is not None:
            _check_status_calls(backend, backend.calls(status_name)[calls_before:],
                                {str(job.native_id) for job in [held, *jobs]},
                                str(held.native_id))
    finally:
        held.cancel()
    assert final(held).state == JobState.CANCELED
    assert seen == [JobState.QUEUED, JobState.CANCELED]


def _check_status_calls(backend: Backend, calls: List[List[str]], ours: Set[str],
                        held: str) -> None:
    """Every status command the double got asked about our jobs only, in the executor's one
    form, and one of them asked about several jobs at once (the held one too)."""
    assert calls, 'no status command ran'
    form = backend.executor.scheduler.status_command([])[1:]
    for call in calls:
        assert call[:len(form)] == form, call
        assert set(call[len(form):]) <= ours, call
    assert max(len(call) - len(form) for call in calls) > 1
    assert any(held in call for call in calls)


# --- (d) files ---------------------------------------------------------------------------------

def test_files_are_user_only_and_go_as_documented(backend: Backend,
                                                  tmp_path: pathlib.Path) -> None:
    """Every directory level psij creates is 0700, the script and the markers 0600; a
    COMPLETED job leaves only its exit-code marker (with keep_files, all its files but its
    start marker and node file), a job that did not complete leaves everything."""
    work = tmp_path / 'new' / 'work'  # psij makes both levels, and one per executor
    plain = backend.with_settings(work)
    keeping = backend.with_settings(work, keep_files=True)
    failed = Job(JobSpec('/bin/sh', ['-c', 'exit 2']))
    completed = Job(JobSpec('/bin/true'))
    kept = Job(JobSpec('/bin/true'))
    plain.submit(failed)
    plain.submit(completed)
    keeping.submit(kept)
    assert final(failed).exit_code == 2
    assert final(completed).state == JobState.COMPLETED
    assert final(kept).state == JobState.COMPLETED
    directory = plain.directory
    assert directory == work / backend.name
    for level in (tmp_path / 'new', work, directory):
        assert level.stat().st_mode & 0o777 == 0o700, level

    files = _files_of(directory, failed)
    assert set(files) == {'.sh', '.started', '.ec', '.out', '.nodefile'}, sorted(files)
    for suffix, path in files.items():
        mode = path.stat().st_mode & 0o777
        # The node file and the script's output get the job's umask (the directory is
        # user-only); nothing is writable by others.
        assert mode & 0o022 == 0, (path, oct(mode))
        if suffix in ('.sh', '.started', '.ec'):
            assert mode == 0o600, (path, oct(mode))
    assert files['.ec'].read_text() == f'2\nPSIJ-JOB: {failed.id}\n'
    assert files['.started'].read_text().splitlines()[1:] == [f'PSIJ-JOB: {failed.id}']

    # The files go right after the final state is set: give the tracker a moment.
    wait_until(lambda: set(_files_of(directory, completed)) == {'.ec'},
               'removal of the files of a completed job', timeout=5)
    ec = _files_of(directory, completed)['.ec']
    assert ec.stat().st_mode & 0o777 == 0o600
    assert ec.read_text() == f'0\nPSIJ-JOB: {completed.id}\n'
    always_removed = {'.started', '.nodefile'}
    wait_until(lambda: not always_removed & set(_files_of(directory, kept)),
               'removal of the start marker and node file of a completed job', timeout=5)
    assert set(_files_of(directory, kept)) == set(files) - always_removed


# --- for tests/test_torque_slurm_wrappers.py ---------------------------------------------

def on_site(test: Callable[..., None], label: str) -> Callable[..., None]:
    """``test`` as a test of a module whose fixture ``site`` is a `Backend` with no label:
    run with it labelled ``label`` (the key of its `EXPECTED`)."""
    wanted = list(inspect.signature(test).parameters)

    def run_on_site(site: Backend, tmp_path: pathlib.Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
        given = {'backend': replace(site, label=label), 'tmp_path': tmp_path,
                 'monkeypatch': monkeypatch}
        test(**{name: given[name] for name in wanted})

    run_on_site.__name__ = run_on_site.__qualname__ = test.__name__
    run_on_site.__doc__ = test.__doc__
    return run_on_site
