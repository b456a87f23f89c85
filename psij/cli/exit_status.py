"""The exit statuses of the ``psij`` command and the error that carries one.

Numbers are taken from the ``sysexits.h`` range (64-78), which programs rarely use for their
own purposes, so that ``psij run``'s pass-through of the job's exit code seldom collides with
them. Where psij's meaning differs from the ``sysexits.h`` name, psij's meaning is the one
documented here and in docs/cli.md.
"""

import enum
from typing import Optional

from psij.job_state import JobState
from psij.job_status import JobStatus


class ExitStatus(enum.IntEnum):
    """Every exit status the ``psij`` command itself chooses (others are a job's own)."""

    OK = 0
    #: The command line is wrong: unknown option, bad option value, missing command.
    USAGE = 64
    #: The job spec is wrong: malformed JSON, a field with a bad value, or a spec the
    #: executor rejected as invalid (e.g. an executable that does not exist).
    BAD_SPEC = 65
    #: A spec file that cannot be read.
    NO_INPUT = 66
    #: A job id the executor does not know (or that is not an id of this executor at all).
    UNKNOWN_JOB = 67
    #: `psij wait --states`: a job ended without reaching any of the awaited states.
    UNREACHABLE = 68
    #: An unknown executor or launcher, or a plugin that fails to load.
    UNKNOWN_PLUGIN = 69
    #: A bug in psij: an unexpected exception.
    INTERNAL = 70
    #: The job ended FAILED without an exit code (outcome unknown, killed by the scheduler
    #: before it could report one...), or FAILED with an exit code of 0.
    JOB_FAILED_WITHOUT_EXIT_CODE = 71
    #: The job ended CANCELED.
    JOB_CANCELED = 72
    #: `--timeout` ran out before the jobs reached the awaited states.
    TIMEOUT = 75
    #: The backend failed or refused: submission refused, cancel or list failed, or no answer
    #: about a job.
    BACKEND = 76
    #: Interrupted by SIGINT (Ctrl-C), as shells report it.
    INTERRUPTED = 130


#: One line per status, for ``psij --help`` (docs/cli.md has the same table).
EXIT_STATUS_HELP = '\n'.join([
    'exit statuses:',
    '  0      success; for run/wait: the job COMPLETED',
    '  1-255  run, wait: the (first failed) job\'s own exit code (128+N: killed by signal N)',
    f'  {ExitStatus.USAGE.value}     bad command line or option value',
    f'  {ExitStatus.BAD_SPEC.value}     bad job spec (malformed JSON, bad field, rejected as '
    'invalid)',
    f'  {ExitStatus.NO_INPUT.value}     spec file cannot be read',
    f'  {ExitStatus.UNKNOWN_JOB.value}     unknown job id',
    f'  {ExitStatus.UNREACHABLE.value}     wait --states: a job ended without reaching an '
    'awaited state',
    f'  {ExitStatus.UNKNOWN_PLUGIN.value}     unknown executor or launcher, or its plugin '
    'fails to load',
    f'  {ExitStatus.INTERNAL.value}     internal error (a bug; PSIJ_CLI_DEBUG=1 shows the '
    'traceback)',
    f'  {ExitStatus.JOB_FAILED_WITHOUT_EXIT_CODE.value}     the job FAILED without an exit '
    'code',
    f'  {ExitStatus.JOB_CANCELED.value}     the job was CANCELED',
    f'  {ExitStatus.TIMEOUT.value}     --timeout ran out',
    f'  {ExitStatus.BACKEND.value}     the backend failed or refused (submit, cancel, list)',
    f'  {ExitStatus.INTERRUPTED.value}    interrupted (Ctrl-C)',
])


class CliError(Exception):
    """A user-facing error: printed as one ``psij: error: ...`` line, then exit with
    ``status``."""

    def __init__(self, status: ExitStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def exit_status_of_job(status: JobStatus) -> int:
    """The exit status that reports a job's final ``status``, as ``psij run`` returns it.

    COMPLETED is 0; CANCELED is `ExitStatus.JOB_CANCELED` whatever the exit code; FAILED is
    the job's exit code when it has a non-zero one (128+N for a job killed by signal N, as
    shells report it), and `ExitStatus.JOB_FAILED_WITHOUT_EXIT_CODE` otherwise, so that a
    failed job never looks successful.
    """
    if status.state == JobState.COMPLETED:
        return ExitStatus.OK
    if status.state == JobState.CANCELED:
        return ExitStatus.JOB_CANCELED
    code = _shell_exit_code(status.exit_code)
    if code is None or code == 0:
        return ExitStatus.JOB_FAILED_WITHOUT_EXIT_CODE
    return code


def _shell_exit_code(exit_code: Optional[int]) -> Optional[int]:
    """An exit code as a shell shows it (0-255); a negative code -N means killed by signal N."""
    if exit_code is None:
        return None
    if exit_code < 0:
        return (128 - exit_code) & 0xFF
    return exit_code & 0xFF
