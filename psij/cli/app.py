"""The ``psij`` command: parse the command line, dispatch, turn errors into exit statuses.

Everything after the first ``--`` is the job's command, taken verbatim (never parsed as
options). A user error is one ``psij: error: ...`` line on stderr and a distinct exit status
(`psij.cli.exit_status`); only an unexpected exception, a bug, says more, and its traceback
only with ``PSIJ_CLI_DEBUG=1``.
"""

import argparse
import logging
import os
import sys
import traceback
from typing import Callable, Dict, List, Optional, Tuple

from psij.cli.campaign_commands import campaign_command
from psij.cli.config_commands import config_show_command, profiles_command
from psij.cli.exit_status import CliError, ExitStatus
from psij.cli.info_commands import executors_command, spec_command
from psij.cli.job_commands import cancel_command, list_command, status_command, wait_command
from psij.cli.parser import TAKES_COMMAND, build_parser, resolve_executor_defaults
from psij.cli.pilot_commands import pilot_command
from psij.cli.profile_input import apply_profile
from psij.cli.queue_commands import queues_command
from psij.cli.submission_commands import run_command, submit_command

Handler = Callable[[argparse.Namespace, List[str]], int]

_HANDLERS: Dict[str, Handler] = {
    'run': run_command,
    'submit': submit_command,
    'status': status_command,
    'wait': wait_command,
    'cancel': cancel_command,
    'list': list_command,
    'executors': executors_command,
    'spec': spec_command,
    'campaign': campaign_command,
    'config': config_show_command,
    'profiles': profiles_command,
    'queues': queues_command,
    'pilot': pilot_command,
}

DEBUG_VARIABLE = 'PSIJ_CLI_DEBUG'


def split_command(argv: List[str]) -> Tuple[List[str], Optional[List[str]]]:
    """(psij's own arguments, the job's command after the first ``--``, or None)."""
    if '--' not in argv:
        return argv, None
    index = argv.index('--')
    return argv[:index], argv[index + 1:]


def _dispatch(argv: List[str]) -> int:
    own, command = split_command(argv)
    options = build_parser().parse_args(own)
    subcommand: str = options.subcommand
    if command is not None and subcommand not in TAKES_COMMAND:
        raise CliError(ExitStatus.USAGE,
                       f'{subcommand}: takes no command after "--" (only '
                       f'{", ".join(TAKES_COMMAND)} do)')
    if options.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format='psij: %(levelname)s %(name)s: %(message)s')
    apply_profile(options)
    resolve_executor_defaults(options)
    return _HANDLERS[subcommand](options, command or [])


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``psij`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit
    status (see ``psij --help`` or docs/cli.md)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(_dispatch(arguments))
    except CliError as error:
        print(f'psij: error: {error.message}', file=sys.stderr, flush=True)
        return int(error.status)
    except SystemExit as exit_request:  # --help and --version
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else ExitStatus.USAGE)
    except KeyboardInterrupt:
        # On a terminal, leave the line of live counts psij wait may have been drawing.
        print(('\n' if sys.stderr.isatty() else '') + 'psij: interrupted', file=sys.stderr,
              flush=True)
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (psij list | head): not an error of ours. Point stdout at
        # /dev/null so that the interpreter's final flush does not complain again.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return int(ExitStatus.OK)
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            traceback.print_exc()
        print(f'psij: error: internal error (a bug in psij, please report it): '
              f'{type(error).__name__}: {error}'
              + ('' if os.environ.get(DEBUG_VARIABLE) else
                 f' [{DEBUG_VARIABLE}=1 shows the traceback]'),
              file=sys.stderr, flush=True)
        return int(ExitStatus.INTERNAL)
