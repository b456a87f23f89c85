"""``psij pilot status``: a pilot's allocations, workers, tasks by state and utilisation;
``psij pilot output``: one task's streamed output.

The CLI only parses and prints; the figures come from `psij.pilot.status`.
"""

import argparse
import json
import pathlib
import sys
import time
from typing import Any, List

from psij.cli.exit_status import CliError, ExitStatus
from psij.job_executor_config import JobExecutorConfig


def add_pilot_parsers(subcommands: Any, output: argparse.ArgumentParser) -> None:
    """Register ``psij pilot`` and its subcommands on the top-level ``subcommands``."""
    pilot = subcommands.add_parser(
        'pilot', help='many small tasks in few allocations: look at a pilot',
        description='Look at a pilot of the pilot executor (see docs/pilot.md).')
    actions = pilot.add_subparsers(dest='pilot_subcommand', metavar='SUBCOMMAND',
                                   required=True)
    status = actions.add_parser(
        'status', parents=[output], help="a pilot's allocations, workers, tasks, utilisation",
        description='Print the allocations of a pilot (their job, whether they ended), the '
                    'workers in each (cores, cores busy), its tasks by state, and the '
                    'utilisation: busy cores over the cores of the live allocations.')
    output_command = actions.add_parser(
        'output', parents=[output],
        help="one task's streamed output (PilotExecutorConfig.stream_outputs)",
        description="Print what a task wrote on its standard output (or --stderr), read out "
                    "of the pilot's stream files, from its last recorded run.")
    output_command.add_argument('task', metavar='TASK',
                                help='the task: its native id (NAME/ID) or its id')
    output_command.add_argument('--stderr', action='store_true',
                                help='its standard error instead')
    for command in (status, output_command):
        command.add_argument('--name', default='default',
                             help="the pilot's name (PilotExecutorConfig.name; default: "
                                  'default)')
        command.add_argument('--pilot-work-directory', metavar='DIR',
                             help="the pilot's work directory (default: ~/.psij/work)")


def _output(root: pathlib.Path, options: argparse.Namespace) -> int:
    from psij.pilot.output_stream import task_output
    task_id = str(options.task).rsplit('/', 1)[-1]
    try:
        data = task_output(root / 'outputs', task_id, 'stderr' if options.stderr else 'stdout')
    except KeyError as error:
        raise CliError(ExitStatus.UNKNOWN_JOB, str(error.args[0])) from error
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return int(ExitStatus.OK)


def pilot_command(options: argparse.Namespace, _command: List[str]) -> int:
    """Run ``psij pilot SUBCOMMAND``."""
    from psij.pilot.status import pilot_status  # only when asked: reads the pilot's files
    root = JobExecutorConfig(work_directory=options.pilot_work_directory).work_directory
    if options.pilot_subcommand == 'output':
        return _output(pathlib.Path(root) / 'pilot' / options.name, options)
    try:
        status = pilot_status(pathlib.Path(root) / 'pilot' / options.name, options.name)
    except ValueError as error:
        raise CliError(ExitStatus.UNKNOWN_JOB, str(error)) from error
    if getattr(options, 'json', False):
        print(json.dumps(status.to_dict(), indent=2, sort_keys=True))
        return int(ExitStatus.OK)
    print(f'pilot {status.name} ({status.directory})')
    print('tasks: ' + ', '.join(f'{state} {count}' for state, count in status.tasks.items()))
    if status.utilisation is not None:
        print(f'utilisation: {status.utilisation:.0%} of the cores of live allocations')
    for allocation in status.allocations:
        if allocation.ended is None:
            state = 'live'
        else:
            state = f'ended {allocation.ended.get("state")}'
            if allocation.ended.get('message'):
                state += f' ({allocation.ended["message"]})'
        submitted = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(allocation.submitted))
        print(f'allocation {allocation.key}: {allocation.executor} job '
              f'{allocation.native_id}, submitted {submitted}, {state}')
        for worker in allocation.workers:
            print(f'  worker {worker.name} on {worker.host}: {worker.busy_cores}/'
                  f'{worker.cores} cores busy, {worker.running} task(s)')
    return int(ExitStatus.OK)
