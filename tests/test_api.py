"""Tests of the public API: exported names, type checks, conversions, validation, defaults."""

import pathlib
import re
from datetime import timedelta
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import psij
from psij import InvalidJobException, JobAttributes, JobSpec, ResourceSpecV1

PUBLIC_NAMES = {
    'DependencyCondition', 'JobArray',
    'InvalidJobException', 'Job', 'JobAttributes', 'JobExecutor', 'JobExecutorConfig', 'JobSpec',
    'JobState', 'JobStatus', 'JobStatusCallback', 'Launcher', 'ResourceSpec', 'ResourceSpecV1',
    'SubmitException', 'UnreachableStateException',
}


# --- exported names ------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(psij.__all__) == sorted(PUBLIC_NAMES)
    assert len(psij.__all__) == len(set(psij.__all__))


@pytest.mark.parametrize('name', sorted(PUBLIC_NAMES))
def test_each_public_name_exists_and_is_a_psij_class(name: str) -> None:
    value = getattr(psij, name)
    assert isinstance(value, type)
    assert value.__name__ == name
    assert value.__module__.startswith('psij.')


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: Dict[str, Any] = {}
    exec('from psij import *', namespace)
    del namespace['__builtins__']
    assert set(namespace) == PUBLIC_NAMES
    for name, value in namespace.items():
        assert value is getattr(psij, name)


# --- type checks in constructors and setters -----------------------------------------------

# (class, field, a wrong value). Every field of every class appears at least once; see
# test_every_field_has_a_wrong_type_case.
WRONG_TYPES: List[Tuple[type, str, object]] = [
    (JobSpec, 'executable', 5),
    (JobSpec, 'executable', b'/bin/true'),
    (JobSpec, 'arguments', 'ls -l'),
    (JobSpec, 'arguments', ['-l', 5]),
    (JobSpec, 'arguments', ('-l',)),
    (JobSpec, 'directory', 5),
    (JobSpec, 'directory', b'/tmp'),
    (JobSpec, 'name', 5),
    (JobSpec, 'inherit_environment', 'yes'),
    (JobSpec, 'inherit_environment', 1),
    (JobSpec, 'inherit_environment', None),
    (JobSpec, 'environment', ['A=1']),
    (JobSpec, 'environment', {'A': 1.5}),
    (JobSpec, 'environment', {1: 'a'}),
    (JobSpec, 'stdin_path', 5),
    (JobSpec, 'stdout_path', b'out'),
    (JobSpec, 'stage_in', ['in.txt']),
    (JobSpec, 'stage_out', {'out.txt'}),
    (JobSpec, 'cleanup', 'scratch'),
    (JobSpec, 'cleanup_flags', 'always'),
    (JobSpec, 'stderr_path', ['err']),
    (JobSpec, 'resources', {'node_count': 2}),
    (JobSpec, 'resources', 5),
    (JobSpec, 'attributes', {'duration': timedelta(1)}),
    (JobSpec, 'attributes', 'debug'),
    (JobSpec, 'pre_launch', 5),
    (JobSpec, 'post_launch', 5.0),
    (JobSpec, 'launcher', 5),
    (ResourceSpecV1, 'node_count', '2'),
    (ResourceSpecV1, 'node_count', 2.0),
    (ResourceSpecV1, 'node_count', True),
    (ResourceSpecV1, 'process_count', '4'),
    (ResourceSpecV1, 'process_count', True),
    (ResourceSpecV1, 'processes_per_node', 1.5),
    (ResourceSpecV1, 'cpu_cores_per_process', [2]),
    (ResourceSpecV1, 'gpu_cores_per_process', '1'),
    (ResourceSpecV1, 'exclusive_node_use', 1),
    (ResourceSpecV1, 'exclusive_node_use', None),
    (ResourceSpecV1, 'memory', '1G'),
    (ResourceSpecV1, 'memory', 1.5),
    (ResourceSpecV1, 'memory', False),
    (JobAttributes, 'duration', 600),
    (JobAttributes, 'duration', 600.0),
    (JobAttributes, 'duration', None),
    (JobAttributes, 'duration', '10m'),
    (JobAttributes, 'queue_name', 5),
    (JobAttributes, 'account', 5),
    (JobAttributes, 'reservation_id', ['r']),
    (JobAttributes, 'custom_attributes', [('a', 1)]),
    (JobAttributes, 'custom_attributes', {1: 'a'}),
]


def _case_id(case: Tuple[type, str, object]) -> str:
    cls, field, value = case
    return f'{cls.__name__}.{field}={value!r}'


def test_every_field_has_a_wrong_type_case() -> None:
    for cls in (JobSpec, ResourceSpecV1, JobAttributes):
        covered = {field for owner, field, _ in WRONG_TYPES if owner is cls}
        assert covered == set(vars(cls())), cls.__name__


@pytest.mark.parametrize('case', WRONG_TYPES, ids=_case_id)
def test_wrong_type_is_rejected_by_the_constructor(case: Tuple[type, str, object]) -> None:
    cls, field, value = case
    expected = re.escape(f'{cls.__name__}.{field} must be ')
    with pytest.raises(TypeError, match=expected):
        cls(**{field: value})


@pytest.mark.parametrize('case', WRONG_TYPES, ids=_case_id)
def test_wrong_type_is_rejected_by_the_setter_and_the_old_value_kept(
        case: Tuple[type, str, object]) -> None:
    cls, field, value = case
    instance = cls()
    before = getattr(instance, field)
    expected = re.escape(f'{cls.__name__}.{field} must be ')
    with pytest.raises(TypeError, match=expected):
        setattr(instance, field, value)
    assert getattr(instance, field) == before
    assert instance == cls()


def test_type_error_message_says_what_is_allowed_and_what_was_given() -> None:
    with pytest.raises(TypeError) as caught:
        ResourceSpecV1(node_count='2')  # type: ignore[arg-type]
    message = str(caught.value)
    assert 'ResourceSpecV1.node_count' in message
    assert 'int' in message
    assert "'2'" in message


# (class, field, an accepted value, the value read back)
ACCEPTED: List[Tuple[type, str, object, object]] = [
    (JobSpec, 'executable', '/bin/true', '/bin/true'),
    (JobSpec, 'arguments', ['-l', ''], ['-l', '']),
    (JobSpec, 'arguments', None, []),
    (JobSpec, 'name', 'job-1', 'job-1'),
    (JobSpec, 'inherit_environment', False, False),
    (JobSpec, 'environment', {'A': '1', 'B': 2}, {'A': '1', 'B': '2'}),
    (JobSpec, 'environment', None, None),
    (JobSpec, 'resources', ResourceSpecV1(node_count=3), ResourceSpecV1(node_count=3)),
    (JobSpec, 'resources', None, ResourceSpecV1()),
    (JobSpec, 'attributes', JobAttributes(queue_name='q'), JobAttributes(queue_name='q')),
    (JobSpec, 'attributes', None, JobAttributes()),
    (JobSpec, 'launcher', 'srun', 'srun'),
    (ResourceSpecV1, 'node_count', 4, 4),
    (ResourceSpecV1, 'exclusive_node_use', True, True),
    (ResourceSpecV1, 'memory', 0, 0),
    (ResourceSpecV1, 'memory', 2**40, 2**40),
    (JobAttributes, 'duration', timedelta(microseconds=1), timedelta(microseconds=1)),
    (JobAttributes, 'custom_attributes', {'slurm.x': [1, None]}, {'slurm.x': [1, None]}),
]


@pytest.mark.parametrize('cls, field, value, stored', ACCEPTED)
def test_accepted_values_in_constructor_and_setter(cls: type, field: str, value: object,
                                                   stored: object) -> None:
    assert getattr(cls(**{field: value}), field) == stored
    instance = cls()
    setattr(instance, field, value)
    assert getattr(instance, field) == stored


# --- conversions ---------------------------------------------------------------------------

PATH_FIELDS = ['directory', 'stdin_path', 'stdout_path', 'stderr_path', 'pre_launch',
               'post_launch']


@pytest.mark.parametrize('field', PATH_FIELDS)
def test_str_paths_become_pathlib_paths(field: str) -> None:
    keywords: Dict[str, Any] = {field: 'some/dir/file'}
    spec = JobSpec(**keywords)
    value = getattr(spec, field)
    assert isinstance(value, pathlib.Path)
    assert value == pathlib.Path('some/dir/file')

    spec = JobSpec()
    assert getattr(spec, field) is None
    setattr(spec, field, '/abs/path')
    assert getattr(spec, field) == pathlib.Path('/abs/path')
    assert isinstance(getattr(spec, field), pathlib.Path)

    setattr(spec, field, pathlib.Path('p'))
    assert getattr(spec, field) == pathlib.Path('p')
    setattr(spec, field, None)
    assert getattr(spec, field) is None


def test_arguments_and_environment_are_copied_not_shared() -> None:
    arguments = ['a']
    environment: Dict[str, Any] = {'A': '1'}
    spec = JobSpec(arguments=arguments, environment=environment)
    arguments.append('b')
    environment['B'] = '2'
    assert spec.arguments == ['a']
    assert spec.environment == {'A': '1'}


def test_custom_attributes_are_the_dict_given() -> None:
    # As in psij-python, whose own tests fill the dict after making the JobAttributes.
    custom: Dict[str, object] = {'x': 1}
    attributes = JobAttributes(custom_attributes=custom)
    custom['slurm.qos'] = 'high'
    assert attributes.custom_attributes is custom
    assert attributes.get_custom_attribute('slurm.qos') == 'high'


def test_default_resources_and_attributes_are_not_shared_between_specs() -> None:
    first, second = JobSpec(), JobSpec()
    assert first.resources is not second.resources
    assert first.attributes is not second.attributes
    first.attributes.set_custom_attribute('k', 'v')
    assert second.attributes.custom_attributes is None


# --- ResourceSpecV1 validation -------------------------------------------------------------

COUNT_FIELDS = ['node_count', 'process_count', 'processes_per_node', 'cpu_cores_per_process',
                'gpu_cores_per_process']


@pytest.mark.parametrize('field', COUNT_FIELDS)
@pytest.mark.parametrize('value', [0, -1, -1000])
def test_zero_or_negative_counts_are_invalid(field: str, value: int) -> None:
    expected = re.escape(f'ResourceSpecV1.{field} must be a positive integer')
    keywords: Dict[str, Any] = {field: value}
    with pytest.raises(InvalidJobException, match=expected):
        ResourceSpecV1(**keywords)
    resources = ResourceSpecV1()
    with pytest.raises(InvalidJobException, match=expected):
        setattr(resources, field, value)
    assert getattr(resources, field) is None


def test_negative_memory_is_invalid_and_zero_is_allowed() -> None:
    with pytest.raises(InvalidJobException, match=re.escape('ResourceSpecV1.memory')):
        ResourceSpecV1(memory=-1)
    resources = ResourceSpecV1(memory=0)
    with pytest.raises(InvalidJobException, match=re.escape('ResourceSpecV1.memory')):
        resources.memory = -5
    assert resources.memory == 0


@pytest.mark.parametrize('nodes, total, per_node', [
    (2, 5, 2),
    (2, 3, 2),
    (1, 2, 1),
    (4, 2, 1),
])
def test_process_count_must_equal_nodes_times_processes_per_node(
        nodes: int, total: int, per_node: int) -> None:
    with pytest.raises(InvalidJobException) as caught:
        ResourceSpecV1(node_count=nodes, process_count=total, processes_per_node=per_node)
    message = str(caught.value)
    assert f'process_count ({total})' in message
    assert f'node_count ({nodes})' in message
    assert 'processes_per_node' in message


def test_fewer_processes_than_nodes_is_invalid() -> None:
    with pytest.raises(InvalidJobException, match=r'process_count \(2\).*node_count \(3\)'):
        ResourceSpecV1(node_count=3, process_count=2)


def test_consistent_counts_are_accepted() -> None:
    resources = ResourceSpecV1(node_count=2, process_count=8, processes_per_node=4)
    resources.check_consistency()
    ResourceSpecV1(node_count=3, process_count=3).check_consistency()
    ResourceSpecV1(process_count=6, processes_per_node=2).check_consistency()


@pytest.mark.parametrize('counts', [{'process_count': 3, 'node_count': 2},
                                    {'process_count': 3, 'processes_per_node': 2},
                                    {'process_count': 8, 'node_count': 2,
                                     'processes_per_node': 2}])
def test_uneven_counts_are_invalid(counts: Dict[str, int]) -> None:
    # V1 is for homogeneous jobs: the same number of processes on every node.
    with pytest.raises(InvalidJobException, match=r'process_count \(\d\)'):
        ResourceSpecV1(**counts)  # type: ignore[arg-type]


def test_inconsistency_made_by_setters_is_found_by_check_consistency() -> None:
    resources = ResourceSpecV1(node_count=2, processes_per_node=4)
    resources.process_count = 7
    with pytest.raises(InvalidJobException, match=r'process_count \(7\)'):
        resources.check_consistency()


def test_computed_values_follow_the_current_values() -> None:
    resources = ResourceSpecV1(node_count=2, processes_per_node=3)
    assert (resources.computed_node_count, resources.computed_process_count,
            resources.computed_processes_per_node) == (2, 6, 3)
    resources.processes_per_node = 4
    assert resources.computed_process_count == 8
    resources.node_count = None
    resources.process_count = 10
    assert resources.computed_node_count == 3  # 10 processes, 4 per node, rounded up
    resources.processes_per_node = None
    assert resources.computed_node_count == 1
    assert resources.computed_processes_per_node == 10
    resources.node_count = 5
    assert resources.computed_processes_per_node == 2
    resources.memory = 1025
    assert resources.memory_kb == 2
    resources.memory = None
    assert resources.memory_kb is None


def test_empty_resources_mean_one_process_on_one_node() -> None:
    resources = ResourceSpecV1()
    assert (resources.computed_node_count, resources.computed_process_count,
            resources.computed_processes_per_node) == (1, 1, 1)
    assert resources.version == 1


OPTIONAL_COUNTS = st.none() | st.integers(min_value=1, max_value=1000)


@st.composite
def consistent_counts(draw: st.DrawFn) -> Dict[str, Any]:
    nodes = draw(OPTIONAL_COUNTS)
    per_node = draw(OPTIONAL_COUNTS)
    if nodes is not None and per_node is not None:
        total = draw(st.none() | st.just(nodes * per_node))
    elif nodes is not None or per_node is not None:
        # Whole multiples only: V1 jobs run the same number of processes on every node.
        unit = nodes or per_node or 1
        total = draw(st.none() | st.integers(min_value=1, max_value=5).map(lambda k: k * unit))
    else:
        total = draw(OPTIONAL_COUNTS)
    return {'node_count': nodes, 'process_count': total, 'processes_per_node': per_node}


def _computed(resources: ResourceSpecV1) -> Tuple[int, int, int]:
    return (resources.computed_node_count, resources.computed_process_count,
            resources.computed_processes_per_node)


@given(consistent_counts(), consistent_counts())
def test_computed_values_never_go_stale(first: Dict[str, Any], second: Dict[str, Any]) -> None:
    resources = ResourceSpecV1(**first)
    _computed(resources)  # read them once, as a caching implementation would store them
    # Clear the counts first so no intermediate state is refused, then set the new ones.
    for field in first:
        setattr(resources, field, None)
    for field, value in second.items():
        setattr(resources, field, value)
    fresh = ResourceSpecV1(**second)
    assert resources == fresh
    assert _computed(resources) == _computed(fresh)
    nodes, total, per_node = _computed(fresh)
    for field, computed in (('node_count', nodes), ('process_count', total),
                            ('processes_per_node', per_node)):
        if second[field] is not None:
            assert computed == second[field]
    assert total <= nodes * per_node
    assert nodes <= total


# --- JobAttributes -------------------------------------------------------------------------


def test_project_name_is_an_alias_of_account() -> None:
    attributes = JobAttributes(project_name='p1')
    assert attributes.account == 'p1'
    assert attributes.project_name == 'p1'
    attributes.project_name = 'p2'
    assert attributes.account == 'p2'
    attributes.account = 'p3'
    assert attributes.project_name == 'p3'
    attributes.project_name = None
    assert attributes.account is None
    assert JobAttributes(project_name='x') == JobAttributes(account='x')
    assert JobAttributes(account='x', project_name='x').account == 'x'


def test_conflicting_account_and_project_name_are_invalid() -> None:
    with pytest.raises(InvalidJobException, match='account.*project_name'):
        JobAttributes(account='a', project_name='b')


def test_project_name_setter_is_type_checked() -> None:
    attributes = JobAttributes()
    with pytest.raises(TypeError, match=re.escape('JobAttributes.account must be')):
        attributes.project_name = 5  # type: ignore[assignment]


@pytest.mark.parametrize('duration', [timedelta(0), timedelta(seconds=-1),
                                      timedelta(microseconds=-1)])
def test_duration_must_be_positive(duration: timedelta) -> None:
    expected = re.escape('JobAttributes.duration must be a positive timedelta')
    with pytest.raises(InvalidJobException, match=expected):
        JobAttributes(duration=duration)
    attributes = JobAttributes()
    with pytest.raises(InvalidJobException, match=expected):
        attributes.duration = duration
    assert attributes.duration == timedelta(minutes=10)


def test_custom_attributes_helpers() -> None:
    attributes = JobAttributes()
    assert attributes.get_custom_attribute('slurm.constraint') is None
    attributes.set_custom_attribute('slurm.constraint', 'knl')
    assert attributes.get_custom_attribute('slurm.constraint') == 'knl'
    assert attributes.custom_attributes == {'slurm.constraint': 'knl'}


# --- defaults ------------------------------------------------------------------------------


def test_job_spec_defaults() -> None:
    spec = JobSpec()
    assert spec.executable is None
    assert spec.arguments == []
    assert spec.directory is None
    assert spec.name is None
    assert spec.inherit_environment is True
    assert spec.environment is None
    assert spec.stdin_path is None and spec.stdout_path is None and spec.stderr_path is None
    assert spec.pre_launch is None and spec.post_launch is None
    assert spec.launcher is None
    assert isinstance(spec.resources, ResourceSpecV1)
    assert spec.resources == ResourceSpecV1()
    assert spec.attributes == JobAttributes()


def test_resource_spec_defaults() -> None:
    resources = ResourceSpecV1()
    for field in COUNT_FIELDS:
        assert getattr(resources, field) is None
    assert resources.memory is None
    assert resources.exclusive_node_use is False


def test_job_attributes_defaults() -> None:
    attributes = JobAttributes()
    assert attributes.duration == timedelta(minutes=10)
    assert attributes.queue_name is None
    assert attributes.account is None
    assert attributes.project_name is None
    assert attributes.reservation_id is None
    assert attributes.custom_attributes is None


def test_setting_resources_or_attributes_to_none_restores_the_default() -> None:
    spec = JobSpec(resources=ResourceSpecV1(node_count=4),
                   attributes=JobAttributes(queue_name='q'))
    spec.resources = None
    spec.attributes = None
    assert spec.resources == ResourceSpecV1()
    assert spec.attributes == JobAttributes()


# --- equality ------------------------------------------------------------------------------


def test_equality_compares_every_field() -> None:
    assert JobSpec(executable='/bin/true') == JobSpec(executable='/bin/true')
    assert JobSpec(executable='/bin/true') != JobSpec(executable='/bin/false')
    assert JobSpec(directory='a') == JobSpec(directory=pathlib.Path('a'))
    assert JobSpec(resources=ResourceSpecV1(memory=1)) != JobSpec()
    assert JobSpec(attributes=JobAttributes(duration=timedelta(minutes=11))) != JobSpec()
    assert ResourceSpecV1() != ResourceSpecV1(exclusive_node_use=True)
    assert JobAttributes() != JobAttributes(reservation_id='r')
    assert JobSpec() != 'JobSpec()'
