"""The plugin registry: how executors and launchers are found, loaded, aliased and checked.

Tests that need a pristine interpreter (nothing imported yet) or extra installed
distributions run a short script in a fresh ``python`` subprocess and read back one JSON
line. The third-party plugins live in ``tests/plugin_fixtures/site``: a directory that, put
on PYTHONPATH, looks to ``importlib.metadata`` like an installed distribution called
``fakeplugins`` (see ``fakeplugins-1.0.dist-info/entry_points.txt`` there). The plugins
declared as psij-python declares them, by descriptors, live in
``tests/plugin_fixtures/descriptors`` (its ``psij-descriptors`` directory).
"""

import itertools
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from typing import Any, Dict, List, Optional, Tuple

import pytest
import tomllib
from hypothesis import example, given
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from psij import JobExecutor, JobExecutorConfig, Launcher
from psij.job_executor import executors
from psij.launcher import launchers
from psij.plugins import PluginLoadError, PluginRegistry, parse_version, version_matches

REPO = pathlib.Path(__file__).resolve().parent.parent
FAKE_SITE = pathlib.Path(__file__).resolve().parent / 'plugin_fixtures' / 'site'
DESCRIPTOR_SITE = pathlib.Path(__file__).resolve().parent / 'plugin_fixtures' / 'descriptors'

# The plugins this repository itself ships (the brief of the registry; pyproject.toml must
# declare at least these).
OUR_EXECUTORS = {'local'}
OUR_LAUNCHERS = {'single', 'multiple', 'mpirun', 'srun', 'aprun', 'jsrun'}

# What the fake distribution declares (kept in step with its entry_points.txt, which
# test_fake_distribution_declares_what_the_tests_expect reads).
FAKE_EXECUTORS = {'fake', 'fake_alias', 'broken'}
FAKE_LAUNCHERS = {'fake_launcher'}


def run_fresh_python(code: str, cwd: pathlib.Path,
                     extra_path: Optional[pathlib.Path] = None) -> Dict[str, Any]:
    """Run ``code`` in a new interpreter and return the JSON object on its last stdout line.

    The working directory is ``cwd`` (not the repository, so only the installed psij is
    importable) and ``extra_path``, if given, is put first on PYTHONPATH.
    """
    env = dict(os.environ)
    if extra_path is not None:
        env['PYTHONPATH'] = os.pathsep.join(
            [str(extra_path)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f'subprocess failed with exit code {result.returncode}\n'
        f'--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}')
    lines = result.stdout.strip().splitlines()
    assert lines, f'subprocess printed nothing; stderr:\n{result.stderr}'
    decoded: Dict[str, Any] = json.loads(lines[-1])
    return decoded


@pytest.fixture
def config(work_dir: pathlib.Path) -> JobExecutorConfig:
    """Keeps executors made by these tests out of ~/.psij."""
    return JobExecutorConfig(work_directory=work_dir)


# --- (a) importing psij has no side effects ---------------------------------------------

IMPORT_SIDE_EFFECTS_SCRIPT = '''
    import importlib.metadata as metadata
    import json
    import os
    import signal
    import sys
    import threading

    # Record every entry-point / distribution scan made from now on: the function, the
    # group or name asked for, and the module that called it.
    scans = []

    def spy(function_name):
        original = getattr(metadata, function_name)

        def wrapper(*args, **kwargs):
            caller = sys._getframe(1).f_globals.get('__name__', '?')
            asked = kwargs.get('group', kwargs.get('name', args[0] if args else None))
            scans.append([function_name, asked, caller])
            return original(*args, **kwargs)

        setattr(metadata, function_name, wrapper)

    for function_name in ('entry_points', 'distributions', 'distribution'):
        spy(function_name)

    def native_threads():
        try:
            return sorted(os.listdir('/proc/self/task'))
        except FileNotFoundError:  # not Linux: rely on the threading module alone
            return []

    def signal_name(number):
        try:
            return signal.Signals(number).name
        except ValueError:  # real-time signals have no name
            return f'signal {int(number)}'

    catchable = [number for number in signal.valid_signals()
                 if number not in (signal.SIGKILL, signal.SIGSTOP)]
    handlers_before = {number: signal.getsignal(number) for number in catchable}
    threads_before = {thread.ident for thread in threading.enumerate()}
    native_before = native_threads()
    modules_before = set(sys.modules)

    import psij  # noqa: E402  (the import under test)

    handlers_after = {number: signal.getsignal(number) for number in catchable}
    from psij.job_executor import executors
    from psij.launcher import launchers

    new_modules = sorted(set(sys.modules) - modules_before)
    print(json.dumps({
        'psij_file': psij.__file__,
        'imported_psij': 'psij' in new_modules,
        'plugin_modules': [name for name in new_modules
                           if name.startswith(('psij.executors.', 'psij.launchers.'))],
        'active_count': threading.active_count(),
        'new_threads': [thread.name for thread in threading.enumerate()
                        if thread.ident not in threads_before],
        'native_threads_before': native_before,
        'native_threads_after': native_threads(),
        'changed_signals': sorted(signal_name(number) for number in catchable
                                  if handlers_after[number] is not handlers_before[number]),
        'checked_signals': sorted(signal_name(number) for number in catchable),
        'executor_entry_points_scanned': executors._entry_points is not None,
        'launcher_entry_points_scanned': launchers._entry_points is not None,
        'scans': scans,
    }))
'''


@pytest.fixture(scope='module')
def import_side_effects(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """What a bare ``import psij`` did in a fresh interpreter."""
    return run_fresh_python(IMPORT_SIDE_EFFECTS_SCRIPT, tmp_path_factory.mktemp('fresh'))


def test_fresh_import_really_imported_psij(import_side_effects: Dict[str, Any]) -> None:
    # Guards the other checks: they mean nothing if psij was already imported at startup.
    assert import_side_effects['imported_psij']
    assert pathlib.Path(import_side_effects['psij_file']).name == '__init__.py'


def test_import_loads_no_plugin(import_side_effects: Dict[str, Any]) -> None:
    assert import_side_effects['plugin_modules'] == []


def test_import_starts_no_thread(import_side_effects: Dict[str, Any]) -> None:
    assert import_side_effects['active_count'] == 1
    assert import_side_effects['new_threads'] == []
    assert import_side_effects['native_threads_after'] == \
        import_side_effects['native_threads_before']


def test_import_installs_no_signal_handler(import_side_effects: Dict[str, Any]) -> None:
    checked = set(import_side_effects['checked_signals'])
    assert {'SIGCHLD', 'SIGINT', 'SIGTERM', 'SIGHUP'} <= checked
    assert import_side_effects['changed_signals'] == []


def test_import_scans_no_entry_points(import_side_effects: Dict[str, Any]) -> None:
    assert not import_side_effects['executor_entry_points_scanned']
    assert not import_side_effects['launcher_entry_points_scanned']
    # Dependencies may scan their own groups (typeguard does, through entry_points, which
    # calls distributions); psij itself must scan nothing, and nobody may scan our groups.
    scans = import_side_effects['scans']
    assert [scan for scan in scans if str(scan[1]).startswith('psij')] == []
    assert [scan for scan in scans if str(scan[2]).startswith('psij')] == []


# --- (b) our own plugins are listed ------------------------------------------------------

def declared_entry_points() -> Dict[str, Dict[str, str]]:
    """The entry points pyproject.toml declares, by group."""
    with open(REPO / 'pyproject.toml', 'rb') as stream:
        project = tomllib.load(stream)['project']
    groups: Dict[str, Dict[str, str]] = project.get('entry-points', {})
    return groups


def test_pyproject_declares_our_plugins() -> None:
    declared = declared_entry_points()
    assert OUR_EXECUTORS <= set(declared.get('psij.executors', {}))
    assert OUR_LAUNCHERS <= set(declared.get('psij.launchers', {}))


def test_executor_names_include_local() -> None:
    names = JobExecutor.get_executor_names()
    assert OUR_EXECUTORS <= names
    assert set(declared_entry_points()['psij.executors']) <= names


def test_launcher_names_include_ours() -> None:
    names = Launcher.get_launcher_names()
    assert OUR_LAUNCHERS <= names
    assert set(declared_entry_points()['psij.launchers']) <= names


@pytest.mark.parametrize('registry', [executors, launchers], ids=['executors', 'launchers'])
def test_every_declared_plugin_loads(registry: 'PluginRegistry[Any]') -> None:
    declared = declared_entry_points()[registry.group]
    loaded, failed = registry.load_all()
    assert failed == {}
    assert set(declared) <= set(loaded)
    for name, target in declared.items():
        module_name, _, class_name = target.partition(':')
        cls = loaded[name]
        assert (cls.__module__, cls.__qualname__) == (module_name, class_name)


def test_our_plugins_name_themselves_after_their_entry_point() -> None:
    for name in OUR_EXECUTORS:
        assert executors.load(name).name == name
    for name in OUR_LAUNCHERS:
        assert launchers.load(name).name == name


# --- (c) unknown names -------------------------------------------------------------------

def test_unknown_executor_lists_known_names() -> None:
    with pytest.raises(ValueError) as caught:
        JobExecutor.get_instance('no-such-executor')
    message = str(caught.value)
    assert 'no-such-executor' in message
    known = JobExecutor.get_executor_names()
    assert known, 'no executor is installed at all'
    for name in known:
        assert name in message


def test_unknown_launcher_lists_known_names() -> None:
    with pytest.raises(ValueError) as caught:
        Launcher.get_instance('no-such-launcher')
    message = str(caught.value)
    assert 'no-such-launcher' in message
    for name in Launcher.get_launcher_names():
        assert name in message


def test_a_name_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match='str'):
        JobExecutor.get_instance(42)  # type: ignore[arg-type]


# --- (d) version constraints -------------------------------------------------------------

def test_local_satisfies_a_lower_bound(config: JobExecutorConfig) -> None:
    executor = JobExecutor.get_instance('local', version_constraint='>=0.1', config=config)
    assert isinstance(executor, executors.load('local'))


def test_local_satisfies_its_own_version_exactly(config: JobExecutorConfig) -> None:
    version = executors.load('local').version
    assert JobExecutor.get_instance('local', version_constraint=f'=={version}', config=config)
    assert JobExecutor.get_instance('local', version_constraint=f'>={version}, <{version}.1',
                                    config=config)


def test_local_rejects_an_unsatisfied_constraint_clearly(config: JobExecutorConfig) -> None:
    version = executors.load('local').version
    with pytest.raises(ValueError) as caught:
        JobExecutor.get_instance('local', version_constraint='<0.0.1', config=config)
    message = str(caught.value)
    assert "'local'" in message
    assert version in message
    assert '<0.0.1' in message
    with pytest.raises(ValueError, match='satisfy'):
        JobExecutor.get_instance('local', version_constraint=f'!={version}', config=config)


def test_launcher_version_constraint_is_checked() -> None:
    version = launchers.load('single').version
    assert Launcher.get_instance('single', version_constraint=f'=={version}')
    with pytest.raises(ValueError, match='satisfy'):
        Launcher.get_instance('single', version_constraint=f'>{version}')


def test_a_malformed_constraint_is_reported_not_ignored(config: JobExecutorConfig) -> None:
    with pytest.raises(ValueError, match='about 1'):
        JobExecutor.get_instance('local', version_constraint='about 1', config=config)


@pytest.mark.parametrize('version, constraint, expected', [
    ('1.2.3', None, True),
    ('1.2.3', '', True),
    ('1.2.3', '   ', True),
    ('1.2.3', '1.2.3', True),
    ('1.2.3', '1.2.4', False),
    ('1.0', '==1', True),
    ('1', '==1.0.0', True),
    ('1.0.1', '==1', False),
    ('1.0', '!=1.0.0', False),
    ('1.0.1', '!=1', True),
    ('2.0', '>=2', True),
    ('1.9.9', '>=2', False),
    ('2.0', '>2', False),
    ('2.0.1', '>2', True),
    ('2.0', '<=2.0.0', True),
    ('2.0.1', '<=2', False),
    ('1.99', '<2', True),
    ('2', '<2', False),
    ('1.4', '~=1.4', True),
    ('1.9.7', '~=1.4', True),
    ('1.3.9', '~=1.4', False),
    ('2.0', '~=1.4', False),
    ('1.4.5', '~=1.4.2', True),
    ('1.4.1', '~=1.4.2', False),
    ('1.5.0', '~=1.4.2', False),
    ('1.5', '>=1.0, <2', True),
    ('2.5', '>=1.0, <2', False),
    ('0.5', '>=1.0, <2', False),
    ('1.5', ' >= 1.0 ,< 2 ', True),
    ('1.5', '>=1.0, !=1.5', False),
])
def test_version_matches(version: str, constraint: Optional[str], expected: bool) -> None:
    assert version_matches(version, constraint) is expected


@pytest.mark.parametrize('constraint, offending_clause', [
    ('=>1.0', '=>1.0'),
    ('~1', '~1'),
    ('>= one', '>= one'),
    ('1.x', '1.x'),
    ('==', '=='),
    ('v1', 'v1'),
    ('>=1, <<2', '<<2'),
    ('>=1,', ''),
])
def test_version_matches_rejects_bad_clauses(constraint: str, offending_clause: str) -> None:
    with pytest.raises(ValueError) as caught:
        version_matches('1.0', constraint)
    message = str(caught.value)
    assert repr(offending_clause) in message
    for operator in ('==', '!=', '>=', '<=', '~='):
        assert operator in message


def test_version_matches_rejects_a_bad_version() -> None:
    with pytest.raises(ValueError, match='banana'):
        version_matches('banana', '>=1')


@pytest.mark.parametrize('text, expected', [
    ('0', (0,)),
    ('1.2.3', (1, 2, 3)),
    (' 10.20 ', (10, 20)),
    ('2.3.0', (2, 3, 0)),
])
def test_parse_version(text: str, expected: Tuple[int, ...]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize('text', ['', 'abc', 'v1.2', '.1', '-1'])
def test_parse_version_rejects_non_versions(text: str) -> None:
    with pytest.raises(ValueError, match='not a version'):
        parse_version(text)


OPERATORS = ['==', '!=', '>=', '<=', '>', '<', '~=']


def pep_440_matches(have: str, operator: str, wanted: str) -> bool:
    """The PEP 440 answer, from the ``packaging`` library, for plain release numbers."""
    return Version(have) in SpecifierSet(f'{operator}{wanted}')


def small_releases() -> List[str]:
    """Every release number of one to three parts, each part 0 to 2."""
    found: List[str] = []
    for length in (1, 2, 3):
        for parts in itertools.product(range(3), repeat=length):
            found.append('.'.join(str(part) for part in parts))
    return found


def test_version_matches_agrees_with_pep_440_on_small_releases() -> None:
    """Every operator against every pair of short releases, zero padding included."""
    disagreements = []
    for have in small_releases():
        for wanted in small_releases():
            for operator in OPERATORS:
                if operator == '~=' and '.' not in wanted:
                    continue  # PEP 440 forbids '~=1'
                expected = pep_440_matches(have, operator, wanted)
                if version_matches(have, f'{operator}{wanted}') is not expected:
                    disagreements.append(f'{have} {operator}{wanted}: PEP 440 says {expected}')
    assert disagreements == []


releases = st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=4).map(
    lambda parts: '.'.join(str(part) for part in parts))


@given(have=releases, wanted=releases, operator=st.sampled_from(OPERATORS))
@example(have='1', wanted='1.0.0', operator='~=')
def test_version_matches_agrees_with_pep_440(have: str, wanted: str, operator: str) -> None:
    """For plain release numbers our clauses mean what PEP 440 says they mean."""
    if operator == '~=' and '.' not in wanted:
        wanted += '.0'  # PEP 440 forbids '~=1'; compare with the two-part form
    expected = pep_440_matches(have, operator, wanted)
    assert version_matches(have, f'{operator}{wanted}') is expected


@given(have=releases, low=releases, high=releases)
def test_clauses_combine_with_and(have: str, low: str, high: str) -> None:
    combined = version_matches(have, f'>={low}, <{high}')
    assert combined is (version_matches(have, f'>={low}') and version_matches(have, f'<{high}'))


# --- (e) each plugin is imported once ----------------------------------------------------

def test_two_instances_share_one_class(config: JobExecutorConfig) -> None:
    first = JobExecutor.get_instance('local', config=config)
    second = JobExecutor.get_instance('local', config=config)
    assert first is not second
    assert type(first) is type(second)
    assert type(first) is executors.load('local')
    assert sys.modules[type(first).__module__].__dict__[type(first).__name__] is type(first)


def test_two_launcher_instances_share_one_class() -> None:
    first = Launcher.get_instance('multiple')
    second = Launcher.get_instance('multiple')
    assert first is not second
    assert type(first) is type(second)


# --- (f) third-party plugins through entry points only -----------------------------------

def read_fake_entry_points() -> Dict[str, List[str]]:
    """Names per group declared by the fake distribution's entry_points.txt."""
    groups: Dict[str, List[str]] = {}
    current = ''
    text = (FAKE_SITE / 'fakeplugins-1.0.dist-info' / 'entry_points.txt').read_text()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('[') and line.endswith(']'):
            current = line[1:-1]
            groups[current] = []
        elif '=' in line:
            groups[current].append(line.split('=', 1)[0].strip())
    return groups


def test_fake_distribution_declares_what_the_tests_expect() -> None:
    declared = read_fake_entry_points()
    assert set(declared['psij.executors']) == FAKE_EXECUTORS
    assert set(declared['psij.launchers']) == FAKE_LAUNCHERS


def test_fake_plugins_are_not_visible_without_their_distribution() -> None:
    # Guards the tests below: the fake plugins come from PYTHONPATH, not from the test run.
    assert not FAKE_EXECUTORS & JobExecutor.get_executor_names()
    assert 'fake_executor' not in sys.modules


THIRD_PARTY_SCRIPT = '''
    import json
    import sys

    from psij import Job, JobExecutor, JobExecutorConfig, JobSpec, Launcher
    from psij.job_executor import executors
    from psij.launcher import launchers
    from psij.plugins import PluginLoadError

    report = {
        'executor_names': sorted(JobExecutor.get_executor_names()),
        'launcher_names': sorted(Launcher.get_launcher_names()),
        'loaded_before_use': 'fake_executor' in sys.modules,
        'aliases': executors.aliases('fake'),
    }

    fake = JobExecutor.get_instance('fake')
    alias = JobExecutor.get_instance('fake_alias')
    report['fake_class'] = type(fake).__module__ + ':' + type(fake).__qualname__
    report['alias_same_class'] = type(alias) is type(fake)
    report['alias_distinct_instance'] = alias is not fake
    report['fake_version'] = type(fake).version
    report['exact_version_ok'] = type(
        JobExecutor.get_instance('fake', version_constraint='==2.3')) is type(fake)
    try:
        JobExecutor.get_instance('fake_alias', version_constraint='>=3')
        report['too_new_error'] = None
    except ValueError as error:
        report['too_new_error'] = str(error)

    try:
        JobExecutor.get_instance('broken')
        report['broken_error'] = None
    except PluginLoadError as error:
        cause = error.__cause__
        report['broken_error'] = str(error)
        report['broken_is_import_error'] = isinstance(error, ImportError)
        report['broken_cause'] = None if cause is None else [type(cause).__name__, str(cause)]
    try:
        JobExecutor.get_instance('broken')
        report['broken_again'] = None
    except PluginLoadError as error:
        report['broken_again'] = str(error)

    # Everything else still works after the failure.
    local = JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory='work'))
    report['local_after_broken'] = type(local).__name__
    fake_after = JobExecutor.get_instance('fake')
    report['fake_after_broken_same_class'] = type(fake_after) is type(fake)
    launcher = Launcher.get_instance('fake_launcher', version_constraint='~=0.5')
    spec = JobSpec(executable='/bin/true', arguments=['x'])
    report['launch_command'] = launcher.get_launch_command(Job(spec))

    # A third-party executor is a full executor: it runs a job through the public API.
    # (It uses our 'single' launcher; a failure here is reported, not fatal to the rest.)
    job = Job(JobSpec(executable='/bin/true'))
    seen = []
    job.set_job_status_callback(lambda job, status: seen.append(status.state.name))
    try:
        fake_after.submit(job)
        final = job.wait(timeout=10)
        report['job_error'] = None
    except Exception as error:
        final = None
        report['job_error'] = f'{type(error).__name__}: {error}'
    report['job_final_state'] = None if final is None else final.state.name
    report['job_states'] = seen
    report['listed'] = fake_after.list() == [job.native_id]

    loaded, failed = executors.load_all()
    report['load_all_loaded'] = sorted(loaded)
    report['load_all_failed'] = {name: [type(error).__name__, str(error)]
                                 for name, error in failed.items()}
    report['load_all_alias_same'] = loaded['fake'] is loaded['fake_alias'] is type(fake)
    _, launcher_failures = launchers.load_all()
    report['launcher_failures'] = sorted(launcher_failures)
    print(json.dumps(report))
'''


@pytest.fixture(scope='module')
def third_party(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """What the registry did with the fake distribution installed."""
    return run_fresh_python(THIRD_PARTY_SCRIPT, tmp_path_factory.mktemp('third-party'),
                            extra_path=FAKE_SITE)


def test_third_party_names_are_listed(third_party: Dict[str, Any]) -> None:
    assert FAKE_EXECUTORS | OUR_EXECUTORS <= set(third_party['executor_names'])
    assert FAKE_LAUNCHERS | OUR_LAUNCHERS <= set(third_party['launcher_names'])
    assert not third_party['loaded_before_use']


def test_third_party_aliases_share_one_class(third_party: Dict[str, Any]) -> None:
    assert third_party['aliases'] == ['fake', 'fake_alias']
    assert third_party['fake_class'] == 'fake_executor:FakeExecutor'
    assert third_party['alias_same_class']
    assert third_party['alias_distinct_instance']
    assert third_party['load_all_alias_same']


def test_third_party_version_constraints(third_party: Dict[str, Any]) -> None:
    assert third_party['fake_version'] == '2.3'
    assert third_party['exact_version_ok']
    error = third_party['too_new_error']
    assert error is not None, 'fake 2.3 was accepted for >=3'
    assert '2.3' in error and '>=3' in error


def test_broken_plugin_raises_plugin_load_error(third_party: Dict[str, Any]) -> None:
    message = third_party['broken_error']
    assert message is not None, "get_instance('broken') did not raise"
    assert third_party['broken_is_import_error']
    assert "'broken'" in message
    assert 'broken_executor' in message
    cause_type, cause_text = third_party['broken_cause']
    assert cause_type == 'ModuleNotFoundError'
    assert 'frobnicate' in cause_text
    assert cause_text in message
    # A second attempt fails the same way (not, say, with a half-imported module).
    assert third_party['broken_again'] == message


def test_other_plugins_survive_a_broken_one(third_party: Dict[str, Any]) -> None:
    assert third_party['local_after_broken'] == executors.load('local').__name__
    assert third_party['fake_after_broken_same_class']
    assert third_party['launch_command'] == ['/bin/true', 'x']
    assert third_party['launcher_failures'] == []


def test_third_party_executor_runs_a_job(third_party: Dict[str, Any]) -> None:
    assert third_party['job_error'] is None
    assert third_party['job_final_state'] == 'COMPLETED'
    assert third_party['job_states'] == ['QUEUED', 'ACTIVE', 'COMPLETED']
    assert third_party['listed']


def test_load_all_reports_the_broken_plugin(third_party: Dict[str, Any]) -> None:
    assert set(third_party['load_all_failed']) == {'broken'}
    error_type, error_text = third_party['load_all_failed']['broken']
    assert error_type == 'PluginLoadError'
    assert 'frobnicate' in error_text
    # Ours, the fake distribution's, and any other plugin installed in this environment
    # (.ci/setup installs the example of tests/third_party_plugin).
    installed = {entry_point.name for entry_point in entry_points(group='psij.executors')}
    assert set(declared_entry_points()['psij.executors']) <= installed
    assert set(third_party['load_all_loaded']) == (FAKE_EXECUTORS - {'broken'}) | installed


def test_registry_of_an_empty_group_says_none_installed() -> None:
    registry: PluginRegistry[object] = PluginRegistry('psij.tests.no-such-group', 'gadget')
    assert registry.names() == set()
    with pytest.raises(ValueError, match=r"unknown gadget 'x'.*none installed"):
        registry.load('x')
    assert registry.load_all() == ({}, {})


def test_registered_plugin_needs_no_entry_point() -> None:
    registry: PluginRegistry[object] = PluginRegistry('psij.tests.no-such-group', 'gadget')

    class Gadget:
        pass

    registry.register('gadget', Gadget)
    assert registry.names() == {'gadget'}
    assert registry.load('gadget') is Gadget
    assert registry.load_all() == ({'gadget': Gadget}, {})


# --- (g) plugins declared by psij-python's descriptors ----------------------------------------

DESCRIPTORS_SCRIPT = '''
    import json
    import os
    import pathlib
    import sys

    # The same descriptor directory twice on sys.path (as "x" and "x/."): read once.
    site = os.environ['PYTHONPATH'].split(os.pathsep)[0]
    sys.path.append(os.path.join(site, '.'))

    import psij
    import psij.plugins
    from psij.job_executor import executors
    from psij.launcher import launchers

    report = {
        'reads_at_import': os.environ.get('PSIJ_TEST_DESCRIPTOR_READS'),
        'descriptor_module_at_import': 'psij.descriptor' in sys.modules,
        'scanned_at_import': psij.plugins._descriptor_modules is not None,
        'entry_points_at_import': [executors._entry_points is not None,
                                   launchers._entry_points is not None],
        'plugin_module_at_import': 'descriptor_plugins' in sys.modules,
    }
    from psij import Job, JobExecutor, JobSpec, Launcher
    from psij.plugins import PluginLoadError

    report['executor_names'] = sorted(JobExecutor.get_executor_names())
    report['launcher_names'] = sorted(Launcher.get_launcher_names())
    report['reads_after_listing'] = os.environ.get('PSIJ_TEST_DESCRIPTOR_READS')
    report['plugin_module_after_listing'] = 'descriptor_plugins' in sys.modules

    local = executors.load('local')
    report['local'] = [local.__module__, executors.descriptor('local') is None]

    executor = JobExecutor.get_instance('pp_local', version_constraint='>=1.2, <2')
    cls = type(executor)
    descriptor = executors.descriptor('pp_local')
    report['pp_local'] = {
        'class': cls.__module__ + ':' + cls.__qualname__, 'version': cls.version,
        'name': cls.name, 'is_local': isinstance(executor, local),
        'alias_same_class': executors.load('pp_local_alias') is cls,
        'aliases': executors.aliases('pp_local'),
        'entry_point': executors.entry_point('pp_local').value,
        'descriptor_file': pathlib.Path(descriptor.path).name,
        'descriptor_version_type': type(descriptor.version).__name__,
        'nice_name': descriptor.nice_name,
    }
    try:
        JobExecutor.get_instance('pp_local', version_constraint='>=2')
        report['too_new_error'] = None
    except ValueError as error:
        report['too_new_error'] = str(error)
    later = executors.load('pp_later')
    report['pp_later'] = [later.name, later.version]

    output = pathlib.Path('out.txt')
    job = Job(JobSpec('/bin/echo', ['from', 'descriptors'], stdout_path=output,
                      launcher='pp_direct'))
    executor.submit(job)
    status = job.wait(timeout=30)
    report['job'] = [None if status is None else status.state.name, output.read_text()]
    report['launcher_version'] = launchers.load('pp_direct').version

    try:
        JobExecutor.get_instance('pp_broken')
        report['broken'] = None
    except PluginLoadError as error:
        report['broken'] = {
            'message': str(error), 'is_value_error': isinstance(error, ValueError),
            'is_import_error': isinstance(error, ImportError),
            'cause': type(error.__cause__).__name__}

    loaded, failed = executors.load_all()
    report['load_all_loaded'] = sorted(loaded)
    report['load_all_failed'] = {pathlib.Path(key).name if '/' in key else key:
                                 [type(error).__name__, str(error)]
                                 for key, error in failed.items()}
    report['launcher_problems'] = sorted(pathlib.Path(key).name
                                         for key in launchers.problems())
    report['local_after_broken'] = type(JobExecutor.get_instance('local')).__name__
    report['reads_at_end'] = os.environ.get('PSIJ_TEST_DESCRIPTOR_READS')
    print(json.dumps(report))
'''


@pytest.fixture(scope='module')
def descriptors(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """What the registry did with the descriptor directory on PYTHONPATH."""
    return run_fresh_python(DESCRIPTORS_SCRIPT, tmp_path_factory.mktemp('descriptors'),
                            extra_path=DESCRIPTOR_SITE)


def test_import_reads_no_descriptor(descriptors: Dict[str, Any]) -> None:
    assert descriptors['reads_at_import'] is None
    assert not descriptors['descriptor_module_at_import']
    assert not descriptors['scanned_at_import']
    assert descriptors['entry_points_at_import'] == [False, False]
    assert not descriptors['plugin_module_at_import']


def test_listing_names_reads_each_descriptor_module_once(descriptors: Dict[str, Any]) -> None:
    assert {'pp_local', 'pp_local_alias', 'pp_later', 'pp_broken'} | OUR_EXECUTORS <= \
        set(descriptors['executor_names'])
    assert {'pp_direct'} | OUR_LAUNCHERS <= set(descriptors['launcher_names'])
    assert descriptors['reads_after_listing'] == '1'
    assert descriptors['reads_at_end'] == '1'
    # Listing imports no plugin module.
    assert not descriptors['plugin_module_after_listing']


def test_entry_point_wins_over_a_descriptor(descriptors: Dict[str, Any]) -> None:
    assert descriptors['local'] == ['psij.executors.local', True]


def test_descriptor_plugin_is_loaded_with_its_name_and_version(
        descriptors: Dict[str, Any]) -> None:
    assert descriptors['pp_local'] == {
        'class': 'descriptor_plugins:PsijPythonStyleExecutor', 'version': '1.2.3',
        'name': 'pp_local', 'is_local': True, 'alias_same_class': True,
        'aliases': ['pp_local', 'pp_local_alias'],
        'entry_point': 'descriptor_plugins:PsijPythonStyleExecutor',
        # The first descriptor of a name on sys.path wins (later_descriptors.py has one too).
        'descriptor_file': 'compat_descriptors.py',
        'descriptor_version_type': 'Version', 'nice_name': 'psij-python style local'}
    error = descriptors['too_new_error']
    assert error is not None and '1.2.3' in error and '>=2' in error
    # A class that declares its own name and version keeps them.
    assert descriptors['pp_later'] == ['versioned', '0.2']
    assert descriptors['launcher_version'] == '0.4'


def test_descriptor_plugins_run_a_job(descriptors: Dict[str, Any]) -> None:
    assert descriptors['job'] == ['COMPLETED', 'from descriptors\n']


def test_broken_descriptor_plugin_is_a_plugin_load_error(descriptors: Dict[str, Any]) -> None:
    broken = descriptors['broken']
    assert broken is not None, "get_instance('pp_broken') did not raise"
    assert broken['is_import_error'] and broken['is_value_error']
    assert broken['cause'] == 'ModuleNotFoundError'
    for part in ("'pp_broken'", 'descriptor_plugins_missing.Nope', 'compat_descriptors.py'):
        assert part in broken['message']


def test_broken_descriptor_modules_are_reported_and_others_survive(
        descriptors: Dict[str, Any]) -> None:
    failed = descriptors['load_all_failed']
    assert set(failed) == {'pp_broken', 'broken_descriptors.py', 'later_descriptors.py[1]'}
    assert failed['broken_descriptors.py'][0] == 'PluginLoadError'
    assert 'frobnicate' in failed['broken_descriptors.py'][1]
    assert 'must be a psij.descriptor.Descriptor, not str' in failed['later_descriptors.py[1]'][1]
    assert {'pp_local', 'pp_local_alias', 'pp_later', 'local'} <= \
        set(descriptors['load_all_loaded'])
    # A descriptor module that fails is reported by both registries (its lists are unknown).
    assert descriptors['launcher_problems'] == ['broken_descriptors.py']
    assert descriptors['local_after_broken'] == executors.load('local').__name__


def write_descriptor_module(directory: pathlib.Path, name: str, text: str) -> pathlib.Path:
    """``directory/psij-descriptors/name.py`` holding ``text``."""
    package = directory / 'psij-descriptors'
    package.mkdir(parents=True, exist_ok=True)
    path = package / f'{name}.py'
    path.write_text(textwrap.dedent(text))
    return path


def test_registry_with_a_descriptor_path_reads_it_lazily(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / 'gadget_plugins_for_test.py').write_text('class Gadget:\n    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    write_descriptor_module(tmp_path, 'gadgets', '''
        from psij.descriptor import Descriptor

        class FakeVersion:
            """Neither str nor packaging's Version: anything whose str() is a version."""

            def __str__(self):
                return '3.1'

        __PSI_J_GADGETS__ = [Descriptor(name='gadget', version=FakeVersion(),
                                        cls='gadget_plugins_for_test.Gadget', aliases=['g'])]
    ''')
    registry: PluginRegistry[Any] = PluginRegistry('psij.tests.no-such-group', 'gadget',
                                                   descriptor_path=[str(tmp_path)])
    assert registry.descriptor_variable == '__PSI_J_GADGETS__'
    assert registry._entry_points is None
    assert 'gadget_plugins_for_test' not in sys.modules
    assert registry.names() == {'gadget', 'g'}
    assert registry.aliases('g') == ['g', 'gadget']
    assert 'gadget_plugins_for_test' not in sys.modules
    gadget = registry.load('g')
    assert gadget is sys.modules['gadget_plugins_for_test'].Gadget
    assert (gadget.name, gadget.version) == ('gadget', '3.1')
    assert registry.problems() == {}
    descriptor = registry.descriptor('gadget')
    assert descriptor is not None and descriptor.version_text == '3.1'
    monkeypatch.delitem(sys.modules, 'gadget_plugins_for_test')


def test_descriptor_class_must_be_installed_beside_it(tmp_path: pathlib.Path) -> None:
    # As in psij-python: a descriptor does not vouch for a copy of the code found elsewhere.
    write_descriptor_module(tmp_path, 'elsewhere', '''
        from psij.descriptor import Descriptor

        __PSI_J_GADGETS__ = [Descriptor(name='decoder', version='1', cls='json.JSONDecoder')]
    ''')
    registry: PluginRegistry[object] = PluginRegistry('psij.tests.no-such-group', 'gadget',
                                                      descriptor_path=[str(tmp_path)])
    with pytest.raises(PluginLoadError) as caught:
        registry.load('decoder')
    message = str(caught.value)
    assert message.startswith("Unable to load gadget 'decoder' (json.JSONDecoder, declared in ")
    assert json.__file__ in message and str(tmp_path.resolve()) in message
    assert 'installed beside it' in message
    assert isinstance(caught.value, ValueError)


def test_entry_points_win_over_descriptors_in_process(tmp_path: pathlib.Path) -> None:
    write_descriptor_module(tmp_path, 'shadow', '''
        from psij.descriptor import Descriptor

        __PSI_J_EXECUTORS__ = [
            Descriptor(name='local', version='9.0', cls='json.JSONDecoder'),
            Descriptor(name='lost', version='1.0', cls='no_such_module_anywhere.Executor'),
        ]
    ''')
    registry: PluginRegistry[object] = PluginRegistry('psij.executors', 'executor',
                                                      descriptor_path=[str(tmp_path)])
    assert registry.load('local') is executors.load('local')
    assert registry.descriptor('local') is None
    with pytest.raises(ValueError, match="'lost'.*no_such_module_anywhere"):
        # psij-python raises ValueError here; code that catches it keeps working.
        registry.load('lost')


def test_descriptor_module_of_the_wrong_shape_is_a_problem(tmp_path: pathlib.Path) -> None:
    path = write_descriptor_module(tmp_path, 'odd', '''
        __PSI_J_EXECUTORS__ = 'psij.executors.local.LocalJobExecutor'
    ''')
    registry: PluginRegistry[object] = PluginRegistry('psij.tests.no-such-group', 'executor',
                                                      descriptor_path=[str(tmp_path)])
    assert registry.names() == set()
    problems = registry.problems()
    assert list(problems) == [str(path)]
    assert 'must be a list of psij.descriptor.Descriptor, not str' in str(problems[str(path)])


@pytest.mark.parametrize('arguments, error, message', [
    ({'name': '', 'version': '1', 'cls': 'a.B'}, TypeError, 'name must be a non-empty str'),
    ({'name': 'x', 'version': 'one', 'cls': 'a.B'}, ValueError,
     r"Descriptor\(name='x'\).version: not a version: 'one'"),
    ({'name': 'x', 'version': '1', 'cls': 'B'}, ValueError, 'package.module.Class'),
    ({'name': 'x', 'version': '1', 'cls': 'a.B', 'aliases': 'y'}, TypeError,
     'aliases must be a list'),
])
def test_descriptor_refuses_bad_fields(arguments: Dict[str, Any], error: type,
                                       message: str) -> None:
    from psij.descriptor import Descriptor

    with pytest.raises(error, match=message):
        Descriptor(**arguments)


def test_descriptor_keeps_psij_python_fields() -> None:
    from psij.descriptor import Descriptor

    descriptor = Descriptor(name='pbs', version=Version('0.0.2'), aliases=['pbspro'],
                            cls='psij.executors.pbs.PbsJobExecutor')
    assert descriptor.version == Version('0.0.2')
    assert (descriptor.nice_name, descriptor.path, descriptor.aliases) == ('pbs', None,
                                                                         ['pbspro'])
    assert descriptor.entry_point_value == 'psij.executors.pbs:PbsJobExecutor'
