"""Tests of psij.serialize: exact JSON round trips of JobSpec, and clear errors."""

import copy
import io
import json
import pathlib
from datetime import timedelta
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psij import InvalidJobException, JobAttributes, JobSpec, ResourceSpec, ResourceSpecV1
from psij.serialize import (
    ATTRIBUTE_FIELDS,
    RESOURCE_FIELDS,
    SPEC_FIELDS,
    SpecFormatError,
    dump,
    dumps,
    load,
    loads,
    spec_from_dict,
    spec_to_dict,
)

# --- strategies ----------------------------------------------------------------------------

# Any unicode, lone surrogates included (they appear in paths decoded with surrogateescape),
# but no NUL, which no path, argument or environment entry can hold.
TEXT = st.text(st.characters(exclude_characters='\x00', exclude_categories=()))
OPTIONAL_TEXT = st.none() | TEXT
PATHS = st.none() | TEXT | TEXT.map(pathlib.Path)
COUNTS = st.none() | st.integers(min_value=1, max_value=10**6)

# Durations with a fraction of a second are exact as JSON numbers up to 10**9 s (~31 years);
# whole-second durations are exact at any length.
FRACTIONAL_DURATIONS = st.timedeltas(min_value=timedelta(microseconds=1),
                                     max_value=timedelta(seconds=10**9, microseconds=-1))
LONGEST_WHOLE_SECONDS = timedelta.max.days * 86400 + timedelta.max.seconds
WHOLE_SECOND_DURATIONS = st.integers(min_value=1, max_value=LONGEST_WHOLE_SECONDS).map(
        lambda seconds: timedelta(seconds=seconds))
DURATIONS = FRACTIONAL_DURATIONS | WHOLE_SECOND_DURATIONS

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12)


@st.composite
def resource_specs(draw: st.DrawFn) -> ResourceSpecV1:
    """Resource specs whose counts are consistent, with any subset of the fields set."""
    nodes = draw(COUNTS)
    per_node = draw(COUNTS)
    if nodes is not None and per_node is not None:
        total = draw(st.none() | st.just(nodes * per_node))
    elif nodes is not None or per_node is not None:
        # A whole multiple: V1 jobs run the same number of processes on every node.
        unit = nodes or per_node or 1
        total = draw(st.none() | st.integers(min_value=1, max_value=10**4).map(
            lambda multiple: multiple * unit))
    else:
        total = draw(COUNTS)
    return ResourceSpecV1(
        node_count=nodes, process_count=total, processes_per_node=per_node,
        cpu_cores_per_process=draw(COUNTS), gpu_cores_per_process=draw(COUNTS),
        exclusive_node_use=draw(st.booleans()),
        memory=draw(st.none() | st.integers(min_value=0, max_value=2**70)))


ATTRIBUTES = st.builds(
    JobAttributes, duration=DURATIONS, queue_name=OPTIONAL_TEXT, account=OPTIONAL_TEXT,
    reservation_id=OPTIONAL_TEXT,
    custom_attributes=st.none() | st.dictionaries(TEXT, JSON_VALUES, max_size=5))

SPECS = st.builds(
    JobSpec, executable=OPTIONAL_TEXT, arguments=st.none() | st.lists(TEXT, max_size=6),
    directory=PATHS, name=OPTIONAL_TEXT, inherit_environment=st.booleans(),
    environment=st.none() | st.dictionaries(TEXT, TEXT | st.integers(), max_size=6),
    stdin_path=PATHS, stdout_path=PATHS, stderr_path=PATHS,
    resources=st.none() | resource_specs(), attributes=st.none() | ATTRIBUTES,
    pre_launch=PATHS, post_launch=PATHS, launcher=OPTIONAL_TEXT)


def rich_spec() -> JobSpec:
    """A spec with every field set to something other than its default."""
    return JobSpec(
        executable='/bin/hostname', arguments=['-n', '4'], directory='/scratch/run1',
        name='run1', inherit_environment=False, environment={'OMP_NUM_THREADS': '2'},
        stdin_path='in.txt', stdout_path='out.txt', stderr_path='err.txt',
        resources=ResourceSpecV1(node_count=2, processes_per_node=4, cpu_cores_per_process=2,
                                 gpu_cores_per_process=1, exclusive_node_use=True,
                                 memory=2**30),
        attributes=JobAttributes(duration=timedelta(minutes=5), queue_name='debug',
                                 account='proj1', reservation_id='res7',
                                 custom_attributes={'slurm.constraint': 'knl',
                                                    'pbs.select': [1, {'ncpus': 4}]}),
        pre_launch='pre.sh', post_launch='post.sh', launcher='mpirun')


# --- round trips ---------------------------------------------------------------------------


@settings(deadline=None)
@given(SPECS)
def test_any_spec_round_trips_exactly_through_text(spec: JobSpec) -> None:
    text = dumps(spec)
    assert loads(text) == spec
    assert loads(text.encode('utf-8')) == spec
    assert loads(dumps(spec, indent=2)) == spec
    # Writing what was read gives the same text: the output is stable.
    assert dumps(loads(text)) == text


@settings(deadline=None)
@given(SPECS)
def test_any_spec_round_trips_exactly_through_a_dict(spec: JobSpec) -> None:
    data = spec_to_dict(spec)
    assert spec_from_dict(data) == spec
    # The dict is already made of JSON values: parsing the text gives the same dict back.
    assert json.loads(dumps(spec)) == data


@settings(deadline=None)
@given(SPECS)
def test_any_spec_round_trips_through_a_text_file_object(spec: JobSpec) -> None:
    stream = io.StringIO()
    dump(spec, stream, indent=1)
    stream.seek(0)
    assert load(stream) == spec


def test_round_trip_through_a_real_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / 'spec.json'
    with open(path, 'w', encoding='utf-8') as file:
        dump(rich_spec(), file, indent=2)
    assert path.read_text(encoding='utf-8').endswith('}\n')
    with open(path, encoding='utf-8') as file:
        assert load(file) == rich_spec()


def test_rich_spec_round_trips_and_keeps_types() -> None:
    spec = loads(dumps(rich_spec()))
    assert spec == rich_spec()
    assert isinstance(spec.directory, pathlib.Path)
    assert isinstance(spec.resources, ResourceSpecV1)
    assert spec.resources.process_count is None
    assert spec.resources.computed_process_count == 8
    assert spec.attributes.duration == timedelta(seconds=300)
    assert spec.attributes.custom_attributes == {'slurm.constraint': 'knl',
                                                 'pbs.select': [1, {'ncpus': 4}]}


def test_default_spec_round_trips() -> None:
    assert loads(dumps(JobSpec())) == JobSpec()


# --- the format ----------------------------------------------------------------------------


def test_every_field_of_the_classes_is_written() -> None:
    """A field added to a class but forgotten here would be silently dropped."""
    data = spec_to_dict(JobSpec())
    assert set(data) == set(vars(JobSpec())) | {'version'} == set(SPEC_FIELDS)
    assert set(data['resources']) == set(vars(ResourceSpecV1())) | {'version'} \
        == set(RESOURCE_FIELDS)
    assert set(data['attributes']) == set(vars(JobAttributes())) == set(ATTRIBUTE_FIELDS)


def test_format_versions_are_written() -> None:
    data = spec_to_dict(JobSpec())
    assert data['version'] == 1
    assert data['resources']['version'] == 1


def test_example_document() -> None:
    data = json.loads(dumps(rich_spec()))
    assert data == {
        'version': 1,
        'executable': '/bin/hostname',
        'arguments': ['-n', '4'],
        'directory': '/scratch/run1',
        'name': 'run1',
        'inherit_environment': False,
        'environment': {'OMP_NUM_THREADS': '2'},
        'stdin_path': 'in.txt',
        'stdout_path': 'out.txt',
        'stderr_path': 'err.txt',
        'resources': {'version': 1, 'node_count': 2, 'process_count': None,
                      'processes_per_node': 4, 'cpu_cores_per_process': 2,
                      'gpu_cores_per_process': 1, 'exclusive_node_use': True,
                      'memory': 1073741824},
        'attributes': {'duration': 300, 'queue_name': 'debug', 'account': 'proj1',
                       'reservation_id': 'res7',
                       'custom_attributes': {'slurm.constraint': 'knl',
                                             'pbs.select': [1, {'ncpus': 4}]}},
        'pre_launch': 'pre.sh',
        'post_launch': 'post.sh',
        'launcher': 'mpirun',
        'stage_in': None,
        'stage_out': None,
        'cleanup': None,
        'cleanup_flags': ['ALWAYS'],
    }


def _key_orders(text: str) -> List[List[str]]:
    orders: List[List[str]] = []

    def remember(pairs: List[Any]) -> Dict[str, Any]:
        orders.append([key for key, _ in pairs])
        return dict(pairs)

    json.loads(text, object_pairs_hook=remember)
    return orders


def test_keys_are_sorted_at_every_level() -> None:
    spec = rich_spec()
    spec.environment = {'ZED': '1', 'ALPHA': '2', 'MID': '3'}
    orders = _key_orders(dumps(spec, indent=2))
    assert len(orders) >= 5
    for keys in orders:
        assert keys == sorted(keys)


def test_equal_specs_give_identical_text() -> None:
    first = JobSpec(environment={'B': '1', 'A': '2'},
                    attributes=JobAttributes(custom_attributes={'y': 1, 'x': 2}))
    second = JobSpec(environment={'A': '2', 'B': '1'},
                     attributes=JobAttributes(custom_attributes={'x': 2, 'y': 1}))
    assert first == second
    assert dumps(first) == dumps(second)
    assert dumps(first, indent=2) == dumps(second, indent=2)


def test_paths_are_written_as_strings() -> None:
    data = spec_to_dict(JobSpec(directory=pathlib.Path('/a/b'), stdout_path='rel/out'))
    assert data['directory'] == '/a/b'
    assert data['stdout_path'] == 'rel/out'


def test_computed_resource_values_are_not_written() -> None:
    resources = ResourceSpecV1(node_count=2, processes_per_node=3)
    data = spec_to_dict(JobSpec(resources=resources))['resources']
    assert data['process_count'] is None
    assert not any('computed' in key for key in data)
    # After a change, the read-back spec computes from the new values, not from stale ones.
    resources.processes_per_node = 5
    read_back = loads(dumps(JobSpec(resources=resources))).resources
    assert isinstance(read_back, ResourceSpecV1)
    assert read_back.computed_process_count == 10


def test_unset_and_set_resource_fields_stay_apart() -> None:
    unset = ResourceSpecV1()
    explicit_one = ResourceSpecV1(node_count=1, process_count=1, processes_per_node=1)
    assert unset.computed_node_count == explicit_one.computed_node_count
    assert loads(dumps(JobSpec(resources=unset))).resources == unset
    assert loads(dumps(JobSpec(resources=explicit_one))).resources == explicit_one
    assert loads(dumps(JobSpec(resources=unset))).resources != explicit_one


def test_memory_is_in_bytes() -> None:
    spec = JobSpec(resources=ResourceSpecV1(memory=3 * 2**40 + 1))
    assert spec_to_dict(spec)['resources']['memory'] == 3 * 2**40 + 1
    assert loads(dumps(spec)).resources == spec.resources


def test_300_second_duration_stays_300_seconds() -> None:
    """The reference implementation once turned 300 s into 0 s."""
    spec = JobSpec(attributes=JobAttributes(duration=timedelta(seconds=300)))
    assert spec_to_dict(spec)['attributes']['duration'] == 300
    assert '"duration": 300,' in dumps(spec)
    assert loads(dumps(spec)).attributes.duration == timedelta(seconds=300)


@pytest.mark.parametrize('duration, written', [
    (timedelta(microseconds=1), 1e-06),
    (timedelta(seconds=1, microseconds=500000), 1.5),
    (timedelta(days=2, seconds=3, microseconds=999999), 172803.999999),
    (timedelta(days=11574, seconds=6399, microseconds=123457), 999999999.123457),
    (timedelta(hours=1), 3600),
    (timedelta.max - timedelta(microseconds=timedelta.max.microseconds),
     LONGEST_WHOLE_SECONDS),
])
def test_duration_is_exact_seconds(duration: timedelta, written: float) -> None:
    spec = JobSpec(attributes=JobAttributes(duration=duration))
    value = spec_to_dict(spec)['attributes']['duration']
    assert value == written
    assert type(value) is type(written)
    assert loads(dumps(spec)).attributes.duration == duration


@settings(deadline=None)
@given(st.timedeltas(min_value=timedelta(microseconds=1)))
def test_duration_of_any_length_is_exact_or_refused(duration: timedelta) -> None:
    """Never silently rounded: either it reads back equal or writing it fails clearly."""
    spec = JobSpec(attributes=JobAttributes(duration=duration))
    try:
        text = dumps(spec)
    except SpecFormatError as error:
        assert error.path == 'attributes.duration'
        assert duration.microseconds != 0
        assert duration > timedelta(seconds=10**9)
        return
    assert loads(text).attributes.duration == duration


def test_longest_fractional_duration_is_refused_with_a_clear_message() -> None:
    spec = JobSpec(attributes=JobAttributes(duration=timedelta.max))
    with pytest.raises(SpecFormatError, match=r'attributes\.duration.*whole seconds'):
        dumps(spec)


def test_durations_written_by_hand_are_read() -> None:
    def read(duration_text: str) -> timedelta:
        text = '{"version": 1, "attributes": {"duration": ' + duration_text + '}}'
        return loads(text).attributes.duration

    assert read('300') == timedelta(seconds=300)
    assert read('300.0') == timedelta(seconds=300)
    assert read('0.1') == timedelta(microseconds=100000)
    assert read('1e3') == timedelta(seconds=1000)
    assert read('0.0000015') == timedelta(microseconds=2)  # nearest microsecond


def test_missing_fields_take_the_constructor_defaults() -> None:
    assert loads('{"version": 1}') == JobSpec()
    spec = loads('{"version": 1, "resources": {"version": 1}, "attributes": {}}')
    assert spec == JobSpec()
    assert spec.attributes.duration == timedelta(minutes=10)
    assert spec.inherit_environment is True
    assert loads('{"version": 1, "resources": null, "attributes": null}') == JobSpec()


def test_dict_output_shares_nothing_with_the_spec() -> None:
    spec = rich_spec()
    data = spec_to_dict(spec)
    data['arguments'].append('extra')
    data['environment']['NEW'] = 'x'
    data['attributes']['custom_attributes']['pbs.select'][1]['ncpus'] = 99
    assert spec == rich_spec()


def test_spec_read_from_a_dict_shares_nothing_with_it() -> None:
    data = spec_to_dict(rich_spec())
    spec = spec_from_dict(data)
    data['arguments'].append('extra')
    data['attributes']['custom_attributes']['pbs.select'].append(2)
    assert spec == rich_spec()


def test_nothing_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    spec = rich_spec()
    stream = io.StringIO()
    dump(spec, stream)
    stream.seek(0)
    load(stream)
    loads(dumps(spec, indent=4))
    spec_from_dict(spec_to_dict(spec))
    with pytest.raises(SpecFormatError):
        loads('{"version": 1, "bogus": 1}')
    captured = capsys.readouterr()
    assert captured.out == ''
    assert captured.err == ''


# --- reading errors ------------------------------------------------------------------------

DELETE = object()


def _document_with(path: str, value: object) -> Dict[str, Any]:
    """The rich spec's document with the field at dotted ``path`` set to ``value``."""
    document = copy.deepcopy(spec_to_dict(rich_spec()))
    *parents, last = path.split('.')
    target = document
    for name in parents:
        target = target[name]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return document


@pytest.mark.parametrize('path, value, expected', [
    ('executable', 5, 'a string or null'),
    ('name', ['x'], 'a string or null'),
    ('launcher', True, 'a string or null'),
    ('directory', 1, 'a string or null'),
    ('stdin_path', {}, 'a string or null'),
    ('stdout_path', 2.5, 'a string or null'),
    ('stderr_path', False, 'a string or null'),
    ('pre_launch', [], 'a string or null'),
    ('post_launch', 0, 'a string or null'),
    ('arguments', 'ls -l', 'a list of strings'),
    ('inherit_environment', 'yes', 'true or false'),
    ('inherit_environment', None, 'true or false'),
    ('inherit_environment', 1, 'true or false'),
    ('environment', ['A=1'], 'string values'),
    ('resources', 'big', 'an object'),
    ('resources.node_count', '2', 'a positive integer or null'),
    ('resources.node_count', 2.0, 'a positive integer or null'),
    ('resources.node_count', True, 'a positive integer or null'),
    ('resources.node_count', 0, 'a positive integer or null'),
    ('resources.process_count', -3, 'a positive integer or null'),
    ('resources.processes_per_node', [4], 'a positive integer or null'),
    ('resources.cpu_cores_per_process', 0, 'a positive integer or null'),
    ('resources.gpu_cores_per_process', 'one', 'a positive integer or null'),
    ('resources.exclusive_node_use', 1, 'true or false'),
    ('resources.exclusive_node_use', None, 'true or false'),
    ('resources.memory', -1, 'an integer of at least 0'),
    ('resources.memory', 1.5, 'an integer of at least 0'),
    ('resources.memory', '1G', 'an integer of at least 0'),
    ('resources.version', 2, 'the only version is 1'),
    ('resources.version', '1', 'the only version is 1'),
    ('resources.version', DELETE, 'is missing'),
    ('attributes', [], 'an object'),
    ('attributes.duration', '600', 'a positive number of seconds'),
    ('attributes.duration', None, 'a positive number of seconds'),
    ('attributes.duration', True, 'a positive number of seconds'),
    ('attributes.duration', 0, 'a positive number of seconds'),
    ('attributes.duration', -0.5, 'a positive number of seconds'),
    ('attributes.duration', 1e30, 'longer than the longest duration'),
    ('attributes.duration', float('nan'), 'finite'),
    ('attributes.duration', float('inf'), 'finite'),
    ('attributes.queue_name', 3, 'a string or null'),
    ('attributes.account', {}, 'a string or null'),
    ('attributes.reservation_id', 7, 'a string or null'),
    ('attributes.custom_attributes', ['x'], 'an object or null'),
    ('version', 2, 'the only version is 1'),
    ('version', 1.0, 'the only version is 1'),
    ('version', True, 'the only version is 1'),
    ('version', DELETE, 'is missing'),
])
def test_ill_typed_field_is_named(path: str, value: object, expected: str) -> None:
    text = json.dumps(_document_with(path, value))
    with pytest.raises(SpecFormatError) as caught:
        loads(text)
    error = caught.value
    assert error.path == path
    assert str(error).startswith(f'job spec field {path}: ')
    assert expected in str(error)
    assert isinstance(error, InvalidJobException)
    assert isinstance(error, ValueError)
    # The same checks apply to a dict handed over directly.
    with pytest.raises(SpecFormatError, match=f'job spec field {path}: '.replace('.', r'\.')):
        spec_from_dict(_document_with(path, value))


@pytest.mark.parametrize('path, value, reported_path', [
    ('arguments', ['-l', 5], 'arguments[1]'),
    ('environment', {'HOME': '/h', 'OMP_NUM_THREADS': 4}, 'environment["OMP_NUM_THREADS"]'),
    ('attributes.custom_attributes', {'ok': 1, 'bad': float('nan')},
     'attributes.custom_attributes["bad"]'),
    ('attributes.custom_attributes', {'deep': [1, {'x': float('-inf')}]},
     'attributes.custom_attributes["deep"][1]["x"]'),
])
def test_ill_typed_item_inside_a_field_is_named(path: str, value: object,
                                                reported_path: str) -> None:
    with pytest.raises(SpecFormatError) as caught:
        loads(json.dumps(_document_with(path, value)))
    assert caught.value.path == reported_path
    assert str(caught.value).startswith(f'job spec field {reported_path}: ')


@pytest.mark.parametrize('path, allowed_example', [
    ('executible', 'executable'),
    ('resources.nodes', 'node_count'),
    ('resources.computed_node_count', 'processes_per_node'),
    ('attributes.project_name', 'account'),
    ('attributes.walltime', 'duration'),
])
def test_unknown_field_is_named_with_the_allowed_ones(path: str, allowed_example: str) -> None:
    with pytest.raises(SpecFormatError) as caught:
        loads(json.dumps(_document_with(path, 1)))
    message = str(caught.value)
    assert caught.value.path == path
    assert message.startswith(f'job spec field {path}: unknown field; allowed fields: ')
    assert allowed_example in message


def test_inconsistent_resource_counts_are_refused_when_read() -> None:
    document = _document_with('resources.process_count', 7)  # 2 nodes * 4 per node = 8
    with pytest.raises(SpecFormatError) as caught:
        spec_from_dict(document)
    assert caught.value.path == 'resources'
    assert 'process_count (7)' in str(caught.value)
    assert 'node_count (2)' in str(caught.value)


@pytest.mark.parametrize('text', [
    '',
    '   ',
    '{',
    '{"version": 1,}',
    "{'version': 1}",
    '{"version": 1} trailing',
    b'\xff\xfe\x00\x00garbage',
    b'{"version": 1, "name": "\xff"}',
])
def test_malformed_json_is_a_clear_error(text: object) -> None:
    with pytest.raises(SpecFormatError) as caught:
        loads(text)  # type: ignore[arg-type]
    assert caught.value.path == ''
    assert str(caught.value).startswith('job spec document: not valid JSON')


@pytest.mark.parametrize('text, expected', [
    ('null', 'must be a JSON object, not null'),
    ('[]', 'must be a JSON object, not list'),
    ('"spec"', 'must be a JSON object, not string'),
    ('{"version": 1, "name": "a", "name": "b"}', "'name' appears twice"),
])
def test_document_that_is_not_one_spec_object_is_a_clear_error(text: str, expected: str) -> None:
    with pytest.raises(SpecFormatError) as caught:
        loads(text)
    assert caught.value.path == ''
    assert str(caught.value).startswith('job spec document: ')
    assert expected in str(caught.value)


def test_non_finite_number_written_in_the_text_is_named() -> None:
    text = '{"version": 1, "attributes": {"custom_attributes": {"x": NaN}}}'
    with pytest.raises(SpecFormatError, match=r'attributes\.custom_attributes\["x"\]: .*finite'):
        loads(text)
    text = '{"version": 1, "attributes": {"duration": 1e999}}'
    with pytest.raises(SpecFormatError, match=r'attributes\.duration: .*finite'):
        loads(text)


# --- writing errors ------------------------------------------------------------------------


@pytest.mark.parametrize('custom, reported_path', [
    ({'x': (1, 2)}, 'attributes.custom_attributes["x"]'),
    ({'x': {1, 2}}, 'attributes.custom_attributes["x"]'),
    ({'x': {1: 'a'}}, 'attributes.custom_attributes["x"]'),
    ({'x': [1, float('nan')]}, 'attributes.custom_attributes["x"][1]'),
    ({'x': {'y': object()}}, 'attributes.custom_attributes["x"]["y"]'),
    ({'when': timedelta(1)}, 'attributes.custom_attributes["when"]'),
])
def test_custom_attributes_that_would_not_read_back_equal_are_refused(
        custom: Dict[str, object], reported_path: str) -> None:
    spec = JobSpec(attributes=JobAttributes(custom_attributes=custom))
    with pytest.raises(SpecFormatError) as caught:
        dumps(spec)
    assert caught.value.path == reported_path
    assert str(caught.value).startswith(f'job spec field {reported_path}: ')


def test_inconsistent_resources_made_by_mutation_are_refused_when_written() -> None:
    resources = ResourceSpecV1(node_count=2, processes_per_node=4)
    resources.process_count = 3
    with pytest.raises(SpecFormatError) as caught:
        spec_to_dict(JobSpec(resources=resources))
    assert caught.value.path == 'resources'
    assert 'process_count (3)' in str(caught.value)


def test_resources_of_another_kind_are_refused() -> None:
    class OtherResources(ResourceSpec):
        @property
        def version(self) -> int:
            return 2

    with pytest.raises(SpecFormatError, match='resources: only ResourceSpecV1'):
        dumps(JobSpec(resources=OtherResources()))


def test_writing_something_else_than_a_spec_is_a_type_error() -> None:
    not_a_spec: Optional[Any] = {'executable': '/bin/true'}
    with pytest.raises(TypeError, match='takes a JobSpec, not dict'):
        spec_to_dict(not_a_spec)  # type: ignore[arg-type]
