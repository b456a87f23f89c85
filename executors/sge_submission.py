"""Grid Engine: the job submitted from a script, for a submission whose answer was lost.

``qstat -j`` shows, for each job the qmaster holds (pending, held, running, in error), the
path qsub was given as ``script_file:``; psij's script path holds its job id, so the path
names one submission. ``qstat -j`` ignores ``-u``, so the user's job numbers are listed
first (``qstat -u USER``, whose first column is the job number) and only those jobs are
shown in full.

A job that has already ended is no longer in the qmaster, and Grid Engine's accounting
(``qacct``) keeps neither the script nor anything psij could set in the job without
changing it (the job name, the project, the account string all mean something to users
and sites), so such a job is not found here (see ``docs/executors/sge.md``).
"""

import re
import shlex
from typing import List, Optional

from psij.batch import CommandResult, StatusCommandError

#: ``qstat -j`` of job numbers of which some have just left the qmaster says so, and fails.
_GONE = 'following jobs do not exist'
_FIELD = re.compile(r'^([a-z_]+):\s*(.*?)\s*$')


def find_submission_command(user: str) -> List[str]:
    """One shell: ``qstat -u USER`` for the user's job numbers, then ``qstat -j`` of them
    (nothing printed, and success, if the user has none)."""
    user = shlex.quote(user)  # the line is a shell's
    return ['sh', '-c',
            f"ids=$(qstat -u {user}) || exit; "
            "ids=$(printf '%s\\n' \"$ids\" | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1 }' "
            "| sort -u | paste -s -d , -); "
            '[ -z "$ids" ] || exec qstat -j "$ids"']


def parse_find_submission(result: CommandResult, script: str) -> Optional[str]:
    """The job number of the job whose ``script_file`` is ``script``, or None; raises
    `StatusCommandError` if qstat failed for another reason than jobs that have just
    ended."""
    if result.returncode is None or (not result.ok and not _only_gone(result)):
        raise StatusCommandError(result.describe())
    number: Optional[str] = None
    for line in result.stdout.splitlines():
        if line.startswith('====='):
            number = None
            continue
        match = _FIELD.match(line)
        if match is None:
            continue
        field, value = match.groups()
        if field == 'job_number':
            if not value.isdigit():
                raise StatusCommandError(f'qstat -j printed a job number that is not one: '
                                         f'{value[:200]!r}')
            number = value
        elif field == 'script_file' and value == script and number is not None:
            return number
    return None


def _only_gone(result: CommandResult) -> bool:
    """True if the only complaint is about jobs that no longer exist (they ended between
    the two qstat calls)."""
    said = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return bool(said) and said[0].lower().startswith(_GONE) and all(
        re.fullmatch(r'[0-9, ]+', line) for line in said[1:])
