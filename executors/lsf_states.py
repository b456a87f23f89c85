"""LSF's job states as psij statuses: ``bjobs``' ``STAT``, with ``EXIT_REASON`` (LSF's
termination reason), ``PEND_REASON`` and ``RUNTIMELIMIT`` for the message (the table is in
``docs/executors/lsf.md``). Pure functions; `psij.executors.lsf` reads ``bjobs`` and calls
`job_status` for each record.
"""

import re
from typing import Optional, Tuple

from psij.batch import SchedulerStatus, clock_time
from psij.job_state import JobState

_QUEUED_STATES = {
    'PEND': None,
    'PSUSP': 'suspended while pending',
    'WAIT': 'waiting for its turn in a chunk job',
    'PROV': 'waiting for its host to be powered on',
}
# UNKWN (the execution host lost contact) and ZOMBI (killed while the host was unreachable)
# only happen to dispatched jobs: the job did start.
_ACTIVE_STATES = {'RUN', 'USUSP', 'SSUSP', 'UNKWN', 'ZOMBI'}
_CANCEL_REASONS = {
    'TERM_OWNER': 'killed by its owner',
    'TERM_FORCE_OWNER': 'killed by its owner without time to clean up',
    'TERM_ADMIN': 'killed by root or an LSF administrator',
    'TERM_FORCE_ADMIN': 'killed by root or an LSF administrator without time to clean up',
}


def _describe_limit(minutes_text: str) -> str:
    """`` of H:MM:SS`` for ``bjobs``'s RUNTIMELIMIT (minutes, ``1.0`` or ``1.0/host``);
    empty if it is not a number."""
    match = re.match(r'\s*([0-9]+(?:\.[0-9]*)?)', minutes_text)
    if match is None:
        return ''
    return f' of {clock_time(round(float(match.group(1)) * 60))}'


def _split_reason(exit_reason: str) -> Tuple[str, str]:
    """``('TERM_OWNER', 'job killed by owner')`` for ``TERM_OWNER: job killed by owner``."""
    keyword, _, text = exit_reason.strip().partition(':')
    keyword = keyword.strip()
    if not keyword.startswith('TERM_'):
        return '', exit_reason.strip()
    return keyword, text.strip().rstrip('.')


def _exit_code(text: str) -> Optional[int]:
    try:
        return int(text.strip())
    except ValueError:
        return None


def job_status(stat: str, exit_code: str = '', exit_reason: str = '', pend_reason: str = '',
               run_limit: str = '') -> Optional[SchedulerStatus]:
    """The status for one LSF job state, or None for a state this module does not know
    (never an error)."""
    stat = stat.strip()
    if stat in _QUEUED_STATES:
        reason = pend_reason.strip().rstrip(';').strip()
        what = _QUEUED_STATES[stat] or 'pending'
        return SchedulerStatus(JobState.QUEUED, stat,
                               message=f'{what}: {reason}' if reason else _QUEUED_STATES[stat])
    if stat in _ACTIVE_STATES:
        return SchedulerStatus(JobState.ACTIVE, stat)
    if stat == 'DONE':
        return SchedulerStatus(JobState.COMPLETED, stat, exit_code=0)
    if stat != 'EXIT':
        return None
    code = _exit_code(exit_code)
    keyword, text = _split_reason(exit_reason)
    said = f'LSF {keyword}: {text}' if text else f'LSF {keyword}'
    if keyword in _CANCEL_REASONS:
        return SchedulerStatus(JobState.CANCELED, stat, exit_code=code,
                               message=f'canceled: {_CANCEL_REASONS[keyword]} ({said})')
    if keyword == 'TERM_RUNLIMIT':
        return SchedulerStatus(JobState.FAILED, stat, exit_code=code,
                               message=f'time limit{_describe_limit(run_limit)} reached ({said})')
    if keyword:
        return SchedulerStatus(JobState.FAILED, stat, exit_code=code,
                               message=f'ended by LSF: {text or keyword} (LSF {keyword})')
    # A plain non-zero exit: the exit code says it all; without one, the job's own marker
    # may still arrive, so the status is not complete.
    return SchedulerStatus(JobState.FAILED, stat, exit_code=code, complete=code is not None)
