"""Building the `JobSpec` of ``psij run``/``submit``/``spec`` from a spec file, options and
the command after ``--``.

A spec file is read first; the command replaces its executable and arguments, and each
option given on the command line replaces (``--env`` and ``--attr``: adds to) the field it
names. Paths are kept as written: a relative path is relative to the job's directory or,
without one, to the directory psij is run from, as the executor resolves it.
"""

import argparse
import os
import sys
from typing import Dict, List, Optional

from psij import serialize
from psij.cli.exit_status import CliError, ExitStatus
from psij.cli.profile_input import selected_profile
from psij.exceptions import InvalidJobException
from psij.job_attributes import JobAttributes
from psij.job_spec import JobSpec
from psij.resource_spec import ResourceSpecV1

#: Options that set a field of `ResourceSpecV1`: option attribute → field.
_RESOURCE_OPTIONS = {
    'process_count': 'process_count',
    'nodes': 'node_count',
    'ppn': 'processes_per_node',
    'cores_per_process': 'cpu_cores_per_process',
    'gpus_per_process': 'gpu_cores_per_process',
    'memory': 'memory',
    'exclusive': 'exclusive_node_use',
}
#: Options that set a field of `JobSpec`: option attribute → field.
_SPEC_OPTIONS = {
    'name': 'name',
    'cwd': 'directory',
    'stdin': 'stdin_path',
    'stdout': 'stdout_path',
    'stderr': 'stderr_path',
    'launcher': 'launcher',
}
#: Options that set a field of `JobAttributes`: option attribute → field.
_ATTRIBUTE_OPTIONS = {
    'time': 'duration',
    'queue': 'queue_name',
    'account': 'account',
    'reservation': 'reservation_id',
}


def build_spec(options: argparse.Namespace, command: List[str], subcommand: str) -> JobSpec:
    """The spec described by ``options`` (and their ``spec_file``) and ``command``.

    Raises `CliError`: `ExitStatus.USAGE` when there is neither a command nor a spec file,
    or the options contradict each other; `ExitStatus.NO_INPUT` for a spec file that cannot
    be read; `ExitStatus.BAD_SPEC` for a malformed one.
    """
    spec_file: Optional[str] = options.spec_file
    if spec_file is None and not command:
        raise CliError(ExitStatus.USAGE,
                       f'{subcommand}: no job given; put the command after "--" (psij '
                       f'{subcommand} [options] -- CMD ARGS...) or give a JSON spec file')
    spec = read_spec_file(spec_file, subcommand) if spec_file is not None else JobSpec()
    if command:
        if command[0] == '':
            raise CliError(ExitStatus.USAGE, f'{subcommand}: the command after "--" is empty')
        spec.executable = command[0]
        spec.arguments = command[1:]
    profile = selected_profile(options)
    if profile is not None:  # under the spec file's fields and the options (they win)
        profile.fill(spec)
    _apply_options(spec, options, subcommand)
    return spec


def read_spec_file(path: str, subcommand: str) -> JobSpec:
    """The spec in the JSON file ``path`` (``-``: standard input)."""
    if path == '-':
        text = sys.stdin.read()
        source = 'the job spec on standard input'
    else:
        if not os.path.exists(path) and not path.endswith('.json'):
            raise CliError(ExitStatus.USAGE,
                           f'{subcommand}: {path!r} is not a job spec file; to run a command, '
                           f'put it after "--": psij {subcommand} [options] -- {path} ...')
        try:
            with open(path, encoding='utf-8') as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else f'not UTF-8 ({error})'
            raise CliError(ExitStatus.NO_INPUT,
                           f'cannot read the job spec file {path!r}: {reason}') from error
        source = f'the job spec file {path!r}'
    try:
        return serialize.loads(text)
    except serialize.SpecFormatError as error:
        raise CliError(ExitStatus.BAD_SPEC, f'{source}: {error.message}') from error


def _apply_options(spec: JobSpec, options: argparse.Namespace, subcommand: str) -> None:
    for option, field in _SPEC_OPTIONS.items():
        value = getattr(options, option)
        if value is not None:
            setattr(spec, field, value)
    if options.env:
        environment: Dict[str, str] = dict(spec.environment or {})
        environment.update(dict(options.env))
        spec.environment = environment
    _apply_attributes(spec, options)
    _apply_resources(spec, options, subcommand)


def _apply_attributes(spec: JobSpec, options: argparse.Namespace) -> None:
    attributes: JobAttributes = spec.attributes
    for option, field in _ATTRIBUTE_OPTIONS.items():
        value = getattr(options, option)
        if value is not None:
            setattr(attributes, field, value)
    for key, value in options.attr or []:
        attributes.set_custom_attribute(key, value)


def _apply_resources(spec: JobSpec, options: argparse.Namespace, subcommand: str) -> None:
    given = {field: getattr(options, option) for option, field in _RESOURCE_OPTIONS.items()
             if getattr(options, option) is not None}
    if not given:
        return
    resources = spec.resources
    if not isinstance(resources, ResourceSpecV1):
        raise CliError(ExitStatus.BAD_SPEC,
                       f'{subcommand}: resource options need ResourceSpecV1 resources, not '
                       f'{type(resources).__name__}')
    fields = {name: getattr(resources, name) for name in _RESOURCE_OPTIONS.values()}
    fields.update(given)
    try:
        spec.resources = ResourceSpecV1(**fields)
    except InvalidJobException as error:
        raise CliError(ExitStatus.USAGE, f'{subcommand}: {_option_names(error.message)}'
                       ) from error


def _option_names(message: str) -> str:
    """``message`` about `ResourceSpecV1` fields, with the options that set them added."""
    for field, option in (('process_count', '-n'), ('node_count', '--nodes'),
                          ('processes_per_node', '--ppn')):
        message = message.replace(f'{field} (', f'{field} [{option}] (')
    return message
