"""The command-line grammar of ``psij``: subcommands and their options.

Nothing here runs a job; `psij.cli.app` dispatches on the parsed subcommand. Every option of
the job spec defaults to None, so that when a spec file is given, only the options actually
written on the command line override its fields.
"""

import argparse
import os
from typing import Any, NoReturn, Optional

from psij import __version__
from psij.cli import option_values
from psij.cli.budget_options import budget_options
from psij.cli.campaign_commands import add_campaign_parsers
from psij.cli.exit_status import EXIT_STATUS_HELP, CliError, ExitStatus

#: The executor used when neither -e nor PSIJ_EXECUTOR names one.
DEFAULT_EXECUTOR = 'local'
EXECUTOR_VARIABLE = 'PSIJ_EXECUTOR'
WORK_DIRECTORY_VARIABLE = 'PSIJ_WORK_DIRECTORY'
URL_VARIABLE = 'PSIJ_URL'

#: Subcommands that take a command after ``--``.
TAKES_COMMAND = ('run', 'submit', 'spec')

_DESCRIPTION = """\
Run and follow jobs through the PSI/J API, on this machine (-e local) or on a batch
scheduler (-e slurm, ...). Jobs are named by their native id (the pid for local, the
scheduler's job id otherwise); status, wait, cancel and list work from any process.

  psij run -n 4 --launcher multiple -- /bin/hostname
  ID=$(psij submit -e slurm --time 10:00 -- ./simulate.sh) && psij wait "$ID"
  psij status "$ID" --json"""

_ENVIRONMENT_HELP = f"""\
environment:
  {EXECUTOR_VARIABLE}        the executor when -e is not given (else {DEFAULT_EXECUTOR})
  {WORK_DIRECTORY_VARIABLE}  the work directory when --work-directory is not given
                       (else ~/.psij/work)
  {URL_VARIABLE}             the executor's url when --url is not given
  PSIJ_CLI_DEBUG=1     show the traceback of an internal error

See docs/cli.md for every option, the JSON keys and examples."""


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and `ExitStatus.USAGE` (not argparse's
    usage dump and status 2)."""

    def error(self, message: str) -> NoReturn:
        """Raise a `CliError` naming the subcommand and the problem."""
        where = self.prog[len('psij '):] if self.prog.startswith('psij ') else ''
        prefix = f'{where}: ' if where else ''
        raise CliError(ExitStatus.USAGE, f'{prefix}{message} (see {self.prog} --help)')


def _new_parser(**kwargs: Any) -> CliParser:
    return CliParser(allow_abbrev=False, **kwargs)


def _output_options() -> CliParser:
    parser = _new_parser(add_help=False)
    group = parser.add_argument_group('output')
    group.add_argument('--json', action='store_true',
                       help='print one JSON document on stdout (keys in docs/cli.md)')
    group.add_argument('-v', '--verbose', action='store_true',
                       help="show psij's debug log on stderr")
    return parser


def _executor_options() -> CliParser:
    parser = _new_parser(add_help=False)
    group = parser.add_argument_group('executor')
    # Defaults are None here and filled by resolve_executor_defaults: a --profile comes
    # between what the command line says and the environment.
    group.add_argument('-e', '--executor', metavar='NAME',
                       help=f'the executor (default: ${EXECUTOR_VARIABLE}, else '
                            f'{DEFAULT_EXECUTOR}); `psij executors` lists them')
    group.add_argument('--work-directory', metavar='DIR',
                       help='where executors keep their records, scripts and markers '
                            f'(default: ${WORK_DIRECTORY_VARIABLE}, else ~/.psij/work); '
                            'attach by id needs the one used at submission')
    group.add_argument('--url', metavar='URL',
                       help='where a batch executor runs its commands: ssh://[user@]host'
                            f'[:port] for a cluster reached over SSH (default: ${URL_VARIABLE}, '
                            'else this machine)')
    return parser


def _spec_options() -> CliParser:
    parser = _new_parser(add_help=False)
    parser.add_argument('spec_file', nargs='?', metavar='SPEC.json',
                        help='a JSON job spec (see docs/serialization.md); "-" reads stdin. '
                             'Options and a command after "--" override its fields')
    resources = parser.add_argument_group('resources')
    resources.add_argument('-n', '--process-count', type=option_values.positive_int,
                           metavar='N', help='processes (ranks) in all')
    resources.add_argument('--nodes', type=option_values.positive_int, metavar='N',
                           help='compute nodes')
    resources.add_argument('--ppn', type=option_values.positive_int, metavar='N',
                           help='processes per node')
    resources.add_argument('--cores-per-process', type=option_values.positive_int,
                           metavar='N', help='CPU cores per process')
    resources.add_argument('--gpus-per-process', type=option_values.positive_int,
                           metavar='N', help='GPUs per process')
    resources.add_argument('--memory', type=option_values.memory_size, metavar='SIZE',
                           help='memory for the whole job: bytes, or with K/M/G/T (e.g. 4G)')
    resources.add_argument('--exclusive', action='store_true', default=None,
                           help='no other job may share the nodes')
    attributes = parser.add_argument_group('scheduler attributes')
    attributes.add_argument('--time', type=option_values.duration, metavar='DURATION',
                            help='wall time: SECONDS, MM:SS, HH:MM:SS or D-HH:MM:SS')
    attributes.add_argument('--queue', metavar='NAME', help='queue (Slurm: partition)')
    attributes.add_argument('--account', metavar='NAME', help='account billed')
    attributes.add_argument('--reservation', metavar='ID', help='advance reservation')
    attributes.add_argument('--attr', type=option_values.custom_attribute, action='append',
                            metavar='KEY=VALUE',
                            help='a custom attribute, e.g. slurm.constraint=haswell; a bare '
                                 'KEY is a flag (true); repeatable')
    job = parser.add_argument_group('job')
    job.add_argument('--name', help='job name shown by the scheduler')
    job.add_argument('--env', type=option_values.environment_variable, action='append',
                     metavar='NAME=VALUE', help='set a variable for the job; repeatable')
    job.add_argument('--cwd', metavar='DIR', help='working directory of the job')
    job.add_argument('--stdin', metavar='PATH', help='file read as standard input')
    job.add_argument('--stdout', metavar='PATH',
                     help='file for standard output (default: none; psij run shows it)')
    job.add_argument('--stderr', metavar='PATH',
                     help='file for standard error (default: none; psij run shows it)')
    job.add_argument('--launcher', metavar='NAME',
                     help='how processes are started: single (default), multiple, mpirun, '
                          'srun, ...')
    return parser


def _profile_options() -> CliParser:
    parser = _new_parser(add_help=False)
    parser.add_argument('--profile', metavar='NAME',
                        help='take the executor, url, launcher, resources, attributes and '
                             'executor settings of [profile.NAME] of the configuration files '
                             '(`psij profiles` lists them); options given here win')
    return parser


def _ids_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('native_ids', nargs='+', metavar='ID',
                        help='native job ids (as printed by psij submit)')


def build_parser() -> CliParser:
    """The parser of the whole ``psij`` command line (without what follows ``--``)."""
    parser = _new_parser(prog='psij', description=_DESCRIPTION,
                         epilog=EXIT_STATUS_HELP + '\n\n' + _ENVIRONMENT_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--version', action='version', version=f'psij {__version__}')
    subcommands = parser.add_subparsers(dest='subcommand', metavar='SUBCOMMAND', required=True)
    output, executor, spec = _output_options(), _executor_options(), _spec_options()
    profile = _profile_options()
    budget = budget_options(_new_parser(add_help=False))

    run = subcommands.add_parser(
        'run', parents=[spec, profile, executor, budget, output],
        help='submit a job, show its output, wait for it, exit with its exit code',
        usage='psij run [options] [SPEC.json] [-- CMD [ARGS...]]',
        description="Submit a job, show its standard output and error on ours as they are "
                    "written (also for batch jobs; --stdout/--stderr files are followed), "
                    "wait until it ends, report its final state (one line on stderr, or "
                    "JSON on stdout) and exit with the job's exit code. Ctrl-C cancels the "
                    "job.")
    run.add_argument('-q', '--quiet', action='store_true',
                     help="do not show the job's output (--json implies it: stdout is the "
                          'JSON document)')

    subcommands.add_parser(
        'submit', parents=[spec, profile, executor, budget, output],
        help='submit a job and print its native id',
        usage='psij submit [options] [SPEC.json] [-- CMD [ARGS...]]',
        description='Submit a job and print its native id. With -e local, the job is '
                    'started by a background watcher process (one for all psij submit of a '
                    'work directory), which stays until the job ends to record its exit code '
                    'for psij status/wait.')

    status = subcommands.add_parser(
        'status', parents=[executor, output], help='print the current state of jobs',
        description='Print the current state of jobs, found by native id.')
    _ids_argument(status)

    wait = subcommands.add_parser(
        'wait', parents=[executor, output],
        help='wait until jobs end (or reach --states)',
        description='Wait until every job is final (or has reached one of --states). On a '
                    'terminal, shows live counts per state; otherwise one line per change.')
    _ids_argument(wait)
    wait.add_argument('--timeout', type=option_values.positive_seconds, metavar='SECONDS',
                      help='give up after this long (exit status 75)')
    wait.add_argument('--states', type=option_values.state_list, action='append',
                      metavar='STATE[,STATE...]',
                      help='wait until each job has reached one of these states (QUEUED, '
                           'ACTIVE, COMPLETED, FAILED, CANCELED) instead of a final state')

    cancel = subcommands.add_parser(
        'cancel', parents=[executor, output], help='cancel jobs',
        description='Cancel jobs, found by native id, and wait until they have ended.')
    _ids_argument(cancel)
    cancel.add_argument('--timeout', type=option_values.positive_seconds, metavar='SECONDS',
                        default=60.0,
                        help='how long to wait for the jobs to end (default: 60)')
    cancel.add_argument('--no-wait', action='store_true',
                        help='only ask for the cancellation; do not wait for the jobs to end')

    subcommands.add_parser(
        'list', parents=[executor, output], help="list this user's jobs of the executor",
        description="Print the native ids of this user's jobs that the executor still sees "
                    '(local: running jobs of the work directory; Slurm: squeue).')

    subcommands.add_parser(
        'executors', parents=[output], help='list installed executors and launchers',
        description='List the installed executor and launcher plugins: names, aliases, '
                    'version, distribution and module; and those that fail to load, with '
                    'the reason.')

    subcommands.add_parser(
        'spec', parents=[spec, output], help='validate or build a JSON job spec',
        usage='psij spec [options] [SPEC.json] [-- CMD [ARGS...]]',
        description='Validate a JSON job spec and print it normalised, or build one from '
                    'options (and a command after "--") and print it.')

    config = subcommands.add_parser(
        'config', help='show the configuration files, merged',
        description='What the configuration files (site, user, $PSIJ_CONFIG) say.')
    config_actions = config.add_subparsers(dest='config_action', metavar='ACTION',
                                           required=True)
    config_actions.add_parser(
        'show', parents=[output], help='every value of the merged configuration and its file',
        description='Print every value of the merged configuration files with the file and '
                    'line it came from, after the list of the files looked at.')

    subcommands.add_parser(
        'profiles', parents=[output], help='list the profiles of the configuration files',
        description='List the profiles ([profile.NAME]) of the configuration files: name, '
                    'executor and what each sets.')

    add_campaign_parsers(subcommands, output, executor)
    from psij.cli.queue_commands import add_queue_parsers  # it imports this module
    add_queue_parsers(subcommands, profile, executor, output)
    from psij.cli.pilot_commands import add_pilot_parsers
    add_pilot_parsers(subcommands, output)
    return parser


def resolve_executor_defaults(options: argparse.Namespace) -> None:
    """Fill the executor options the command line (and its --profile) left unset from the
    environment, and the executor from `DEFAULT_EXECUTOR` at last."""
    if not hasattr(options, 'executor'):
        return
    if options.executor is None:
        options.executor = os.environ.get(EXECUTOR_VARIABLE) or DEFAULT_EXECUTOR
    if options.work_directory is None:
        options.work_directory = os.environ.get(WORK_DIRECTORY_VARIABLE) or None
    if options.url is None:
        options.url = os.environ.get(URL_VARIABLE) or None


def executor_name(options: argparse.Namespace) -> str:
    """The executor the options name."""
    name: str = options.executor
    return name


def executor_url(options: argparse.Namespace) -> Optional[str]:
    """The executor url the options name (None: this machine)."""
    value: Optional[str] = getattr(options, 'url', None)
    return value


def work_directory(options: argparse.Namespace) -> Optional[str]:
    """The work directory the options name, or None for the library's default."""
    value: Optional[str] = options.work_directory
    return value
