"""Code written for psij-python runs here: its JSON format, its exceptions, its module paths.

The JSON documents of ``tests/fixtures/psij_python`` were written by psij-python 0.9.11 (see the
README there); each is read here and checked field by field. The other direction, documents
written here read by psij-python 0.9.11 itself, is the ``slow`` test at the end: it installs
psij-python from the package index into a new virtualenv.
"""

import io
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Any, Dict, List, Optional, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psij
from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobExecutor,
    JobExecutorConfig,
    JobSpec,
    Launcher,
    ResourceSpec,
    ResourceSpecV1,
    SubmitException,
)
from psij.job_launcher import Launcher as JobLauncherLauncher
from psij.psij_python_json import spec_from_psij_python_dict, spec_to_psij_python_dict
from psij.serialize import JSONSerializer, Serializer, SpecFormatError

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'psij_python'

# For each fixture, the spec psij must read from it (the spec make_fixtures.py gave
# psij-python, but for what psij-python itself writes differently: a name equal to the
# executable is no name).
EXPECTED: Dict[str, JobSpec] = {
    'empty': JobSpec(),
    'executable_only': JobSpec('/bin/date'),
    'everything': JobSpec(
        executable='/usr/bin/env', arguments=['-n', 'a b', "it's", '$HOME', 'é ü'],
        directory='/scratch/run 1', name='run1', inherit_environment=False,
        environment={'OMP_NUM_THREADS': '2', 'GREETING': 'hello "world"'},
        stdin_path='in.txt', stdout_path='/tmp/out.txt', stderr_path='err.txt',
        resources=ResourceSpecV1(node_count=2, processes_per_node=4, cpu_cores_per_process=2,
                                 gpu_cores_per_process=1, exclusive_node_use=True,
                                 memory=1024 ** 3),
        attributes=JobAttributes(
            duration=timedelta(hours=2), queue_name='debug', account='proj1',
            reservation_id='resv7',
            custom_attributes={'slurm.constraint': 'knl', 'slurm.requeue': True, 'pbs.n': 3}),
        pre_launch='setup.sh', post_launch='/opt/done.sh', launcher='mpirun'),
    'process_count_only': JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=4)),
    'empty_resources': JobSpec('/bin/true'),
    'empty_collections': JobSpec('/bin/true', arguments=[], environment={},
                                 attributes=JobAttributes(custom_attributes={})),
    'duration_whole_seconds': JobSpec(
        '/bin/true', attributes=JobAttributes(duration=timedelta(seconds=300))),
    'duration_fraction': JobSpec(
        '/bin/true', attributes=JobAttributes(duration=timedelta(seconds=3700.5))),
    'duration_microsecond': JobSpec(
        '/bin/true', attributes=JobAttributes(duration=timedelta(microseconds=1))),
    'duration_days': JobSpec(
        '/bin/true', attributes=JobAttributes(duration=timedelta(days=2, seconds=30))),
    'project_name': JobSpec('/bin/true', attributes=JobAttributes(account='old-proj')),
}

# Fixtures whose spec psij writes exactly as psij-python did: no duration but the default
# (psij writes "300 s" where psij-python wrote "300.0 s"), no account (psij-python adds
# project_name), no empty resources or arguments (a psij JobSpec holds no "none given" apart
# from them, so it writes neither).
SAME_TEXT = ['empty', 'executable_only', 'process_count_only']


def fixture_text(name: str) -> str:
    return (FIXTURES / f'{name}.json').read_text()


# --- documents written by psij-python ------------------------------------------------------

def test_every_fixture_has_an_expected_spec() -> None:
    on_disk = {path.stem for path in FIXTURES.glob('*.json')}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_psij_python_document_is_read_field_by_field(name: str) -> None:
    spec = JSONSerializer().loads(fixture_text(name))
    expected = EXPECTED[name]
    for field in ('executable', 'arguments', 'directory', 'name', 'inherit_environment',
                  'environment', 'stdin_path', 'stdout_path', 'stderr_path', 'pre_launch',
                  'post_launch', 'launcher'):
        assert getattr(spec, field) == getattr(expected, field), field
    resources, wanted = spec.resources, expected.resources
    assert isinstance(resources, ResourceSpecV1) and isinstance(wanted, ResourceSpecV1)
    for field in ('node_count', 'process_count', 'processes_per_node', 'cpu_cores_per_process',
                  'gpu_cores_per_process', 'exclusive_node_use', 'memory',
                  'computed_node_count', 'computed_process_count',
                  'computed_processes_per_node'):
        assert getattr(resources, field) == getattr(wanted, field), f'resources.{field}'
    for field in ('duration', 'queue_name', 'account', 'project_name', 'reservation_id',
                  'custom_attributes'):
        assert getattr(spec.attributes, field) == getattr(expected.attributes, field), \
            f'attributes.{field}'
    assert spec == expected


def test_psij_python_document_is_read_from_a_stream() -> None:
    with open(FIXTURES / 'everything.json') as stream:
        assert JSONSerializer().load(stream) == EXPECTED['everything']


def test_psij_python_durations_are_read_as_written() -> None:
    # psij-python 0.9.11 itself reads these as 0 s, 5 s and 6 s (see the fixtures' README).
    durations = {name: JSONSerializer().loads(fixture_text(name)).attributes.duration
                 for name in ('duration_whole_seconds', 'duration_fraction',
                              'duration_microsecond', 'duration_days')}
    assert durations == {'duration_whole_seconds': timedelta(seconds=300),
                         'duration_fraction': timedelta(seconds=3700.5),
                         'duration_microsecond': timedelta(microseconds=1),
                         'duration_days': timedelta(days=2, seconds=30)}


@pytest.mark.parametrize('name', SAME_TEXT)
def test_psij_writes_what_psij_python_wrote(name: str) -> None:
    assert JSONSerializer().dumps(EXPECTED[name]) + '\n' == fixture_text(name)


def test_psij_writes_everything_as_psij_python_did_but_duration_and_project_name() -> None:
    theirs = json.loads(fixture_text('everything'))
    ours = json.loads(JSONSerializer().dumps(EXPECTED['everything']))
    assert theirs['attributes'].pop('duration') == '7200.0 s'
    assert ours['attributes'].pop('duration') == '7200 s'
    assert theirs['attributes'].pop('project_name') == 'proj1'
    assert ours == theirs
    assert list(ours) == list(theirs)  # the same key order, too


# --- documents written by psij ---------------------------------------------------------------

def test_writer_leaves_out_the_defaults() -> None:
    assert JSONSerializer().dumps(JobSpec('/bin/date', name='today')) == \
        '{"executable": "/bin/date", "name": "today", "attributes": {}}'


@pytest.mark.parametrize('duration, text', [
    (timedelta(seconds=300), '300 s'),
    (timedelta(seconds=1), '1 s'),
    (timedelta(days=3, seconds=7), '259207 s'),
])
def test_writer_gives_durations_in_whole_seconds(duration: timedelta, text: str) -> None:
    data = spec_to_psij_python_dict(JobSpec('/bin/true', attributes=JobAttributes(
        duration=duration)))
    assert data['attributes'] == {'duration': text}


def test_writer_refuses_a_fraction_of_a_second() -> None:
    spec = JobSpec('/bin/true', attributes=JobAttributes(duration=timedelta(seconds=3700.5)))
    with pytest.raises(SpecFormatError) as caught:
        JSONSerializer().dumps(spec)
    assert caught.value.path == 'attributes.duration'
    assert 'round it to whole seconds' in str(caught.value)


@pytest.mark.parametrize('value, type_name', [
    (1.5, 'number'), (None, 'null'), ([1], 'list'), ({'a': 1}, 'object')])
def test_writer_refuses_custom_values_psij_python_cannot_read(value: object,
                                                              type_name: str) -> None:
    spec = JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'slurm.x': value}))
    with pytest.raises(SpecFormatError) as caught:
        JSONSerializer().dumps(spec)
    assert caught.value.path == 'attributes.custom_attributes["slurm.x"]'
    message = str(caught.value)
    assert 'a string, an integer or a boolean' in message and type_name in message


def test_writer_refuses_contradicting_counts_and_other_resources() -> None:
    resources = ResourceSpecV1(node_count=2, processes_per_node=2)
    resources.process_count = 5
    with pytest.raises(SpecFormatError, match='^job spec field resources: .*process_count'):
        JSONSerializer().dumps(JobSpec('/bin/true', resources=resources))

    class OtherResources(ResourceSpec):
        @property
        def version(self) -> int:
            return 2

    with pytest.raises(SpecFormatError, match='only ResourceSpecV1'):
        JSONSerializer().dumps(JobSpec('/bin/true', resources=OtherResources()))


def test_writer_needs_a_text_stream() -> None:
    with pytest.raises(TypeError, match='text stream'):
        JSONSerializer().dump(JobSpec('/bin/true'), io.BytesIO())  # type: ignore[arg-type]


def test_name_equal_to_the_executable_is_no_name() -> None:
    # psij-python writes the executable as the name when there is none, and so does psij.
    text = JSONSerializer().dumps(JobSpec('/bin/date'))
    assert json.loads(text)['name'] == '/bin/date'
    assert JSONSerializer().loads(text).name is None
    assert JSONSerializer().loads('{"executable": "/bin/date", "name": "d"}').name == 'd'


NAMES = st.text(st.characters(exclude_characters='\x00', exclude_categories=()), max_size=8)
OPTIONAL_NAMES = st.none() | NAMES
COUNTS = st.none() | st.integers(min_value=1, max_value=1000)


@st.composite
def representable_specs(draw: st.DrawFn) -> JobSpec:
    """Specs psij-python's format holds: custom attributes of strings, integers and
    booleans, and durations in whole seconds."""
    nodes, per_node = draw(COUNTS), draw(COUNTS)
    total = draw(st.none() | st.just(nodes * per_node)) \
        if nodes is not None and per_node is not None else draw(COUNTS)
    unit = nodes or per_node
    if unit is not None and total is not None and total % unit:
        total = None  # V1 jobs run the same number of processes on every node
    executable = draw(OPTIONAL_NAMES)
    texts: st.SearchStrategy[Union[str, int]] = NAMES
    environment: Optional[Dict[str, Union[str, int]]] = draw(
        st.none() | st.dictionaries(NAMES, texts, max_size=3))
    values: st.SearchStrategy[object] = st.booleans() | st.integers() | NAMES
    custom: Optional[Dict[str, object]] = draw(st.none() | st.dictionaries(NAMES, values,
                                                                           max_size=3))
    return JobSpec(
        executable=executable,
        arguments=draw(st.lists(NAMES, max_size=3)),
        directory=draw(OPTIONAL_NAMES), name=draw(OPTIONAL_NAMES.filter(
            lambda name: name is None or name != executable)),
        inherit_environment=draw(st.booleans()),
        environment=environment,
        stdin_path=draw(OPTIONAL_NAMES), stdout_path=draw(OPTIONAL_NAMES),
        stderr_path=draw(OPTIONAL_NAMES),
        resources=ResourceSpecV1(
            node_count=nodes, process_count=total, processes_per_node=per_node,
            cpu_cores_per_process=draw(COUNTS), gpu_cores_per_process=draw(COUNTS),
            exclusive_node_use=draw(st.booleans()),
            memory=draw(st.none() | st.integers(min_value=0, max_value=2 ** 50))),
        attributes=JobAttributes(
            duration=timedelta(seconds=draw(st.integers(min_value=1, max_value=10 ** 9))),
            queue_name=draw(OPTIONAL_NAMES), account=draw(OPTIONAL_NAMES),
            reservation_id=draw(OPTIONAL_NAMES),
            custom_attributes=custom),
        pre_launch=draw(OPTIONAL_NAMES), post_launch=draw(OPTIONAL_NAMES),
        launcher=draw(OPTIONAL_NAMES))


@settings(max_examples=200, deadline=None)
@given(representable_specs())
def test_round_trip_through_psij_python_format(spec: JobSpec) -> None:
    text = JSONSerializer().dumps(spec)
    assert JSONSerializer().loads(text) == spec
    assert spec_from_psij_python_dict(json.loads(text)) == spec


# --- reading: formats and errors -----------------------------------------------------------

def read_duration(text: object) -> timedelta:
    return spec_from_psij_python_dict({'attributes': {'duration': text}}).attributes.duration


@pytest.mark.parametrize('text, expected', [
    ('600.0 s', timedelta(minutes=10)),
    ('300 s', timedelta(seconds=300)),
    ('3700.5 s', timedelta(seconds=3700.5)),
    ('1e-06 s', timedelta(microseconds=1)),
    ('1.5e3 s', timedelta(seconds=1500)),
    ('0.000001 s', timedelta(microseconds=1)),
    (' 12s ', timedelta(seconds=12)),
    ('2 h', timedelta(hours=2)),
    ('1.5 h', timedelta(minutes=90)),
    ('45 m', timedelta(minutes=45)),
    ('01:02:03', timedelta(hours=1, minutes=2, seconds=3)),
    ('48:00:00', timedelta(hours=48)),
    ('1:30', timedelta(hours=1, minutes=30)),
    ('90', timedelta(minutes=90)),
])
def test_reader_takes_psij_python_durations(text: str, expected: timedelta) -> None:
    assert read_duration(text) == expected


@pytest.mark.parametrize('text', ['5 min', '-5 s', '', 's', '1:2:3:4', 'abc', '5 d', '1,5 s',
                                  'NaN s', 'inf s'])
def test_reader_names_the_duration_formats(text: str) -> None:
    with pytest.raises(SpecFormatError) as caught:
        read_duration(text)
    assert caught.value.path == 'attributes.duration'
    message = str(caught.value)
    assert repr(text) in message
    for form in ('"<seconds> s"', '"hh:mm:ss"', '"<minutes>"'):
        assert form in message


@pytest.mark.parametrize('text', ['1e999999 s', '1e9999999999 h', '9' * 5000,
                                  '9' * 5000 + ':00', '100000000000000 m'])
def test_reader_refuses_durations_longer_than_a_timedelta(text: str) -> None:
    with pytest.raises(SpecFormatError, match=r'^job spec field attributes.duration: .* is '
                                              r'longer than the longest duration'):
        read_duration(text)


@pytest.mark.parametrize('value', [300, 1.5, None, True])
def test_reader_wants_the_duration_as_a_string(value: object) -> None:
    with pytest.raises(SpecFormatError, match=r'attributes.duration: must be a duration '
                                              r'string'):
        read_duration(value)


def test_reader_refuses_a_duration_that_is_not_positive() -> None:
    with pytest.raises(SpecFormatError, match=r"attributes.duration: must be positive, not "
                                              r"'0.0 s'"):
        read_duration('0.0 s')


def test_reader_takes_null_for_fields_that_may_be_unset() -> None:
    data: Dict[str, Any] = {key: None for key in (
        'executable', 'arguments', 'directory', 'name', 'environment', 'stdin_path',
        'stdout_path', 'stderr_path', 'resources', 'attributes', 'pre_launch', 'post_launch',
        'launcher')}
    assert spec_from_psij_python_dict(data) == JobSpec()
    resources = {'__version': 1, 'node_count': None, 'memory': None}
    attributes = {'queue_name': None, 'account': None, 'custom_attributes': None}
    assert spec_from_psij_python_dict({'resources': resources, 'attributes': attributes}) == \
        JobSpec()


def test_reader_takes_integer_environment_values_as_strings() -> None:
    spec = spec_from_psij_python_dict({'environment': {'N': 3}})
    assert spec.environment == {'N': '3'}


def test_reader_takes_project_name_for_account() -> None:
    assert spec_from_psij_python_dict(
        {'attributes': {'project_name': 'p'}}).attributes.account == 'p'
    with pytest.raises(SpecFormatError) as caught:
        spec_from_psij_python_dict({'attributes': {'account': 'a', 'project_name': 'p'}})
    assert caught.value.path == 'attributes.project_name'


@pytest.mark.parametrize('document, path, allowed', [
    ({'executable': 5}, 'executable', 'a string or null'),
    ({'arguments': 'x'}, 'arguments', 'a list of strings or null'),
    ({'arguments': ['a', 1]}, 'arguments[1]', 'a string'),
    ({'inherit_environment': 'no'}, 'inherit_environment', 'true or false'),
    ({'environment': {'A': True}}, 'environment["A"]', 'a string or an integer'),
    ({'environment': []}, 'environment', 'an object with string values'),
    ({'stdout_path': ['a']}, 'stdout_path', 'a string or null'),
    ({'resources': []}, 'resources', 'an object'),
    ({'resources': {'node_count': 2}}, 'resources.__version', 'it must be 1'),
    ({'resources': {'__version': 2}}, 'resources.__version', 'the only version is 1'),
    ({'resources': {'__version': True}}, 'resources.__version', 'the only version is 1'),
    ({'resources': {'__version': 1, 'node_count': 0}}, 'resources.node_count',
     'a positive integer or null'),
    ({'resources': {'__version': 1, 'node_count': 1.0}}, 'resources.node_count',
     'a positive integer or null'),
    ({'resources': {'__version': 1, 'memory': -1}}, 'resources.memory',
     'an integer of at least 0'),
    ({'resources': {'__version': 1, 'exclusive_node_use': 1}}, 'resources.exclusive_node_use',
     'true or false'),
    ({'resources': {'__version': 1, 'node_count': 2, 'processes_per_node': 2,
                    'process_count': 5}}, 'resources', 'process_count'),
    ({'resources': {'__version': 1, 'cores': 2}}, 'resources.cores', 'allowed fields: '
     'node_count, process_count, processes_per_node, cpu_cores_per_process, '
     'gpu_cores_per_process, exclusive_node_use, memory, __version'),
    ({'attributes': 'x'}, 'attributes', 'an object'),
    ({'attributes': {'queue_name': 1}}, 'attributes.queue_name', 'a string or null'),
    ({'attributes': {'custom_attributes': []}}, 'attributes.custom_attributes',
     'an object or null'),
    ({'attributes': {'custom_attributes': {'k': 1.5}}}, 'attributes.custom_attributes["k"]',
     'a string, an integer or a boolean'),
    ({'attributes': {'walltime': '5'}}, 'attributes.walltime',
     'allowed fields: duration, queue_name, account, reservation_id, custom_attributes, '
     'project_name'),
    ({'stage_ins': []}, 'stage_ins', 'allowed fields: executable, arguments, directory, name'),
    ({'stage_in': {}}, 'stage_in', 'a list or null'),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'mode': 'copy'}]}, 'stage_out[0].mode',
     'use one of COPY, LINK, MOVE'),
    ({'cleanup_flags': ['ON_FAILURE']}, 'cleanup_flags[0]',
     'use NONE, IF_PRESENT, ON_SUCCESS, ON_ERROR, ON_CANCEL, ALWAYS'),
    ({'version': 1, 'executable': '/bin/true'}, 'version', "psij's own format"),
])
def test_reader_errors_name_the_field_and_what_is_allowed(document: Dict[str, Any], path: str,
                                                          allowed: str) -> None:
    with pytest.raises(SpecFormatError) as caught:
        spec_from_psij_python_dict(document)
    assert caught.value.path == path
    assert str(caught.value).startswith(f'job spec field {path}: ')
    assert allowed in str(caught.value)


@pytest.mark.parametrize('text, problem', [
    ('{"executable": ', 'not valid JSON'),
    ('[1, 2]', 'must be a JSON object'),
    ('{"name": "a", "name": "b"}', "'name' appears twice"),
    ('{"attributes": {"duration": NaN}}', 'must be a duration string'),
])
def test_reader_refuses_documents_that_are_not_psij_python_json(text: str,
                                                                problem: str) -> None:
    with pytest.raises(SpecFormatError, match=problem):
        JSONSerializer().loads(text)


def test_reader_needs_text() -> None:
    with pytest.raises(TypeError, match='str'):
        JSONSerializer().loads(b'{}')  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='text stream'):
        JSONSerializer().load(io.BytesIO(b'{}'))  # type: ignore[arg-type]


def test_native_format_is_still_the_default_and_distinct() -> None:
    spec = EXPECTED['everything']
    native = psij.serialize.dumps(spec)
    assert json.loads(native)['version'] == 1
    assert psij.serialize.loads(native) == spec
    with pytest.raises(SpecFormatError, match="psij's own format"):
        JSONSerializer().loads(native)
    with pytest.raises(SpecFormatError, match='version: is missing'):
        psij.serialize.loads(JSONSerializer().dumps(spec))


def test_serializer_subclass_as_psij_python_writes_them() -> None:
    # A psij-python Serializer subclass implements _dump_dict and _load_dict; so here.
    class LinesSerializer(Serializer):
        def _dump_dict(self, data: Dict[str, Any], stream: Any) -> None:
            for key, value in data.items():
                stream.write(f'{key}={json.dumps(value)}\n')

        def _load_dict(self, stream: Any) -> Dict[str, Any]:
            lines = [line.split('=', 1) for line in stream.read().splitlines()]
            return {key: json.loads(value) for key, value in lines}

    spec = EXPECTED['everything']
    text = LinesSerializer().dumps(spec)
    assert text.splitlines()[0] == 'executable="/usr/bin/env"'
    assert LinesSerializer().loads(text) == spec
    assert isinstance(JSONSerializer(), Serializer)


# --- exceptions ----------------------------------------------------------------------------

def test_invalid_job_exception_is_a_submit_exception_never_transient() -> None:
    error = InvalidJobException('JobSpec.executable is not set', ValueError('x'))
    assert isinstance(error, SubmitException)
    assert error.transient is False
    assert (error.message, str(error)) == ('JobSpec.executable is not set',) * 2
    assert isinstance(error.exception, ValueError)
    assert not isinstance(SubmitException('sbatch refused'), InvalidJobException)


def test_spec_format_error_is_every_kind_it_was_and_a_submit_exception() -> None:
    error = SpecFormatError('resources.node_count', 'must be positive')
    assert isinstance(error, InvalidJobException) and isinstance(error, ValueError)
    assert isinstance(error, SubmitException) and error.transient is False
    assert error.path == 'resources.node_count'


@pytest.mark.parametrize('executable', ['/bin/no_such_file_or_directory',
                                        'no-such-program-on-path'])
def test_missing_executable_is_caught_as_psij_python_code_catches_it(
        executable: str, work_dir: pathlib.Path) -> None:
    executor = JobExecutor.get_instance('local',
                                        config=JobExecutorConfig(work_directory=work_dir))
    # Code written for psij-python knows only SubmitException.
    with pytest.raises(SubmitException) as caught:
        executor.submit(Job(JobSpec(executable)))
    assert isinstance(caught.value, InvalidJobException)
    assert caught.value.transient is False
    assert 'executable' in caught.value.message
    # Handled apart from other submission failures, InvalidJobException still comes first.
    try:
        executor.submit(Job(JobSpec(executable)))
    except InvalidJobException:
        handled = 'invalid job'
    except SubmitException:  # pragma: no cover - the clause above must win
        handled = 'submission failure'
    assert handled == 'invalid job'


# --- module paths --------------------------------------------------------------------------

def test_job_launcher_module_gives_the_same_classes() -> None:
    import psij.job_launcher as job_launcher
    from psij.descriptor import Descriptor
    from psij.job import Job as JobClass

    assert JobLauncherLauncher is Launcher is psij.launcher.Launcher
    assert job_launcher.Job is JobClass is psij.Job
    assert job_launcher.JobExecutorConfig is psij.JobExecutorConfig
    assert job_launcher.Descriptor is Descriptor
    assert sorted(job_launcher.__all__) == ['Descriptor', 'Job', 'JobExecutorConfig', 'Launcher']


def test_a_launcher_subclassed_through_job_launcher_is_a_launcher() -> None:
    class EchoLauncher(JobLauncherLauncher):
        def get_launch_command(self, job: Job, log_file: Optional[str] = None) -> List[str]:
            return ['/bin/echo', 'launched']

    launcher = EchoLauncher()
    assert isinstance(launcher, Launcher)
    assert launcher.get_launch_command(Job(JobSpec('/bin/true'))) == ['/bin/echo', 'launched']


# --- the other direction: psij-python 0.9.11 reads what psij writes ------------------------

# Each spec is written here; psij-python must read back these fields (its own view of them:
# paths as str, its JobSpec.name falling back to the executable).
WRITTEN_FOR_PSIJ_PYTHON = {
    'everything': (EXPECTED['everything'], {
        'executable': '/usr/bin/env', 'arguments': ['-n', 'a b', "it's", '$HOME', 'é ü'],
        'directory': '/scratch/run 1', 'name': 'run1', 'inherit_environment': False,
        'environment': {'OMP_NUM_THREADS': '2', 'GREETING': 'hello "world"'},
        'stdin_path': 'in.txt', 'stdout_path': '/tmp/out.txt', 'stderr_path': 'err.txt',
        'pre_launch': 'setup.sh', 'post_launch': '/opt/done.sh', 'launcher': 'mpirun',
        'resources': {'node_count': 2, 'process_count': None, 'processes_per_node': 4,
                      'cpu_cores_per_process': 2, 'gpu_cores_per_process': 1,
                      'exclusive_node_use': True, 'memory': 1024 ** 3},
        'attributes': {'duration': 7200.0, 'queue_name': 'debug', 'account': 'proj1',
                       'reservation_id': 'resv7',
                       'custom_attributes': {'slurm.constraint': 'knl',
                                             'slurm.requeue': True, 'pbs.n': 3}}}),
    'defaults': (JobSpec('/bin/date'), {
        'executable': '/bin/date', 'arguments': None, 'directory': None, 'name': '/bin/date',
        'inherit_environment': True, 'environment': None, 'stdin_path': None,
        'stdout_path': None, 'stderr_path': None, 'pre_launch': None, 'post_launch': None,
        'launcher': None, 'resources': None,
        'attributes': {'duration': 600.0, 'queue_name': None, 'account': None,
                       'reservation_id': None, 'custom_attributes': None}}),
    'short_duration': (JobSpec('/bin/true', attributes=JobAttributes(
        duration=timedelta(seconds=300), custom_attributes={})), {
        'executable': '/bin/true', 'arguments': None, 'directory': None, 'name': '/bin/true',
        'inherit_environment': True, 'environment': None, 'stdin_path': None,
        'stdout_path': None, 'stderr_path': None, 'pre_launch': None, 'post_launch': None,
        'launcher': None, 'resources': None,
        'attributes': {'duration': 300.0, 'queue_name': None, 'account': None,
                       'reservation_id': None, 'custom_attributes': {}}}),
}

PSIJ_PYTHON_READER = '''
    import json
    import pathlib
    import sys

    import psij
    from psij.serialize import JSONSerializer

    assert psij.__version__ == '0.9.11', psij.__file__
    RESOURCE_FIELDS = ('node_count', 'process_count', 'processes_per_node',
                       'cpu_cores_per_process', 'gpu_cores_per_process', 'exclusive_node_use',
                       'memory')

    def text(value):
        return None if value is None else str(value)

    report = {}
    for path in sorted(pathlib.Path(sys.argv[1]).glob('*.json')):
        spec = JSONSerializer().loads(path.read_text())
        fields = {key: getattr(spec, key) for key in (
            'executable', 'arguments', 'name', 'inherit_environment', 'environment',
            'launcher')}
        fields.update({key: text(getattr(spec, key)) for key in (
            'directory', 'stdin_path', 'stdout_path', 'stderr_path', 'pre_launch',
            'post_launch')})
        resources = spec.resources
        fields['resources'] = None if resources is None else {
            key: getattr(resources, key) for key in RESOURCE_FIELDS}
        attributes = spec.attributes
        fields['attributes'] = {
            'duration': attributes.duration.total_seconds(),
            'queue_name': attributes.queue_name, 'account': attributes.account,
            'reservation_id': attributes.reservation_id,
            'custom_attributes': attributes.custom_attributes}
        report[path.stem] = fields
    # psij-python prints the names of the fields it reads; the report is the last line.
    print(json.dumps(report))
'''


@pytest.fixture(scope='module')
def read_by_psij_python(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """What psij-python 0.9.11, installed from the package index into a new venv, read from
    the documents psij wrote."""
    root = tmp_path_factory.mktemp('psij-python')
    documents = root / 'documents'
    documents.mkdir()
    for name, (spec, _) in WRITTEN_FOR_PSIJ_PYTHON.items():
        (documents / f'{name}.json').write_text(JSONSerializer().dumps(spec))
    # Nothing of this process may leak into the other psij's interpreter.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('PYTHON') and key not in ('VIRTUAL_ENV', '__PYVENV_LAUNCHER__')}
    venv = root / 'venv'
    for command in ([sys.executable, '-m', 'venv', str(venv)],
                    [str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '--no-input',
                     'psij-python==0.9.11'],
                    [str(venv / 'bin' / 'python'), '-I', '-c',
                     textwrap.dedent(PSIJ_PYTHON_READER), str(documents)]):
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, (
            f'{" ".join(command)} exited with {result.returncode}\n'
            f'--- stdout ---\n{result.stdout[-5000:]}\n--- stderr ---\n{result.stderr[-5000:]}')
    report: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(WRITTEN_FOR_PSIJ_PYTHON))
def test_psij_python_reads_what_psij_writes(name: str,
                                            read_by_psij_python: Dict[str, Any]) -> None:
    assert read_by_psij_python[name] == WRITTEN_FOR_PSIJ_PYTHON[name][1]
