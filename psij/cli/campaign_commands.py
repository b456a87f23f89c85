"""``psij campaign submit | reattach | cancel | info | template``: many jobs from one map file.

The work is done by `psij.campaigns`; this module parses, calls it and prints. It imports
`psij.campaigns` only when a campaign subcommand runs (and `psij.cli.parser` not at all: the
parser imports this module to register the subcommands).
"""

import argparse
import json
import os
import pathlib
import signal
import sys
import threading
from types import FrameType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
    TypeVar,
)

from psij.cli import option_values
from psij.cli.exit_status import CliError, ExitStatus, exit_status_of_job
from psij.cli.output import print_json, print_line
from psij.job_state import JobState
from psij.job_status import JobStatus

if TYPE_CHECKING:  # imported when a campaign subcommand runs (see the module docstring)
    from psij.campaigns import CampaignRunner, LogsFolder, Summary
    from psij.campaigns.runner import Observer
    from psij.job_executor import JobExecutor

T = TypeVar('T')

#: The campaign job states `--status` accepts (psij.campaigns.records.STATES), and ``all``.
STATUS_NAMES = ('unsubmitted', 'submitting', 'pending', 'running', 'completed', 'failed')
DEFAULT_MAX_RUNNING = 50
#: How many failed jobs the end of a run names (``info --status failed`` lists them all).
FAILED_SHOWN = 10

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def status_list(text: str) -> List[str]:
    """Comma-separated campaign job states (``--status failed,running``); ``all``: every one."""
    states: List[str] = []
    for name in text.split(','):
        wanted = name.strip().lower()
        if wanted == 'all':
            states.extend(STATUS_NAMES)
        elif wanted in STATUS_NAMES:
            states.append(wanted)
        else:
            raise argparse.ArgumentTypeError(
                f'unknown state {name.strip()!r}; allowed (comma-separated): '
                f'{", ".join(STATUS_NAMES)}, all')
    return states


def add_campaign_parsers(subcommands: Any, output: argparse.ArgumentParser,
                         executor: argparse.ArgumentParser) -> None:
    """Register ``psij campaign`` and its subcommands on the top-level ``subcommands``."""
    campaign = subcommands.add_parser(
        'campaign', help='many jobs from a map file, at most N in flight',
        description='Run many jobs from a jobs map file (one command per line, with '
                    '{{a,b}}, {{file:PATH}}, {{glob:PATTERN}} expansion), at most '
                    '--max-running at a time, recorded in a logs folder from which any '
                    'process can take over. See docs/many-jobs.md.')
    actions = campaign.add_subparsers(dest='campaign_subcommand', metavar='SUBCOMMAND',
                                      required=True)
    logs = argparse.ArgumentParser(add_help=False)
    logs.add_argument('--logs', required=True, metavar='DIR',
                      help="the campaign's logs folder (job records, scripts, outputs)")

    submit = actions.add_parser(
        'submit', parents=[logs, executor, output], help='start a campaign from a map file',
        description='Read the map, make the logs folder (it must be new or empty), submit '
                    'the jobs with at most --max-running in flight and follow them to the '
                    'end. Ctrl-C stops it; jobs in flight run on (psij campaign reattach).')
    submit.add_argument('map', metavar='MAP', help='the jobs map file')
    submit.add_argument('--max-running', type=option_values.positive_int, metavar='N',
                        default=DEFAULT_MAX_RUNNING,
                        help=f'most jobs in flight at once (default {DEFAULT_MAX_RUNNING})')
    submit.add_argument('--grouping', type=option_values.positive_int, metavar='K',
                        default=1,
                        help='run K commands one after another in each job (default 1)')

    reattach = actions.add_parser(
        'reattach', parents=[logs, output], help='take over a campaign',
        description='Take over the campaign of a logs folder after the process that ran it '
                    'ended or was killed: follow the jobs in flight, find out what became '
                    'of interrupted submissions, submit what was never submitted.')
    reattach.add_argument('--max-running', type=option_values.positive_int, metavar='N',
                          help="most jobs in flight at once (default: the campaign's)")
    reattach.add_argument('--lock-timeout', type=option_values.positive_seconds,
                          metavar='SECONDS', default=0.0,
                          help='wait this long for a process running the campaign to end '
                               '(default: fail at once, exit status 75)')

    cancel = actions.add_parser(
        'cancel', parents=[logs, output], help="cancel every job of a campaign",
        description='Cancel the campaign of a logs folder: nothing more is submitted, the '
                    'jobs not submitted yet fail as canceled, and every job in flight is '
                    'canceled at once (one scheduler command for all of them where the '
                    'executor can). If another process runs the campaign, it does the '
                    'canceling and this command returns at once; otherwise this command '
                    'takes the campaign over, cancels, and follows the jobs to their end.')
    cancel.add_argument('--lock-timeout', type=option_values.positive_seconds,
                        metavar='SECONDS', default=0.0, help=argparse.SUPPRESS)

    info = actions.add_parser(
        'info', parents=[logs, output], help="show the campaign's jobs",
        description="Show the campaign's jobs: without FIELD, their commands as a map (so "
                    '--status failed makes a map of the commands that failed); with '
                    'fields, a table (--json: the records).')
    info.add_argument('fields', nargs='*', metavar='FIELD',
                      help='fields of the job records (state, exit_code, times.ended, '
                           'commands.line...)')
    info.add_argument('--status', type=status_list, action='append',
                      metavar='STATE[,STATE...]',
                      help=f'only jobs in these states: {", ".join(STATUS_NAMES)}, all')

    template = actions.add_parser(
        'template', parents=[output], help='print a map to start from',
        description='Print a jobs map with the given command lines, [pre] lines that '
                    'recreate the current environment (conda, Python venv, loaded modules) '
                    'and the settings keys as comments.')
    template.add_argument('commands', nargs='*', metavar='COMMAND',
                          help='command lines of the map (quote each)')


def campaign_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij campaign SUBCOMMAND``."""
    handlers: Dict[str, Callable[[argparse.Namespace], int]] = {
        'submit': _submit, 'reattach': _reattach, 'cancel': _cancel, 'info': _info,
        'template': _template}
    return handlers[options.campaign_subcommand](options)


# --- errors ----------------------------------------------------------------------------------


def _map_errors(action: Callable[[], T]) -> T:
    """``action()``, its campaign errors turned into `CliError`. A map is to a campaign what
    a spec file is to ``psij submit``: the same statuses (65 malformed, 66 unreadable)."""
    from psij.campaigns import (
        FolderBusy,
        FolderError,
        FolderInUse,
        MapError,
        MapReadError,
        NotACampaign,
    )
    try:
        return action()
    except MapReadError as error:
        raise CliError(ExitStatus.NO_INPUT, str(error)) from error
    except MapError as error:
        raise CliError(ExitStatus.BAD_SPEC, str(error)) from error
    except FolderInUse as error:
        raise CliError(ExitStatus.USAGE, str(error)) from error
    except FolderBusy as error:
        raise CliError(ExitStatus.TIMEOUT, str(error)) from error
    except (NotACampaign, FolderError) as error:
        raise CliError(ExitStatus.NO_INPUT, str(error)) from error


# --- submit and reattach ---------------------------------------------------------------------


def _submit(options: argparse.Namespace) -> int:
    from psij.campaigns import LogsFolder, check_with_executor, create_campaign, plan_campaign
    from psij.cli.executor_setup import open_executor
    if getattr(options, 'url', None):
        # The jobs run the scripts of the logs folder, which a remote cluster does not see.
        raise CliError(ExitStatus.USAGE, f'--url {options.url}: campaigns run only where '
                       'their logs folder is seen by the jobs (this machine or its cluster); '
                       'run psij campaign on the cluster\'s login node instead')
    plan = _map_errors(lambda: plan_campaign(options.map, options.grouping))
    logs = pathlib.Path(os.path.abspath(options.logs))
    _map_errors(lambda: LogsFolder.check_new(logs))
    executor = open_executor(options)
    _map_errors(lambda: check_with_executor(plan, executor))
    folder = _map_errors(lambda: create_campaign(
        plan, logs, options.executor, str(executor.config.work_directory),
        options.max_running, options.grouping))
    return _run(options, folder, executor, options.max_running, 'submit')


def _reattach(options: argparse.Namespace) -> int:
    folder, executor = _open_campaign(options)
    max_running = options.max_running or int(folder.campaign['max_running'])
    return _run(options, folder, executor, max_running, 'reattach')


def _cancel(options: argparse.Namespace) -> int:
    from psij.campaigns import FolderBusy
    folder, executor = _open_campaign(options)
    folder.request_cancel()
    try:
        return _run(options, folder, executor, int(folder.campaign['max_running']), 'cancel')
    except CliError as error:
        if not isinstance(error.__cause__, FolderBusy):
            raise
        runner = error.message.split(';')[0]
    # Another process runs the campaign: it sees the request within a fraction of a second.
    if options.json:
        print_json({'logs': str(folder.path), 'cancel': 'requested', 'runner': runner})
    else:
        print_line(f'psij campaign: cancel requested; {runner}, which cancels its jobs (psij '
                   f'campaign info --logs {folder.path} shows them end)')
    return ExitStatus.OK


def _open_campaign(options: argparse.Namespace) -> 'Tuple[LogsFolder, JobExecutor]':
    """The campaign of ``--logs`` and its executor (as the campaign was submitted)."""
    from psij.campaigns import LogsFolder
    from psij.cli.executor_setup import open_executor
    folder = _map_errors(lambda: LogsFolder.open(pathlib.Path(os.path.abspath(options.logs))))
    campaign = folder.campaign
    executor = open_executor(argparse.Namespace(executor=campaign['executor'],
                                                work_directory=campaign['work_directory']))
    return folder, executor


def _run(options: argparse.Namespace, folder: 'LogsFolder', executor: 'JobExecutor',
         max_running: int, subcommand: str) -> int:
    from psij.campaigns import CampaignRunner, FolderBusy
    from psij.campaigns.progress import ChangeLines, LiveProgress
    display: Optional[Observer] = None
    if options.json:
        display = LiveProgress(sys.stderr) if sys.stderr.isatty() else None
    else:
        display = LiveProgress(sys.stdout) if sys.stdout.isatty() else ChangeLines(sys.stdout)
    runner = CampaignRunner(folder, executor, max_running, display)
    campaign = folder.campaign
    stop = _StopOnSignals(runner)
    try:
        with folder.locked(float(getattr(options, 'lock_timeout', 0.0)), subcommand):
            if not options.json:
                print_line(f'psij campaign: {_count(campaign["jobs"], "job")} ('
                           f'{_count(campaign["commands"], "command")}) on '
                           f'{campaign["executor"]}, at most {max_running} in flight; logs in '
                           f'{folder.path}')
            with stop:
                summary = _map_errors(runner.run)
    except FolderBusy as error:
        raise CliError(ExitStatus.TIMEOUT, str(error)) from error
    if isinstance(display, LiveProgress):
        display.finish()
    return _report(options, folder, summary, stop.received, subcommand == 'cancel')


def _count(number: int, noun: str) -> str:
    return f'{number} {noun}{"" if number == 1 else "s"}'


class _StopOnSignals:
    """While in use, Ctrl-C, SIGTERM and SIGHUP stop the runner (jobs in flight run on);
    ``received`` is the signal that did."""

    def __init__(self, runner: 'CampaignRunner') -> None:
        self.runner = runner
        self.received: Optional[int] = None
        self.previous: Dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = {number: signal.signal(number, self._handle)
                             for number in _STOP_SIGNALS}

    def _handle(self, number: int, frame: Optional[FrameType]) -> None:
        # Only a flag: a submission under way finishes and is recorded, never cut in half.
        self.received = number
        self.runner.stop(f'stopped by {signal.Signals(number).name}')

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def _report(options: argparse.Namespace, folder: 'LogsFolder', summary: 'Summary',
            received: Optional[int], canceling: bool = False) -> int:
    from psij.campaigns.progress import counts_text, record_text
    failed = [record for record in summary.records if record.state == 'failed']
    if options.json:
        print_json({'logs': str(folder.path), 'executor': folder.campaign['executor'],
                    'jobs': len(summary.records), 'counts': summary.counts,
                    'stopped': summary.stopped, 'failed': [record.id for record in failed]})
    else:
        for record in failed[:FAILED_SHOWN] if sys.stdout.isatty() else []:
            print_line(record_text(record))
        if summary.stopped is not None:
            print_line(f'psij campaign: {summary.stopped}; jobs in flight run on: psij '
                       f'campaign reattach --logs {folder.path} takes over', sys.stderr)
        print_line(f'psij campaign: {_count(len(summary.records), "job")}: '
                   f'{counts_text(summary.counts)}')
        if failed:
            print_line(f'psij campaign: the commands that failed: psij campaign info --logs '
                       f'{folder.path} --status failed')
    if received is not None:
        return ExitStatus.INTERRUPTED if received == signal.SIGINT else 128 + received
    if summary.stopped is not None:
        return ExitStatus.BACKEND
    if canceling:
        return ExitStatus.OK  # every job is final: canceled, or ended before
    for record in summary.records:
        if record.state != 'completed':
            # As psij wait: the first job (in order) that did not complete decides.
            return exit_status_of_job(JobStatus(JobState.FAILED, exit_code=record.exit_code))
    return ExitStatus.OK


# --- info ------------------------------------------------------------------------------------


def _info(options: argparse.Namespace) -> int:
    from psij.campaigns import LogsFolder
    from psij.campaigns.records import UnknownField, check_field
    for field in options.fields:
        try:
            check_field(field)
        except UnknownField as error:
            raise CliError(ExitStatus.USAGE, f'campaign info: {error}') from error
    folder = _map_errors(lambda: LogsFolder.open(pathlib.Path(os.path.abspath(options.logs))))
    documents: List[Dict[str, Any]] = _map_errors(folder.read_documents)
    states = {state for group in options.status or [] for state in group}
    selected = [document for document in documents if not states or document['state'] in
                states]
    if options.json:
        jobs = selected if not options.fields else [_pick(document, options.fields)
                                                   for document in selected]
        print_json({'logs': str(folder.path), 'jobs': jobs})
    elif options.fields:
        _print_table(selected, options.fields)
    else:
        for line in _as_map(folder, selected):
            print_line(line)
    return ExitStatus.OK


def _pick(document: Dict[str, Any], fields: List[str]) -> Dict[str, Any]:
    from psij.campaigns.records import field_value
    picked = {'id': document['id']}
    picked.update({field: field_value(document, field) for field in fields})
    return picked


def _cell(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, list):
        return ','.join(_cell(item) for item in value) or '-'
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _print_table(documents: List[Dict[str, Any]], fields: List[str]) -> None:
    from psij.campaigns.records import field_value
    columns = ['id'] + [field for field in fields if field != 'id']
    rows = [columns] + [[_cell(field_value(document, field)) for field in columns]
                        for document in documents]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    for row in rows:
        print_line('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _as_map(folder: 'LogsFolder', documents: List[Dict[str, Any]]) -> Iterator[str]:
    """The selected jobs' commands as a map: the campaign's other sections, then the
    commands (of a failed job, those that did not succeed)."""
    from psij.campaigns.expansion import escape_command
    from psij.campaigns.plan import header_lines
    header = header_lines(folder)
    yield from header
    if header:
        yield '[jobs]'
    for document in documents:
        for command in document['commands']:
            if document['state'] == 'failed' and command['exit_code'] == 0:
                continue
            yield escape_command(command['command'])


# --- template --------------------------------------------------------------------------------


def _template(options: argparse.Namespace) -> int:
    pre: List[str] = []
    if os.environ.get('LOADEDMODULES'):
        pre.append('module load ' + ' '.join(
            module for module in os.environ['LOADEDMODULES'].split(':') if module))
    if os.environ.get('CONDA_DEFAULT_ENV'):
        pre.append(f'conda activate {os.environ["CONDA_DEFAULT_ENV"]}')
    elif os.environ.get('VIRTUAL_ENV'):
        pre.append(f'source {os.environ["VIRTUAL_ENV"]}/bin/activate')
    lines = ['# A psij campaign map (docs/many-jobs.md). Lines starting with # are comments.',
             '[pre]', '# run at the start of every job, in its shell'] + pre + [
        '[post]', '# run at the end of every job',
        '[resources]', '# cpu_cores_per_process = 1', '# memory = 2G',
        '[attributes]', '# duration = 30:00', '# queue_name = debug',
        '[environment]', '# OMP_NUM_THREADS = 1',
        '[jobs]', '# one command per line; {{a,b}}, {{file:PATH}}, {{glob:PATTERN}}']
    lines += options.commands
    if options.json:
        print_json({'map': '\n'.join(lines) + '\n'})
        return ExitStatus.OK
    for line in lines:
        print_line(line)
    return ExitStatus.OK
