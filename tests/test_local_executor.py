"""The local executor against real processes."""

import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from typing import List, Tuple

import psutil
import pytest

from psij import (
    InvalidJobException,
    Job,
    JobExecutor,
    JobExecutorConfig,
    JobSpec,
    JobState,
    JobStatus,
)


@pytest.fixture
def executor(work_dir: pathlib.Path) -> JobExecutor:
    return JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work_dir))


def run(executor: JobExecutor, spec: JobSpec, timeout: float = 30) -> JobStatus:
    job = Job(spec)
    executor.submit(job)
    status = job.wait(timeout=timeout)
    assert status is not None, 'job did not finish in time'
    return status


def test_completed_job_has_exit_code_zero(executor: JobExecutor) -> None:
    status = run(executor, JobSpec('/bin/true'))
    assert status.state == JobState.COMPLETED
    assert status.exit_code == 0


def test_non_zero_exit_is_failed_with_the_code(executor: JobExecutor) -> None:
    status = run(executor, JobSpec('/bin/sh', ['-c', 'exit 42']))
    assert status.state == JobState.FAILED
    assert status.exit_code == 42
    assert '42' in (status.message or '')


def test_streams_are_redirected(executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    (tmp_path / 'in').write_text('from stdin\n')
    spec = JobSpec('/bin/sh', ['-c', 'cat; echo to-err >&2'], stdin_path=tmp_path / 'in',
                   stdout_path=tmp_path / 'out', stderr_path=str(tmp_path / 'err'))
    assert run(executor, spec).state == JobState.COMPLETED
    assert (tmp_path / 'out').read_text() == 'from stdin\n'
    assert (tmp_path / 'err').read_text() == 'to-err\n'


def test_same_path_for_stdout_and_stderr_keeps_both(executor: JobExecutor,
                                                    tmp_path: pathlib.Path) -> None:
    both = tmp_path / 'both'
    spec = JobSpec('/bin/sh', ['-c', 'echo out; echo err >&2'], stdout_path=both,
                   stderr_path=both)
    run(executor, spec)
    assert sorted(both.read_text().split()) == ['err', 'out']


def test_environment_is_merged_by_default(executor: JobExecutor, tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_INHERITED', 'yes')
    spec = JobSpec('/bin/sh', ['-c', 'echo "$PSIJ_TEST_INHERITED $MINE"'],
                   environment={'MINE': 'a b $c'}, stdout_path=tmp_path / 'out')
    run(executor, spec)
    assert (tmp_path / 'out').read_text() == 'yes a b $c\n'


def test_inherit_environment_false_gives_only_the_spec_variables(
        executor: JobExecutor, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_INHERITED', 'yes')
    spec = JobSpec('/usr/bin/env', inherit_environment=False, environment={'ONLY': '1'},
                   stdout_path=tmp_path / 'out')
    run(executor, spec)
    names = {line.split('=', 1)[0] for line in (tmp_path / 'out').read_text().splitlines()}
    assert 'PSIJ_TEST_INHERITED' not in names
    assert 'ONLY' in names
    assert names <= {'ONLY', 'PSIJ_NODEFILE'}


def test_working_directory(executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    (tmp_path / 'sub').mkdir()
    spec = JobSpec('/bin/pwd', directory=tmp_path / 'sub', stdout_path='out.txt')
    run(executor, spec)
    # A relative output path is relative to the job's directory.
    assert (tmp_path / 'sub' / 'out.txt').read_text().strip() == str(tmp_path / 'sub')


def test_nodefile_lists_one_line_per_process(executor: JobExecutor,
                                             tmp_path: pathlib.Path) -> None:
    spec = JobSpec('/bin/sh', ['-c', 'cat "$PSIJ_NODEFILE"'], stdout_path=tmp_path / 'out')
    run(executor, spec)
    assert len((tmp_path / 'out').read_text().splitlines()) == 1


@pytest.mark.parametrize('spec, field', [
    (JobSpec('no-such-program-anywhere'), 'executable'),
    (JobSpec('/no/such/program'), 'executable'),
    (JobSpec('/bin/true', directory='/no/such/dir'), 'directory'),
    (JobSpec('/bin/true', stdout_path='/no/such/dir/out'), 'stdout_path'),
    (JobSpec('/bin/true', stdin_path='/no/such/input'), 'stdin_path'),
    (JobSpec(), 'executable'),
    (JobSpec('/bin/true', launcher='no-such-launcher'), 'launcher'),
])
def test_bad_specs_are_rejected_naming_the_field(executor: JobExecutor, spec: JobSpec,
                                                 field: str) -> None:
    job = Job(spec)
    with pytest.raises(InvalidJobException, match=field):
        executor.submit(job)
    assert job.status.state == JobState.NEW


def test_a_job_is_submitted_once(executor: JobExecutor) -> None:
    job = Job(JobSpec('/bin/true'))
    executor.submit(job)
    with pytest.raises(InvalidJobException, match='NEW'):
        executor.submit(job)
    job.wait(timeout=10)


def _descendants(pid: int) -> List[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_cancel_kills_the_whole_tree(executor: JobExecutor) -> None:
    # A job whose children ignore SIGTERM and even leave the process group.
    script = 'trap "" TERM; setsid sleep 300 & sleep 300 & wait'
    job = Job(JobSpec('/bin/sh', ['-c', script]))
    executor.submit(job)
    lead = int(job.native_id or 0)
    deadline = time.time() + 10
    while len(_descendants(lead)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    tree = [psutil.Process(lead)] + _descendants(lead)
    assert len(tree) >= 3
    job.cancel()
    status = job.wait(timeout=20)
    assert status is not None and status.state == JobState.CANCELED
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == [], f'processes left behind: {alive}'


def test_cancel_of_a_finished_job_changes_nothing(executor: JobExecutor) -> None:
    status = run(executor, JobSpec('/bin/true'))
    job = Job(JobSpec('/bin/true'))
    executor.submit(job)
    job.wait()
    job.cancel()
    assert job.status.state == status.state == JobState.COMPLETED


def test_cancel_racing_with_exit_gives_exactly_one_final_state(executor: JobExecutor) -> None:
    finals: List[JobState] = []
    lock = threading.Lock()

    def record(job: Job, status: JobStatus) -> None:
        if status.state.final:
            with lock:
                finals.append(status.state)

    executor.set_job_status_callback(record)
    jobs = [Job(JobSpec('/bin/sleep', [f'0.0{i % 10}'])) for i in range(60)]
    for index, job in enumerate(jobs):
        executor.submit(job)
        if index % 2 == 0:
            time.sleep(0.001 * (index % 7))
            job.cancel()
    for job in jobs:
        assert job.wait(timeout=30) is not None
    time.sleep(0.2)
    assert len(finals) == len(jobs)
    for job in jobs:
        assert job.status.state in (JobState.COMPLETED, JobState.CANCELED)


def test_callbacks_see_every_state_in_order(executor: JobExecutor) -> None:
    seen: List[JobState] = []
    job = Job(JobSpec('/bin/true'))
    job.set_job_status_callback(lambda _job, status: seen.append(status.state))
    executor.submit(job)
    job.wait()
    time.sleep(0.05)
    assert seen == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]


def test_one_reaper_thread_for_many_jobs_and_executors(work_dir: pathlib.Path) -> None:
    threads_before = set(threading.enumerate())  # earlier tests may leave threads finishing
    executors = [JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=work_dir / str(i))) for i in range(3)]
    jobs = [Job(JobSpec('/bin/sleep', ['1'])) for _ in range(150)]
    for index, job in enumerate(jobs):
        executors[index % 3].submit(job)
    new_threads_in_flight = [thread.name for thread in threading.enumerate()
                             if thread not in threads_before]
    for job in jobs:
        assert job.wait(timeout=60) is not None
    names = [thread.name for thread in threading.enumerate()]
    assert names.count('psij-reaper') == 1
    # 150 jobs in flight add no thread but the reaper (and possibly the status poller)
    assert set(new_threads_in_flight) <= {'psij-reaper', 'psij-status-poller'}, \
        new_threads_in_flight
    assert len(new_threads_in_flight) == len(set(new_threads_in_flight)), new_threads_in_flight


def test_list_returns_the_running_jobs_of_this_work_directory(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    other = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=work_dir / 'other'))
    mine = Job(JobSpec('/bin/sleep', ['30']))
    theirs = Job(JobSpec('/bin/sleep', ['30']))
    done = Job(JobSpec('/bin/true'))
    executor.submit(mine)
    other.submit(theirs)
    executor.submit(done)
    done.wait()
    try:
        assert executor.list() == [mine.native_id]
        assert other.list() == [theirs.native_id]
    finally:
        mine.cancel()
        theirs.cancel()


# --- attach from another process ------------------------------------------------------------

SUBMITTER = textwrap.dedent('''
    import sys, time
    from psij import Job, JobExecutor, JobExecutorConfig, JobSpec
    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=sys.argv[1]))
    job = Job(JobSpec('/bin/sh', ['-c', sys.argv[2]]))
    executor.submit(job)
    print(job.native_id, flush=True)
    if sys.argv[3] == 'wait':
        job.wait()
        sys.stdin.read()   # stay alive until told to go
''')


def _start_submitter(work_dir: pathlib.Path, script: str,
                     mode: str) -> 'subprocess.Popen[str]':
    return subprocess.Popen([sys.executable, '-c', SUBMITTER, str(work_dir), script, mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_attach_from_another_process_to_a_running_job(executor: JobExecutor,
                                                      work_dir: pathlib.Path) -> None:
    submitter = _start_submitter(work_dir, 'sleep 1; exit 7', 'wait')
    try:
        native_id = (submitter.stdout.readline() if submitter.stdout else '').strip()
        job = Job()
        executor.attach(job, native_id)
        assert job.status.state == JobState.ACTIVE  # looked up at once, not on the next poll
        status = job.wait(timeout=20)
        assert status is not None
        assert (status.state, status.exit_code) == (JobState.FAILED, 7)
    finally:
        submitter.communicate('')


def test_attach_after_the_job_finished_reports_the_real_outcome(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    submitter = _start_submitter(work_dir, 'exit 0', 'wait')
    try:
        native_id = (submitter.stdout.readline() if submitter.stdout else '').strip()
        time.sleep(0.5)
        job = Job()
        executor.attach(job, native_id)
        assert job.status.state == JobState.COMPLETED
        assert job.status.exit_code == 0
    finally:
        submitter.communicate('')
    # ... and still once the submitting process has gone.
    late = Job()
    executor.attach(late, native_id)
    assert (late.status.state, late.status.exit_code) == (JobState.COMPLETED, 0)


def test_attach_when_the_submitter_died_first_never_claims_success(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    submitter = _start_submitter(work_dir, 'sleep 1', 'exit')
    native_id = (submitter.stdout.readline() if submitter.stdout else '').strip()
    submitter.wait()
    job = Job()
    executor.attach(job, native_id)
    status = job.wait(timeout=20)
    assert status is not None
    assert status.state == JobState.FAILED
    assert 'unknown' in (status.message or '')


def test_cancel_an_attached_job(executor: JobExecutor, work_dir: pathlib.Path) -> None:
    submitter = _start_submitter(work_dir, 'sleep 300', 'wait')
    try:
        native_id = (submitter.stdout.readline() if submitter.stdout else '').strip()
        job = Job()
        executor.attach(job, native_id)
        job.cancel()
        status = job.wait(timeout=20)
        assert status is not None and status.state == JobState.CANCELED
        assert not psutil.pid_exists(int(native_id)) or psutil.Process(
            int(native_id)).status() == psutil.STATUS_ZOMBIE
    finally:
        submitter.communicate('')


@pytest.mark.parametrize('native_id', ['abc', '', '999999999'])
def test_attach_to_an_unknown_id_is_a_clear_error(executor: JobExecutor,
                                                  native_id: str) -> None:
    with pytest.raises(InvalidJobException, match='native_id'):
        executor.attach(Job(), native_id)


def test_work_directory_is_private(executor: JobExecutor, work_dir: pathlib.Path) -> None:
    run(executor, JobSpec('/bin/true'))
    mode = os.stat(work_dir / 'local').st_mode & 0o777
    assert mode == 0o700


def test_old_records_of_ended_processes_are_pruned(tmp_path: pathlib.Path) -> None:
    from psij.executors.local_records import RecordStore, process_start_ticks
    store = RecordStore(tmp_path / 'local')
    directory = store.directory
    me = (os.getpid(), process_start_ticks(os.getpid()))
    line = '{"pid": 1, "start_ticks": 1, "job_id": "j", "name": null}\n'

    def aged(name: str, days: float) -> pathlib.Path:
        path = directory / name
        path.write_text(line)
        then = time.time() - days * 24 * 3600
        os.utime(path, (then, then))
        return path

    # pid 4194304 is above Linux's pid_max: that owner has certainly ended
    ended_old = aged('journal.4194304.7.jsonl', 31)
    ended_recent = aged('journal.4194304.8.jsonl', 29)
    running_old = aged(f'journal.{me[0]}.{me[1]}.jsonl', 31)
    cancel_old = aged('1234.cancel', 31)
    log_old = aged('0f0e.launcher.log', 31)
    log_recent = aged('0f0f.launcher.log', 1)
    assert store.find(1) is not None

    assert store.prune() == 3

    assert not ended_old.exists() and not cancel_old.exists() and not log_old.exists()
    assert ended_recent.exists() and running_old.exists() and log_recent.exists()
    assert store.find(1) is not None  # still in the journals that remain
    # an executor prunes its directory once per process
    assert store.prune_once() == 0  # nothing old is left
    second = aged('9999.cancel', 31)
    assert store.prune_once() == 0 and second.exists()



def _submit_from_threads_at_once(pairs: List[Tuple[JobExecutor, Job]]) -> List[BaseException]:
    """Submit each job to its executor, each from a thread of its own, all released at once;
    the errors raised."""
    barrier = threading.Barrier(len(pairs))
    errors: List[BaseException] = []

    def submit(executor: JobExecutor, job: Job) -> None:
        barrier.wait()
        try:
            executor.submit(job)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submit, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_many_threads_submitting_at_once_to_a_new_work_directory_all_succeed(
        tmp_path: pathlib.Path) -> None:
    # The first submits of a work directory write its node file: they race with each other.
    threads_per_round, rounds = 16, 10
    for round_number in range(rounds):
        work_directory = tmp_path / str(round_number)
        config = JobExecutorConfig(work_directory=work_directory)
        # half the threads share an executor, the others have one each
        shared = JobExecutor.get_instance('local', config=config)
        outputs = [tmp_path / f'{round_number}.{index}.out' for index in range(threads_per_round)]
        pairs = [(shared if index % 2 else JobExecutor.get_instance('local', config=config),
                  Job(JobSpec('/bin/sh', ['-c', 'cat "$PSIJ_NODEFILE"'], stdout_path=out)))
                 for index, out in enumerate(outputs)]
        assert _submit_from_threads_at_once(pairs) == []
        for (_, job), out in zip(pairs, outputs):
            status = job.wait(timeout=30)
            assert status is not None and status.state == JobState.COMPLETED, status
            assert len(out.read_text().splitlines()) == 1
        assert sorted(path.name for path in work_directory.glob('local/nodefile*')) == \
            ['nodefile.1'], 'no temporary file is left'
