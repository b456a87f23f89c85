"""What became of a submission the campaign lost track of: the rule that nothing runs twice.

Before a job is submitted, its record says ``submitting`` with psij's job id of that
submission (the *attempt*); once ``submit`` returns, the native id is added. A record that
says ``submitting`` without a native id is a submission whose outcome was lost: its process
died in between (``kill -9``, a crash), or ``submit`` failed in a way that may still have
reached the scheduler (a transient error: a timeout, a controller that stopped answering).
Such a job is never resubmitted blindly. In order:

1. **It started**: its result file (``<job>.result``) names the attempt, or, for a batch
   executor, a marker of the executor (``<native id>.started`` or ``.ec`` in
   ``<work directory>/<executor>/``) names it. It is followed from there (native id from
   the marker's name; the pid in the result file for ``local``).
2. **It never reached a batch scheduler**: the executor writes the job's script,
   ``<work directory>/<executor>/<attempt>.sh``, before it runs the submit command, so
   without that script no submit command ran. It is submitted again at once.
3. **Otherwise** (the script is there, or the executor has no scripts) it is submitted again
   only when all of these hold: `GRACE` seconds have passed since it was recorded (a submit
   command the dead process left running has ended by then), the executor's `list()` shows
   no job that this campaign does not claim and that left no marker in the work directory
   (the job may be waiting in the queue among them), and step 1, looked at again after that
   `list()`, still finds nothing (a job that ran between the two looks left its markers).
   Until then it keeps its slot and is looked at again every `RECHECK` seconds.

A job resubmitted this way provably never reached the scheduler, or never started and is
no longer queued: either way it had not run. The given-up attempt stays in the record's
``attempts``.
"""

import logging
import os
import pathlib
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Set

from psij.batch import BatchSchedulerExecutor, markers
from psij.campaigns.logs_folder import LogsFolder
from psij.campaigns.records import JobRecord
from psij.exceptions import SubmitException
from psij.job_executor import JobExecutor

logger = logging.getLogger('psij.campaigns')

#: Seconds after a submission was recorded before it may be declared never submitted
#: (rule 3): longer than the batch executors' default command timeout, 60 s.
GRACE = 90.0
#: Seconds between two looks at the submissions still undecided.
RECHECK = 5.0
#: Markers older than the submission by more than this are not looked into (clock skew
#: between the submitting host and the node that wrote them).
_MARKER_SLACK = 600.0

REACHED, NEVER, UNDECIDED = 'reached', 'never', 'undecided'


@dataclass(frozen=True)
class Finding:
    """What became of one submission: `REACHED` (with the native id when it can be known),
    `NEVER` (safe to submit again), or `UNDECIDED` (look again later); ``reason`` says why."""

    verdict: str
    reason: str
    native_id: Optional[str] = None


class SubmissionResolver:
    """Applies the rule of the module docstring to the records of one campaign."""

    def __init__(self, folder: LogsFolder, executor: JobExecutor,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.executor = executor
        self.clock = clock
        self.batch_directory: Optional[pathlib.Path] = (
            executor.directory if isinstance(executor, BatchSchedulerExecutor) else None)

    def evidence(self, record: JobRecord) -> Optional[Finding]:
        """Rules 1 and 2 for ``record``'s attempt: a decision, or None (rule 3 applies)."""
        attempt = record.job_id or ''
        result = self.folder.read_result(record.id)
        if result is not None and result.attempt == attempt:
            native_id = self._native_id_from_markers(record)
            if native_id is None and self.executor.name == 'local' and result.pid is not None:
                native_id = str(result.pid)  # local jobs are exec'd: the script's pid is it
            return Finding(REACHED, 'its result file names this submission', native_id)
        native_id = self._native_id_from_markers(record)
        if native_id is not None:
            return Finding(REACHED, f'the {self.executor.name} executor\'s marker of job '
                                    f'{native_id} names this submission', native_id)
        if self.batch_directory is not None and not (
                self.batch_directory / f'{attempt}{markers.SCRIPT}').exists():
            return Finding(NEVER, f'the {self.executor.name} executor never wrote its job '
                                  f'script, so no submit command ran')
        return None

    def resolve(self, records: Iterable[JobRecord], claimed: Set[str]) -> Dict[str, Finding]:
        """A finding for each record (by job name); ``claimed``: every native id the
        campaign's records hold."""
        findings: Dict[str, Finding] = {}
        waiting: List[JobRecord] = []
        for record in records:
            found = self.evidence(record)
            if found is not None:
                findings[record.id] = found
                continue
            age = self.clock() - (record.times.get('submitted') or 0.0)
            if age < GRACE:
                findings[record.id] = Finding(UNDECIDED, f'recorded {age:.0f} s ago; a submit '
                                                         f'command may still be running '
                                                         f'(waiting {GRACE:.0f} s)')
            else:
                waiting.append(record)
        if not waiting:
            return findings
        try:
            listed = self.executor.list()
        except SubmitException as error:
            for record in waiting:
                findings[record.id] = Finding(UNDECIDED, f'cannot list the jobs of the '
                                                         f'executor: {error.message}')
            return findings
        # Submissions found in this same look are accounted for too.
        claimed = claimed | {found.native_id for found in findings.values()
                             if found.native_id is not None}
        unknown = [native_id for native_id in listed
                   if native_id not in claimed and not self._has_markers(native_id)]
        for record in waiting:
            found = self.evidence(record)  # again: it may have started since the first look
            if found is not None:
                findings[record.id] = found
            elif unknown:
                shown = ', '.join(unknown[:5]) + (', ...' if len(unknown) > 5 else '')
                findings[record.id] = Finding(
                    UNDECIDED, f'the executor lists {len(unknown)} job(s) this campaign does '
                               f'not know ({shown}); this submission may be one of them')
            else:
                findings[record.id] = Finding(
                    NEVER, 'not started, and not among the jobs the executor lists')
        return findings

    # --- the executor's markers ----------------------------------------------------------

    def _has_markers(self, native_id: str) -> bool:
        directory = self.batch_directory
        if directory is None or not markers.is_safe_file_stem(native_id):
            return False
        return any((directory / f'{native_id}{suffix}').exists()
                   for suffix in (markers.STARTED, markers.EXIT_CODE))

    def _native_id_from_markers(self, record: JobRecord) -> Optional[str]:
        """The native id whose ``.started`` or ``.ec`` marker names the record's attempt."""
        directory = self.batch_directory
        attempt = record.job_id
        if directory is None or not attempt:
            return None
        since = (record.times.get('submitted') or 0.0) - _MARKER_SLACK
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return None
        for entry in entries:
            for suffix in (markers.STARTED, markers.EXIT_CODE):
                if not entry.name.endswith(suffix) or entry.name.startswith('.'):
                    continue
                try:
                    if entry.stat().st_mtime < since:
                        continue
                    with open(entry.path, encoding='utf-8', errors='replace') as stream:
                        text = stream.read()
                except OSError:
                    continue
                if markers.marker_job_id(text) == attempt:
                    return entry.name[:-len(suffix)]
        return None
