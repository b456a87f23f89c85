"""Detached local jobs (``LocalJobExecutorConfig(detached=True)``): the watcher process starts,
holds and keeps them, so they run, end and are recorded after their submitter has exited, and
any process can attach to them, wait for them and cancel them."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import Callable, Dict, List, Optional, Tuple

import pytest
from psij.executors.local import LocalJobExecutorConfig
from test_cli_support import eventually, gated_command, parent_pid, process_exists, psij

from psij import Job, JobExecutor, JobSpec, JobState, JobStatus

#: A job that writes its start and end times (``date +%s.%N``) to ``times.NAME``.
_TIMED = 'date +%s.%N > "times.$0"; sleep 0.3; date +%s.%N >> "times.$0"; exit "$1"'


def _submitter_script(work_dir: pathlib.Path, directory: pathlib.Path,
                      jobs: List[List[str]], max_in_flight: Optional[int]) -> str:
    """A library program that submits ``jobs`` (argvs) detached, prints their native ids (a
    JSON list) and exits."""
    return textwrap.dedent(f'''
        import json
        from psij import Job, JobExecutor, JobSpec
        from psij.executors.local import LocalJobExecutorConfig
        executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
            work_directory={str(work_dir)!r}, max_in_flight={max_in_flight!r}, detached=True))
        ids = []
        for argv in {jobs!r}:
            job = Job(JobSpec(argv[0], argv[1:], directory={str(directory)!r}))
            executor.submit(job)
            ids.append(job.native_id)
        print(json.dumps(ids))
    ''')


def _submitter(work_dir: pathlib.Path, directory: pathlib.Path,
               jobs: List[List[str]], max_in_flight: Optional[int]) -> List[str]:
    """Run `_submitter_script`, which must exit at once; the native ids it printed."""
    script = _submitter_script(work_dir, directory, jobs, max_in_flight)
    started = time.monotonic()
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    ids: List[str] = json.loads(result.stdout)
    # It returned without waiting for its jobs (each one runs 0.3 s at least, one at a time).
    assert time.monotonic() - started < 0.3 * len(jobs) + 5
    return ids


def _attach(work_dir: pathlib.Path, native_id: str) -> Job:
    """A job attached by a plain (not detached) local executor of ``work_dir``."""
    executor = JobExecutor.get_instance(
        'local', config=LocalJobExecutorConfig(work_directory=work_dir))
    job = Job()
    executor.attach(job, native_id)
    return job


def _final(job: Job) -> JobStatus:
    status = job.wait(timeout=60.0)
    assert status is not None and status.final, f'{job} did not end'
    return status


def _times(directory: pathlib.Path, name: str) -> Tuple[float, float]:
    start, end = (directory / f'times.{name}').read_text().split()
    return float(start), float(end)


def test_jobs_of_an_exited_submitter_run_in_turn_and_are_recorded(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    exit_codes = {'a': 0, 'b': 3, 'c': 0}
    ids = _submitter(work_dir, tmp_path,
                     [['sh', '-c', _TIMED, name, str(code)] for name, code in exit_codes.items()],
                     max_in_flight=1)
    # The first started at once (its pid), the others are held by the watcher (their ids).
    assert ids[0].isdigit() and not any(native_id.isdigit() for native_id in ids[1:])
    for name, native_id in zip(exit_codes, ids):
        status = _final(_attach(work_dir, native_id))
        if exit_codes[name] == 0:
            assert (status.state, status.exit_code) == (JobState.COMPLETED, 0)
        else:
            assert (status.state, status.exit_code) == (JobState.FAILED, 3)
            assert status.message == 'exit code 3'
    # max_in_flight=1 held although the submitter was gone: no two ran at once.
    spans = sorted(_times(tmp_path, name) for name in exit_codes)
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), spans


def test_submitters_at_once_share_one_watcher_and_its_queue(work_dir: pathlib.Path,
                                                            tmp_path: pathlib.Path) -> None:
    """Two processes submitting at the same moment, with no watcher yet: one watcher takes
    both processes' jobs, and max_in_flight=1 holds across them."""
    names = [['a', 'b'], ['c', 'd']]
    submitters = [subprocess.Popen(
        [sys.executable, '-c', _submitter_script(
            work_dir, tmp_path, [['sh', '-c', _TIMED, name, '0'] for name in group], 1)],
        stdout=subprocess.PIPE, text=True) for group in names]
    ids = [native_id for submitter in submitters
           for native_id in json.loads(submitter.communicate(timeout=60)[0])]
    assert all(submitter.returncode == 0 for submitter in submitters)
    for native_id in ids:
        assert _final(_attach(work_dir, native_id)).state == JobState.COMPLETED
    spans = sorted(_times(tmp_path, name) for group in names for name in group)
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), spans


def _recorder(states: List[JobState]) -> Callable[[Job, JobStatus], None]:
    def record(job: Job, status: JobStatus) -> None:
        states.append(status.state)
    return record


def test_a_detached_job_in_its_own_process_has_callbacks_and_wait(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, detached=True))
    states: Dict[str, List[JobState]] = {'ok': [], 'bad': []}
    jobs = {}
    for name, script in (('ok', 'echo $PPID > ppid; sleep 0.2'), ('bad', 'exit 5')):
        job = Job(JobSpec('sh', ['-c', script], directory=tmp_path))
        job.set_job_status_callback(_recorder(states[name]))
        executor.submit(job)
        assert job.status.state == JobState.ACTIVE and job.native_id is not None
        jobs[name] = job
    assert (_final(jobs['ok']).state, jobs['ok'].status.exit_code) == (JobState.COMPLETED, 0)
    assert (_final(jobs['bad']).state, jobs['bad'].status.exit_code) == (JobState.FAILED, 5)
    assert states['ok'] == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
    assert states['bad'][-1] == JobState.FAILED
    # The watcher started it, not this process.
    assert int((tmp_path / 'ppid').read_text()) != os.getpid()


def test_cancel_from_another_process_of_a_held_and_a_running_job_then_the_watcher_leaves(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    gate = tmp_path / 'go'
    try:
        running_id, held_id = _submitter(
            work_dir, tmp_path,
            [gated_command(gate), ['sh', '-c', 'touch held-ran']], max_in_flight=1)
        assert running_id.isdigit() and not held_id.isdigit()
        watcher = parent_pid(int(running_id))
        assert b'psij.executors.local_watcher' in \
            pathlib.Path(f'/proc/{watcher}/cmdline').read_bytes()
        held = _attach(work_dir, held_id)
        assert held.status.state == JobState.QUEUED
        assert 'max_in_flight' in (held.status.message or '')
        held.cancel()
        assert _final(held).state == JobState.CANCELED
        # Another process sees the same end.
        assert _final(_attach(work_dir, held_id)).state == JobState.CANCELED
        running = _attach(work_dir, running_id)
        assert running.status.state == JobState.ACTIVE
        running.cancel()
        status = _final(running)
        assert status.state == JobState.CANCELED and status.exit_code == -15
    finally:
        gate.touch()
    # The canceled held job never ran, even with the room the other one's end made.
    time.sleep(1.0)
    assert not (tmp_path / 'held-ran').exists()
    eventually(lambda: not process_exists(watcher), 'the watcher left after its last job')
    assert not (work_dir / 'local' / 'watcher.local.sock').exists()


def test_detached_refuses_what_it_cannot_do(work_dir: pathlib.Path) -> None:
    with pytest.raises(ValueError, match=r'LocalJobExecutorConfig\.detached must be True or'):
        LocalJobExecutorConfig(detached='yes')  # type: ignore[arg-type]
    executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, detached=True))
    first = Job(JobSpec('true'))
    second = Job(JobSpec('true'))
    second.depends_on(first)
    with pytest.raises(Exception, match='Job.depends_on: a detached local job'):
        executor.submit(second)
    assert second.status.state == JobState.NEW and second.executor is None


def test_psij_submit_takes_the_profiles_max_in_flight(work_dir: pathlib.Path,
                                                      tmp_path: pathlib.Path) -> None:
    config = tmp_path / 'psij.toml'
    config.write_text('[profile.one]\nexecutor = "local"\nmax_in_flight = 1\n')
    (tmp_path / 'site.toml').write_text('')
    env = {'PSIJ_CONFIG': str(config), 'PSIJ_SITE_CONFIG': str(tmp_path / 'site.toml'),
           'XDG_CONFIG_HOME': str(tmp_path / 'xdg')}
    # Each job runs until the file 'go' exists (at most a minute), between its two times.
    gated = ('date +%s.%N > "times.$0"; i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do '
             'i=$((i+1)); sleep 0.05; done; date +%s.%N >> "times.$0"')
    ids = []
    try:
        for name in ('a', 'b', 'c'):
            result = psij(work_dir, 'submit', '--profile', 'one', '--', 'sh', '-c', gated,
                          name, env=env, cwd=tmp_path)
            assert result.returncode == 0, str(result)
            ids.append(result.stdout.strip())
        assert ids[0].isdigit() and not ids[1].isdigit(), ids  # the others are held
        status = psij(work_dir, 'status', ids[1], '--json', env=env).json()['jobs'][0]
        assert status['state'] == 'QUEUED' and 'max_in_flight' in status['message']
        canceled = psij(work_dir, 'cancel', ids.pop(), env=env)
        assert canceled.returncode == 0, str(canceled)
    finally:
        (tmp_path / 'go').touch()
    waited = psij(work_dir, 'wait', *ids, '--json', env=env)
    assert waited.returncode == 0, str(waited)
    assert [job['state'] for job in waited.json()['jobs']] == ['COMPLETED', 'COMPLETED']
    first, second = _times(tmp_path, 'a'), _times(tmp_path, 'b')
    assert first[1] <= second[0]
    # The canceled one never ran, not even in the room the others left.
    assert not (tmp_path / 'times.c').exists()


def test_jobs_of_a_killed_watcher_are_never_called_completed(work_dir: pathlib.Path,
                                                             tmp_path: pathlib.Path) -> None:
    gate = tmp_path / 'go'
    try:
        running_id, held_id = _submitter(
            work_dir, tmp_path, [gated_command(gate), ['sh', '-c', 'touch held-ran']],
            max_in_flight=1)
        watcher = parent_pid(int(running_id))
        os.kill(watcher, signal.SIGKILL)
        eventually(lambda: not process_exists(watcher), 'the watcher is gone')
        held = _final(_attach(work_dir, held_id))
        assert held.state == JobState.FAILED and held.exit_code is None
        assert f'the local watcher (pid {watcher}) that held the job ended' in \
            (held.message or '')
    finally:
        gate.touch()
    running = _final(_attach(work_dir, running_id))
    assert running.state == JobState.FAILED and 'outcome unknown' in (running.message or '')
    assert not (tmp_path / 'held-ran').exists()


def test_the_watcher_owns_the_budget_of_detached_jobs(work_dir: pathlib.Path,
                                                     tmp_path: pathlib.Path) -> None:
    """``cores=1``: the second 1-core job waits in the watcher for the first one's core, and
    starts after its submitter exited; a job over the budget is refused at submit."""
    script = textwrap.dedent(f'''
        import json
        from psij import Job, JobExecutor, JobSpec, ResourceSpecV1
        from psij.exceptions import InvalidJobException
        from psij.executors.local import LocalJobExecutorConfig
        executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
            work_directory={str(work_dir)!r}, cores=1, detached=True))
        ids = []
        for name in ('a', 'b'):
            job = Job(JobSpec('sh', ['-c', {_TIMED!r}, name, '0'], directory={str(tmp_path)!r},
                              resources=ResourceSpecV1(process_count=1)))
            executor.submit(job)
            ids.append(job.native_id)
        try:
            executor.submit(Job(JobSpec('true', resources=ResourceSpecV1(process_count=4))))
            refused = ''
        except InvalidJobException as error:
            refused = error.message
        print(json.dumps([ids, refused]))
    ''')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    ids, refused = json.loads(result.stdout)
    assert ids[0].isdigit() and not ids[1].isdigit(), ids
    assert 'cores' in refused, refused
    for native_id in ids:
        assert _final(_attach(work_dir, native_id)).state == JobState.COMPLETED
    first, second = _times(tmp_path, 'a'), _times(tmp_path, 'b')
    assert first[1] <= second[0]
