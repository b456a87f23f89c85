"""Writing a `JobSpec` as JSON and reading it back, exactly.

The document is one JSON object. Every field of the spec is written, ``null`` when unset, with
keys sorted so that equal specs give identical text and diffs stay readable::

    {"arguments": ["-n", "4"],
     "attributes": {"account": "proj1", "custom_attributes": {"slurm.constraint": "knl"},
                    "duration": 600, "queue_name": "debug", "reservation_id": null},
     "cleanup": ["tmp"], "cleanup_flags": ["ALWAYS"],
     "directory": "/scratch/run1", "environment": {"OMP_NUM_THREADS": "2"},
     "executable": "/bin/hostname", "inherit_environment": true, "launcher": "mpirun",
     "name": "run1", "post_launch": null, "pre_launch": null,
     "resources": {"cpu_cores_per_process": 2, "exclusive_node_use": false,
                   "gpu_cores_per_process": null, "memory": 1073741824, "node_count": 2,
                   "process_count": null, "processes_per_node": 4, "version": 1},
     "stage_in": [{"mode": "COPY", "source": "input.dat", "target": "in.dat"}],
     "stage_out": [{"flags": ["IF_PRESENT", "ON_SUCCESS"], "mode": "COPY",
                    "source": "out.dat", "target": "file:///results/out.dat"}],
     "stderr_path": null, "stdin_path": null, "stdout_path": "out.txt", "version": 1}

- ``version`` is the format version (1); ``resources`` carries its own ``version`` (1).
- Paths are strings; environment values are strings.
- ``resources`` holds the counts as given, never the ``computed_*`` values; ``memory`` is in
  bytes.
- ``duration`` is the wall time in seconds: an integer when it is whole, otherwise a number
  with up to six decimals (microseconds).
- ``custom_attributes`` values are plain JSON values.
- File staging (`psij.staging`) as `psij._json_staging` writes it: ``stage_in``,
  ``stage_out`` and ``cleanup`` are lists sorted by their JSON text (``null`` when unset);
  modes and flags are their names.

When reading, a field that is left out takes the constructor's default (``version`` must be
given). Malformed JSON, unknown fields and ill-typed values raise `SpecFormatError`, which is
both an `InvalidJobException` and a `ValueError`; its message starts with the path of the
field (``resources.node_count``) and says what is allowed there.

`JSONSerializer` (and its base `Serializer`) reads and writes psij-python's JSON format
instead, with psij-python's method names; see `psij.psij_python_json`. It is not the default.

Nothing here prints or logs.
"""

import json
import math
from datetime import timedelta
from decimal import Decimal
from typing import IO, Any, Dict, Optional, Union

from psij._json_fields import (
    MICROSECONDS_PER_SECOND,
    SpecFormatError,
    duration_from_decimal,
    join_path,
    parse_json,
    read_bool,
    read_count,
    read_object,
    read_optional_str,
    read_str_list,
    wrong_type,
)
from psij._json_staging import STAGING_FIELDS, staging_from_document, staging_to_document
from psij.exceptions import InvalidJobException
from psij.job_attributes import JobAttributes
from psij.job_spec import JobSpec
from psij.psij_python_json import JSONSerializer, Serializer
from psij.resource_spec import ResourceSpec, ResourceSpecV1

__all__ = [
    'ATTRIBUTE_FIELDS', 'FORMAT_VERSION', 'JSONSerializer', 'RESOURCES_VERSION',
    'RESOURCE_FIELDS', 'SPEC_FIELDS', 'Serializer', 'SpecFormatError', 'dump', 'dumps', 'load',
    'loads', 'spec_from_dict', 'spec_to_dict',
]

FORMAT_VERSION = 1
RESOURCES_VERSION = 1

SPEC_FIELDS = (
    'version', 'executable', 'arguments', 'directory', 'name', 'inherit_environment',
    'environment', 'stdin_path', 'stdout_path', 'stderr_path', 'resources', 'attributes',
    'pre_launch', 'post_launch', 'launcher',
) + STAGING_FIELDS
RESOURCE_FIELDS = (
    'version', 'node_count', 'process_count', 'processes_per_node', 'cpu_cores_per_process',
    'gpu_cores_per_process', 'exclusive_node_use', 'memory',
)
ATTRIBUTE_FIELDS = ('duration', 'queue_name', 'account', 'reservation_id', 'custom_attributes')


# --- writing -----------------------------------------------------------------------------


def spec_to_dict(spec: JobSpec) -> Dict[str, Any]:
    """The JSON-ready form of ``spec``: nested dicts, lists, strings, numbers, booleans, None.

    The result shares no mutable object with ``spec``. Raises `SpecFormatError` when the spec
    could not be read back equal: resources that are not a `ResourceSpecV1` or whose counts
    contradict each other, custom attributes that are not plain JSON values, or a duration
    with a fraction of a second that is too long to be written exactly (over ~31 years).
    """
    if not isinstance(spec, JobSpec):
        raise TypeError(f'spec_to_dict() takes a JobSpec, not {type(spec).__name__}')
    return {
        'version': FORMAT_VERSION,
        'executable': spec.executable,
        'arguments': list(spec.arguments),
        'directory': _path_text(spec.directory),
        'name': spec.name,
        'inherit_environment': spec.inherit_environment,
        'environment': None if spec.environment is None else dict(spec.environment),
        'stdin_path': _path_text(spec.stdin_path),
        'stdout_path': _path_text(spec.stdout_path),
        'stderr_path': _path_text(spec.stderr_path),
        'resources': _resources_to_dict(spec.resources),
        'attributes': _attributes_to_dict(spec.attributes),
        'pre_launch': _path_text(spec.pre_launch),
        'post_launch': _path_text(spec.post_launch),
        'launcher': spec.launcher,
        **staging_to_document(spec),
    }


def dumps(spec: JobSpec, indent: Optional[int] = None) -> str:
    """``spec`` as JSON text, keys sorted; ``indent`` as in `json.dumps`.

    Raises `SpecFormatError` as `spec_to_dict` does.
    """
    return json.dumps(spec_to_dict(spec), indent=indent, sort_keys=True, allow_nan=False)


def dump(spec: JobSpec, fp: IO[str], indent: Optional[int] = None) -> None:
    """Write ``spec`` as JSON, followed by a newline, to the text file ``fp``."""
    fp.write(dumps(spec, indent=indent) + '\n')


def _path_text(path: object) -> Optional[str]:
    return None if path is None else str(path)


def _resources_to_dict(resources: ResourceSpec) -> Dict[str, Any]:
    if not isinstance(resources, ResourceSpecV1):
        raise SpecFormatError(
            'resources', f'only ResourceSpecV1 can be written, not {type(resources).__name__}')
    try:
        resources.check_consistency()
    except InvalidJobException as error:
        raise SpecFormatError('resources', error.message) from error
    return {
        'version': RESOURCES_VERSION,
        'node_count': resources.node_count,
        'process_count': resources.process_count,
        'processes_per_node': resources.processes_per_node,
        'cpu_cores_per_process': resources.cpu_cores_per_process,
        'gpu_cores_per_process': resources.gpu_cores_per_process,
        'exclusive_node_use': resources.exclusive_node_use,
        'memory': resources.memory,
    }


def _attributes_to_dict(attributes: JobAttributes) -> Dict[str, Any]:
    custom = attributes.custom_attributes
    return {
        'duration': _duration_to_seconds(attributes.duration),
        'queue_name': attributes.queue_name,
        'account': attributes.account,
        'reservation_id': attributes.reservation_id,
        'custom_attributes': None if custom is None else _json_copy(
            custom, 'attributes.custom_attributes'),
    }


def _duration_to_seconds(duration: timedelta) -> Union[int, float]:
    """Whole seconds as an int; otherwise a float, checked to read back to ``duration``."""
    whole_seconds = duration.days * 86400 + duration.seconds
    if duration.microseconds == 0:
        return whole_seconds
    seconds = (whole_seconds * MICROSECONDS_PER_SECOND + duration.microseconds) \
        / MICROSECONDS_PER_SECOND
    try:
        exact = _duration_from_seconds(seconds, 'attributes.duration') == duration
    except SpecFormatError:
        exact = False
    if not exact:
        raise SpecFormatError(
            'attributes.duration',
            f'{duration} has a fraction of a second and is too long to be written exactly as '
            'a number of seconds; round it to whole seconds')
    return seconds


# --- reading -----------------------------------------------------------------------------


def spec_from_dict(data: Dict[str, Any]) -> JobSpec:
    """The `JobSpec` described by ``data`` (as made by `spec_to_dict` or parsed JSON).

    Fields that are left out take the constructor's defaults; ``version`` is required.
    Raises `SpecFormatError` naming the field for unknown fields, ill-typed or out-of-range
    values (staging modes and flags other than the names allowed, URIs that do not parse),
    and resource counts that contradict each other.
    """
    document = read_object(data, '', SPEC_FIELDS)
    _read_version(document, '', FORMAT_VERSION)
    return JobSpec(
        executable=read_optional_str(document.get('executable'), 'executable'),
        arguments=read_str_list(document.get('arguments'), 'arguments'),
        directory=read_optional_str(document.get('directory'), 'directory'),
        name=read_optional_str(document.get('name'), 'name'),
        inherit_environment=read_bool(
            document.get('inherit_environment', True), 'inherit_environment'),
        environment=_read_environment(document.get('environment'), 'environment'),
        stdin_path=read_optional_str(document.get('stdin_path'), 'stdin_path'),
        stdout_path=read_optional_str(document.get('stdout_path'), 'stdout_path'),
        stderr_path=read_optional_str(document.get('stderr_path'), 'stderr_path'),
        resources=_resources_from_dict(document.get('resources')),
        attributes=_attributes_from_dict(document.get('attributes')),
        pre_launch=read_optional_str(document.get('pre_launch'), 'pre_launch'),
        post_launch=read_optional_str(document.get('post_launch'), 'post_launch'),
        launcher=read_optional_str(document.get('launcher'), 'launcher'),
        **staging_from_document(document),
    )


def loads(text: Union[str, bytes]) -> JobSpec:
    """The `JobSpec` in the JSON text ``text``.

    Raises `SpecFormatError` for malformed JSON (including keys repeated in one object) and
    for everything `spec_from_dict` rejects (including NaN and infinite numbers).
    """
    return spec_from_dict(parse_json(text))


def load(fp: IO[str]) -> JobSpec:
    """The `JobSpec` in the JSON file ``fp``; errors as in `loads`."""
    return loads(fp.read())


def _resources_from_dict(value: object) -> Optional[ResourceSpecV1]:
    if value is None:
        return None
    fields = read_object(value, 'resources', RESOURCE_FIELDS)
    _read_version(fields, 'resources', RESOURCES_VERSION)
    node_count = read_count(fields.get('node_count'), 'resources.node_count', 1)
    process_count = read_count(fields.get('process_count'), 'resources.process_count', 1)
    processes_per_node = read_count(
        fields.get('processes_per_node'), 'resources.processes_per_node', 1)
    cpu_cores = read_count(
        fields.get('cpu_cores_per_process'), 'resources.cpu_cores_per_process', 1)
    gpu_cores = read_count(
        fields.get('gpu_cores_per_process'), 'resources.gpu_cores_per_process', 1)
    exclusive = read_bool(
        fields.get('exclusive_node_use', False), 'resources.exclusive_node_use')
    memory = read_count(fields.get('memory'), 'resources.memory', 0)
    try:
        return ResourceSpecV1(
            node_count=node_count, process_count=process_count,
            processes_per_node=processes_per_node, cpu_cores_per_process=cpu_cores,
            gpu_cores_per_process=gpu_cores, exclusive_node_use=exclusive, memory=memory)
    except InvalidJobException as error:
        raise SpecFormatError('resources', error.message) from error


def _attributes_from_dict(value: object) -> Optional[JobAttributes]:
    if value is None:
        return None
    fields = read_object(value, 'attributes', ATTRIBUTE_FIELDS)
    custom = fields.get('custom_attributes')
    if custom is not None:
        if not isinstance(custom, dict):
            raise wrong_type(custom, 'attributes.custom_attributes', 'an object or null')
        custom = _json_copy(custom, 'attributes.custom_attributes')
    attributes = JobAttributes(
        queue_name=read_optional_str(fields.get('queue_name'), 'attributes.queue_name'),
        account=read_optional_str(fields.get('account'), 'attributes.account'),
        reservation_id=read_optional_str(
            fields.get('reservation_id'), 'attributes.reservation_id'),
        custom_attributes=custom)
    if 'duration' in fields:
        attributes.duration = _read_duration(fields['duration'], 'attributes.duration')
    return attributes


def _read_duration(value: object, path: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wrong_type(value, path, 'a positive number of seconds')
    duration = _duration_from_seconds(value, path)
    if duration <= timedelta(0):
        raise SpecFormatError(path, f'must be a positive number of seconds, not {value}')
    return duration


def _duration_from_seconds(seconds: Union[int, float], path: str) -> timedelta:
    """``seconds`` as a timedelta, rounded to the nearest microsecond (as `timedelta` does).

    A float is taken as the decimal number it is written as, so that ``300.000001`` is exactly
    300 s and 1 µs.
    """
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise SpecFormatError(path, f'must be a finite number of seconds, not {seconds}')
    exact = Decimal(repr(seconds)) if isinstance(seconds, float) else Decimal(seconds)
    return duration_from_decimal(exact, path, f'{seconds} seconds')


def _read_version(fields: Dict[str, Any], path: str, expected: int) -> None:
    version_path = join_path(path, 'version')
    if 'version' not in fields:
        raise SpecFormatError(version_path, f'is missing; it must be {expected}')
    version = fields['version']
    if isinstance(version, bool) or not isinstance(version, int) or version != expected:
        raise SpecFormatError(
            version_path, f'{version!r} is not supported; the only version is {expected}')


def _read_environment(value: object, path: str) -> Optional[Dict[str, Union[str, int]]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise wrong_type(value, path, 'an object with string values, or null')
    environment: Dict[str, Union[str, int]] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise wrong_type(key, path, 'an object with string keys')
        if not isinstance(item, str):
            raise wrong_type(item, f'{path}[{json.dumps(key)}]', 'a string')
        environment[key] = item
    return environment


def _json_copy(value: object, path: str) -> Any:
    """A deep copy of ``value`` if it is a plain JSON value; `SpecFormatError` otherwise.

    Tuples, sets, non-string keys, NaN and infinities are refused rather than changed, since
    they would not read back equal.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecFormatError(path, f'{value} is not allowed: numbers must be finite')
        return value
    if isinstance(value, list):
        return [_json_copy(item, f'{path}[{index}]') for index, item in enumerate(value)]
    if isinstance(value, dict):
        copy: Dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise wrong_type(key, path, 'an object with string keys')
            copy[key] = _json_copy(item, f'{path}[{json.dumps(key)}]')
        return copy
    raise wrong_type(value, path, 'a JSON value (null, boolean, number, string, list, or '
                                   'object with string keys)')
