"""``psij executors`` and ``psij spec``: commands that run no job."""

import argparse
import json
from typing import Any, Dict, List, Optional, TypeVar

from psij import serialize
from psij.cli.exit_status import CliError, ExitStatus
from psij.cli.output import print_json, print_line
from psij.cli.spec_input import build_spec
from psij.job_executor import executors
from psij.launcher import launchers
from psij.plugins import PluginLoadError, PluginRegistry
from psij.scheduler_detection import detect

T = TypeVar('T')


def _distribution(entry_point: Any) -> Dict[str, Optional[str]]:
    # EntryPoint.dist is there from Python 3.10 on, and None for some installs.
    dist = getattr(entry_point, 'dist', None)
    if dist is None:
        return {'distribution': None, 'distribution_version': None}
    return {'distribution': dist.metadata['Name'], 'distribution_version': dist.version}


def plugin_records(registry: 'PluginRegistry[T]') -> List[Dict[str, Any]]:
    """One record per plugin of ``registry`` (aliases grouped), sorted by name; a plugin
    that fails to load has ``loaded`` false and ``error`` saying why."""
    groups: Dict[str, List[str]] = {}
    for name in sorted(registry.names()):
        entry_point = registry.entry_point(name)
        key = entry_point.value if entry_point is not None else f'registered {name}'
        groups.setdefault(key, []).append(name)
    records = []
    for names in groups.values():
        entry_point = registry.entry_point(names[0])
        module = None if entry_point is None else entry_point.module
        # Until the class says its name, the plugin is called after its module if one of
        # its names is that (psij.executors.sge: sge, not the alias gridengine).
        primary = names[0]
        if module is not None and module.rsplit('.', 1)[-1] in names:
            primary = module.rsplit('.', 1)[-1]
        record: Dict[str, Any] = {
            'entry_point': None if entry_point is None else entry_point.value,
            'module': module, 'version': None, 'loaded': False, 'error': None,
        }
        record.update(_distribution(entry_point))
        try:
            cls = registry.load(primary)
        except PluginLoadError as error:
            record['error'] = str(error)
        else:
            record.update(loaded=True, version=getattr(cls, 'version', None),
                          module=cls.__module__)
            declared = getattr(cls, 'name', None)
            if isinstance(declared, str) and declared in names:
                primary = declared
        record['name'] = primary
        record['aliases'] = [name for name in names if name != primary]
        records.append(record)
    return sorted(records, key=lambda record: str(record['name']))


def _plugin_line(record: Dict[str, Any]) -> str:
    name = record['name']
    if record['aliases']:
        name += f' (aliases: {", ".join(record["aliases"])})'
    if not record['loaded']:
        return f'  {name}: FAILED TO LOAD: {record["error"]}'
    origin = record['entry_point'] or record['module']
    distribution = record['distribution']
    if distribution is not None:
        origin = f'{distribution} {record["distribution_version"]}: {origin}'
    return f'  {name} {record["version"]} [{origin}]'


def executors_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij executors``: the installed executors and launchers, and what ``-e auto`` picks
    on this machine and why."""
    detection = detect()
    document: Dict[str, Any] = {
        'executors': plugin_records(executors), 'launchers': plugin_records(launchers),
        'auto': {'executor': detection.name, 'reason': detection.reason,
                 'probes': [{'command': command, 'answer': answer}
                            for command, answer in detection.probes]}}
    if options.json:
        print_json(document)
        return ExitStatus.OK
    for kind in ('executors', 'launchers'):
        print_line(f'{kind}:')
        for record in document[kind]:
            print_line(_plugin_line(record))
    print_line(f'auto: {detection.name} ({detection.reason})')
    return ExitStatus.OK


def spec_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij spec``: the spec from a file and/or options, validated and normalised."""
    spec = build_spec(options, command, 'spec')
    try:
        document = serialize.spec_to_dict(spec)
    except serialize.SpecFormatError as error:
        raise CliError(ExitStatus.BAD_SPEC, error.message) from error
    if options.json:
        print_json(document)
    else:
        print_line(json.dumps(document, indent=2, sort_keys=True))
    return ExitStatus.OK
