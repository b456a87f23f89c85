"""A submission whose answer was lost, found or made again: never two jobs of one script.

When the submit command gets no answer (the SSH connection dropped, the command timed out),
the job may or may not be at the scheduler: sbatch may have run, and only its answer be
lost. Before anything is submitted again, the scheduler is asked for the job submitted from
the job's script (its path holds psij's job id, so it names one submission), if the
scheduler can say (`BatchScheduler.find_submission_command`):

* found: that is the job; nothing is submitted again;
* not found, twice, `RECHECK_DELAY` apart (a submit command still under way has ended by
  then): the submission never arrived, and it is made again, once;
* the scheduler cannot be asked (still no connection) within `ASK_TRIES` tries, or cannot say
  at all: `SubmitException` (transient), naming the script to look for.
"""

import logging
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from psij.batch.scheduler import BatchScheduler, StatusCommandError, SubmitCommand
from psij.exceptions import SubmitException
from psij.transport import CommandResult, Transport

logger = logging.getLogger('psij.batch.submission')

#: How many times the scheduler is asked, and the first wait between two tries (doubling).
ASK_TRIES = 6
FIRST_ASK_DELAY = 1.0
#: The wait between the two looks that must both not find the job before it is submitted
#: again.
RECHECK_DELAY = 3.0


@dataclass(frozen=True)
class Submitted:
    """What became of a submission: the submit command's ``result`` to parse, or, when its
    answer was lost, the native id ``found`` at the scheduler."""

    result: CommandResult
    found: Optional[str] = None


def submit_once(transport: Transport, scheduler: BatchScheduler, user: str, script: str,
                command: SubmitCommand, timeout: float,
                write_again: Callable[[], object] = lambda: None,
                sleep: Callable[[float], None] = time.sleep) -> Submitted:
    """Run the submit ``command`` of the job script at path ``script``, making sure that a
    lost answer never gives two jobs (see the module docstring). ``write_again`` writes the
    script again before a second submission (the lost command may have carried it)."""
    result = transport.run(command.argv, stdin=command.stdin, timeout=timeout)
    if result.returncode is not None:
        return Submitted(result)
    ask = scheduler.find_submission_command(user)
    if ask is None:
        return Submitted(result)
    lost = result
    misses = 0
    delay = FIRST_ASK_DELAY
    for _ in range(ASK_TRIES):
        sleep(delay if misses == 0 else RECHECK_DELAY)
        found = _look(transport, scheduler, ask, script, timeout)
        if found is None:  # no answer
            delay *= 2
            continue
        if found:
            logger.warning('%s: the answer to the submission of %s was lost (%s); the job '
                           'had arrived as %s', scheduler.name, script, lost.stderr.strip(),
                           found)
            return Submitted(result, found)
        misses += 1
        if misses == 2:
            logger.warning('%s: the submission of %s never arrived (%s); submitting it again',
                           scheduler.name, script, lost.stderr.strip())
            write_again()
            return Submitted(transport.run(command.argv, stdin=command.stdin, timeout=timeout))
    raise SubmitException(
        f'the submission of {script} got no answer ({lost.stderr.strip()}), and '
        f'{scheduler.name} could not be asked whether it arrived; before submitting again, '
        f'look for a job whose script is {script}', transient=True)


def _look(transport: Transport, scheduler: BatchScheduler, ask: List[str], script: str,
          timeout: float) -> Optional[str]:
    """The native id found ('' if none), or None if the scheduler gave no answer."""
    result = transport.run(ask, timeout=timeout)
    if result.returncode is None:
        return None
    try:
        return scheduler.parse_find_submission(result, script) or ''
    except StatusCommandError as error:
        logger.info('%s: looking for the submission of %s failed: %s', scheduler.name,
                    script, error)
        return None
