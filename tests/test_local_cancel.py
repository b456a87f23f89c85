"""Canceling many local jobs at once: every process that looks at a job sees one final state.

The jobs, the submitting process and the attaching processes are all real. A cancel races the
reaper thread: the job's process dies from the SIGTERM while the canceling thread may still be
signalling the rest of its tree, so the reaper must find the cancel already recorded.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, Dict, List, Optional, Tuple

import psutil
import pytest

from psij import Job, JobExecutor, JobExecutorConfig, JobSpec, JobState, JobStatus
from psij.launcher import LAUNCHER_ERROR_PREFIX, Launcher

#: Enough jobs that a race of cancel and reaper shows up in every run (recording the cancel
#: after the signal lost it for 2 to 32 of 300 jobs).
JOBS = 300

Outcome = Tuple[str, Optional[int], Optional[str]]

# Attaches to every pid given on stdin; prints "attached", waits for each job, then prints
# what it saw, and what a second, fresh attach to each ended job sees.
ATTACHER = textwrap.dedent('''
    import json, sys
    from psij import Job, JobExecutor, JobExecutorConfig
    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=sys.argv[1]))
    pids = json.loads(sys.stdin.readline())
    jobs = {}
    for pid in pids:
        jobs[pid] = Job()
        executor.attach(jobs[pid], pid)
    print('attached', flush=True)
    def outcome(job):
        status = job.wait(timeout=120)
        if status is None:
            return None
        return [status.state.name, status.exit_code, status.message]
    live = {pid: outcome(job) for pid, job in jobs.items()}
    late = {}
    for pid in pids:
        job = Job()
        executor.attach(job, pid)
        late[pid] = outcome(job)
    print(json.dumps({'live': live, 'late': late}), flush=True)
''')

# Submits N jobs of sleep 30, prints their pids; with "wait", prints their outcomes once they
# ended and stays alive until its stdin closes; with "exit", exits at once (the jobs live on).
SUBMITTER = textwrap.dedent('''
    import json, sys
    from psij import Job, JobExecutor, JobExecutorConfig, JobSpec
    executor = JobExecutor.get_instance(
        'local', config=JobExecutorConfig(work_directory=sys.argv[1]))
    jobs = [Job(JobSpec('/bin/sleep', ['30'])) for _ in range(int(sys.argv[2]))]
    for job in jobs:
        executor.submit(job)
    print(json.dumps([job.native_id for job in jobs]), flush=True)
    if sys.argv[3] == 'wait':
        outcomes = {}
        for job in jobs:
            status = job.wait(timeout=120)
            outcomes[job.native_id] = (None if status is None else
                                       [status.state.name, status.exit_code, status.message])
        print(json.dumps(outcomes), flush=True)
        sys.stdin.read()
''')


def _outcome(status: Optional[JobStatus]) -> Optional[Outcome]:
    if status is None:
        return None
    return status.state.name, status.exit_code, status.message


def _tuples(outcomes: Dict[str, Optional[List[Any]]]) -> Dict[str, Optional[Outcome]]:
    """Outcomes decoded from JSON (lists) as tuples, comparable with `_outcome`'s."""
    return {pid: None if value is None else (str(value[0]), value[1], value[2])
            for pid, value in outcomes.items()}


class _Attacher:
    """A fresh Python process attached to jobs of ``work_dir``."""

    def __init__(self, work_dir: pathlib.Path, pids: List[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, '-c', ATTACHER, str(work_dir)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(pids) + '\n')
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == 'attached'

    def outcomes(self) -> Tuple[Dict[str, Optional[Outcome]], Dict[str, Optional[Outcome]]]:
        """What it saw while attached, and what a later attach to each job saw."""
        out, _ = self.process.communicate(timeout=300)
        seen = json.loads(out)
        return _tuples(seen['live']), _tuples(seen['late'])


def _expect_all(seen_by: Dict[str, Dict[str, Optional[Outcome]]], expected: Outcome) -> None:
    """Every process saw ``expected`` for every job; else say how many each got wrong."""
    wrong = {}
    for who, outcomes in seen_by.items():
        differ = {pid: value for pid, value in outcomes.items() if value != expected}
        if differ:
            sample = sorted(set(differ.values()), key=str)[:3]
            wrong[who] = f'{len(differ)} of {len(outcomes)} jobs differ: {sample}'
    assert not wrong, f'expected {expected} everywhere; ' + '; '.join(
        f'{who}: {what}' for who, what in wrong.items())


CANCELED_BY_SIGTERM: Outcome = ('CANCELED', -15, 'canceled (killed by SIGTERM)')


@pytest.fixture
def executor(work_dir: pathlib.Path) -> JobExecutor:
    return JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work_dir))


def test_hundreds_canceled_at_once_are_canceled_here_and_in_an_attached_process(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    jobs = [Job(JobSpec('/bin/sleep', ['30'])) for _ in range(JOBS)]
    for job in jobs:
        executor.submit(job)
    pids = [str(job.native_id) for job in jobs]
    attacher = _Attacher(work_dir, pids)
    for job in jobs:
        job.cancel()
    here = {str(job.native_id): _outcome(job.wait(timeout=60)) for job in jobs}
    live, late = attacher.outcomes()

    _expect_all({'this process': here, 'a process attached while they ran': live,
                 'a process attaching after the end': late}, CANCELED_BY_SIGTERM)


def test_hundreds_canceled_by_an_attached_process_end_alike_everywhere(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    submitter = subprocess.Popen(
        [sys.executable, '-c', SUBMITTER, str(work_dir), str(JOBS), 'wait'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert submitter.stdout is not None
        pids: List[str] = json.loads(submitter.stdout.readline())
        jobs = {pid: Job() for pid in pids}
        for pid, job in jobs.items():
            executor.attach(job, pid)
        watcher = _Attacher(work_dir, pids)
        for job in jobs.values():
            job.cancel()
        here = {pid: _outcome(job.wait(timeout=60)) for pid, job in jobs.items()}
        owner = _tuples(json.loads(submitter.stdout.readline()))
        live, late = watcher.outcomes()
    finally:
        submitter.communicate('', timeout=60)

    _expect_all({'the submitting process': owner, 'the canceling process': here,
                 'another process attached while they ran': live,
                 'a process attaching after the end': late}, CANCELED_BY_SIGTERM)


def test_jobs_whose_submitter_ended_canceled_by_an_attached_process_are_canceled_everywhere(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    # Nobody can learn the exit code of these jobs; the cancel mark is the only evidence, and
    # every process must read it the same way.
    count = 100
    submitter = subprocess.Popen(
        [sys.executable, '-c', SUBMITTER, str(work_dir), str(count), 'exit'],
        stdout=subprocess.PIPE, text=True)
    out, _ = submitter.communicate(timeout=60)
    pids: List[str] = json.loads(out)
    jobs = {pid: Job() for pid in pids}
    for pid, job in jobs.items():
        executor.attach(job, pid)
    watcher = _Attacher(work_dir, pids)
    for job in jobs.values():
        job.cancel()
    here = {pid: _outcome(job.wait(timeout=60)) for pid, job in jobs.items()}
    live, late = watcher.outcomes()

    _expect_all({'the canceling process': here, 'another process attached while they ran': live,
                 'a process attaching after the end': late},
                ('CANCELED', None, f'canceled; the process that submitted the job (pid '
                 f'{submitter.pid}) ended before it, so no exit code was recorded'))


def test_a_job_that_exits_0_after_a_cancel_is_completed_everywhere(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    # The job's own SIGTERM handler exits cleanly: the cancel came too late to matter.
    job = Job(JobSpec('/bin/sh', ['-c', 'trap "exit 0" TERM; sleep 30 & wait']))
    executor.submit(job)
    attacher = _Attacher(work_dir, [str(job.native_id)])
    job.cancel()
    here = _outcome(job.wait(timeout=30))
    live, late = attacher.outcomes()
    assert here == ('COMPLETED', 0, None)
    assert live == late == {str(job.native_id): here}


class _FailsOnTermLauncher(Launcher):
    """A launcher that, on SIGTERM, writes a launcher failure to its log and exits 0."""

    name = 'test-fails-on-term'
    version = '0.1.0'

    def get_launch_command(self, job: Job, log_file: Optional[str] = None) -> List[str]:
        script = (f'trap \'echo "{LAUNCHER_ERROR_PREFIX}lost the ranks" > "$0"; exit 0\' TERM; '
                  'sleep 30 & wait')
        return ['/bin/sh', '-c', script, str(log_file)]


def test_a_launcher_failure_after_a_cancel_is_canceled_everywhere(
        executor: JobExecutor, work_dir: pathlib.Path) -> None:
    # Exit code 0, but not a clean end: the launcher says it failed. Any end after a cancel
    # other than a clean exit 0 is the cancel's doing.
    Launcher.register_launcher(_FailsOnTermLauncher.name, _FailsOnTermLauncher)
    job = Job(JobSpec('/bin/true', launcher=_FailsOnTermLauncher.name))
    executor.submit(job)
    attacher = _Attacher(work_dir, [str(job.native_id)])
    job.cancel()
    here = _outcome(job.wait(timeout=30))
    live, late = attacher.outcomes()
    assert here is not None and here[:2] == ('CANCELED', 0), here
    assert "launcher 'test-fails-on-term' failed: lost the ranks" in (here[2] or ''), here
    assert live == late == {str(job.native_id): here}


def test_sigkill_comes_after_the_grace_period_and_not_before(
        executor: JobExecutor, tmp_path: pathlib.Path) -> None:
    # The job outlives its SIGTERM (its shell traps it): only the SIGKILL, sent by the reaper
    # thread cancel_grace_period after the TERM, ends it.
    executor.cancel_grace_period = 1.5  # type: ignore[attr-defined]
    termed = tmp_path / 'termed'
    job = Job(JobSpec('/bin/sh', ['-c', f'trap "echo > {termed}" TERM; '
                                        'while :; do sleep 0.05; done']))
    executor.submit(job)
    job.wait(target_states=[JobState.ACTIVE], timeout=30)
    time.sleep(0.2)  # the shell has set its trap
    canceled_at = time.time()
    job.cancel()
    status = job.wait(timeout=30)
    assert status is not None and status.state == JobState.CANCELED, status
    assert status.exit_code == -signal.SIGKILL, status
    assert termed.exists()  # the TERM came first, and the shell lived on
    assert status.time - canceled_at >= 1.5, status


def test_a_cancel_just_before_the_script_ends_still_ends_the_job(work_dir: pathlib.Path) -> None:
    # cancel() returns before the reaper thread has signalled: the interpreter's exit waits
    # for it, or the job would outlive a canceled run.
    script = textwrap.dedent('''
        import sys
        from psij import Job, JobExecutor, JobExecutorConfig, JobSpec, JobState
        executor = JobExecutor.get_instance(
            'local', config=JobExecutorConfig(work_directory=sys.argv[1]))
        jobs = [Job(JobSpec('/bin/sleep', ['300'])) for _ in range(20)]
        for job in jobs:
            executor.submit(job)
        print(' '.join(str(job.native_id) for job in jobs), flush=True)
        for job in jobs:
            job.cancel()
    ''')
    done = subprocess.run([sys.executable, '-c', script, str(work_dir)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pids = [int(word) for word in done.stdout.split()]
    assert len(pids) == 20
    deadline = time.monotonic() + 30
    while True:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
