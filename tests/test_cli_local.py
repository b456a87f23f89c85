"""The installed ``psij`` command with the local executor: run, submit, and status, wait,
cancel and list from OTHER processes than the one that submitted."""

import json
import os
import pathlib
import pty
import signal
import subprocess
import time
from typing import Iterator, List

import psutil
import pytest
from test_cli_support import (
    BAD_SPEC,
    CANCELED,
    FAILED_WITHOUT_EXIT_CODE,
    INTERRUPTED,
    JOB_RECORD_KEYS,
    PSIJ,
    TIMEOUT,
    UNKNOWN_JOB,
    UNREACHABLE,
    assert_one_error_line,
    eventually,
    gated_command,
    interrupt,
    parent_pid,
    process_exists,
    psij,
    psij_environment,
    start_psij,
)


@pytest.fixture
def gate(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """The file that lets gated jobs end; opened at the latest when the test ends, so that a
    failed test leaves no job waiting."""
    path = tmp_path / 'go'
    yield path
    path.touch()


def _submit(work_dir: pathlib.Path, command: List[str], *options: str) -> str:
    result = psij(work_dir, 'submit', *options, '--', *command)
    assert result.returncode == 0, str(result)
    native_id = result.stdout.strip()
    assert native_id.isdigit(), str(result)
    return native_id


# --- run -------------------------------------------------------------------------------------


@pytest.mark.parametrize('script, status, state', [
    ('exit 0', 0, 'COMPLETED'),
    ('exit 3', 3, 'FAILED exit=3'),
    ('kill -KILL $$', 128 + 9, 'FAILED exit=-9'),
])
def test_run_exits_with_the_jobs_exit_status(work_dir: pathlib.Path, script: str, status: int,
                                             state: str) -> None:
    result = psij(work_dir, 'run', '--', 'sh', '-c', script)
    assert result.returncode == status, str(result)
    assert result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('psij: job ') and state in lines[0], \
        str(result)


def test_run_json_record(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'run', '--json', '--name', 'rec', '--', 'sh', '-c', 'exit 4')
    assert result.returncode == 4, str(result)
    record = result.json()
    assert set(record) == JOB_RECORD_KEYS | {'spec', 'work_directory'}
    assert record['executor'] == 'local' and record['state'] == 'FAILED'
    assert record['exit_code'] == 4 and record['final'] is True and record['error'] is None
    assert record['native_id'].isdigit() and record['job_id']
    assert record['spec']['executable'] == 'sh' and record['spec']['name'] == 'rec'
    assert record['work_directory'] == str(work_dir)


def test_run_passes_options_to_the_job(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    result = psij(work_dir, 'run', '-n', '3', '--launcher', 'multiple', '--cwd', str(tmp_path),
                  '--env', 'GREETING=a b=c', '--stdout', str(out), '--',
                  'sh', '-c', 'echo "$GREETING $(pwd) $PSIJ_RANK"')
    assert result.returncode == 0, str(result)
    lines = sorted(out.read_text().splitlines())
    assert lines == [f'a b=c {tmp_path} {rank}' for rank in range(3)]


def test_run_arguments_after_double_dash_are_verbatim(work_dir: pathlib.Path,
                                                      tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    arguments = ['--json', '-n', '--', 'a b', '$HOME', '']
    result = psij(work_dir, 'run', '--stdout', str(out), '--', 'printf', '[%s]\\n', *arguments)
    assert result.returncode == 0, str(result)
    assert out.read_text() == ''.join(f'[{argument}]\n' for argument in arguments)


def test_ctrl_c_cancels_the_run(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'started'
    process = start_psij(work_dir, 'run', '--json', '--stdout', str(out), '--',
                         'sh', '-c', 'echo $$; exec sleep 60')
    eventually(lambda: out.exists() and out.read_text().strip() != '', 'the job started')
    job_pid = int(out.read_text())
    interrupt(process)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == INTERRUPTED, stderr
    assert 'canceling job' in stderr
    assert json.loads(stdout)['state'] == 'CANCELED'
    assert not process_exists(job_pid)


def _processes_with_argument(argument: str) -> List[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if argument in process.cmdline():
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_ctrl_c_right_after_the_job_started_cancels_it(work_dir: pathlib.Path,
                                                       tmp_path: pathlib.Path) -> None:
    # Ctrl-C between the job's start and psij run's wait once ended psij without a cancel,
    # the job living on (seen under load by the test above, which looks every 50 ms): here
    # it comes as soon as the job has written a byte.
    for attempt in range(5):
        out = tmp_path / f'started.{attempt}'
        token = f'60.{os.getpid()}{attempt}'  # in the job's argv, from sh to sleep
        process = start_psij(work_dir, 'run', '--stdout', str(out), '--',
                             'sh', '-c', 'echo $$; exec sleep "$0"', token)
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size > 0):
            assert time.monotonic() < deadline and process.poll() is None, 'no job started'
            time.sleep(0.001)
        interrupt(process)
        _, stderr = process.communicate(timeout=60)
        left = _processes_with_argument(token)
        for job in left:
            job.kill()
        assert left == [], f'the job outlived psij run: {stderr}'
        assert process.returncode == INTERRUPTED, stderr
        assert 'canceling job' in stderr


# --- submit, then other processes ------------------------------------------------------------


def test_submit_then_status_and_wait_from_other_processes(work_dir: pathlib.Path,
                                                          gate: pathlib.Path) -> None:
    native_id = _submit(work_dir, gated_command(gate, exit_code=7))
    # psij submit has returned, the job still runs: its watcher owns it.
    status = psij(work_dir, 'status', native_id)
    assert (status.returncode, status.stdout) == (0, f'{native_id} ACTIVE\n'), str(status)
    gate.touch()
    waited = psij(work_dir, 'wait', native_id)
    assert waited.returncode == 7, str(waited)
    assert waited.stdout.splitlines()[-1] == f'{native_id} FAILED exit=7 (exit code 7)'
    again = psij(work_dir, 'status', native_id, '--json')
    assert again.returncode == 0, str(again)
    record = again.json()['jobs'][0]
    assert set(record) == JOB_RECORD_KEYS
    assert (record['state'], record['exit_code'], record['job_id']) == ('FAILED', 7, None)


def test_submit_json_record(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'submit', '--json', '--time', '1:00', '--', 'true')
    assert result.returncode == 0, str(result)
    record = result.json()
    assert set(record) == JOB_RECORD_KEYS | {'spec', 'work_directory'}
    assert record['state'] == 'ACTIVE' and record['native_id'].isdigit()
    assert record['spec']['attributes']['duration'] == 60
    waited = psij(work_dir, 'wait', record['native_id'])
    assert waited.returncode == 0, str(waited)


def test_submitted_job_outlives_a_killed_watcher_but_is_never_called_completed(
        work_dir: pathlib.Path, gate: pathlib.Path) -> None:
    native_id = _submit(work_dir, gated_command(gate, exit_code=0))
    watcher = parent_pid(int(native_id))
    assert b'psij.executors.local_watcher' in pathlib.Path(f'/proc/{watcher}/cmdline').read_bytes()
    os.kill(watcher, signal.SIGKILL)
    eventually(lambda: not process_exists(watcher), 'the watcher is gone')
    assert process_exists(int(native_id))
    # The dead watcher's socket is still there: the next submit starts a new watcher.
    assert (work_dir / 'local' / 'watcher.local.sock').exists()
    later = _submit(work_dir, gated_command(gate, exit_code=2))
    assert parent_pid(int(later)) != watcher
    gate.touch()
    waited = psij(work_dir, 'wait', native_id, later, '--json')
    assert waited.returncode == FAILED_WITHOUT_EXIT_CODE, str(waited)
    first, second = waited.json()['jobs']
    assert first['state'] == 'FAILED' and first['exit_code'] is None
    assert 'outcome unknown' in first['message']
    assert (second['state'], second['exit_code']) == ('FAILED', 2)


def test_submits_share_one_watcher_and_keep_their_environment_and_directory(
        work_dir: pathlib.Path, tmp_path: pathlib.Path, gate: pathlib.Path) -> None:
    command = ['sh', '-c', 'echo "$COLOUR $(pwd)"; ' + gated_command(gate)[-1]]
    ids = []
    for colour in ('red', 'green', 'blue'):
        directory = tmp_path / colour
        directory.mkdir()
        result = psij(work_dir, 'submit', '--stdout', 'out.txt', '--', *command,
                      env={'COLOUR': colour}, cwd=directory)
        assert result.returncode == 0, str(result)
        ids.append(result.stdout.strip())
    watchers = {parent_pid(int(native_id)) for native_id in ids}
    assert len(watchers) == 1, 'each psij submit started its own watcher'
    gate.touch()
    assert psij(work_dir, 'wait', *ids).returncode == 0
    for colour in ('red', 'green', 'blue'):
        directory = tmp_path / colour
        assert (directory / 'out.txt').read_text() == f'{colour} {directory}\n'
    # Once its jobs have ended (and a short linger), the watcher leaves with its socket.
    watcher = watchers.pop()
    eventually(lambda: not process_exists(watcher), 'the watcher left')
    assert not (work_dir / 'local' / 'watcher.local.sock').exists()


def test_wait_for_many_ids_prints_one_line_per_change(work_dir: pathlib.Path,
                                                      gate: pathlib.Path) -> None:
    exit_codes = [0, 0, 5, 0, 6, 0]
    ids = [_submit(work_dir, gated_command(gate, code)) for code in exit_codes]
    process = start_psij(work_dir, 'wait', *ids)
    gate.touch()
    stdout, stderr = process.communicate(timeout=60)
    # The first job in argument order that did not complete decides the status.
    assert process.returncode == 5, stderr
    lines = stdout.splitlines()
    for native_id, code in zip(ids, exit_codes):
        own = [line for line in lines if line.split()[0] == native_id]
        expected = f'{native_id} COMPLETED exit=0' if code == 0 else \
            f'{native_id} FAILED exit={code} (exit code {code})'
        assert own[-1] == expected, stdout
        assert own.count(expected) == 1, stdout


def test_wait_json_for_many_ids(work_dir: pathlib.Path) -> None:
    ids = [_submit(work_dir, ['sh', '-c', f'exit {code}']) for code in (0, 0, 0)]
    result = psij(work_dir, 'wait', '--json', *ids, ids[0])
    assert result.returncode == 0, str(result)
    document = result.json()
    assert set(document) == {'executor', 'jobs', 'states', 'timed_out'}
    assert document['timed_out'] is False and document['states'] is None
    assert [record['native_id'] for record in document['jobs']] == ids
    for record in document['jobs']:
        assert set(record) == JOB_RECORD_KEYS | {'reached'}
        assert (record['state'], record['exit_code'], record['reached']) == ('COMPLETED', 0,
                                                                            True)


def test_wait_on_a_terminal_rewrites_one_line_of_counts(work_dir: pathlib.Path,
                                                        gate: pathlib.Path) -> None:
    ids = [_submit(work_dir, gated_command(gate, code)) for code in (0, 0, 3)]
    leader, follower = pty.openpty()
    process = subprocess.Popen([str(PSIJ), 'wait', *ids], stdout=follower,
                               stderr=subprocess.PIPE, env=psij_environment(work_dir))
    os.close(follower)
    gate.touch()
    shown = b''
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 3
    text = shown.decode()
    assert '\r' in text and 'waiting: 3 jobs:' in text, text
    assert 'done: 3 jobs: COMPLETED 2, FAILED 1' in text, text
    # The job that needs attention is named after the counts; the others are not.
    after = text.rsplit('done: ', 1)[1]
    assert f'{ids[2]} FAILED exit=3' in after and ids[0] not in after, text


def test_wait_timeout(work_dir: pathlib.Path, gate: pathlib.Path) -> None:
    native_id = _submit(work_dir, gated_command(gate))
    result = psij(work_dir, 'wait', native_id, '--timeout', '0.5', '--json')
    assert_one_error_line(result, TIMEOUT, '--timeout', f'{native_id} ACTIVE')
    assert result.json()['timed_out'] is True
    gate.touch()
    assert psij(work_dir, 'wait', native_id).returncode == 0


def test_wait_for_states(work_dir: pathlib.Path, gate: pathlib.Path) -> None:
    native_id = _submit(work_dir, gated_command(gate))
    active = psij(work_dir, 'wait', native_id, '--states', 'active')
    assert active.returncode == 0, str(active)
    assert psij(work_dir, 'status', native_id).stdout == f'{native_id} ACTIVE\n'
    gate.touch()
    unreachable = psij(work_dir, 'wait', native_id, '--states', 'FAILED,CANCELED', '--json')
    assert unreachable.returncode == UNREACHABLE, str(unreachable)
    record = unreachable.json()['jobs'][0]
    assert (record['state'], record['reached']) == ('COMPLETED', False)
    # A job that ended went through ACTIVE: waiting for ACTIVE is satisfied.
    assert psij(work_dir, 'wait', native_id, '--states', 'ACTIVE').returncode == 0


def test_cancel_from_another_process(work_dir: pathlib.Path) -> None:
    native_id = _submit(work_dir, ['sleep', '60'])
    result = psij(work_dir, 'cancel', native_id)
    assert result.returncode == 0, str(result)
    assert result.stdout.startswith(f'{native_id} CANCELED'), str(result)
    waited = psij(work_dir, 'wait', native_id)
    assert waited.returncode == CANCELED, str(waited)
    again = psij(work_dir, 'cancel', native_id, '--json')
    assert again.returncode == 0, str(again)
    record = again.json()['jobs'][0]
    assert (record['state'], record['cancel_requested']) == ('CANCELED', False)


def test_cancel_kills_a_job_that_ignores_sigterm(work_dir: pathlib.Path) -> None:
    native_id = _submit(work_dir, ['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'])
    result = psij(work_dir, 'cancel', native_id)
    assert result.returncode == 0, str(result)
    assert result.stdout.startswith(f'{native_id} CANCELED'), str(result)
    assert not process_exists(int(native_id))


def test_list_shows_running_jobs_of_the_work_directory(work_dir: pathlib.Path,
                                                       gate: pathlib.Path) -> None:
    native_id = _submit(work_dir, gated_command(gate))
    listed = psij(work_dir, 'list', '--json')
    assert listed.returncode == 0, str(listed)
    assert listed.json() == {'executor': 'local', 'native_ids': [native_id]}
    gate.touch()
    assert psij(work_dir, 'wait', native_id).returncode == 0
    assert psij(work_dir, 'list').stdout == ''


def test_status_with_known_and_unknown_ids(work_dir: pathlib.Path) -> None:
    native_id = _submit(work_dir, ['true'])
    assert psij(work_dir, 'wait', native_id).returncode == 0
    result = psij(work_dir, 'status', native_id, '999999999', '--json')
    assert_one_error_line(result, UNKNOWN_JOB, 'unknown job 999999999')
    first, second = result.json()['jobs']
    assert (first['state'], first['error']) == ('COMPLETED', None)
    assert second['state'] is None and 'no local job' in second['error']


@pytest.mark.parametrize('subcommand', ['status', 'wait', 'cancel'])
def test_unknown_or_malformed_ids(work_dir: pathlib.Path, subcommand: str) -> None:
    for native_id in ('999999999', 'abc'):
        result = psij(work_dir, subcommand, native_id)
        assert_one_error_line(result, UNKNOWN_JOB, f'unknown job {native_id}')


def test_submit_of_an_invalid_job_reports_the_watchers_error(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'submit', '--', 'no-such-program-xyz')
    assert_one_error_line(result, BAD_SPEC, 'JobSpec.executable', 'no-such-program-xyz')
