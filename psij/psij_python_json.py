"""psij-python's JSON format for job specs, read and written by `JSONSerializer`.

Specs written by psij-python 0.9.11's ``psij.serialize.JSONSerializer`` load here, and specs
written here load there. The format, as psij-python writes it:

- One JSON object whose keys are `JobSpec` constructor parameters, in their order; only the
  fields that differ from the constructor's defaults are there. There is no format version.
- Strings for ``executable``, ``name``, ``launcher`` and the paths (``directory``,
  ``stdin_path``, ``stdout_path``, ``stderr_path``, ``pre_launch``, ``post_launch``); a list
  of strings for ``arguments``; a boolean ``inherit_environment``; an object of strings for
  ``environment``.
- ``name`` equal to ``executable`` when no name was set (psij-python's ``JobSpec.name`` falls
  back to the executable); so here too. Read here, a name equal to the executable is no
  name.
- ``resources``: the `ResourceSpecV1` fields that are set, and ``"__version": 1``; no key
  when the spec has none.
- ``attributes``: always there, ``{}`` for the defaults. ``duration`` is a string, seconds
  followed by `` s`` (``"300.0 s"``); ``queue_name``, ``account`` (and ``project_name``, the
  same value) and ``reservation_id`` are strings; ``custom_attributes`` is an object whose
  values are strings, integers or booleans: psij-python can write and read no other kind.
- ``stage_in``, ``stage_out``, ``cleanup`` and ``cleanup_flags`` (the last only when it is not
  ALWAYS), after ``launcher``, in the form of `psij._json_staging`, as in psij's own format.
  psij-python 0.9.11 has no file staging and cannot read these keys; the form its main branch
  will use is not documented yet, so this one is psij's.

For the same spec, the writer here gives psij-python's text, but where psij-python would not
read back what was meant: a duration is written in whole seconds (``"300 s"``), because
psij-python 0.9.11 reads its own ``"300.0 s"`` as 0 s (it takes the digits just before the
unit) and can read no fraction of a second, so a duration with one is refused; ``project_name`` is
left out (it is ``account``, and psij-python logs a deprecation warning when it reads it);
anything else psij-python cannot read is refused, naming the field.

The reader takes what psij-python writes and what its reader takes: durations as
``"<seconds> s"`` (a fraction is read exactly), ``"<n> h"``, ``"<n> m"``, ``"hh:mm:ss"``,
``"hh:mm"`` or ``"<minutes>"``, and ``null`` for a field whose default is ``null``. Unknown
fields, values of the wrong type, and resource counts that contradict each other raise
`SpecFormatError` naming the field and what is allowed there. Nothing here prints or logs.
"""

import io
import json
import re
from abc import ABC, abstractmethod
from datetime import timedelta
from decimal import Decimal
from typing import IO, Any, Dict, Optional

from psij._json_fields import (
    SpecFormatError,
    duration_from_decimal,
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
from psij.resource_spec import ResourceSpec, ResourceSpecV1
from psij.staging import StageOutFlags

#: The keys of a document, in the order psij-python writes them.
SPEC_KEYS = ('executable', 'arguments', 'directory', 'name', 'inherit_environment',
             'environment', 'stdin_path', 'stdout_path', 'stderr_path', 'resources',
             'attributes', 'pre_launch', 'post_launch', 'launcher') + STAGING_FIELDS
RESOURCE_KEYS = ('node_count', 'process_count', 'processes_per_node', 'cpu_cores_per_process',
                 'gpu_cores_per_process', 'exclusive_node_use', 'memory', '__version')
ATTRIBUTE_KEYS = ('duration', 'queue_name', 'account', 'reservation_id', 'custom_attributes',
                  'project_name')

_PATH_KEYS = ('directory', 'stdin_path', 'stdout_path', 'stderr_path', 'pre_launch',
              'post_launch')
_COUNT_KEYS = ('node_count', 'process_count', 'processes_per_node', 'cpu_cores_per_process',
               'gpu_cores_per_process')
_DEFAULT_DURATION = timedelta(minutes=10)
_CUSTOM_VALUE = 'a string, an integer or a boolean (psij-python can read no other kind)'
_DURATION_FORMATS = ('"<seconds> s" (as psij-python writes it, e.g. "600.0 s"), "<n> h", '
                     '"<n> m", "hh:mm:ss", "hh:mm" or "<minutes>"')

_NUMBER_WITH_UNIT = re.compile(r'((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([hms])')
_CLOCK = re.compile(r'(\d+):(\d+)(?::(\d+))?')
_UNIT_SECONDS = {'h': 3600, 'm': 60, 's': 1}


# --- writing -----------------------------------------------------------------------------


def spec_to_psij_python_dict(spec: JobSpec) -> Dict[str, Any]:
    """The psij-python document of ``spec``, ready for `json.dumps`; shares nothing with it.

    Raises `SpecFormatError` naming the field for what psij-python could not read back:
    resources that are not a `ResourceSpecV1` or whose counts contradict each other, a
    duration with a fraction of a second, custom attribute values other than strings,
    integers and booleans.
    """
    if not isinstance(spec, JobSpec):
        raise TypeError(f'spec_to_psij_python_dict() takes a JobSpec, not {type(spec).__name__}')
    values: Dict[str, Any] = {
        'executable': spec.executable,
        'arguments': list(spec.arguments) or None,
        # psij-python's JobSpec.name is the executable when no name was set.
        'name': spec.executable if spec.name is None else spec.name,
        'inherit_environment': None if spec.inherit_environment else False,
        'environment': None if spec.environment is None else dict(spec.environment),
        'resources': _resources_to_dict(spec.resources),
        'attributes': _attributes_to_dict(spec.attributes),
        'launcher': spec.launcher,
    }
    staging = staging_to_document(spec)
    if spec.cleanup_flags == StageOutFlags.ALWAYS:
        staging['cleanup_flags'] = None  # the default: left out, as every default is
    values.update(staging)
    for key in _PATH_KEYS:
        path = getattr(spec, key)
        values[key] = None if path is None else str(path)
    return {key: values[key] for key in SPEC_KEYS if values[key] is not None}


def _resources_to_dict(resources: ResourceSpec) -> Optional[Dict[str, Any]]:
    if not isinstance(resources, ResourceSpecV1):
        raise SpecFormatError(
            'resources', f'only ResourceSpecV1 can be written, not {type(resources).__name__}')
    try:
        resources.check_consistency()
    except InvalidJobException as error:
        raise SpecFormatError('resources', error.message) from error
    fields: Dict[str, Any] = {key: getattr(resources, key) for key in _COUNT_KEYS
                              if getattr(resources, key) is not None}
    if resources.exclusive_node_use:
        fields['exclusive_node_use'] = True
    if resources.memory is not None:
        fields['memory'] = resources.memory
    if not fields:
        return None
    fields['__version'] = resources.version
    return fields


def _attributes_to_dict(attributes: JobAttributes) -> Dict[str, Any]:
    fields: Dict[str, Any] = {}
    if attributes.duration != _DEFAULT_DURATION:
        fields['duration'] = _duration_text(attributes.duration)
    for key in ('queue_name', 'account', 'reservation_id'):
        if getattr(attributes, key) is not None:
            fields[key] = getattr(attributes, key)
    custom = attributes.custom_attributes
    if custom is not None:
        fields['custom_attributes'] = _custom_attributes(custom, 'attributes.custom_attributes')
    return fields


def _duration_text(duration: timedelta) -> str:
    if duration.microseconds:
        raise SpecFormatError(
            'attributes.duration',
            f'{duration} has a fraction of a second, which psij-python cannot read (it takes '
            '"0.5 s" for 5 s); round it to whole seconds')
    return f'{duration.days * 86400 + duration.seconds} s'


def _custom_attributes(custom: Dict[Any, Any], path: str) -> Dict[str, Any]:
    """A copy of ``custom`` after checking its keys and values are ones psij-python reads."""
    copy: Dict[str, Any] = {}
    for key, value in custom.items():
        if not isinstance(key, str):
            raise wrong_type(key, path, 'an object with string keys')
        # bool is an int; float, None, lists and objects are not.
        if not isinstance(value, (str, int)):
            raise wrong_type(value, f'{path}[{json.dumps(key)}]', _CUSTOM_VALUE)
        copy[key] = value
    return copy


# --- reading -----------------------------------------------------------------------------


def spec_from_psij_python_dict(data: Dict[str, Any]) -> JobSpec:
    """The `JobSpec` described by the psij-python document ``data`` (parsed JSON).

    Raises `SpecFormatError` naming the field for unknown fields, ill-typed or out-of-range
    values (staging modes and flags other than the names allowed, URIs that do not parse),
    and resource counts that contradict each other.
    """
    if isinstance(data, dict) and 'version' in data:
        raise SpecFormatError(
            'version', "unknown field: psij-python's format has no version; this looks like "
            "psij's own format, which psij.serialize.loads reads")
    document = read_object(data, '', SPEC_KEYS)
    executable = read_optional_str(document.get('executable'), 'executable')
    name = read_optional_str(document.get('name'), 'name')
    if name is not None and name == executable:
        name = None  # psij-python writes the executable as the name when none was set
    paths: Dict[str, Any] = {key: read_optional_str(document.get(key), key)
                             for key in _PATH_KEYS}
    return JobSpec(
        executable=executable,
        arguments=read_str_list(document.get('arguments'), 'arguments'),
        name=name,
        inherit_environment=read_bool(
            document.get('inherit_environment', True), 'inherit_environment'),
        environment=_read_environment(document.get('environment'), 'environment'),
        resources=_resources_from_dict(document.get('resources')),
        attributes=_attributes_from_dict(document.get('attributes')),
        launcher=read_optional_str(document.get('launcher'), 'launcher'),
        **staging_from_document(document),
        **paths)


def _read_environment(value: object, path: str) -> Optional[Dict[str, Any]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise wrong_type(value, path, 'an object with string values, or null')
    for key, item in value.items():
        # psij-python's JobSpec turns integer values into strings, and so does ours.
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise wrong_type(item, f'{path}[{json.dumps(key)}]', 'a string or an integer')
    return dict(value)


def _resources_from_dict(value: object) -> Optional[ResourceSpecV1]:
    if value is None:
        return None
    fields = read_object(value, 'resources', RESOURCE_KEYS)
    if '__version' not in fields:
        raise SpecFormatError('resources.__version', 'is missing; it must be 1')
    version = fields['__version']
    if isinstance(version, bool) or version != 1:
        raise SpecFormatError('resources.__version',
                              f'{version!r} is not supported; the only version is 1')
    counts = {key: read_count(fields.get(key), f'resources.{key}', 1) for key in _COUNT_KEYS}
    exclusive = read_bool(fields.get('exclusive_node_use', False), 'resources.exclusive_node_use')
    memory = read_count(fields.get('memory'), 'resources.memory', 0)
    try:
        return ResourceSpecV1(exclusive_node_use=exclusive, memory=memory, **counts)
    except InvalidJobException as error:
        raise SpecFormatError('resources', error.message) from error


def _attributes_from_dict(value: object) -> Optional[JobAttributes]:
    if value is None:
        return None
    fields = read_object(value, 'attributes', ATTRIBUTE_KEYS)
    account = read_optional_str(fields.get('account'), 'attributes.account')
    project_name = read_optional_str(fields.get('project_name'), 'attributes.project_name')
    if project_name is not None:
        if account is not None and account != project_name:
            raise SpecFormatError(
                'attributes.project_name', f'{project_name!r} differs from attributes.account '
                f'{account!r}; they are two names of one field')
        account = project_name
    custom = fields.get('custom_attributes')
    if custom is not None:
        if not isinstance(custom, dict):
            raise wrong_type(custom, 'attributes.custom_attributes', 'an object or null')
        custom = _custom_attributes(custom, 'attributes.custom_attributes')
    attributes = JobAttributes(
        queue_name=read_optional_str(fields.get('queue_name'), 'attributes.queue_name'),
        account=account,
        reservation_id=read_optional_str(
            fields.get('reservation_id'), 'attributes.reservation_id'),
        custom_attributes=custom)
    if 'duration' in fields:
        duration = _read_duration(fields['duration'], 'attributes.duration')
        if duration <= timedelta(0):
            raise SpecFormatError('attributes.duration',
                                  f'must be positive, not {fields["duration"]!r}')
        attributes.duration = duration
    return attributes


def _read_duration(value: object, path: str) -> timedelta:
    if not isinstance(value, str):
        raise wrong_type(value, path, f'a duration string: {_DURATION_FORMATS}')
    text = value.strip()
    with_unit = _NUMBER_WITH_UNIT.fullmatch(text)
    clock = _CLOCK.fullmatch(text)
    if with_unit is not None:
        return duration_from_decimal(Decimal(with_unit.group(1)), path, repr(value),
                                     _UNIT_SECONDS[with_unit.group(2)])
    if text.isdigit():
        return duration_from_decimal(Decimal(text), path, repr(value), 60)
    if clock is None:
        raise SpecFormatError(path, f'{value!r} is not a duration; use {_DURATION_FORMATS}')
    # Decimal, not int: a number of thousands of digits is too long, not a crash.
    hours, minutes, rest = (Decimal(part or 0) for part in clock.groups())
    return duration_from_decimal(hours * 3600 + minutes * 60 + rest, path, repr(value))


# --- the serializer ------------------------------------------------------------------------


class Serializer(ABC):
    """Writes a `JobSpec` as text and reads it back, with psij-python's method names.

    A subclass writes and reads the document of `spec_to_psij_python_dict` in its own
    syntax by implementing `_dump_dict` and `_load_dict`, as a subclass of psij-python's
    ``Serializer`` does; `JSONSerializer` is the one psij has.
    """

    def dump(self, spec: JobSpec, stream: IO[str]) -> None:
        """Write ``spec`` to the text stream ``stream``.

        Raises `SpecFormatError` naming the field for what psij-python could not read back.
        """
        self._dump_dict(spec_to_psij_python_dict(spec), stream)

    def load(self, stream: IO[str]) -> JobSpec:
        """The `JobSpec` read from the text stream ``stream``.

        Raises `SpecFormatError` naming the field for a document that cannot be read.
        """
        return spec_from_psij_python_dict(self._load_dict(stream))

    def dumps(self, spec: JobSpec) -> str:
        """``spec`` as text; errors as in `dump`."""
        stream = io.StringIO()
        self.dump(spec, stream)
        return stream.getvalue()

    def loads(self, text: str) -> JobSpec:
        """The `JobSpec` in ``text``; errors as in `load`."""
        if not isinstance(text, str):
            raise TypeError(f'loads() takes a str, not {type(text).__name__}')
        return self.load(io.StringIO(text))

    @abstractmethod
    def _dump_dict(self, data: Dict[str, Any], stream: IO[str]) -> None:
        """Write the document ``data`` (dicts, lists, strings, integers, booleans) to
        ``stream``."""

    @abstractmethod
    def _load_dict(self, stream: IO[str]) -> Dict[str, Any]:
        """The document read from ``stream``."""


class JSONSerializer(Serializer):
    """psij-python's JSON format: one line, as psij-python's ``JSONSerializer`` writes it
    (but for the differences listed in `psij.psij_python_json`)."""

    def _dump_dict(self, data: Dict[str, Any], stream: IO[str]) -> None:
        text = json.dumps(data, allow_nan=False)
        try:
            stream.write(text)
        except TypeError as error:  # a binary stream
            raise TypeError('JSONSerializer writes text: give it a text stream, such as '
                            'open(path, "w")') from error

    def _load_dict(self, stream: IO[str]) -> Dict[str, Any]:
        text = stream.read()
        if not isinstance(text, str):
            raise TypeError('JSONSerializer reads text: give it a text stream, such as '
                            'open(path)')
        data: Dict[str, Any] = parse_json(text)
        return data
