"""``psij config show`` and ``psij profiles``: what the configuration files say."""

import argparse
import json
from typing import Any, Dict, List

from psij.cli.exit_status import CliError, ExitStatus
from psij.cli.output import print_json, print_line
from psij.configuration import Configuration, ConfigurationError, load


def _load() -> Configuration:
    try:
        return load()
    except ConfigurationError as error:
        raise CliError(ExitStatus.USAGE, str(error)) from error


def _files(configuration: Configuration) -> List[Dict[str, Any]]:
    read = set(configuration.read)
    return [{'kind': place.kind, 'path': str(place.path), 'read': str(place.path) in read}
            for place in configuration.files]


def config_show_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij config show``: every value of the merged configuration and the file (and line)
    it came from; ``--json``: ``files``, ``settings`` and the merged ``config``."""
    configuration = _load()
    settings = configuration.settings()
    if options.json:
        print_json({'files': _files(configuration),
                    'settings': [{'key': item.key, 'value': item.value, 'file': item.file,
                                  'line': item.line} for item in settings],
                    'config': configuration.tree})
        return ExitStatus.OK
    for place in _files(configuration):
        state = 'read' if place['read'] else 'not found'
        print_line(f'# {place["kind"]}: {place["path"]} ({state})')
    for item in settings:
        where = item.file + (f':{item.line}' if item.line is not None else '')
        # JSON writes strings, numbers, booleans and arrays as TOML does.
        print_line(f'{item.key} = {json.dumps(item.value, default=str)}  # {where}')
    return ExitStatus.OK


def profiles_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij profiles``: one line per profile (name, executor, summary); ``--json``: a
    ``profiles`` list of the whole profiles."""
    configuration = _load()
    profiles = sorted(configuration.profiles.values(), key=lambda profile: profile.name)
    if options.json:
        print_json({'profiles': [dict(profile.to_dict(), summary=profile.summary())
                                 for profile in profiles]})
        return ExitStatus.OK
    if not profiles:
        print_line('no profiles (psij config show lists the files read)')
        return ExitStatus.OK
    width = max(len(profile.name) for profile in profiles)
    executor_width = max(len(profile.executor_name or '-') for profile in profiles)
    for profile in profiles:
        print_line(f'{profile.name:<{width}}  {profile.executor_name or "-":<{executor_width}}'
                   f'  {profile.summary()}')
    return ExitStatus.OK
