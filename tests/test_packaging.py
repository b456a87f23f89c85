"""Packaging: the distribution built from this repository installs and works on its own.

The repository is copied (without .git, virtual environments and caches) and built with
``python -m build``: an sdist first, then the wheel from that sdist, as an installer would.
The wheel is installed into a new virtual environment, and a script run there, from a
directory outside the repository with PYTHONPATH unset and ``python -I``, checks that psij
comes from that environment, that its data files are there, that every plugin loads, and that
the local executor runs real jobs.

Two more venvs get the same wheel:

* one with its docs extra (``pip install 'psij-...whl[docs]'``, not editable), where the
  documented ``sphinx-build -W --keep-going -b html docs OUT`` and ``python -m sphinx`` (which
  puts the checkout's root, with its executor-less psij/, first on sys.path) must build the
  docs without a warning, the plugins' API pages included;
* one of the oldest Python that ``requires-python`` admits (3.9; `oldest_python` finds it),
  where every module must import, every plugin load, every batch executor render a job script,
  ``psij --help`` and ``psij run`` work and the conformance suite pass on the local executor
  (with the ``single`` and the ``multiple`` launcher). Static checks are not enough:
  ``importlib.metadata.entry_points(group=...)`` passed vermin and failed on a real 3.9. With
  no such Python on the machine these tests fail under ``CI=true`` and skip elsewhere.

The whole module is marked ``slow`` (about a minute: two builds, four venvs; one wheel serves
them all); deselect it with ``-m 'not slow'``. Under CI nothing in it skips.
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

import oldest_python
import pytest
import tomllib
from psij.conformance import capability_ids
from real_tools import IN_CI, require_slurm

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


def isolated_environment(**overrides: str) -> Dict[str, str]:
    """This process's environment without what would make a Python find other modules than
    those of its own venv (PYTHONPATH and the like, an active virtualenv), plus ``overrides``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('PYTHON') and key not in ('VIRTUAL_ENV', '__PYVENV_LAUNCHER__')}
    env.update(overrides)
    return env


def new_venv(python: pathlib.Path, venv: pathlib.Path, *requirements: str) -> pathlib.Path:
    """A new virtual environment made by ``python``, holding ``requirements`` and their
    dependencies (fetched by pip from the configured index)."""
    started = time.monotonic()
    run([str(python), '-m', 'venv', str(venv)], cwd=venv.parent, env=isolated_environment())
    run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '--no-input', *requirements],
        cwd=venv.parent, env=isolated_environment())
    print(f'venv of {python} and install of {" ".join(requirements)} took '
          f'{time.monotonic() - started:.1f} s')
    return venv


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
    venv = new_venv(pathlib.Path(sys.executable), root / 'venv', str(built['wheel']))
    python = venv / 'bin' / 'python'

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
    result = run([str(python), '-I', '-c', textwrap.dedent(INSTALLED_CHECK_SCRIPT),
                  json.dumps(arguments)], cwd=scratch, env=isolated_environment())
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


# --- the documentation, from a plain install --------------------------------------------

@pytest.fixture(scope='module')
def docs_venv(built: Dict[str, pathlib.Path],
              tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A new venv holding the wheel with its docs extra, as ``pip install '.[docs]'`` (not
    editable) would make it."""
    root = tmp_path_factory.mktemp('docs')
    return new_venv(pathlib.Path(sys.executable), root / 'venv', f'{built["wheel"]}[docs]')


# The documented command, and `python -m sphinx`, which puts the checkout's root first on
# sys.path: there the folder psij/ (which has no executors/) shadows the installed package
# unless docs/conf.py keeps it out.
SPHINX_COMMANDS = {
    'sphinx-build': ['bin/sphinx-build'],
    'python -m sphinx': ['bin/python', '-m', 'sphinx'],
}


@pytest.mark.parametrize('command', sorted(SPHINX_COMMANDS))
def test_docs_build_from_a_plain_install(command: str, docs_venv: pathlib.Path,
                                         tmp_path: pathlib.Path) -> None:
    output = tmp_path / 'html'
    argv = [str(docs_venv / SPHINX_COMMANDS[command][0]), *SPHINX_COMMANDS[command][1:],
            '-W', '--keep-going', '-b', 'html', 'docs', str(output)]
    result = subprocess.run(argv, cwd=REPO, env=isolated_environment(), capture_output=True,
                            text=True, timeout=COMMAND_TIMEOUT)
    problems = [line for line in result.stderr.splitlines()
                if 'WARNING' in line or 'ERROR' in line]
    assert result.returncode == 0 and not problems, (
        f'{command} exited with {result.returncode}:\n{result.stderr[-5000:]}')
    # autodoc found the plugins, which exist only in the installed package.
    for page, name in (('executors/local.html', 'psij.executors.local.LocalJobExecutor'),
                       ('executors/slurm.html', 'psij.executors.slurm.SlurmJobExecutor')):
        assert f'id="{name}"' in (output / page).read_text(), f'{name} is not in {page}'
    assert (output / '_modules' / 'psij' / 'executors' / 'local.html').is_file()


# --- the oldest Python that requires-python admits --------------------------------------

OLDEST_PYTHON_CHECK_SCRIPT = '''
    import importlib
    import json
    import pkgutil
    import sys
    import traceback

    arguments = json.loads(sys.argv[1])
    report = {'version': list(sys.version_info[:2]), 'imported': ['psij'],
              'import_failures': {}}

    import psij
    from psij import Job, JobExecutor, JobSpec
    from psij.job_executor import executors
    from psij.launcher import launchers

    def walk_error(name):
        report['import_failures'].setdefault(name, traceback.format_exc())

    # Every module of the wheel (a package is imported before its modules are listed).
    for module in pkgutil.walk_packages(psij.__path__, 'psij.', onerror=walk_error):
        if module.name.rsplit('.', 1)[-1] == '__main__':
            continue  # importing it runs its command
        try:
            importlib.import_module(module.name)
        except Exception:
            report['import_failures'].setdefault(module.name, traceback.format_exc())
        else:
            report['imported'].append(module.name)

    # The entry points, read the way Python 3.9's importlib.metadata allows.
    executor_classes, executor_failures = executors.load_all()
    launcher_classes, launcher_failures = launchers.load_all()
    report['executors'] = sorted(executor_classes)
    report['launchers'] = sorted(launcher_classes)
    report['plugin_failures'] = {name: str(error) for name, error in
                                 {**executor_failures, **launcher_failures}.items()}

    # Job scripts rendered from the templates in the wheel (no scheduler needed).
    report['scripts'] = {}
    for name in arguments['batch_executors']:
        try:
            script = JobExecutor.get_instance(name).generate_script(Job(JobSpec('/bin/true')))
        except Exception:
            script = 'ERROR ' + traceback.format_exc()
        report['scripts'][name] = script
    print(json.dumps(report))
'''

# Each batch executor of the wheel and the prefix of its script's directives.
BATCH_DIRECTIVES = {'slurm': '#SBATCH ', 'sge': '#$ ', 'pbs': '#PBS ', 'torque': '#PBS ',
                    'lsf': '#BSUB '}

# Both launchers the local executor's suite exercises differently: `single` execs the job,
# `multiple` goes through the launcher shell scripts.
CONFORMANCE_TARGETS = ('local', 'local:multiple')


@pytest.fixture(scope='module')
def oldest_interpreter() -> pathlib.Path:
    """An interpreter of the oldest Python that requires-python admits; fail under CI, skip
    elsewhere, if this machine has none (`python tests/oldest_python.py` says where it looks)."""
    version = oldest_python.claimed_minimum()
    path = oldest_python.find_interpreter(version)
    if path is None:
        message = (f'no Python {version[0]}.{version[1]} here (pyproject.toml claims it): '
                   f'see tests/oldest_python.py for where it is looked for')
        if IN_CI:
            pytest.fail(message + '; under CI=true a missing real tool is a failure')
        pytest.skip(message)
    return path


def expected_modules() -> Set[str]:
    """The module names of every Python file the wheel holds, but ``__main__`` modules."""
    modules = set()
    for path in expected_package_files():
        if path.endswith('.py'):
            name = path[:-len('.py')].replace('/', '.')
            name = name[:-len('.__init__')] if name.endswith('.__init__') else name
            if not name.endswith('__main__'):
                modules.add(name)
    return modules


@pytest.fixture(scope='module')
def oldest_python_run(oldest_interpreter: pathlib.Path, built: Dict[str, pathlib.Path],
                      tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Real work done by the wheel installed into a new venv of the oldest Python it claims:
    the check script's report, and the results of ``psij --help``, ``psij run`` and the
    conformance suite on the local executor, all run with ``-I`` (or the venv's own scripts)
    outside the repository, with a private HOME."""
    root = tmp_path_factory.mktemp('oldest-python')
    venv = new_venv(oldest_interpreter, root / 'venv', str(built['wheel']))
    python, scripts = venv / 'bin' / 'python', venv / 'bin'
    scratch = root / 'scratch'
    (scratch / 'home').mkdir(parents=True)
    env = isolated_environment(HOME=str(scratch / 'home'))
    started = time.monotonic()

    # The suite runs take about 13 s each, mostly waiting: run them side by side.
    suites = {}
    for target in CONFORMANCE_TARGETS:
        label = target.replace(':', '-')
        argv = [str(python), '-I', '-m', 'psij.conformance', target, '--many', '50',
                '--report', str(scratch / f'{label}.json'), '--scratch', str(scratch / label)]
        suites[target] = subprocess.Popen(argv, cwd=scratch, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True)
    try:
        check = run([str(python), '-I', '-c', textwrap.dedent(OLDEST_PYTHON_CHECK_SCRIPT),
                     json.dumps({'batch_executors': sorted(BATCH_DIRECTIVES)})],
                    cwd=scratch, env=env)
        report: Dict[str, Any] = json.loads(check.stdout.strip().splitlines()[-1])
        report['help'] = subprocess.run([str(scripts / 'psij'), '--help'], cwd=scratch,
                                        env=env, capture_output=True, text=True, timeout=60)
        report['run'] = subprocess.run(
            [str(scripts / 'psij'), 'run', '--stdout', 'run.out', '--', '/bin/echo', 'hello'],
            cwd=scratch, env=env, capture_output=True, text=True, timeout=120)
        report['run_output'] = (scratch / 'run.out').read_text() \
            if (scratch / 'run.out').exists() else None
        report['conformance'] = {}
        for target, process in suites.items():
            text, _ = process.communicate(timeout=COMMAND_TIMEOUT)
            path = scratch / f'{target.replace(":", "-")}.json'
            report['conformance'][target] = {
                'returncode': process.returncode, 'output': text,
                'report': json.loads(path.read_text()) if path.exists() else None}
    finally:
        for process in suites.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    print(f'the work on {oldest_interpreter} took {time.monotonic() - started:.1f} s')
    return report


def test_oldest_python_is_the_one_claimed(oldest_python_run: Dict[str, Any]) -> None:
    assert tuple(oldest_python_run['version']) == oldest_python.claimed_minimum()


def test_oldest_python_imports_every_module(oldest_python_run: Dict[str, Any]) -> None:
    assert oldest_python_run['import_failures'] == {}, \
        '\n'.join(oldest_python_run['import_failures'].values())
    assert set(oldest_python_run['imported']) == expected_modules()
    assert {'psij.executors.slurm', 'psij.launchers.mpirun', 'psij.cli.app',
            'psij.conformance.checks.environment'} <= set(oldest_python_run['imported'])


def test_oldest_python_loads_every_plugin(oldest_python_run: Dict[str, Any]) -> None:
    declared = load_pyproject()['project']['entry-points']
    assert oldest_python_run['plugin_failures'] == {}
    assert set(declared['psij.executors']) <= set(oldest_python_run['executors'])
    assert set(declared['psij.launchers']) <= set(oldest_python_run['launchers'])


@pytest.mark.parametrize('executor', sorted(BATCH_DIRECTIVES))
def test_oldest_python_renders_job_scripts(executor: str,
                                           oldest_python_run: Dict[str, Any]) -> None:
    script: str = oldest_python_run['scripts'][executor]
    assert not script.startswith('ERROR'), script
    assert script.startswith('#!/bin/bash\n'), script[:200]
    assert any(line.startswith(BATCH_DIRECTIVES[executor]) for line in script.splitlines()), \
        script[:2000]
    assert '/bin/true' in script


def test_oldest_python_runs_the_command_line(oldest_python_run: Dict[str, Any]) -> None:
    help_result = oldest_python_run['help']
    assert help_result.returncode == 0, help_result.stderr
    assert help_result.stdout.startswith('usage: psij')
    run_result = oldest_python_run['run']
    assert run_result.returncode == 0, run_result.stderr
    assert oldest_python_run['run_output'] == 'hello\n'


@pytest.mark.parametrize('target', CONFORMANCE_TARGETS)
def test_oldest_python_passes_the_local_conformance_suite(
        target: str, oldest_python_run: Dict[str, Any]) -> None:
    result = oldest_python_run['conformance'][target]
    assert result['returncode'] == 0, result['output'][-5000:]
    report = result['report']
    assert report is not None, result['output'][-5000:]
    major, minor = oldest_python.claimed_minimum()
    assert report['versions']['python'].startswith(f'{major}.{minor}.')
    outcomes = {item['id']: item['result'] for item in report['capabilities']}
    assert list(outcomes) == capability_ids(), 'the suite did not run every capability'
    assert set(outcomes.values()) <= {'passed', 'not_applicable'}, outcomes
    for capability in ('submit-complete', 'cancel-running', 'attach-running', 'many-jobs'):
        assert outcomes[capability] == 'passed', (capability, outcomes)
