"""The installed ``psij`` command: option values, job specs, plugin listing, error lines and
exit statuses (nothing here needs a scheduler)."""

import json
import os
import pathlib
import re
import subprocess
import sys
from typing import Any, Dict, List, Set

import pytest
from test_cli_support import (
    BAD_SPEC,
    CANCELED,
    FAILED_WITHOUT_EXIT_CODE,
    NO_INPUT,
    REPO,
    UNKNOWN_JOB,
    UNKNOWN_PLUGIN,
    USAGE,
    assert_one_error_line,
    psij,
)

from psij import JobState, JobStatus
from psij.cli.exit_status import exit_status_of_job

FAKE_SITE = REPO / 'tests' / 'plugin_fixtures' / 'site'


def _spec(work_dir: pathlib.Path, *args: str) -> Dict[str, Any]:
    result = psij(work_dir, 'spec', '--json', *args)
    assert result.returncode == 0, str(result)
    document: Dict[str, Any] = result.json()
    return document


# --- spec: options become fields ---------------------------------------------------------


@pytest.mark.parametrize('text, seconds', [
    ('90', 90), ('30:00', 1800), ('7:05', 425), ('2:00:00', 7200), ('100:00:00', 360000),
    ('1-12:00:00', 129600), ('0-00:00:01', 1),
])
def test_time_formats(work_dir: pathlib.Path, text: str, seconds: int) -> None:
    spec = _spec(work_dir, '--time', text, '--', 'true')
    assert spec['attributes']['duration'] == seconds


@pytest.mark.parametrize('text', ['1:2:3:4', '1:60', '1:60:00', '1-24:00:00', '0', 'ten',
                                  '1h', '-5', '1:5:', ''])
def test_bad_time_values_are_usage_errors(work_dir: pathlib.Path, text: str) -> None:
    result = psij(work_dir, 'spec', '--time', text, '--', 'true')
    assert_one_error_line(result, USAGE, 'argument --time', repr(text))


def test_options_fill_every_field(work_dir: pathlib.Path) -> None:
    spec = _spec(work_dir, '-n', '8', '--ppn', '4', '--cores-per-process', '2',
                 '--gpus-per-process', '1', '--memory', '2G', '--exclusive', '--queue', 'q',
                 '--account', 'acct', '--reservation', 'res', '--attr', 'slurm.constraint=a=b',
                 '--attr', 'slurm.exclusive', '--name', 'n', '--env', 'A=1', '--env', 'B=',
                 '--cwd', '/tmp', '--stdin', 'in', '--stdout', 'out', '--stderr', 'err',
                 '--launcher', 'mpirun', '--', 'prog', '--flag', 'x y')
    assert spec['executable'] == 'prog' and spec['arguments'] == ['--flag', 'x y']
    assert spec['resources'] == {
        'version': 1, 'process_count': 8, 'processes_per_node': 4, 'node_count': None,
        'cpu_cores_per_process': 2, 'gpu_cores_per_process': 1, 'memory': 2 * 1024 ** 3,
        'exclusive_node_use': True}
    assert spec['attributes'] == {
        'duration': 600, 'queue_name': 'q', 'account': 'acct', 'reservation_id': 'res',
        'custom_attributes': {'slurm.constraint': 'a=b', 'slurm.exclusive': True}}
    assert spec['environment'] == {'A': '1', 'B': ''}
    assert (spec['name'], spec['directory'], spec['launcher']) == ('n', '/tmp', 'mpirun')
    assert (spec['stdin_path'], spec['stdout_path'], spec['stderr_path']) == ('in', 'out',
                                                                              'err')


def test_spec_file_options_override_its_fields(work_dir: pathlib.Path,
                                               tmp_path: pathlib.Path) -> None:
    original = _spec(work_dir, '--queue', 'q1', '--env', 'A=1', '--attr', 'x.k=1',
                     '-n', '2', '--', 'prog', 'arg')
    path = tmp_path / 'job.json'
    path.write_text(json.dumps(original))
    merged = _spec(work_dir, str(path), '--queue', 'q2', '--env', 'B=2', '--attr', 'x.j=2',
                   '--', 'other')
    assert merged['attributes']['queue_name'] == 'q2'
    assert merged['environment'] == {'A': '1', 'B': '2'}
    assert merged['attributes']['custom_attributes'] == {'x.k': '1', 'x.j': '2'}
    assert merged['resources']['process_count'] == 2
    assert (merged['executable'], merged['arguments']) == ('other', [])
    # Without options, a spec file comes back unchanged; "-" reads standard input.
    assert _spec(work_dir, str(path)) == original
    piped = psij(work_dir, 'spec', '-', '--json', stdin=json.dumps(original))
    assert piped.returncode == 0 and piped.json() == original, str(piped)


def test_spec_text_output_is_the_indented_document(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'spec', '--', 'true')
    assert result.returncode == 0, str(result)
    assert result.stdout.startswith('{\n  "arguments": []')
    assert json.loads(result.stdout) == _spec(work_dir, '--', 'true')


# --- errors: one line, a distinct status ---------------------------------------------------


@pytest.mark.parametrize('args, status, fragments', [
    (['run', '-e', 'no-such-executor', '--', 'true'], UNKNOWN_PLUGIN,
     ["unknown executor 'no-such-executor'", 'local', 'slurm']),
    (['status', '-e', 'no-such-executor', '1'], UNKNOWN_PLUGIN, ['no-such-executor']),
    (['run', '--launcher', 'no-such-launcher', '--', 'true'], UNKNOWN_PLUGIN,
     ["unknown launcher 'no-such-launcher'", 'mpirun']),
    (['run', '-n', '0', '--', 'true'], USAGE, ['-n/--process-count', "'0'"]),
    (['run', '--nodes', 'two', '--', 'true'], USAGE, ['--nodes', "'two'"]),
    (['run', '--nodes', '2', '-n', '1', '--', 'true'], USAGE, ['--nodes', '-n']),
    (['run', '--env', 'NOEQUALS', '--', 'true'], USAGE, ['--env', 'NAME=VALUE']),
    (['run', '--env', '1X=2', '--', 'true'], USAGE, ['--env', "'1X'"]),
    (['run', '--memory', '4X', '--', 'true'], USAGE, ['--memory', "'4X'"]),
    (['run', '--attr', '=v', '--', 'true'], USAGE, ['--attr']),
    (['run'], USAGE, ['no job given', '--']),
    (['run', 'hostname'], USAGE, ["'hostname' is not a job spec file", '-- hostname']),
    (['run', '--bogus', '--', 'true'], USAGE, ['--bogus']),
    (['frobnicate'], USAGE, ["'frobnicate'"]),
    ([], USAGE, ['SUBCOMMAND']),
    (['status'], USAGE, ['ID']),
    (['status', '1', '--', 'true'], USAGE, ['no command after "--"']),
    (['wait', '1', '--states', 'DONE'], USAGE, ['--states', "'DONE'", 'COMPLETED']),
    (['wait', '1', '--timeout', '-1'], USAGE, ['--timeout']),
    (['run', 'missing.json'], NO_INPUT, ["'missing.json'", 'No such file']),
    (['run', '--', 'no-such-program-xyz'], BAD_SPEC, ['JobSpec.executable']),
    (['run', '--cwd', '/no/such/dir', '--', 'true'], BAD_SPEC, ['JobSpec.directory']),
    (['status', '123456789'], UNKNOWN_JOB, ['unknown job 123456789']),
])
def test_each_error_is_one_line_with_its_status(work_dir: pathlib.Path, args: List[str],
                                                status: int, fragments: List[str]) -> None:
    assert_one_error_line(psij(work_dir, *args), status, *fragments)


@pytest.mark.parametrize('subcommand, content, fragment', [
    ('spec', '{"version": 1, "executable": ', 'not valid JSON'),
    ('spec', '[1, 2]', 'a JSON object'),
    ('spec', '{"version": 1, "executable": 3}', 'executable'),
    ('spec', '{"version": 1, "resources": {"version": 1, "node_count": 0}}',
     'resources.node_count'),
    ('spec', '{"version": 1, "colour": "red"}', 'colour'),
    ('spec', '{"executable": "true"}', 'version'),
    ('run', '{"version": 1, "executable": ', 'not valid JSON'),
    ('run', '{"version": 1, "colour": "red"}', 'colour'),
    ('submit', '{"version": 1, "executable": ', 'not valid JSON'),
    ('submit', '{"version": 1, "resources": {"version": 1, "node_count": 0}}',
     'resources.node_count'),
])
def test_malformed_spec_files(work_dir: pathlib.Path, tmp_path: pathlib.Path, subcommand: str,
                              content: str, fragment: str) -> None:
    path = tmp_path / 'job.json'
    path.write_text(content)
    result = psij(work_dir, subcommand, str(path))
    assert_one_error_line(result, BAD_SPEC, str(path), fragment)


def test_unreadable_spec_file(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    result = psij(work_dir, 'spec', str(tmp_path))
    assert_one_error_line(result, NO_INPUT, str(tmp_path))


def test_executor_comes_from_the_environment(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'list', env={'PSIJ_EXECUTOR': 'from-the-env'})
    assert_one_error_line(result, UNKNOWN_PLUGIN, "'from-the-env'")
    # -e wins over the variable.
    listed = psij(work_dir, 'list', '-e', 'local', env={'PSIJ_EXECUTOR': 'from-the-env'})
    assert listed.returncode == 0, str(listed)


# --- executors -----------------------------------------------------------------------------


def test_executors_lists_plugins_and_load_failures(work_dir: pathlib.Path) -> None:
    path = os.pathsep.join(filter(None, [str(FAKE_SITE), os.environ.get('PYTHONPATH')]))
    result = psij(work_dir, 'executors', '--json', env={'PYTHONPATH': path})
    assert result.returncode == 0, str(result)
    document = result.json()
    executors = {record['name']: record for record in document['executors']}
    launchers = {record['name']: record for record in document['launchers']}
    keys = {'name', 'aliases', 'version', 'distribution', 'distribution_version',
            'entry_point', 'module', 'loaded', 'error'}
    assert all(set(record) == keys for record in executors.values())
    assert executors['local']['loaded'] and executors['local']['distribution'] == 'psij'
    assert executors['local']['module'] == 'psij.executors.local'
    assert executors['fake'] == {
        'name': 'fake', 'aliases': ['fake_alias'], 'version': '2.3',
        'distribution': 'fakeplugins', 'distribution_version': '1.0',
        'entry_point': 'fake_executor:FakeExecutor', 'module': 'fake_executor',
        'loaded': True, 'error': None}
    broken = executors['broken']
    assert not broken['loaded'] and broken['version'] is None
    assert 'frobnicate' in broken['error']
    assert launchers['fake_launcher']['version'] == '0.5'
    assert {'single', 'multiple', 'mpirun', 'srun'} <= set(launchers)
    text = psij(work_dir, 'executors', env={'PYTHONPATH': path})
    assert text.returncode == 0, str(text)
    assert re.search(r'^  broken: FAILED TO LOAD: .*frobnicate', text.stdout, re.MULTILINE)
    assert re.search(r'^  fake \(aliases: fake_alias\) 2\.3 \[fakeplugins 1\.0: ',
                     text.stdout, re.MULTILINE)


# --- how a final state becomes an exit status ----------------------------------------------


@pytest.mark.parametrize('status, expected', [
    (JobStatus(JobState.COMPLETED, exit_code=0), 0),
    (JobStatus(JobState.FAILED, exit_code=3), 3),
    (JobStatus(JobState.FAILED, exit_code=-9), 137),
    (JobStatus(JobState.FAILED, exit_code=256 + 4), 4),
    # Never a success status for a failed job, whatever its exit code says.
    (JobStatus(JobState.FAILED, exit_code=0), FAILED_WITHOUT_EXIT_CODE),
    (JobStatus(JobState.FAILED, exit_code=256), FAILED_WITHOUT_EXIT_CODE),
    (JobStatus(JobState.FAILED, message='outcome unknown'), FAILED_WITHOUT_EXIT_CODE),
    (JobStatus(JobState.CANCELED, exit_code=-15), CANCELED),
    (JobStatus(JobState.CANCELED), CANCELED),
])
def test_exit_status_of_a_final_state(status: JobStatus, expected: int) -> None:
    assert exit_status_of_job(status) == expected


# --- help, docs, entry points --------------------------------------------------------------


def _statuses_in(text: str) -> Set[int]:
    return {int(match) for match in re.findall(r'^\|? ?(\d{1,3})\s*\|?\s', text, re.MULTILINE)}


def test_help_and_docs_list_the_same_exit_statuses(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, '--help')
    assert result.returncode == 0, str(result)
    epilog = result.stdout.split('exit statuses:', 1)[1].split('environment:', 1)[0]
    in_help = _statuses_in(epilog.replace('  ', ' '))
    docs = (REPO / 'docs' / 'cli.md').read_text()
    table = docs.split('## Exit statuses', 1)[1].split('\n## ', 1)[0]
    in_docs = _statuses_in(table)
    assert in_help == in_docs == {0, 64, 65, 66, 67, 68, 69, 70, 71, 72, 75, 76, 130}


def test_docs_cover_every_subcommand_and_option(work_dir: pathlib.Path) -> None:
    docs = (REPO / 'docs' / 'cli.md').read_text()
    for subcommand in ('run', 'submit', 'status', 'wait', 'cancel', 'list', 'executors',
                       'spec'):
        assert f'### `psij {subcommand}`' in docs
        result = psij(work_dir, subcommand, '--help')
        assert result.returncode == 0, str(result)
        for option in set(re.findall(r'(?<![\w-])(--[a-z][a-z-]+)', result.stdout)):
            assert f'`{option}' in docs, f'{option} of psij {subcommand} is not in docs/cli.md'


def test_python_dash_m_runs_the_same_program(work_dir: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, '-m', 'psij.cli', '--version'],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, 'psij 0.1.0')
    assert psij(work_dir, '--version').stdout.strip() == 'psij 0.1.0'
