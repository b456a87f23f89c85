"""``psij queues``: the queues of a batch executor with their limits and where each came from
(the scheduler, or the configuration: ``[site.NAME.queue.QNAME]``, a profile's
``queue_limits``). The rules are `psij.queue_limits`'; this only asks and prints."""

import argparse
from datetime import timedelta
from typing import Any, Dict, List

from psij.batch.executor import BatchSchedulerExecutor
from psij.cli.executor_setup import open_executor
from psij.cli.exit_status import CliError, ExitStatus
from psij.cli.output import print_json, print_line
from psij.cli.parser import executor_name, executor_url, work_directory
from psij.cli.profile_input import selected_profile
from psij.configuration import ConfigurationError, load
from psij.job_executor import JobExecutor
from psij.queue_limits import LIMIT_NAMES, EffectiveQueues, effective_queues


def add_queue_parsers(subcommands: Any, *parents: argparse.ArgumentParser) -> None:
    """Add ``psij queues`` to ``subcommands`` (with the shared ``parents`` options)."""
    subcommands.add_parser(
        'queues', parents=list(parents), help="list a batch executor's queues and limits",
        description='List the queues of a batch executor (-e slurm) with their limits: '
                    'what the scheduler says, with the limits of the configuration (a site\'s '
                    '[site.NAME.queue.QNAME], a profile) over them. A job over a limit is '
                    'refused at submission.')


def _executor(options: argparse.Namespace) -> JobExecutor:
    if selected_profile(options) is not None:
        return open_executor(options)
    try:
        # The site of this executor and url, if the configuration has one.
        return load().executor(executor_name(options), executor_url(options),
                               work_directory=work_directory(options))
    except ConfigurationError as error:
        raise CliError(ExitStatus.USAGE, str(error)) from error
    except ValueError:
        return open_executor(options)  # its one-line error for an unknown executor or url


def queues_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij queues``: one line per queue; ``--json``: ``queues`` (name, default,
    from_scheduler, limits: name -> value and source) and ``scheduler_answered``."""
    executor = _executor(options)
    if not isinstance(executor, BatchSchedulerExecutor):
        raise CliError(ExitStatus.USAGE, f'queues: executor {executor.name!r} has no queues '
                                         '(a batch scheduler has: -e slurm, sge, pbs...)')
    queues = effective_queues(executor)
    if options.json:
        print_json(_document(queues))
    else:
        for line in table(queues):
            print_line(line)
    return ExitStatus.OK


def _document(queues: EffectiveQueues) -> Dict[str, Any]:
    return {'scheduler_answered': queues.scheduler_listed,
            'queues': [{'name': queue.name, 'default': queue.default,
                        'from_scheduler': queue.from_scheduler,
                        'limits': {row.name: {'value': _json_value(row.value),
                                              'source': row.source}
                                   for row in queue.rows()}}
                       for queue in queues.queues.values()]}


def _json_value(value: object) -> object:
    return value.total_seconds() if isinstance(value, timedelta) else value


def table(queues: EffectiveQueues) -> List[str]:
    """The lines of the table: a header, then one line per queue (``*``: the default), each
    limit with its source; the columns are the limits some queue has."""
    columns = [name for name in LIMIT_NAMES
               if any(getattr(queue.limits, name) is not None
                      for queue in queues.queues.values())]
    rows = [['QUEUE', *(name.upper() for name in columns)]]
    for queue in queues.queues.values():
        cells = [queue.name + ('*' if queue.default else '')]
        for name in columns:
            value = getattr(queue.limits, name)
            cells.append('-' if value is None else
                         f'{_text(value)} ({queue.sources[name]})')
        rows.append(cells)
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    if not queues.queues:
        lines.append('(no queues known)')
    if not queues.scheduler_listed:
        lines.append('# the scheduler was not asked or did not answer: only the '
                     "configuration's limits are shown")
    return lines


def _text(value: object) -> str:
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        days, seconds = divmod(seconds, 86400)
        clock = f'{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'
        return f'{days}-{clock}' if days else clock
    return str(value)
