"""What Grid Engine's ``qstat -xml`` and ``qdel`` print, read as pure functions (used by
`executors.sge`)."""

import re
import xml.etree.ElementTree as ElementTree
from typing import Dict, List, Optional, Tuple

from psij.batch import CancelOutcome, CommandResult, SchedulerStatus, StatusCommandError
from psij.job_state import JobState

from .sge_arrays import TaskList

_XML_INVALID = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f]')

#: qdel's answers (in lower case): the pattern, whether it names a job or a task (``123.4``),
#: and what it means. About a task: ``root has deleted job-array task 123.4`` (pending),
#: ``root has registered the job-array task 123.4 for deletion`` (running), ``job "123" task
#: "4" does not exist`` (ended); a task being deleted gets ``job 123 is already in deletion``,
#: and one of a job that has ended ``denied: job "123" does not exist``.
_QDEL_ANSWERS = (
    (re.compile(r'has deleted job(?:-array task)? ([0-9]+(?:\.[0-9]+)?)$'),
     CancelOutcome.REQUESTED),
    (re.compile(r'has registered the job(?:-array task)? ([0-9]+(?:\.[0-9]+)?) for deletion$'),
     CancelOutcome.REQUESTED),
    (re.compile(r'^job ([0-9]+) is already in deletion$'), CancelOutcome.REQUESTED),
    (re.compile(r'job "([0-9]+)" task "([0-9]+)" does not exist$'),
     CancelOutcome.ALREADY_ENDED),
    (re.compile(r'job "([0-9]+)" does not exist$'), CancelOutcome.ALREADY_ENDED),
)


def qdel_answers(lowered: str) -> Dict[str, CancelOutcome]:
    """What qdel said, by the job number or element id each line names."""
    said: Dict[str, CancelOutcome] = {}
    for line in lowered.splitlines():
        for pattern, outcome in _QDEL_ANSWERS:
            match = pattern.search(line.strip())
            if match is not None:
                said.setdefault('.'.join(match.groups()), outcome)
                break
    return said


def keep(statuses: Dict[str, SchedulerStatus], native_id: str,
          status: SchedulerStatus) -> None:
    """Record ``status`` of ``native_id``; a running task makes an array's number ACTIVE
    whatever its other lines say."""
    known = statuses.get(native_id)
    if known is None or (known.state != JobState.ACTIVE and status.state == JobState.ACTIVE):
        statuses[native_id] = status


def first_line(result: CommandResult) -> str:
    """The first line of what a command printed that is not blank (else how it ended)."""
    for line in (result.stdout + '\n' + result.stderr).splitlines():
        if line.strip():
            return line.strip()
    return result.describe()


def qstat_jobs(text: str) -> List[Tuple[str, str, Optional[TaskList]]]:
    """``(job number, state, tasks)`` for each ``job_list`` element of ``qstat -xml`` output
    (``tasks``: of an array's entry, else None); raises `StatusCommandError` for output that
    is not qstat's XML."""
    try:
        # Job names may hold control characters that XML 1.0 does not allow.
        root = ElementTree.fromstring(_XML_INVALID.sub('?', text))
    except ElementTree.ParseError as error:
        raise StatusCommandError(f'qstat printed something that is not its XML ({error}): '
                                 f'{text.strip()[:200]!r}') from None
    if root.tag != 'job_info':
        raise StatusCommandError(f'qstat printed XML without job_info: {text.strip()[:200]!r}')
    jobs: List[Tuple[str, str, Optional[TaskList]]] = []
    for element in root.iter('job_list'):
        number = (element.findtext('JB_job_number') or '').strip()
        state = (element.findtext('state') or '').strip()
        if not number.isdigit():
            raise StatusCommandError(f'qstat listed a job without a job number: '
                                     f'{ElementTree.tostring(element)[:200]!r}')
        tasks_text = (element.findtext('tasks') or '').strip()
        try:
            tasks = TaskList.parse(tasks_text) if tasks_text else None
        except ValueError as error:
            raise StatusCommandError(f'qstat listed job {number} with {error}') from None
        jobs.append((number, state, tasks))
    return jobs
