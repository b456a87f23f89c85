"""A job that waits for room in a budget, seen from another process (issue 16, point 6): it
can be attached by its native id (its job id), followed to its end, and canceled; if its
submitter dies while it waits, it ends FAILED and never runs.

Process A is a real subprocess: it fills a 1-core budget with a job that runs until the test
writes ``go``, and submits a second job that must wait. The test is process B.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import List, Set, Tuple

from psij.executors.local import LocalJobExecutorConfig

from psij import Job, JobExecutor, JobSpec, JobState, JobStatus

# argv: work directory, output directory. Prints "<name> <state> <job id> <native id>" for
# both jobs once submitted, then "end <name> <state> <message>" as each ends.
HOLDER = textwrap.dedent('''
    import sys
    from psij import Job, JobExecutor, JobSpec
    from psij.executors.local import LocalJobExecutorConfig
    work, out = sys.argv[1:3]
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=1))
    first = Job(JobSpec('/bin/sh', ['-c', 'while [ ! -e go ]; do sleep 0.05; done'],
                        directory=out))
    second = Job(JobSpec('/bin/sh', ['-c', 'echo ran > second.ran; '
                                     'while [ ! -e go2 ]; do sleep 0.05; done'],
                         directory=out))
    for name, job in (('first', first), ('second', second)):
        executor.submit(job)
        print(name, job.status.state.name, job.id, job.native_id, flush=True)
    for name, job in (('second', second), ('first', first)):
        status = job.wait(timeout=120)
        print('end', name, status.state.name if status else 'timeout',
              status.message if status else '', flush=True)
''')


def _holder(work: pathlib.Path, out: pathlib.Path
            ) -> Tuple['subprocess.Popen[str]', List[str], List[str]]:
    """Process A, and the lines it printed for its running and its waiting job."""
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(work), str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    first = holder.stdout.readline().split()
    second = holder.stdout.readline().split()
    if len(first) != 4 or len(second) != 4:
        holder.kill()
        raise AssertionError(f'process A printed {first}, {second}: {holder.communicate()}')
    assert first[1] == 'ACTIVE' and first[3].isdigit(), first
    # The waiting job's native id is its job id.
    assert second[1] == 'QUEUED' and second[3] == second[2], second
    return holder, first, second


def _attach(work: pathlib.Path, native_id: str) -> Tuple[Job, List[JobStatus]]:
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work))
    job = Job()
    seen: List[JobStatus] = []
    job.set_job_status_callback(lambda _job, status: seen.append(status))
    executor.attach(job, native_id)
    return job, seen


def _waiting_journal_ids(work: pathlib.Path, holder: int) -> Set[str]:
    """The job ids in the waiting journal of the process ``holder``."""
    journals = list((work / 'local').glob(f'waiting.{holder}.*.jsonl'))
    assert len(journals) == 1, journals
    return {json.loads(line)['job_id'] for line in journals[0].read_text().splitlines()}


def _finish(holder: 'subprocess.Popen[str]', out: pathlib.Path) -> str:
    """Let A's first job end, and A with it; what A printed after its two first lines."""
    (out / 'go').touch()
    output, errors = holder.communicate(timeout=60)
    assert holder.returncode == 0, errors
    return output


def test_a_waiting_job_is_followed_from_another_process_to_its_end(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    holder, first, second = _holder(work_dir, tmp_path)
    try:
        # Only the waiting job has a held record: the one that started at once wrote none.
        recorded = _waiting_journal_ids(work_dir, holder.pid)
        assert second[2] in recorded and first[2] not in recorded, recorded
        job, seen = _attach(work_dir, second[3])
        assert job.status.state == JobState.QUEUED
        assert job.status.message is not None
        assert 'waiting for resources' in job.status.message, job.status.message
        assert job.native_id == second[2]
        lister = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
            work_directory=work_dir))
        listed = lister.list()  # the running job by its pid, the waiting one by its id
        assert first[3] in listed and second[2] in listed, (listed, first, second)
        (tmp_path / 'go').touch()  # the first job ends: the second one starts
        status = job.wait(timeout=30, target_states=[JobState.ACTIVE])
        assert status is not None and status.state == JobState.ACTIVE, status
        listed = lister.list()
        # Started: listed by its pid now (the first job has ended).
        assert second[2] not in listed and len(listed) == 1, (listed, job)
        assert (tmp_path / 'second.ran').exists()
        (tmp_path / 'go2').touch()
        status = job.wait(timeout=30)
        assert status is not None and status.state == JobState.COMPLETED, status
        assert status.exit_code == 0
        assert [s.state for s in seen] == [JobState.QUEUED, JobState.ACTIVE,
                                           JobState.COMPLETED]
        output = _finish(holder, tmp_path)
        assert 'end second COMPLETED' in output, output
    finally:
        holder.kill()
        (tmp_path / 'go').touch()
        (tmp_path / 'go2').touch()


def test_a_cancel_from_another_process_ends_the_waiting_job_in_both_and_it_never_runs(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    holder, _, second = _holder(work_dir, tmp_path)
    try:
        job, _ = _attach(work_dir, second[3])
        assert job.status.state == JobState.QUEUED
        job.cancel()
        status = job.wait(timeout=30)
        assert status is not None and status.state == JobState.CANCELED, status
        output = _finish(holder, tmp_path)  # room for the second job now: it must not start
        assert 'end second CANCELED canceled from another process' in output, output
        assert 'end first COMPLETED' in output, output
        assert not (tmp_path / 'second.ran').exists()
        # A later attach by the same id sees the same end.
        again, _ = _attach(work_dir, second[3])
        final = again.wait(timeout=30)
        assert final is not None and final.state == JobState.CANCELED, final
    finally:
        holder.kill()
        (tmp_path / 'go').touch()


def test_the_waiting_job_of_a_submitter_killed_with_kill_9_ends_failed(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    holder, first, second = _holder(work_dir, tmp_path)
    try:
        job, _ = _attach(work_dir, second[3])
        assert job.status.state == JobState.QUEUED
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        status = job.wait(timeout=30)
        assert status is not None and status.state == JobState.FAILED, status
        assert status.message is not None
        assert f'pid {holder.pid}' in status.message and 'before it started' in status.message
        assert 'never ran' in status.message
        assert status.exit_code is None
    finally:
        holder.kill()
        (tmp_path / 'go').touch()  # the first job, in its own session, ends too
    # The first job ran on after its submitter's death; the second never started.
    try:
        os.killpg(int(first[3]), signal.SIGKILL)
    except ProcessLookupError:
        pass
    assert not (tmp_path / 'second.ran').exists()


def test_a_job_waiting_in_the_watchers_budget_is_seen_and_canceled_from_another_executor(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """A detached executor's jobs wait in the watcher's budget: its client and a plain
    executor of the same work directory both follow them, and either may cancel them."""
    detached = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, cores=1, detached=True))
    running = Job(JobSpec('/bin/sh', ['-c', 'while [ ! -e go ]; do sleep 0.05; done'],
                          directory=tmp_path))
    waiting = [Job(JobSpec('/bin/sh', ['-c', f'echo ran > {name}.ran'], directory=tmp_path))
               for name in ('first', 'second')]
    try:
        for job in [running, *waiting]:
            detached.submit(job)
        assert [job.status.state for job in waiting] == [JobState.QUEUED] * 2
        assert [job.native_id for job in waiting] == [job.id for job in waiting]
        seen = [_attach(work_dir, job.id)[0] for job in waiting]
        assert [job.status.state for job in seen] == [JobState.QUEUED] * 2
        waiting[0].cancel()  # by its client, through the watcher
        seen[1].cancel()  # by the plain executor, through the watcher's budget queue
        for job in [*waiting, *seen]:
            status = job.wait(timeout=30)
            assert status is not None and status.state == JobState.CANCELED, (job, status)
    finally:
        (tmp_path / 'go').touch()
    status = running.wait(timeout=30)
    assert status is not None and status.state == JobState.COMPLETED, status
    time.sleep(0.5)  # room for the canceled jobs now: a wrong start would show by then
    assert not list(tmp_path.glob('*.ran'))
