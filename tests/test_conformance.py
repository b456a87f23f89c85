"""The conformance suite, run by CI on our executors and on the third-party example plugin.

Each target's whole suite runs once (the first time one of its capabilities is asked for);
every capability is then its own test. A capability listed in NOT_APPLICABLE must come out
"not applicable", so that an executor cannot quietly stop being checked; every other one
must pass. Targets that need a real scheduler or MPI fail under CI=true without it.
"""

import json
import os
import pathlib
import subprocess
import sys
from typing import Callable, Dict, Set

import pytest
from psij.conformance import NOT_APPLICABLE, PASSED, Report, Target, capability_ids, run_suite
from real_tools import require_command, require_sge, require_slurm

REPO = pathlib.Path(__file__).resolve().parent.parent

TARGETS: Dict[str, Target] = {
    'local:single': Target('local', 'single'),
    'local:multiple': Target('local', 'multiple'),
    'local:mpirun': Target('local', 'mpirun'),
    'slurm:single': Target('slurm', 'single'),
    'slurm:srun': Target('slurm', 'srun'),
    'slurm:mpirun': Target('slurm', 'mpirun'),
    'sge:single': Target('sge', 'single'),
    'sge:multiple': Target('sge', 'multiple', extra_attributes={'sge.pe': 'smp'}),
    # Open MPI's ranks leave the job's process group: the executor's -notify lets qdel reach
    # them (cancel-running checks that none is left)
    'sge:mpirun': Target('sge', 'mpirun', extra_attributes={'sge.pe': 'mpi'}, many_jobs=50),
    # LSF through its test double (tests/doubles/fake_lsf), whose minute lasts 5 s.
    'lsf:single': Target('lsf', 'single'),
    'lsf:multiple': Target('lsf', 'multiple'),
    'lsf:mpirun': Target('lsf', 'mpirun', many_jobs=50),
    # PBS Pro and Torque through their test double (tests/doubles/fake_pbs), which enforces
    # walltime in real seconds.
    'pbs:single': Target('pbs', 'single', duration_limit=3),
    'pbs:mpirun': Target('pbs', 'mpirun', duration_limit=3, many_jobs=50),
    'torque:single': Target('torque', 'single', duration_limit=3),
    'torque:multiple': Target('torque', 'multiple', duration_limit=3),
    # The third-party example plugin (tests/third_party_plugin, installed by .ci/setup).
    'detached:single': Target('detached', 'single', duration_limit=3),
}

DOUBLES = REPO / 'tests' / 'doubles'


def _lsf_double_environment(state: pathlib.Path) -> Dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    # HOME too: the double numbers its jobs from 1, so each run gets its own work directory.
    return {'PATH': f'{DOUBLES / "fake_lsf"}{os.pathsep}{os.environ["PATH"]}',
            'HOME': str(state), 'PSIJ_FAKE_LSF_DIR': str(state),
            'PSIJ_FAKE_LSF_SECONDS_PER_MINUTE': '5'}


def _pbs_double_environment(flavour: str) -> Callable[[pathlib.Path], Dict[str, str]]:
    def environment(state: pathlib.Path) -> Dict[str, str]:
        state.mkdir(parents=True, exist_ok=True)
        return {'PATH': f'{DOUBLES / "fake_pbs"}{os.pathsep}{os.environ["PATH"]}',
                'HOME': str(state), 'FAKE_PBS_STATE': str(state), 'FAKE_PBS_FLAVOUR': flavour}
    return environment


# Variables a target's run needs (doubles put on PATH); set only while its suite runs.
ENVIRONMENTS: Dict[str, Callable[[pathlib.Path], Dict[str, str]]] = {
    'lsf:single': _lsf_double_environment,
    'lsf:multiple': _lsf_double_environment,
    'lsf:mpirun': _lsf_double_environment,
    'pbs:single': _pbs_double_environment('pbspro'),
    'pbs:mpirun': _pbs_double_environment('pbspro'),
    'torque:single': _pbs_double_environment('torque'),
    'torque:multiple': _pbs_double_environment('torque'),
}

_LOCAL_NEVER_QUEUED = {'cancel-queued', 'duration-limit'}
NOT_APPLICABLE_CAPABILITIES: Dict[str, Set[str]] = {
    'local:single': _LOCAL_NEVER_QUEUED | {'multi-process'},
    'local:multiple': _LOCAL_NEVER_QUEUED,
    'local:mpirun': _LOCAL_NEVER_QUEUED,
    'slurm:single': {'multi-process'},
    'slurm:srun': set(),
    'slurm:mpirun': set(),
    'sge:single': {'multi-process'},
    'sge:multiple': set(),
    'sge:mpirun': set(),
    'lsf:single': {'multi-process'},
    'lsf:multiple': set(),
    'lsf:mpirun': set(),
    'pbs:single': {'multi-process'},
    'pbs:mpirun': set(),
    'torque:single': {'multi-process'},
    'torque:multiple': set(),
    'detached:single': {'cancel-queued', 'multi-process'},
}


def _require_mpirun() -> None:
    require_command('mpirun')


def _require_detached() -> None:
    from psij import JobExecutor
    if 'detached' not in JobExecutor.get_executor_names():
        pytest.fail('the example plugin is not installed: run .ci/setup '
                    '(pip install tests/third_party_plugin)')


def _require_both(first: Callable[[], None], second: Callable[[], None]) -> None:
    first()
    second()


REQUIREMENTS: Dict[str, Callable[[], None]] = {
    'local:mpirun': _require_mpirun,
    'slurm:single': require_slurm,
    'slurm:srun': require_slurm,
    'slurm:mpirun': lambda: _require_both(require_slurm, _require_mpirun),
    'sge:single': require_sge,
    'sge:multiple': require_sge,
    'sge:mpirun': lambda: _require_both(require_sge, _require_mpirun),
    'lsf:mpirun': _require_mpirun,
    'pbs:mpirun': _require_mpirun,
    'detached:single': _require_detached,
}

_reports: Dict[str, Report] = {}


def report_for(label: str, scratch: pathlib.Path) -> Report:
    """The suite's report for ``label``, run the first time it is asked for."""
    REQUIREMENTS.get(label, lambda: None)()
    if label not in _reports:
        directory = scratch / label.replace(':', '-')
        environment = ENVIRONMENTS[label](directory / 'double') if label in ENVIRONMENTS else {}
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            _reports[label] = run_suite(TARGETS[label], scratch=directory)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return _reports[label]


@pytest.fixture(scope='session')
def scratch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp('conformance')


@pytest.mark.parametrize('label,capability',
                         [(label, capability) for label in TARGETS
                          for capability in capability_ids()])
def test_capability(label: str, capability: str, scratch: pathlib.Path) -> None:
    report = report_for(label, scratch)
    result = next(item for item in report.results if item.id == capability)
    if capability in NOT_APPLICABLE_CAPABILITIES[label]:
        assert result.result == NOT_APPLICABLE, (result.result, result.reason)
        assert result.reason
    else:
        assert result.result == PASSED, result.reason


def test_every_target_says_what_does_not_apply() -> None:
    known = set(capability_ids())
    assert set(NOT_APPLICABLE_CAPABILITIES) == set(TARGETS)
    for label, names in NOT_APPLICABLE_CAPABILITIES.items():
        assert names <= known, (label, names - known)


# --- the command line ---------------------------------------------------------------------

def run_cli(*arguments: str, pythonpath: str = '') -> 'subprocess.CompletedProcess[str]':
    env = dict(os.environ)
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    return subprocess.run([sys.executable, '-m', 'psij.conformance', *arguments],
                          capture_output=True, text=True, timeout=300, env=env)


def test_cli_json_report_is_stable_and_complete(tmp_path: pathlib.Path) -> None:
    report_file = tmp_path / 'report.json'
    result = run_cli('local:multiple', '--only', 'submit-complete,multi-process,cancel-queued',
                     '--report', str(report_file), '--scratch', str(tmp_path / 'jobs'))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_file.read_text())
    assert list(report) == ['format', 'target', 'versions', 'host', 'started', 'seconds',
                            'summary', 'capabilities']
    assert report['format'] == 'psij-conformance-report/1'
    assert report['target']['executor'] == 'local'
    assert report['target']['launcher'] == 'multiple'
    assert [item['id'] for item in report['capabilities']] == [
        'submit-complete', 'cancel-queued', 'multi-process']  # the suite's order
    assert [item['result'] for item in report['capabilities']] == [
        'passed', 'not_applicable', 'passed']
    assert report['summary'] == {'passed': 2, 'failed': 0, 'not_applicable': 1}
    assert 'PASS  submit-complete' in result.stdout
    assert 'N/A   cancel-queued' in result.stdout


def test_cli_markdown_report(tmp_path: pathlib.Path) -> None:
    report_file = tmp_path / 'report.md'
    result = run_cli('local', '--only', 'exit-code', '--report', str(report_file))
    assert result.returncode == 0, result.stderr
    text = report_file.read_text()
    assert text.startswith('# psij conformance: `local:single`')
    assert '| `exit-code` | PASS |' in text


def test_cli_fails_an_executor_that_does_not_run_jobs(tmp_path: pathlib.Path) -> None:
    """The fake plugin (tests/plugin_fixtures) marks every job COMPLETED without running it:
    the suite must see through that."""
    report_file = tmp_path / 'report.json'
    result = run_cli('fake', '--only', 'submit-complete,exit-code,stdout', '--report',
                     str(report_file), pythonpath=str(REPO / 'tests' / 'plugin_fixtures' / 'site'))
    assert result.returncode == 1, result.stdout + result.stderr
    outcomes = {item['id']: item for item in json.loads(report_file.read_text())['capabilities']}
    assert outcomes['exit-code']['result'] == 'failed'
    assert 'expected FAILED, got COMPLETED' in outcomes['exit-code']['reason']
    assert outcomes['stdout']['result'] == 'failed'
    assert 'FAIL  exit-code' in result.stdout


@pytest.mark.parametrize('arguments,message', [
    (['no-such-executor'], "unknown executor 'no-such-executor'"),
    (['local:no-such-launcher'], "unknown launcher 'no-such-launcher'"),
    (['local', '--only', 'flying'], 'unknown capability flying'),
    (['local', '--report', 'r.txt'], 'must end in .md or .json'),
    (['local', '--many', '0'], '--many must be at least 1'),
    (['bad name'], 'is not valid; expected EXECUTOR[:LAUNCHER]'),
])
def test_cli_usage_errors_exit_2(arguments: list[str], message: str) -> None:
    result = run_cli(*arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert 'Traceback' not in result.stderr


def test_cli_broken_plugin_exits_2() -> None:
    result = run_cli('broken', pythonpath=str(REPO / 'tests' / 'plugin_fixtures' / 'site'))
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'broken' in result.stderr and 'Traceback' not in result.stderr


def test_third_party_plugin_lives_outside_psij() -> None:
    _require_detached()
    from psij import JobExecutor
    executor = JobExecutor.get_instance('detached')
    module = sys.modules[type(executor).__module__]
    assert module.__name__ == 'psij_detached.executor'
    import psij
    assert not pathlib.Path(str(module.__file__)).is_relative_to(
        pathlib.Path(psij.__file__).parent)
