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

def _positive_memory(value: Any) -> int:
    size = _memory(value)
    if size < 1:
        raise BadValue('must be a size greater than 0 (bytes, or a size such as "4G")')
    return size


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadValue('must be a path (a non-empty string)')
    return value


#: The limits of ``[site.NAME.queue.QNAME]`` (and of
#: ``BatchSchedulerExecutorConfig.queue_limits``): fields of `psij.queue_limits.QueueLimits`.
QUEUE_LIMIT_KEYS: Dict[str, Key] = {
    'min_nodes': Key('an integer >= 1', _positive_int, 'fewest nodes a job may ask for'),
    'max_nodes': Key('an integer >= 1', _positive_int, 'most nodes a job may ask for'),
    'max_cores': Key('an integer >= 1', _positive_int,
                     'most CPU cores of a job (processes x cores per process)'),
    'max_gpus': Key('an integer >= 1', _positive_int,
                    'most GPUs of a job (processes x GPUs per process)'),
    'max_memory': Key('bytes, or a size such as "64G"', _positive_memory,
                      'most memory of a job (the whole job)'),
    'min_duration': Key('seconds, or "HH:MM:SS"', _duration, 'shortest wall time'),
    'max_duration': Key('seconds, or "HH:MM:SS"', _duration, 'longest wall time'),
}

#: The keys of ``[site.NAME.queue.QNAME]``: the limits, and the queue's job script template.
QUEUE_KEYS: Dict[str, Key] = {
    **QUEUE_LIMIT_KEYS,
    'template': Key('a path', _path, 'the job script template of this queue (a file)'),
}

#: The keys of ``[site.NAME]`` besides the settings of its executor.
SITE_KEYS: Dict[str, Key] = {
    'executor': Key('an executor name', _name, 'the executor of the site (required)'),
    'url': Key('a string', _string, 'where the executor runs its commands (ssh://host)'),
    'queue': Key('a table of queues', dict, 'see QUEUE_KEYS ([site.NAME.queue.QNAME])'),
}

#: The keys of ``[profile.NAME]`` besides the settings of its executor.
PROFILE_KEYS: Dict[str, Key] = {
    'executor': Key('an executor name', _name, 'the executor (`psij executors` lists them)'),
    'url': Key('a string', _string, 'where the executor runs its commands (ssh://host)'),
    'launcher': Key('a launcher name', _name, 'how processes are started'),
    'resources': Key('a table', dict, 'see RESOURCE_KEYS'),
    'attributes': Key('a table', dict, 'see ATTRIBUTE_KEYS'),
    'site': Key('a site name', _name, 'take the executor, url and settings of [site.NAME]'),
}

#: The keys at the top of a file.
TOP_KEYS: Dict[str, Key] = {
    'profile': Key('a table of profiles', dict, 'named sets of job and executor settings'),
    'site': Key('a table of sites', dict, 'named clusters: executor, url, settings, queues'),
}


@dataclass(frozen=True)
class ProfileValues:
    """The checked values of one profile (see `psij.configuration.Profile`); those of its
    site (``site``) already under its own."""

    executor: Optional[str]
    url: Optional[str]
    launcher: Optional[str]
    resources: Dict[str, Any]
    attributes: Dict[str, Any]
    settings: Dict[str, Any]
    site: Optional[str] = None


@dataclass(frozen=True)
class SiteValues:
    """The checked values of one ``[site.NAME]``: its executor, url and executor settings;
    its queue tables are in ``settings`` as ``queue_limits`` and ``queue_templates``."""

    executor: str
    url: Optional[str]
    settings: Dict[str, Any]


@dataclass(frozen=True)
class CheckedTree:
    """What `check_tree` found: the profiles and the sites, by name."""

    profiles: Dict[str, ProfileValues]
    sites: Dict[str, SiteValues]


#: Raises the error of a key: (its path, the message).
Fail = Callable[[KeyPath, str], Exception]


def check_tree(tree: Mapping[str, Any], fail: Fail) -> CheckedTree:
    """The profiles and sites of a merged tree, each checked; raises ``fail(path, message)``
    for the first key that is unknown or holds a value of the wrong type."""
    _check_known(tree, TOP_KEYS, (), fail)
    sites = {name: _check_site(('site', name), table, fail)
             for name, table in _tables(tree, 'site', fail).items()}
    profiles = {name: _check_profile(('profile', name), table, fail, sites)
                for name, table in _tables(tree, 'profile', fail).items()}
    return CheckedTree(profiles, sites)


def _tables(tree: Mapping[str, Any], kind: str, fail: Fail) -> Dict[str, Dict[str, Any]]:
    tables = tree.get(kind, {})
    if not isinstance(tables, dict):
        raise fail((kind,), f'must be a table of {kind}s ([{kind}.NAME])')
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise fail((kind, name), f'a {kind} must be a table ([{kind}.NAME])')
    return tables


def _check_site(path: KeyPath, table: Mapping[str, Any], fail: Fail) -> SiteValues:
    if 'executor' not in table:
        raise fail(path, f'[{".".join(path)}] must name its executor (executor = "slurm")')
    own = {key: value for key, value in table.items() if key in SITE_KEYS}
    settings = _check_settings(path, table, fail, SITE_KEYS, 'a site')
    values = _convert(SITE_KEYS, own, path, fail)
    limits: Dict[str, Dict[str, Any]] = dict(settings.get('queue_limits', {}))
    templates: Dict[str, Any] = dict(settings.get('queue_templates', {}))
    for queue, queue_table in values.get('queue', {}).items():
        where = path + ('queue', queue)
        if not isinstance(queue_table, dict):
            raise fail(where, f'a queue must be a table ([{".".join(where)}])')
        checked = _convert(QUEUE_KEYS, queue_table, where, fail)
        template = checked.pop('template', None)
        if template is not None:
            templates[queue] = template
        if checked:
            limits[queue] = checked
    if limits:
        settings['queue_limits'] = limits
    if templates:
        settings['queue_templates'] = templates
    return SiteValues(values['executor'], values.get('url'), settings)


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


def _check_settings(path: KeyPath, table: Mapping[str, Any], fail: Fail,
                    keys: Mapping[str, Key], what: str,
                    executor: Optional[str] = None) -> Dict[str, Any]:
    """The executor settings of ``table`` (a profile's or a site's, whose own keys are
    ``keys``), each checked against its parameter's type."""
    executor = table.get('executor', executor)
    if executor is not None:
        _convert({'executor': keys['executor']}, {'executor': executor}, path, fail)
    try:
        allowed_settings = executor_settings(executor)
    except (ValueError, ImportError) as error:
        raise fail(path + ('executor',), f'executor: {error}') from None
    allowed = list(keys) + list(allowed_settings)
    for key in table:
        if key not in keys and key not in allowed_settings:
            which = f'executor {executor!r}' if executor else f'{what} without executor'
            raise fail(path + (key,), f'unknown key {key!r} in [{".".join(path)}]: not a '
                                      f'setting of {which} (allowed: {", ".join(allowed)})')
    settings: Dict[str, Any] = {}
    for key, value in table.items():
        if key in allowed_settings and key not in keys:
            accepts, kind = allowed_settings[key]
            if not accepts(value):
                raise fail(path + (key,), f'{key} must be {kind}, not {value!r}')
            settings[key] = value
    return settings


def _check_profile(path: KeyPath, table: Mapping[str, Any], fail: Fail,
                   sites: Mapping[str, SiteValues]) -> ProfileValues:
    site_name = table.get('site')
    site: Optional[SiteValues] = None
    if site_name is not None:
        _convert({'site': PROFILE_KEYS['site']}, {'site': site_name}, path, fail)
        site = sites.get(site_name)
        if site is None:
            raise fail(path + ('site',), f'no site {site_name!r} (known: '
                                         f'{", ".join(sorted(sites)) or "none"})')
    own = {key: value for key, value in table.items() if key in PROFILE_KEYS}
    settings = _check_settings(path, table, fail, PROFILE_KEYS, 'a profile',
                               site.executor if site is not None else None)
    values = _convert(PROFILE_KEYS, own, path, fail)
    resources = _convert(RESOURCE_KEYS, values.get('resources', {}), path + ('resources',),
                         fail)
    attributes = _convert(ATTRIBUTE_KEYS, values.get('attributes', {}),
                          path + ('attributes',), fail)
    _merge_project_name(attributes, path, fail)
    executor, url = values.get('executor'), values.get('url')
    if site is not None:
        # The profile's own values win over its site's (its settings key by key).
        executor = executor or site.executor
        url = url if url is not None else site.url
        settings = {**site.settings, **settings}
    return ProfileValues(executor, url, values.get('launcher'), resources, attributes,
                         settings, site_name)


def _merge_project_name(attributes: Dict[str, Any], path: KeyPath, fail: Fail) -> None:
    project: Optional[str] = attributes.pop('project_name', None)
    if project is None:
        return
    account = attributes.setdefault('account', project)
    if account != project:
        raise fail(path + ('attributes', 'project_name'),
                   'account and project_name are the same field; got account='
                   f'{account!r} and project_name={project!r}')
