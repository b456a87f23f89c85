"""How a campaign job ended: the one rule, from the executor's final status and the job's
result file.

* The result file of the job's current submission, once complete (its script got to the
  end), decides the exit code and which step failed, unless the executor says the job was
  CANCELED; the executor's message is added when it saw the job end and says more than the
  exit code (a time limit). It outranks the executor's word because it is the job's own: a
  local job whose submitting process died is "outcome unknown" to the executor, but its
  script wrote down how each command ended.
* Otherwise the executor's status decides: COMPLETED means the script exited 0, so every
  command did; FAILED or CANCELED keep the executor's exit code and message (a time limit,
  a cancel), with the commands that had ended before, from the incomplete result file.
"""

from typing import List, Optional

from psij.campaigns.job_script import RunResult, describe_command
from psij.campaigns.records import COMPLETED, FAILED, JobRecord
from psij.job_state import JobState
from psij.job_status import JobStatus


def settle(record: JobRecord, status: Optional[JobStatus], result: Optional[RunResult],
           now: float) -> None:
    """Make ``record`` final (see the module docstring). ``result`` must be of the record's
    current submission (or None); ``status`` is None when the executor cannot say."""
    count = len(record.commands)
    if result is not None:
        for index, code in result.commands.items():
            if 1 <= index <= count:
                record.commands[index - 1].exit_code = code
    canceled = status is not None and status.state == JobState.CANCELED
    record.failed_line = _failed_line(record, result)
    if result is not None and result.complete and not canceled:
        record.exit_code = result.exit_code
        record.state = COMPLETED if result.exit_code == 0 else FAILED
        record.message = None if result.exit_code == 0 else _failure_text(record, result)
        if record.message and status is not None and status.exit_code is not None and \
                status.message and not status.message.startswith('exit code'):
            # What the executor, having seen the job end, knows beyond its exit code: a time
            # limit, a node failure. (Without an exit code it did not see the end: nothing.)
            record.message += f'; {status.message}'
        record.times['ended'] = result.ended
        return
    if status is not None and status.state == JobState.COMPLETED:
        for command in record.commands:
            command.exit_code = 0
        record.state, record.exit_code, record.message = COMPLETED, 0, None
        record.times['ended'] = status.time
        return
    record.state = FAILED
    record.exit_code = None if status is None else status.exit_code
    parts: List[str] = []
    if canceled and not (status is not None and (status.message or '').startswith('canceled')):
        parts.append('canceled')
    if status is not None and status.message:
        parts.append(status.message)
    if status is None:
        parts.append('the job ended without finishing its result file')
    if count > 1 and result is not None:
        parts.append(f'{len(result.commands)} of {count} commands had ended')
    record.message = '; '.join(parts)
    record.times['ended'] = status.time if status is not None else now


def _failed_line(record: JobRecord, result: Optional[RunResult]) -> Optional[int]:
    """The map line of the first step that failed, in the order they ran."""
    if result is None:
        return None
    setup = result.failed_setup
    if setup is not None and setup[0] == 'pre':
        return setup[1]
    for command in record.commands:
        if command.exit_code not in (None, 0):
            return command.line
    return setup[1] if setup is not None else None


def _failure_text(record: JobRecord, result: RunResult) -> str:
    """``map line 6 exited with 3``; in a job of several commands, which one, and how many
    of them failed."""
    setup = result.failed_setup
    if setup is not None and setup[0] == 'pre':
        return f'[pre] map line {setup[1]} exited with {setup[2]}; no command ran'
    count = len(record.commands)
    failed = [(index, command) for index, command in enumerate(record.commands, start=1)
              if command.exit_code not in (None, 0)]
    parts: List[str] = []
    if failed:
        index, command = failed[0]
        parts.append(f'{describe_command(index, count, command.line)} exited with '
                     f'{command.exit_code}')
        if count > 1:
            parts.append(f'{len(failed)} of {count} commands failed')
    if setup is not None:
        parts.append(f'[post] map line {setup[1]} exited with {setup[2]}')
    return '; '.join(parts) or f'exit code {result.exit_code}'
