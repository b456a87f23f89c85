"""The [resources], [attributes] and [environment] sections of a map: what every job of the
campaign asks for.

Keys are the field names of the JSON job spec (docs/serialization.md); values are written
as for the ``psij`` command's options (``duration = 30:00``, ``memory = 4G``), with the same
parsers, so a value means the same in a map and on a command line:

* [resources]: ``node_count``, ``process_count``, ``processes_per_node``,
  ``cpu_cores_per_process``, ``gpu_cores_per_process`` (positive integers), ``memory``
  (bytes, or with K/M/G/T), ``exclusive_node_use`` (true or false);
* [attributes]: ``duration`` (SECONDS, MM:SS, HH:MM:SS or D-HH:MM:SS), ``queue_name``,
  ``account``, ``reservation_id``; a key with a dot is a custom attribute
  (``slurm.constraint = haswell``); its value ``true``/``false`` is a flag, anything else
  a string;
* [environment]: ``NAME = VALUE``, set for every job.
"""

import argparse
from typing import Any, Callable, Dict, List, Optional, Union

from psij.campaigns.map_format import JobsMap, MapError, Setting
from psij.cli import option_values
from psij.exceptions import InvalidJobException
from psij.job_attributes import JobAttributes
from psij.job_spec import JobSpec
from psij.resource_spec import ResourceSpecV1

_BOOLEANS = {'true': True, 'false': False}


def _boolean(text: str) -> bool:
    value = _BOOLEANS.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f'must be true or false, not {text!r}')
    return value


_RESOURCE_VALUES: Dict[str, Callable[[str], Any]] = {
    'node_count': option_values.positive_int,
    'process_count': option_values.positive_int,
    'processes_per_node': option_values.positive_int,
    'cpu_cores_per_process': option_values.positive_int,
    'gpu_cores_per_process': option_values.positive_int,
    'memory': option_values.memory_size,
    'exclusive_node_use': _boolean,
}
_ATTRIBUTE_VALUES: Dict[str, Callable[[str], Any]] = {
    'duration': option_values.duration,
    'queue_name': str,
    'account': str,
    'reservation_id': str,
}


def _value(section: str, setting: Setting, parse: Callable[[str], Any], path: str) -> Any:
    try:
        return parse(setting.value)
    except argparse.ArgumentTypeError as error:
        raise MapError(path, setting.line, f'[{section}] {setting.key}: {error}') from error


def _unknown(section: str, setting: Setting, allowed: List[str], path: str) -> MapError:
    return MapError(path, setting.line, f'[{section}]: unknown key {setting.key!r}; allowed: '
                                        f'{", ".join(allowed)}'
                                        + (', or a custom attribute with a dot '
                                           '(slurm.constraint)' if section == 'attributes'
                                           else ''))


def resources(settings: List[Setting], path: str) -> ResourceSpecV1:
    """The resources the [resources] settings ask for."""
    fields: Dict[str, Any] = {}
    for setting in settings:
        parse = _RESOURCE_VALUES.get(setting.key)
        if parse is None:
            raise _unknown('resources', setting, list(_RESOURCE_VALUES), path)
        fields[setting.key] = _value('resources', setting, parse, path)
    try:
        return ResourceSpecV1(**fields)
    except InvalidJobException as error:
        raise MapError(path, settings[0].line if settings else None,
                       f'[resources]: {error.message}') from error


def attributes(settings: List[Setting], path: str) -> JobAttributes:
    """The attributes the [attributes] settings ask for."""
    fields: Dict[str, Any] = {}
    custom: Dict[str, object] = {}
    for setting in settings:
        if '.' in setting.key:
            flag = _BOOLEANS.get(setting.value.lower())
            custom[setting.key] = setting.value if flag is None else flag
            continue
        parse = _ATTRIBUTE_VALUES.get(setting.key)
        if parse is None:
            raise _unknown('attributes', setting, list(_ATTRIBUTE_VALUES), path)
        fields[setting.key] = _value('attributes', setting, parse, path)
    return JobAttributes(custom_attributes=custom or None, **fields)


def environment(settings: List[Setting], path: str) -> Optional[Dict[str, Union[str, int]]]:
    """The variables the [environment] settings set, or None when there are none."""
    variables: Dict[str, Union[str, int]] = {}
    for setting in settings:
        name, value = setting.key, setting.value
        try:
            option_values.environment_variable(f'{name}=')
        except argparse.ArgumentTypeError:
            raise MapError(path, setting.line, f'[environment]: {name!r} is not a variable '
                                               'name (letters, digits and _, not starting '
                                               'with a digit)') from None
        variables[name] = value
    return variables or None


def job_template(jobs_map: JobsMap) -> JobSpec:
    """A spec holding what every job of the map asks for: resources, attributes and
    environment (the runner fills in the command, directory and streams)."""
    path = jobs_map.path
    return JobSpec(resources=resources(jobs_map.settings.get('resources', []), path),
                   attributes=attributes(jobs_map.settings.get('attributes', []), path),
                   environment=environment(jobs_map.settings.get('environment', []), path))
