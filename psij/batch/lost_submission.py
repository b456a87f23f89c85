"""A submission whose answer was lost, found or made again: never two jobs of one script.

When the submit command gets no answer (the SSH connection dropped, the command timed out),
the job may or may not be at the scheduler: sbatch may have run, and only its answer be
lost. Before anything is submitted again, the scheduler is asked for the job submitted from
the job's script (its path holds psij's job id, so it names one submission), if the
scheduler can say (`BatchScheduler.find_submission_command`):

* found: that is the job; nothing is submitted again;
* not in the scheduler's answer, but a marker the job wrote (``.started``, ``.ec``, next to
  the script, naming psij's job id) says it ran: that is the job (it ended before the look,
  and the scheduler no longer lists it);
* not found, twice, `RECHECK_DELAY` apart (a submit command still under way has ended by
  then): the submission never arrived, and it is made again, once;
* the scheduler cannot be asked (still no connection) within `ASK_TRIES` tries:
  `SubmitException` (transient), naming the script to look for. The script is remembered as
  unsettled: when the submission is tried again (the submission gate retries a transient
  failure), the scheduler is asked first, and the command runs only once the look says the
  first one never arrived;
* the scheduler cannot say at all (no `find_submission_command`): `SubmitException`, not
  transient, naming the script: nothing is ever submitted twice on a guess.
"""

import logging
import pathlib
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Set

from psij.batch.markers import JOB_ID_PREFIX
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
#: Scripts whose submit command got no answer and whose fate could not be learned yet.
_unsettled: Set[str] = set()
_unsettled_lock = threading.Lock()


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
    with _unsettled_lock:
        unsettled = script in _unsettled
    if unsettled:
        result = CommandResult(command.argv, None, '', 'an earlier submission of this script '
                                                       'got no answer')
    else:
        result = transport.run(command.argv, stdin=command.stdin, timeout=timeout)
        if result.returncode is not None:
            return Submitted(result)
    ask = scheduler.find_submission_command(user)
    if ask is None:
        raise SubmitException(
            f'the submission of {script} got no answer ({result.stderr.strip()}), and '
            f'{scheduler.name} cannot be asked whether it arrived; look for a job whose '
            f'script is {script} before submitting it again')
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
            _settled(script)
            return Submitted(result, found)
        misses += 1
        if misses == 2:
            logger.warning('%s: the submission of %s never arrived (%s); submitting it again',
                           scheduler.name, script, lost.stderr.strip())
            _settled(script)
            write_again()
            return Submitted(transport.run(command.argv, stdin=command.stdin, timeout=timeout))
    with _unsettled_lock:
        _unsettled.add(script)
    raise SubmitException(
        f'the submission of {script} got no answer ({lost.stderr.strip()}), and '
        f'{scheduler.name} could not be asked whether it arrived; before submitting again, '
        f'look for a job whose script is {script}', transient=True)


def _settled(script: str) -> None:
    with _unsettled_lock:
        _unsettled.discard(script)


def _look(transport: Transport, scheduler: BatchScheduler, ask: List[str], script: str,
          timeout: float) -> Optional[str]:
    """The native id found ('' if none), or None if the scheduler gave no answer."""
    result = transport.run(ask, timeout=timeout)
    if result.returncode is None:
        return None
    try:
        found = scheduler.parse_find_submission(result, script)
    except StatusCommandError as error:
        logger.info('%s: looking for the submission of %s failed: %s', scheduler.name,
                    script, error)
        return None
    return found or _look_in_markers(transport, script, timeout)


def markers_command(script: str) -> List[str]:
    """``find`` of the markers next to ``script`` that name its job (the script's stem is
    psij's job id, unique: no other job's marker names it); POSIX ``find`` and ``grep``, for
    any transport. Not ``-newer`` the script: a retry writes the script again."""
    path = pathlib.PurePosixPath(script)
    return ['find', f'{path.parent}/.', '!', '-name', '.', '-prune', '(', '-name', '*.ec',
            '-o', '-name', '*.started', ')', '-exec', 'grep', '-l', '-x',
            '-F', '-e', f'{JOB_ID_PREFIX}{path.stem}', '{}', '+']


def _look_in_markers(transport: Transport, script: str, timeout: float) -> Optional[str]:
    """The native id of a marker that names the job of ``script`` ('' if none), or None if
    there was no answer: a job that ran and ended before the look is known by its marker."""
    result = transport.run(markers_command(script), timeout=timeout)
    if result.returncode is None:
        return None
    for line in result.stdout.splitlines():
        name = pathlib.PurePosixPath(line.strip()).name
        for suffix in ('.ec', '.started'):
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[:-len(suffix)]
    return ''
