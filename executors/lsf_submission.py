"""LSF: the job submitted from a script, for a submission whose answer was lost.

bsub reads the job script on its standard input, so no path names the script in ``bjobs``.
Each script therefore gives its job a description naming the script's stem (psij's job id;
for an array, ``<array id>-<offset>``, one description for all its elements: IBM ``bsub -Jd``),
``#BSUB -Jd "psij-job <stem>"``, and ``bjobs -a -u USER -o "jobid job_description
delimiter='|'" -noheader`` lists the user's jobs with their descriptions, recently finished
ones too (``-a``: until LSF's ``CLEAN_PERIOD``, one hour by default). The stem names one
submission: the description names one job.

The description is psij's: ``custom_attributes['lsf.Jd']`` is refused (`RESERVED_OPTION`),
since a job described otherwise could not be found, and a lost answer would then give two
jobs.
"""

import pathlib
import re
from typing import Dict, List, Optional

from psij.batch import CommandResult, StatusCommandError

#: What a description starts with; the script's stem follows.
DESCRIPTION_PREFIX = 'psij-job '
#: ``bjobs -o``: the job id and description (IBM's field name ``job_description``), ``|``
#: between them (job ids have none; the description comes last, so it may).
FIND_FORMAT = "jobid job_description delimiter='|'"
#: The option the executor writes itself, and why (for the refusal of a custom attribute).
RESERVED_OPTION: Dict[str, str] = {
    'Jd': 'JobSpec.name to name the job (the job description holds psij\'s job id, by which '
          'a submission whose answer was lost is found)'}
# "No job found" with -a, "No unfinished job found" without: the user has no job to show.
_NO_JOBS = ('no job found', 'no unfinished job found')
_RECORD = re.compile(r'([0-9]+)(?:\[[0-9]+\])?\|(.*)')


def description(stem: str) -> str:
    """The job description (``bsub -Jd``) of the job whose script's stem is ``stem``."""
    return f'{DESCRIPTION_PREFIX}{stem}'


def find_submission_command(user: str) -> List[str]:
    """``bjobs -a -u USER`` with each job's id and description, one line each."""
    return ['bjobs', '-a', '-u', user, '-o', FIND_FORMAT, '-noheader']


def parse_find_submission(result: CommandResult, script: str) -> Optional[str]:
    """The job id (an array's, for its elements) whose description names the stem of
    ``script``, or None if none does; raises `StatusCommandError` if bjobs failed (other
    than for having no job to show) or printed a line that is not ``ID|DESCRIPTION``."""
    if result.returncode is None:
        raise StatusCommandError(result.describe())
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not result.ok and not (not lines and any(
            said in result.stderr.lower() for said in _NO_JOBS)):
        raise StatusCommandError(result.describe())
    wanted = description(pathlib.PurePath(script).stem)
    after_record = False
    for line in lines:
        match = _RECORD.fullmatch(line)
        if match is None:
            # LSF's "Please wait" notices; or the rest of a description that holds a line
            # break (someone's bsub -Jd), only ever after a record. Anything else is not
            # bjobs' answer: better no answer than a job not found that was there.
            if 'please wait' in line.lower() or after_record:
                continue
            raise StatusCommandError(f'bjobs printed a line that is not ID|DESCRIPTION: '
                                     f'{line[:200]!r}')
        after_record = True
        if match.group(2).strip() == wanted:
            return match.group(1)
    return None
