"""The installed ``psij`` command against the REAL Slurm cluster started by
.ci/lrm/slurm-up.sh: every job is submitted by one psij process and followed (status, wait,
cancel, list) by others. Under CI=true a missing cluster fails these tests."""

import json
import pathlib
import subprocess
from typing import Iterator, List

import pytest
from real_tools import require_slurm
from test_cli_support import (
    CANCELED,
    JOB_RECORD_KEYS,
    UNKNOWN_JOB,
    assert_one_error_line,
    gated_command,
    psij,
    start_psij,
)


@pytest.fixture(autouse=True)
def slurm() -> None:
    require_slurm()


@pytest.fixture
def submitted(work_dir: pathlib.Path) -> Iterator[List[str]]:
    """Ids of the jobs a test submits; whatever is left of them is canceled afterwards."""
    ids: List[str] = []
    yield ids
    if ids:
        subprocess.run(['scancel', *ids], capture_output=True, timeout=60)


@pytest.fixture
def gate(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """The file that lets gated jobs end; opened at the latest when the test ends, so that a
    failed test leaves no job waiting."""
    path = tmp_path / 'go'
    yield path
    path.touch()


def _submit(work_dir: pathlib.Path, submitted: List[str], command: List[str],
            *options: str) -> str:
    result = psij(work_dir, 'submit', '-e', 'slurm', *options, '--', *command)
    assert result.returncode == 0, str(result)
    native_id = result.stdout.strip()
    assert native_id.isdigit(), str(result)
    submitted.append(native_id)
    return native_id


def test_run_reports_the_jobs_exit_code(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'run', '-e', 'slurm', '--json', '--', 'sh', '-c', 'exit 3')
    assert result.returncode == 3, str(result)
    record = result.json()
    assert set(record) == JOB_RECORD_KEYS | {'spec', 'work_directory'}
    assert (record['executor'], record['state'], record['exit_code']) == ('slurm', 'FAILED', 3)
    completed = psij(work_dir, 'run', '-e', 'slurm', '--', 'true')
    assert completed.returncode == 0, str(completed)
    assert 'COMPLETED exit=0' in completed.stderr


def test_submit_then_status_and_wait_from_other_processes(work_dir: pathlib.Path,
                                                          submitted: List[str],
                                                          gate: pathlib.Path) -> None:
    native_id = _submit(work_dir, submitted, gated_command(gate, exit_code=0))
    status = psij(work_dir, 'status', '-e', 'slurm', native_id, '--json')
    assert status.returncode == 0, str(status)
    record = status.json()['jobs'][0]
    assert record['state'] in ('QUEUED', 'ACTIVE') and record['final'] is False, str(status)
    gate.touch()
    waited = psij(work_dir, 'wait', '-e', 'slurm', native_id)
    assert waited.returncode == 0, str(waited)
    assert waited.stdout.splitlines()[-1] == f'{native_id} COMPLETED exit=0'
    again = psij(work_dir, 'status', '-e', 'slurm', native_id)
    assert again.stdout == f'{native_id} COMPLETED exit=0\n', str(again)


def test_wait_for_many_ids(work_dir: pathlib.Path, submitted: List[str],
                           gate: pathlib.Path) -> None:
    exit_codes = [0, 0, 0, 2, 0, 0]
    ids = [_submit(work_dir, submitted, gated_command(gate, code)) for code in exit_codes]
    process = start_psij(work_dir, 'wait', '-e', 'slurm', '--json', *ids)
    gate.touch()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    records = {record['native_id']: record for record in json.loads(stdout)['jobs']}
    assert list(records) == ids
    for native_id, code in zip(ids, exit_codes):
        record = records[native_id]
        assert record['exit_code'] == code
        assert record['state'] == ('COMPLETED' if code == 0 else 'FAILED')


def test_wait_lines_and_states(work_dir: pathlib.Path, submitted: List[str],
                               gate: pathlib.Path) -> None:
    ids = [_submit(work_dir, submitted, gated_command(gate, 0)) for _ in range(3)]
    started = psij(work_dir, 'wait', '-e', 'slurm', '--states', 'ACTIVE', *ids)
    assert started.returncode == 0, str(started)
    for native_id in ids:
        assert f'{native_id} ACTIVE' in started.stdout.splitlines(), str(started)
    gate.touch()
    ended = psij(work_dir, 'wait', '-e', 'slurm', *ids)
    assert ended.returncode == 0, str(ended)
    assert {line for line in ended.stdout.splitlines() if 'COMPLETED' in line} == {
        f'{native_id} COMPLETED exit=0' for native_id in ids}


def test_cancel_from_another_process(work_dir: pathlib.Path, submitted: List[str]) -> None:
    native_id = _submit(work_dir, submitted, ['sleep', '300'])
    canceled = psij(work_dir, 'cancel', '-e', 'slurm', native_id, '--json')
    assert canceled.returncode == 0, str(canceled)
    record = canceled.json()['jobs'][0]
    assert (record['state'], record['cancel_requested']) == ('CANCELED', True), str(canceled)
    waited = psij(work_dir, 'wait', '-e', 'slurm', native_id)
    assert waited.returncode == CANCELED, str(waited)


def test_list_shows_a_submitted_job(work_dir: pathlib.Path, tmp_path: pathlib.Path,
                                    submitted: List[str]) -> None:
    native_id = _submit(work_dir, submitted, gated_command(tmp_path / 'never'))
    listed = psij(work_dir, 'list', '-e', 'slurm', '--json')
    assert listed.returncode == 0, str(listed)
    assert native_id in listed.json()['native_ids']
    assert native_id in psij(work_dir, 'list', '-e', 'slurm').stdout.splitlines()


def test_options_reach_sbatch(work_dir: pathlib.Path, submitted: List[str]) -> None:
    native_id = _submit(work_dir, submitted, ['sleep', '300'], '--name', 'cli-named',
                        '--time', '2:00', '--attr', 'slurm.comment=from the cli')
    shown = subprocess.run(['squeue', '-h', '-j', native_id, '-o', '%j|%l|%k'],
                           capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip() == 'cli-named|2:00|from the cli'


@pytest.mark.parametrize('native_id', ['999999999', 'abc'])
def test_unknown_ids(work_dir: pathlib.Path, native_id: str) -> None:
    result = psij(work_dir, 'status', '-e', 'slurm', native_id)
    assert_one_error_line(result, UNKNOWN_JOB, f'unknown job {native_id}')
