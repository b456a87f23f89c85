"""Packaging: the distribution built from this repository installs and works on its own.

The repository is copied (without .git, virtual environments and caches) and built with
``python -m build``: an sdist first, then the wheel from that sdist, as an installer would.
The wheel is installed into a new virtual environment, and a script run there, from a
directory outside the repository with PYTHONPATH unset and ``python -I``, checks that psij
comes from that environment, that its data files are there, that every plugin loads, and that
the local executor runs real jobs.

The whole module is marked ``slow`` (about 15 s: two builds, a venv, an install); deselect it
with ``-m 'not slow'``. It never skips, so under CI it always runs.
"""

import configparser
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from typing import Any, Dict, List, Set

import pytest
import tomllib
from conftest import require_slurm

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parent.parent

# What a build must not see from a developer's checkout.
NOT_SOURCES = shutil.ignore_patterns(
    '.git', '.venv', 'venv', 'build', 'dist', '*.egg-info', '__pycache__', '*.pyc',
    '.mypy_cache', '.ruff_cache', '.pytest_cache', '.hypothesis')

# Files in a package directory that belong in the wheel.
PACKAGED_SUFFIXES = ('.py', '.sh', '.mustache')
PACKAGED_NAMES = ('py.typed',)

COMMAND_TIMEOUT = 300


def load_pyproject() -> Dict[str, Any]:
    with open(REPO / 'pyproject.toml', 'rb') as stream:
        data: Dict[str, Any] = tomllib.load(stream)
    return data


def run(command: List[str], **kwargs: Any) -> 'subprocess.CompletedProcess[str]':
    """Run ``command``; fail the test with its output if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                            **kwargs)
    assert result.returncode == 0, (
        f'{" ".join(command)} exited with {result.returncode}\n'
        f'--- stdout ---\n{result.stdout[-5000:]}\n--- stderr ---\n{result.stderr[-5000:]}')
    return result


def package_directories() -> Dict[str, pathlib.Path]:
    """Each package's source directory, as pyproject.toml maps them."""
    setuptools_config = load_pyproject()['tool']['setuptools']
    package_dir: Dict[str, str] = setuptools_config.get('package-dir', {})
    return {package: REPO / package_dir.get(package, package.replace('.', '/'))
            for package in setuptools_config['packages']}


def expected_package_files() -> Set[str]:
    """The paths in the wheel of every source and data file the repository has now."""
    expected: Set[str] = set()
    for package, directory in package_directories().items():
        for path in directory.rglob('*'):
            if '__pycache__' in path.parts or not path.is_file():
                continue
            if path.suffix in PACKAGED_SUFFIXES or path.name in PACKAGED_NAMES:
                relative = path.relative_to(directory).as_posix()
                expected.add(f'{package.replace(".", "/")}/{relative}')
    return expected


def data_files() -> Dict[str, bool]:
    """Installed path (under site-packages) of each non-Python file, and whether the
    repository's copy is executable."""
    found: Dict[str, bool] = {}
    for package, directory in package_directories().items():
        for path in directory.rglob('*'):
            if '__pycache__' in path.parts or not path.is_file() or path.suffix == '.py':
                continue
            if path.suffix in PACKAGED_SUFFIXES or path.name in PACKAGED_NAMES:
                relative = path.relative_to(directory).as_posix()
                found[f'{package.replace(".", "/")}/{relative}'] = os.access(path, os.X_OK)
    return found


def copy_sources(destination: pathlib.Path) -> pathlib.Path:
    shutil.copytree(REPO, destination, ignore=NOT_SOURCES)
    return destination


@pytest.fixture(scope='module')
def built(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, pathlib.Path]:
    """An sdist and the wheel built from it, by ``python -m build``."""
    root = tmp_path_factory.mktemp('build')
    source = copy_sources(root / 'source')
    output = root / 'dist'
    started = time.monotonic()
    run([sys.executable, '-m', 'build', '--outdir', str(output), str(source)], cwd=root)
    print(f'python -m build took {time.monotonic() - started:.1f} s')
    wheels = sorted(output.glob('*.whl'))
    sdists = sorted(output.glob('*.tar.gz'))
    assert len(wheels) == 1 and len(sdists) == 1, \
        f'unexpected build output: {sorted(output.iterdir())}'
    return {'wheel': wheels[0], 'sdist': sdists[0]}


@pytest.fixture(scope='module')
def wheel_names(built: Dict[str, pathlib.Path]) -> Set[str]:
    with zipfile.ZipFile(built['wheel']) as archive:
        return set(archive.namelist())


def dist_info_dir(names: Set[str]) -> str:
    found = {name.split('/')[0] for name in names if name.split('/')[0].endswith('.dist-info')}
    assert len(found) == 1, f'expected one .dist-info directory, found {found}'
    return found.pop()


def test_wheel_is_named_after_the_project(built: Dict[str, pathlib.Path]) -> None:
    project = load_pyproject()['project']
    assert built['wheel'].name.startswith(f'{project["name"]}-{project["version"]}-')
    assert built['wheel'].name.endswith('-py3-none-any.whl')


def test_wheel_holds_exactly_the_package_files(wheel_names: Set[str]) -> None:
    expected = expected_package_files()
    in_wheel = {name for name in wheel_names if not name.split('/')[0].endswith('.dist-info')}
    assert sorted(expected - in_wheel) == [], 'repository files missing from the wheel'
    assert sorted(in_wheel - expected) == [], 'wheel files that are not in the repository'
    # Our plugins and their data are among them.
    assert 'psij/executors/local.py' in in_wheel
    assert 'psij/py.typed' in in_wheel
    for script in (REPO / 'launchers').glob('*.sh'):
        assert f'psij/launchers/{script.name}' in in_wheel
    # Nothing but the psij package lands at the top of site-packages.
    assert {name.split('/')[0] for name in in_wheel} == {'psij'}


def test_wheel_entry_points_match_pyproject(wheel_names: Set[str],
                                            built: Dict[str, pathlib.Path]) -> None:
    declared: Dict[str, Dict[str, str]] = load_pyproject()['project']['entry-points']
    with zipfile.ZipFile(built['wheel']) as archive:
        text = archive.read(f'{dist_info_dir(wheel_names)}/entry_points.txt').decode()
    parser = configparser.ConfigParser(delimiters=('=',))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    in_wheel = {group: dict(parser.items(group)) for group in parser.sections()}
    for group in ('psij.executors', 'psij.launchers'):
        assert in_wheel.get(group) == declared[group]
        for name, target in declared[group].items():
            module_path = target.split(':')[0].replace('.', '/')
            assert {f'{module_path}.py', f'{module_path}/__init__.py'} & wheel_names, (
                f'entry point {name} = {target} names a module that is not in the wheel')


def test_wheel_requires_the_declared_dependencies(wheel_names: Set[str],
                                                  built: Dict[str, pathlib.Path]) -> None:
    with zipfile.ZipFile(built['wheel']) as archive:
        metadata = archive.read(f'{dist_info_dir(wheel_names)}/METADATA').decode()
    requires = [line.split(':', 1)[1].strip() for line in metadata.splitlines()
                if line.startswith('Requires-Dist:') and 'extra ==' not in line]
    assert sorted(requires) == sorted(load_pyproject()['project']['dependencies'])


def test_pip_wheel_builds_the_same_files(tmp_path: pathlib.Path,
                                         wheel_names: Set[str]) -> None:
    source = copy_sources(tmp_path / 'source')
    output = tmp_path / 'wheels'
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-input', '-w', str(output),
         str(source)], cwd=tmp_path)
    wheels = list(output.glob('psij-*.whl'))
    assert len(wheels) == 1, f'pip wheel made {list(output.iterdir())}'
    with zipfile.ZipFile(wheels[0]) as archive:
        assert set(archive.namelist()) == wheel_names


# --- the installed wheel -----------------------------------------------------------------

INSTALLED_CHECK_SCRIPT = '''
    import json
    import os
    import pathlib
    import sys

    arguments = json.loads(sys.argv[1])
    venv = pathlib.Path(arguments['venv']).resolve()
    scratch = pathlib.Path(arguments['scratch'])
    report = {}

    import psij
    import psij.executors
    import psij.launchers
    from psij import (Job, JobExecutor, JobExecutorConfig, JobSpec, JobState, Launcher,
                      ResourceSpecV1)
    from psij.job_executor import executors
    from psij.launcher import launchers

    report['version'] = psij.__version__
    report['outside_venv'] = [
        module.__file__ for module in (psij, psij.executors, psij.launchers)
        if not pathlib.Path(module.__file__).resolve().is_relative_to(venv)]
    report['sys_path_has_repo'] = any(
        entry and pathlib.Path(entry).resolve() == pathlib.Path(arguments['repo']).resolve()
        for entry in sys.path)

    site_packages = pathlib.Path(psij.__file__).resolve().parent.parent
    report['data_files'] = {
        relative: {'exists': (site_packages / relative).is_file(),
                   'executable': os.access(site_packages / relative, os.X_OK)}
        for relative in arguments['data_files']}

    executor_classes, executor_failures = executors.load_all()
    launcher_classes, launcher_failures = launchers.load_all()
    report['executors'] = sorted(executor_classes)
    report['launchers'] = sorted(launcher_classes)
    report['failures'] = {name: str(error) for name, error in
                          {**executor_failures, **launcher_failures}.items()}
    report['plugin_files_outside_venv'] = [
        sys.modules[cls.__module__].__file__
        for cls in [*executor_classes.values(), *launcher_classes.values()]
        if not pathlib.Path(sys.modules[cls.__module__].__file__).resolve().is_relative_to(venv)]

    config = JobExecutorConfig(work_directory=scratch / 'work')

    def run_job(label, executor_name='local', **spec_arguments):
        # Each job reports its own error, so that one broken part fails one test only.
        output = scratch / f'{label}.out'
        errors = scratch / f'{label}.err'
        try:
            if executor_name == 'slurm':
                from psij.batch import BatchSchedulerExecutorConfig
                executor = JobExecutor.get_instance('slurm', config=BatchSchedulerExecutorConfig(
                    work_directory=scratch / 'work'))
            else:
                executor = JobExecutor.get_instance(executor_name, config=config)
            job = Job(JobSpec(stdout_path=output, stderr_path=errors, **spec_arguments))
            executor.submit(job)
            status = job.wait(timeout=60)
        except Exception as error:
            return {'error': f'{type(error).__name__}: {error}'}
        return {
            'error': None,
            'state': None if status is None else status.state.name,
            'exit_code': None if status is None else status.exit_code,
            'message': None if status is None else status.message,
            'stdout': output.read_text() if output.exists() else None,
            'stderr': errors.read_text() if errors.exists() else None,
        }

    report['single'] = run_job('single', executable='/bin/echo',
                               arguments=[arguments['greeting']])
    report['multiple'] = run_job('multiple', executable='/bin/echo',
                                 arguments=[arguments['greeting']], launcher='multiple',
                                 resources=ResourceSpecV1(process_count=2))
    report['failing'] = run_job('failing', executable='/bin/sh', arguments=['-c', 'exit 3'])
    if arguments['slurm']:  # templates and launcher scripts from the wheel, real sbatch
        report['slurm'] = run_job('slurm', executor_name='slurm', executable='/bin/echo',
                                  arguments=[arguments['greeting']], launcher='srun',
                                  resources=ResourceSpecV1(process_count=2))
    print(json.dumps(report))
'''


def slurm_answers() -> bool:
    """True if a Slurm controller answers here."""
    try:
        return subprocess.run(['sinfo'], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope='module')
def installed(built: Dict[str, pathlib.Path],
              tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """The report of the check script, run in a new venv holding only the wheel and its
    dependencies (fetched by pip from the configured index)."""
    root = tmp_path_factory.mktemp('installed')
    venv = root / 'venv'
    started = time.monotonic()
    run([sys.executable, '-m', 'venv', str(venv)], cwd=root)
    python = venv / 'bin' / 'python'
    run([str(python), '-m', 'pip', 'install', '--no-input', str(built['wheel'])], cwd=root)
    print(f'venv and install took {time.monotonic() - started:.1f} s')

    scratch = root / 'scratch'
    scratch.mkdir()
    arguments = {
        'venv': str(venv),
        'repo': str(REPO),
        'scratch': str(scratch),
        'data_files': sorted(data_files()),
        'greeting': f'hello from the wheel {os.getpid()}',
        'slurm': slurm_answers(),
    }
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('PYTHON') and key not in ('VIRTUAL_ENV', '__PYVENV_LAUNCHER__')}
    result = run([str(python), '-I', '-c', textwrap.dedent(INSTALLED_CHECK_SCRIPT),
                  json.dumps(arguments)], cwd=scratch, env=env)
    report: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    report['arguments'] = arguments
    return report


def test_installed_psij_comes_from_the_venv(installed: Dict[str, Any]) -> None:
    assert installed['outside_venv'] == []
    assert installed['plugin_files_outside_venv'] == []
    assert not installed['sys_path_has_repo']
    assert installed['version'] == load_pyproject()['project']['version']


def test_installed_data_files(installed: Dict[str, Any]) -> None:
    expected = data_files()
    assert 'psij/py.typed' in expected
    assert set(installed['data_files']) == set(expected)
    for relative, repo_executable in expected.items():
        found = installed['data_files'][relative]
        assert found['exists'], f'{relative} was not installed'
        if repo_executable:
            assert found['executable'], f'{relative} lost its executable bit'


def test_installed_plugins_all_load(installed: Dict[str, Any]) -> None:
    declared = load_pyproject()['project']['entry-points']
    assert installed['failures'] == {}
    assert set(declared['psij.executors']) <= set(installed['executors'])
    assert set(declared['psij.launchers']) <= set(installed['launchers'])


def test_installed_local_executor_runs_a_job(installed: Dict[str, Any]) -> None:
    job = installed['single']
    assert job['error'] is None
    assert job['state'] == 'COMPLETED', job
    assert job['exit_code'] == 0
    assert job['stdout'] == installed['arguments']['greeting'] + '\n'


def test_installed_multiple_launcher_runs_two_processes(installed: Dict[str, Any]) -> None:
    job = installed['multiple']
    assert job['error'] is None
    assert job['state'] == 'COMPLETED', job
    assert job['stdout'] is not None
    assert job['stdout'].splitlines() == [installed['arguments']['greeting']] * 2


def test_installed_local_executor_reports_a_failure(installed: Dict[str, Any]) -> None:
    job = installed['failing']
    assert job['error'] is None
    assert job['state'] == 'FAILED', job
    assert job['exit_code'] == 3


def test_installed_slurm_executor_runs_a_job(installed: Dict[str, Any]) -> None:
    require_slurm()
    job = installed.get('slurm')
    assert job is not None, 'Slurm answered the test but not the install check'
    assert job['error'] is None, job
    assert (job['state'], job['exit_code']) == ('COMPLETED', 0), job
    assert job['stdout'] == (installed['arguments']['greeting'] + '\n') * 2
