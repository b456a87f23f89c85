"""The keys a configuration file may hold, their types, and the check of a merged tree.

The schema is explicit: `TOP_KEYS`, `PROFILE_KEYS`, `RESOURCE_KEYS` and `ATTRIBUTE_KEYS`
below, and the settings of the profile's executor (`psij.configuration.executor_settings`).
docs/configuration.md has the same tables for users; a test checks that they agree.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Dict, Mapping, Optional

from psij.configuration.executor_settings import settings as executor_settings
from psij.configuration.merge import KeyPath


class BadValue(ValueError):
    """A value that its key does not allow (the message says what is allowed)."""


@dataclass(frozen=True)
class Key:
    """One key of a table: what it holds (``allowed``, in words) and how its TOML value
    becomes the value psij uses (``convert`` raises `BadValue`)."""

    allowed: str
    convert: Callable[[Any], Any]
    meaning: str


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue('must be a string')
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadValue('must be a non-empty string')
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadValue('must be an integer of 1 or more')
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue('must be true or false')
    return value


def _memory(value: Any) -> int:
    if isinstance(value, str):
        import argparse

        from psij.cli.option_values import memory_size  # the rule of --memory, in one place
        try:
            return memory_size(value)
        except argparse.ArgumentTypeError as error:
            raise BadValue(str(error)) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadValue('must be a number of bytes (0 or more) or a size such as "4G"')
    return value


def _duration(value: Any) -> timedelta:
    if isinstance(value, str):
        import argparse

        from psij.cli.option_values import duration  # the rule of --time, in one place
        try:
            return duration(value)
        except argparse.ArgumentTypeError as error:
            raise BadValue(str(error)) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise BadValue('must be a number of seconds greater than 0 or "HH:MM:SS" (also '
                       'SECONDS, MM:SS, D-HH:MM:SS)')
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise BadValue(f'{value} seconds is longer than the longest duration') from None


_SCALAR = (str, int, float, bool)


def _custom_attributes(value: Any) -> Dict[str, object]:
    """A table of executor-specific options; nested tables become dotted keys, so that
    ``slurm.constraint = "gpu"`` and ``"slurm.constraint" = "gpu"`` are the same."""
    if not isinstance(value, dict):
        raise BadValue('must be a table of "executor.option" = value')
    flat: Dict[str, object] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            for inner, inner_value in _custom_attributes(item).items():
                flat[f'{key}.{inner}'] = inner_value
        elif isinstance(item, _SCALAR):
            flat[key] = item
        else:
            raise BadValue(f'{key!r}: a custom attribute must be a string, number or '
                           'boolean')
    return flat


#: The keys of ``[profile.NAME.resources]``: fields of `psij.ResourceSpecV1`.
RESOURCE_KEYS: Dict[str, Key] = {
    'node_count': Key('an integer >= 1', _positive_int, 'compute nodes'),
    'process_count': Key('an integer >= 1', _positive_int, 'processes (ranks) in all'),
    'processes_per_node': Key('an integer >= 1', _positive_int, 'processes on each node'),
    'cpu_cores_per_process': Key('an integer >= 1', _positive_int, 'CPU cores per process'),
    'gpu_cores_per_process': Key('an integer >= 1', _positive_int, 'GPUs per process'),
    'exclusive_node_use': Key('true or false', _bool, 'no other job on the nodes'),
    'memory': Key('bytes, or a size such as "4G"', _memory, 'memory for the whole job'),
}

#: The keys of ``[profile.NAME.attributes]``: fields of `psij.JobAttributes`.
ATTRIBUTE_KEYS: Dict[str, Key] = {
    'duration': Key('seconds, or "HH:MM:SS"', _duration, 'wall time'),
    'queue_name': Key('a string', _string, 'queue (Slurm: partition)'),
    'account': Key('a string', _string, 'account billed'),
    'project_name': Key('a string', _string, 'the old name of account'),
    'reservation_id': Key('a string', _string, 'advance reservation'),
    'custom_attributes': Key('a table', _custom_attributes,
                             'executor-specific options, e.g. "slurm.constraint" = "gpu"'),
}

#: The keys of ``[profile.NAME]`` besides the settings of its executor.
PROFILE_KEYS: Dict[str, Key] = {
    'executor': Key('an executor name', _name, 'the executor (`psij executors` lists them)'),
    'url': Key('a string', _string, 'where the executor runs its commands (ssh://host)'),
    'launcher': Key('a launcher name', _name, 'how processes are started'),
    'resources': Key('a table', dict, 'see RESOURCE_KEYS'),
    'attributes': Key('a table', dict, 'see ATTRIBUTE_KEYS'),
}

#: The keys at the top of a file.
TOP_KEYS: Dict[str, Key] = {
    'profile': Key('a table of profiles', dict, 'named sets of job and executor settings'),
}


@dataclass(frozen=True)
class ProfileValues:
    """The checked values of one profile (see `psij.configuration.Profile`)."""

    executor: Optional[str]
    url: Optional[str]
    launcher: Optional[str]
    resources: Dict[str, Any]
    attributes: Dict[str, Any]
    settings: Dict[str, Any]


#: Raises the error of a key: (its path, the message).
Fail = Callable[[KeyPath, str], Exception]


def check_tree(tree: Mapping[str, Any], fail: Fail) -> Dict[str, ProfileValues]:
    """The profiles of a merged tree, each checked; raises ``fail(path, message)`` for the
    first key that is unknown or holds a value of the wrong type."""
    _check_known(tree, TOP_KEYS, (), fail)
    profiles = tree.get('profile', {})
    if not isinstance(profiles, dict):
        raise fail(('profile',), 'must be a table of profiles ([profile.NAME])')
    checked: Dict[str, ProfileValues] = {}
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise fail(('profile', name), 'a profile must be a table ([profile.NAME])')
        checked[name] = _check_profile(('profile', name), table, fail)
    return checked


def _check_known(table: Mapping[str, Any], keys: Mapping[str, Any], path: KeyPath,
                 fail: Fail) -> None:
    for key in table:
        if key not in keys:
            where = f'in [{".".join(path)}] ' if path else ''
            raise fail(path + (key,), f'unknown key {key!r} {where}(allowed: '
                                      f'{", ".join(keys)})')


def _convert(keys: Mapping[str, Key], table: Mapping[str, Any], path: KeyPath,
             fail: Fail) -> Dict[str, Any]:
    _check_known(table, keys, path, fail)
    values: Dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key] = keys[key].convert(value)
        except BadValue as error:
            raise fail(path + (key,), f'{key} {error}, not {value!r}') from None
        except (TypeError, ValueError):
            raise fail(path + (key,), f'{key} must be {keys[key].allowed}, not '
                                      f'{value!r}') from None
    return values


def _check_profile(path: KeyPath, table: Mapping[str, Any], fail: Fail) -> ProfileValues:
    executor = table.get('executor')
    if executor is not None:
        _convert({'executor': PROFILE_KEYS['executor']}, {'executor': executor}, path, fail)
    try:
        allowed_settings = executor_settings(executor)
    except (ValueError, ImportError) as error:
        raise fail(path + ('executor',), f'executor: {error}') from None
    own = {key: value for key, value in table.items() if key not in allowed_settings}
    allowed = list(PROFILE_KEYS) + list(allowed_settings)
    for key in own:
        if key not in PROFILE_KEYS:
            which = f'executor {executor!r}' if executor else 'a profile without executor'
            raise fail(path + (key,), f'unknown key {key!r} in [{".".join(path)}]: not a '
                                      f'setting of {which} (allowed: {", ".join(allowed)})')
    values = _convert(PROFILE_KEYS, own, path, fail)
    resources = _convert(RESOURCE_KEYS, values.get('resources', {}), path + ('resources',),
                         fail)
    attributes = _convert(ATTRIBUTE_KEYS, values.get('attributes', {}),
                          path + ('attributes',), fail)
    _merge_project_name(attributes, path, fail)
    settings: Dict[str, Any] = {}
    for key, value in table.items():
        if key in allowed_settings:
            accepts, what = allowed_settings[key]
            if not accepts(value):
                raise fail(path + (key,), f'{key} must be {what}, not {value!r}')
            settings[key] = value
    return ProfileValues(values.get('executor'), values.get('url'), values.get('launcher'),
                         resources, attributes, settings)


def _merge_project_name(attributes: Dict[str, Any], path: KeyPath, fail: Fail) -> None:
    project: Optional[str] = attributes.pop('project_name', None)
    if project is None:
        return
    account = attributes.setdefault('account', project)
    if account != project:
        raise fail(path + ('attributes', 'project_name'),
                   'account and project_name are the same field; got account='
                   f'{account!r} and project_name={project!r}')
