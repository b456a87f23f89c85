"""Arrays and dependencies of detached local jobs (``LocalJobExecutorConfig(detached=True)``):
the watcher process takes a whole `JobArray` (its throttle too) and holds jobs for their
predecessors, so both run, end and are recorded after their submitter has exited."""

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
from typing import Any, List, Tuple

import pytest
from psij.executors.local import LocalJobExecutorConfig
from psij.executors.local_watcher_client import offer_to_running_watcher
from psij.executors.local_watcher_protocol import socket_path
from test_cli_support import eventually, gated_command

from psij import Job, JobArray, JobExecutor, JobSpec, JobState, JobStatus
from psij.exceptions import InvalidJobException

#: A job that writes its start and end times to ``times.NAME`` and exits with ``$1``.
_TIMED = 'date +%s.%N > "times.$0"; sleep 0.3; date +%s.%N >> "times.$0"; exit "$1"'
#: A job that writes its start time to ``times.NAME``, waits until the file ``go`` exists (at
#: most a minute), then writes its end time.
_GATED = ('date +%s.%N > "times.$0"; i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do '
          'i=$((i+1)); sleep 0.05; done; date +%s.%N >> "times.$0"')


def _run_submitter(work_dir: pathlib.Path, body: str) -> Any:
    """Run ``body`` in a new Python process that has ``executor``, a detached local executor
    of ``work_dir``, and must print one JSON document before it exits; that document."""
    script = textwrap.dedent('''
        import json, os
        from psij import Job, JobArray, JobExecutor, JobSpec
        from psij.dependencies import DependencyCondition
        from psij.executors.local import LocalJobExecutorConfig
        executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
            work_directory={work_dir!r}, detached=True))
    ''').format(work_dir=str(work_dir)) + textwrap.dedent(body)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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


def _most_at_once(spans: List[Tuple[float, float]]) -> int:
    """The largest number of ``spans`` that overlap at one moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in events:  # at equal times an end (-1) comes first: touching is not overlap
        running += step
        most = max(most, running)
    return most


def test_an_array_of_an_exited_submitter_runs_every_element_with_its_index(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    count = 5
    array_id, ids = _run_submitter(work_dir, f'''
        os.environ['FROM_SUBMITTER'] = 'inherited'
        script = 'echo "$PSIJ_ARRAY_INDEX $2 $MINE $FROM_SUBMITTER"; ' + {_TIMED!r}
        spec = JobSpec('sh', ['-c', script, 'e{{PSIJ_ARRAY_INDEX}}', '0',
                              'arg{{PSIJ_ARRAY_INDEX}}'],
                       directory={str(tmp_path)!r}, stdout_path='out.{{PSIJ_ARRAY_INDEX}}',
                       environment={{'MINE': 'env{{PSIJ_ARRAY_INDEX}}'}})
        array = JobArray(spec, {count}, throttle=2)
        executor.submit_array(array)
        print(json.dumps([array.id, [job.native_id for job in array.jobs]]))
    ''')
    # Two started at once (pids); the throttle holds the others in the watcher (their ids,
    # unless one started before the watcher replied).
    assert all(native_id.isdigit() for native_id in ids[:2]), ids
    for index, native_id in enumerate(ids[2:], start=2):
        assert native_id.isdigit() or native_id == f'{array_id}-{index}', ids
    for native_id in ids:
        assert _final(_attach(work_dir, native_id)).state == JobState.COMPLETED
    for index in range(count):
        # The index in its variable, an argument, the stdout path and an environment value;
        # the submitter's environment.
        assert (tmp_path / f'out.{index}').read_text() == \
            f'{index} arg{index} env{index} inherited\n'
    spans = [_times(tmp_path, f'e{index}') for index in range(count)]
    assert _most_at_once(spans) <= 2, spans


def test_a_dependency_chain_runs_in_order_after_its_submitter_exited(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    try:
        ids = _run_submitter(work_dir, f'''
            first = Job(JobSpec('sh', ['-c', {_GATED!r}, 'a'], directory={str(tmp_path)!r}))
            executor.submit(first)
            second = Job(JobSpec('sh', ['-c', {_TIMED!r}, 'b', '0'],
                                 directory={str(tmp_path)!r})).depends_on(first)
            executor.submit(second)
            print(json.dumps([first.native_id, second.native_id, second.id]))
        ''')
        first_id, second_id, second_job_id = ids
        assert first_id.isdigit() and second_id == second_job_id, ids
        held = _attach(work_dir, second_id)
        assert held.status.state == JobState.QUEUED
        assert 'waiting for 1 predecessor(s) to end' in (held.status.message or '')
    finally:
        (tmp_path / 'go').touch()
    assert _final(_attach(work_dir, first_id)).state == JobState.COMPLETED
    assert _final(held).state == JobState.COMPLETED
    # From the jobs' own clocks: the dependent started after its predecessor had ended.
    assert _times(tmp_path, 'a')[1] <= _times(tmp_path, 'b')[0]


def test_a_failed_predecessor_ends_its_dependents_as_without_a_watcher(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """afterok: the dependent ends FAILED naming the predecessor and never runs; afterany:
    it runs. The same ends as a plain local executor gives."""
    body = f'''
        from psij.dependencies import DependencyCondition
        failing = Job(JobSpec('sh', ['-c', {_TIMED!r}, 'f', '3'], directory={str(tmp_path)!r}))
        executor.submit(failing)
        ok = Job(JobSpec('touch', ['ok-ran'], directory={str(tmp_path)!r})).depends_on(failing)
        executor.submit(ok)
        any_end = Job(JobSpec('touch', ['any-ran'], directory={str(tmp_path)!r})).depends_on(
            failing, condition=DependencyCondition.ENDED)
        executor.submit(any_end)
        print(json.dumps([failing.id, ok.native_id, any_end.native_id]))
    '''
    failing_id, ok_id, any_id = _run_submitter(work_dir, body)
    ok, any_end = _final(_attach(work_dir, ok_id)), _final(_attach(work_dir, any_id))
    assert any_end.state == JobState.COMPLETED and (tmp_path / 'any-ran').exists()
    assert ok.state == JobState.FAILED and not (tmp_path / 'ok-ran').exists()
    detached_message = re.sub(r'\(\d+\)', '(PID)', ok.message or '')
    assert detached_message == f'dependency never satisfied: predecessor job {failing_id} ' \
                               '(PID) ended FAILED: exit code 3'
    # The same dependency in this process, with a plain local executor.
    plain = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir / 'plain'))
    failing = Job(JobSpec('sh', ['-c', 'exit 3']))
    plain.submit(failing)
    dependent = Job(JobSpec('true')).depends_on(failing)
    plain.submit(dependent)
    expected = _final(dependent)
    assert expected.state == ok.state
    assert re.sub(r'\(\d+\)', '(PID)', expected.message or '').replace(failing.id, 'ID') == \
        detached_message.replace(failing_id, 'ID')


def test_an_array_canceled_from_another_process_and_from_its_submitter(
        work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    gate = tmp_path / 'gate'
    try:
        ids = _run_submitter(work_dir, f'''
            spec = JobSpec('sh', ['-c', 'touch ran.$PSIJ_ARRAY_INDEX; exec "$@"', 'sh']
                           + {gated_command(gate)!r}, directory={str(tmp_path)!r})
            array = JobArray(spec, 3, throttle=1)
            executor.submit_array(array)
            print(json.dumps([job.native_id for job in array.jobs]))
        ''')
        assert ids[0].isdigit() and not any(native_id.isdigit() for native_id in ids[1:])
        eventually(lambda: (tmp_path / 'ran.0').exists(), 'the first element started')
        executor = JobExecutor.get_instance(
            'local', config=LocalJobExecutorConfig(work_directory=work_dir))
        jobs = [Job() for _ in ids]
        for job, native_id in zip(jobs, ids):
            executor.attach(job, native_id)
        # The held elements first, so that none starts in the room the running one leaves.
        executor.cancel_jobs(jobs[1:] + jobs[:1])
        assert [_final(job).state for job in jobs] == [JobState.CANCELED] * 3
        # A third process sees the same ends.
        assert [_final(_attach(work_dir, native_id)).state for native_id in ids] == \
            [JobState.CANCELED] * 3
        # In the submitting process: the array's own cancel, held elements and all.
        detached = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
            work_directory=work_dir, detached=True))
        own = JobArray(JobSpec('sh', gated_command(gate)[1:], directory=tmp_path), 2,
                       throttle=1)
        detached.submit_array(own)
        assert own.jobs[1].status.state == JobState.QUEUED
        own.cancel()
        assert [status.state if status else None for status in own.wait(timeout=60.0)] == \
            [JobState.CANCELED] * 2
    finally:
        gate.touch()
    assert (tmp_path / 'ran.0').exists()
    assert not (tmp_path / 'ran.1').exists() and not (tmp_path / 'ran.2').exists()


def test_a_dependency_the_watcher_cannot_see_is_refused(work_dir: pathlib.Path,
                                                         tmp_path: pathlib.Path) -> None:
    gate = tmp_path / 'gate'
    plain = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir))
    detached = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir, detached=True))
    elsewhere = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work_dir / 'other', detached=True))
    try:
        running = Job(JobSpec(*_split(gated_command(gate))))
        plain.submit(running)
        watched = Job(JobSpec(*_split(gated_command(gate))))
        detached.submit(watched)  # a watcher is running now
        dependent = Job(JobSpec('true')).depends_on(running)
        with pytest.raises(InvalidJobException,
                           match=r'Job\.depends_on: predecessor job .* has not ended and is not '
                                 r'a job of the local watcher .*detached=False'):
            detached.submit(dependent)
        assert dependent.status.state == JobState.NEW and dependent.executor is None
        other = Job(JobSpec('true')).depends_on(watched)
        with pytest.raises(InvalidJobException,
                           match=r'Job\.depends_on: predecessor job .* cannot see'):
            elsewhere.submit(other)
        # A request the watcher does not know gets an error naming what it knows.
        path = socket_path(os.path.abspath(work_dir), 'local')
        assert path is not None
        reply = offer_to_running_watcher(path, b'{"op": "submit_everything"}\n')
        assert reply is not None and 'submit, submit_array, cancel' in \
            reply['error']['message'], reply
    finally:
        gate.touch()
    assert _final(running).state == JobState.COMPLETED
    assert _final(watched).state == JobState.COMPLETED


def _split(argv: List[str]) -> Tuple[str, List[str]]:
    return argv[0], argv[1:]
