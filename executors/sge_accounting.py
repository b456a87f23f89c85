"""Grid Engine's accounting: ``qacct -j`` for many jobs in one command, and what its records
say (pure functions; `executors.sge` uses them).

qacct takes ONE job id (or one job name pattern) per call, so the accounting command runs it
once per job in one shell, each answer between two lines of ours. Array elements (``123.4``)
are asked for by their job and the range of their tasks (``qacct -j 123 -t 2-9``: one call
per array, a record per task, each with its ``taskid``).
"""

import re
import signal
from typing import Dict, List, Optional, Sequence, Tuple

from psij.batch import (
    AccountingUnavailable,
    CommandResult,
    SchedulerStatus,
    StatusCommandError,
    clock_seconds,
    clock_time,
    signal_name,
)
from psij.job_state import JobState

from .sge_arrays import split_native_id

_QACCT_BEGIN = 'psij-qacct-begin'
_QACCT_END = 'psij-qacct-end'
# A query is a job number, or JOB.FIRST-LAST for the tasks FIRST to LAST of an array.
_QACCT_LOOP = (f'for id do echo "{_QACCT_BEGIN} $id"; case $id in '
               '*.*) qacct -j "${id%%.*}" -t "${id#*.}" 2>&1;; *) qacct -j "$id" 2>&1;; esac; '
               f'echo "{_QACCT_END} $id $?"; done')
# qacct's name for the accounting file that does not exist yet (or no more).
_NO_ACCOUNTING_FILE = 'no jobs running since startup'


def accounting_command(native_ids: Sequence[str]) -> List[str]:
    """``qacct -j ID`` for each job, ``qacct -j ID -t FIRST-LAST`` for the elements of each
    array, in one shell; each answer is framed by ``psij-qacct-begin QUERY`` and
    ``psij-qacct-end QUERY STATUS``."""
    queries = _queries(native_ids)
    return ['sh', '-c', _QACCT_LOOP, 'psij-qacct', *dict.fromkeys(queries.values())]


def _queries(native_ids: Sequence[str]) -> Dict[str, str]:
    """The query each id is answered by: its job number, or ``JOB.FIRST-LAST`` covering every
    element of that array in ``native_ids`` (the whole job if it is asked for itself too)."""
    split = {native_id: split_native_id(native_id) for native_id in native_ids}
    whole = {number for number, task in split.values() if task is None}
    tasks: Dict[str, List[int]] = {}
    for number, task in split.values():
        if task is not None:
            tasks.setdefault(number, []).append(task)
    queries: Dict[str, str] = {}
    for native_id, (number, task) in split.items():
        if task is None or number in whole:
            queries[native_id] = number
        else:
            queries[native_id] = f'{number}.{min(tasks[number])}-{max(tasks[number])}'
    return queries


def parse_accounting_output(result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
    """The final states in the last accounting record of each job qacct knows."""
    if result.returncode is None:
        raise StatusCommandError(result.describe())
    records: Dict[str, SchedulerStatus] = {}
    answers = _qacct_answers(result)
    parsed: Dict[str, List[Dict[str, str]]] = {}
    missing_file = 0
    for native_id, query in _queries(native_ids).items():
        if query not in answers:
            raise StatusCommandError(f'qacct gave no answer for job {native_id} '
                                     f'({result.describe()})')
        number, task = split_native_id(native_id)
        text, status = answers[query]
        if status != 0:
            # Unknown job, or (with -t) none of the tasks has a record yet.
            if f'job id {number} not found' in text or (
                    f'job-array tasks {number}.' in text.lower() and 'not found' in text):
                continue
            if _NO_ACCOUNTING_FILE in text:
                missing_file += 1
                continue
            first = next((line for line in text.splitlines() if line.strip()), '')
            raise StatusCommandError(f'qacct -j {query} exited with status {status}: '
                                     f'{first.strip()[:200]}')
        try:
            if query not in parsed:
                parsed[query] = parse_qacct_records(text)
        except ValueError as error:
            raise StatusCommandError(f'qacct -j {query}: {error}') from None
        found = [record for record in parsed[query] if record.get('jobnumber') == number
                 and (task is None or record.get('taskid') == str(task))]
        if not found:
            continue
        # A job has a record per attempt (an error state, a rerun): the last one counts (of
        # an array asked for by its number: the last task's).
        status_of_job = accounting_status(found[-1])
        if status_of_job is None:
            raise StatusCommandError(f'qacct -j {query}: a record without failed and '
                                     'exit_status lines')
        records[native_id] = status_of_job
    if missing_file and not records and missing_file == len(native_ids):
        raise AccountingUnavailable(
            'qacct: the accounting file does not exist (no job has ended since accounting '
            'was switched on, or it is off: reporting_params accounting=true in '
            '`qconf -sconf`)')
    return records


def accounting_status(record: Dict[str, str]) -> Optional[SchedulerStatus]:
    """The final status in one ``qacct -j`` record (its ``key value`` lines), or None if the
    record has no ``failed`` or ``exit_status``.

    ``failed`` is Grid Engine's own verdict (0: the job ran and exited by itself; 37: a limit
    enforced by the qmaster; 100: the job ended by a signal it did not send itself, as qdel
    does; others: the job could not be started or ended abnormally); ``exit_status`` is the
    job script's, 128 + N for signal N.
    """
    failed_text = ' '.join(record.get('failed', '').split())
    exit_text = record.get('exit_status', '').split()
    try:
        failed = int(failed_text.split(' ', 1)[0])
        exit_status = int(exit_text[0])
    except (ValueError, IndexError):
        return None
    native_state = f'failed {failed}, exit_status {exit_status}'
    verdict = f'Grid Engine: failed {failed_text}, exit_status {exit_status}'
    killed_by = exit_status - 128 if exit_status > 128 else None
    limit = _time_limit(record)
    if failed == 0:
        if exit_status == 0:
            return SchedulerStatus(JobState.COMPLETED, native_state, exit_code=0)
        return SchedulerStatus(JobState.FAILED, native_state, exit_code=exit_status)
    if failed == 37 or (killed_by == signal.SIGKILL and limit is not None and limit[1]):
        if limit is not None and limit[1]:
            message = f'time limit of {clock_time(limit[0])} reached ({verdict})'
        else:
            message = f'a limit enforced by Grid Engine was reached ({verdict})'
        return SchedulerStatus(JobState.FAILED, native_state, message=message)
    if failed == 100 and killed_by is not None:
        if killed_by == signal.SIGKILL:
            return SchedulerStatus(JobState.CANCELED, native_state,
                                   message=f'deleted with qdel, or killed with SIGKILL '
                                           f'({verdict})')
        return SchedulerStatus(JobState.FAILED, native_state, exit_code=-killed_by,
                               message=f'killed by {signal_name(killed_by)} ({verdict})')
    if failed == 100:
        return SchedulerStatus(JobState.FAILED, native_state, exit_code=exit_status,
                               message=f'the job ended abnormally ({verdict})')
    if record.get('start_time', '').strip() == '-/-':
        number = record.get('jobnumber', '').strip()
        job = f' {number}' if number.isdigit() else ''
        return SchedulerStatus(
            JobState.FAILED, native_state,
            message=f'Grid Engine could not start the job ({verdict}); unless it was deleted, '
                    f'it waits in error state (Eqw): `qmod -cj{job}` runs it again, '
                    f'`qdel{job}` deletes it')
    return SchedulerStatus(JobState.FAILED, native_state,
                           message=f'the job failed in Grid Engine ({verdict})')


def _time_limit(record: Dict[str, str]) -> Optional[Tuple[int, bool]]:
    """The job's ``h_rt`` in seconds (from the ``category`` line) and whether its wall clock
    time reached it; None if it had none."""
    match = re.search(r'(?:^|[\s,])h_rt=([0-9:]+)', record.get('category', ''))
    limit = clock_seconds(match.group(1)) if match else None
    if not limit:
        return None
    wallclock_match = re.fullmatch(r'([0-9.]+)s?', record.get('ru_wallclock', '').strip())
    wallclock = float(wallclock_match.group(1)) if wallclock_match else -1.0
    return limit, wallclock >= limit


def parse_qacct_records(text: str) -> List[Dict[str, str]]:
    """The records in ``qacct -j`` output: one dict of ``key -> value`` per block of lines
    after a line of ``=``; raises ValueError for text that is not such output."""
    records: List[Dict[str, str]] = []
    current: Optional[Dict[str, str]] = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if set(line.strip()) == {'='}:
            current = {}
            records.append(current)
            continue
        if current is None:
            raise ValueError(f'not a qacct record: {line.strip()[:200]!r}')
        key, _, value = line.partition(' ')
        current[key] = value.strip()
    return records


def _qacct_answers(result: CommandResult) -> Dict[str, Tuple[str, int]]:
    """The text and exit status of each qacct run of the accounting command, by job id."""
    answers: Dict[str, Tuple[str, int]] = {}
    current: Optional[str] = None
    lines: List[str] = []
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == _QACCT_BEGIN:
            current, lines = words[1], []
            continue
        if len(words) == 3 and words[0] == _QACCT_END and words[1] == current:
            try:
                status = int(words[2])
            except ValueError:
                raise StatusCommandError(f'accounting command: bad status line {line!r}') \
                    from None
            answers[current] = ('\n'.join(lines), status)
            current = None
            continue
        if current is None:
            if line.strip():
                raise StatusCommandError(f'accounting command printed {line.strip()[:200]!r} '
                                         f'outside an answer ({result.describe()})')
            continue
        lines.append(line)
    return answers
