"""Running a campaign: submitting its jobs with at most ``max_running`` in flight, following
them to the end, and recording every step in the logs folder, so that any process can take
over (``psij campaign reattach``) after this one ended or was killed.

It uses only the public API of the executor (``submit``, ``attach``, ``list``, the status
callback), so it works with any executor. One thread does everything that writes the logs
folder; the executor's threads only hand status changes over through a queue.

A campaign whose folder holds a cancel request (``psij campaign cancel``) submits nothing
more: its unsubmitted jobs fail as canceled, and every job in flight is canceled at once,
through `JobExecutor.cancel_jobs` (one command per scheduler for a batch executor).

Order of writes, for each submission: the record says ``submitting`` with psij's job id of
the submission *before* ``submit`` is called, and gets the native id right after it returns.
`psij.campaigns.recovery` says what happens to a record caught in between.
"""

import collections
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Set, Tuple

import psutil

from psij.campaigns import outcome
from psij.campaigns.job_script import RunResult
from psij.campaigns.logs_folder import LogsFolder
from psij.campaigns.plan import spec_for
from psij.campaigns.records import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    RUNNING,
    STATES,
    SUBMITTING,
    UNSUBMITTED,
    Attempt,
    JobRecord,
)
from psij.campaigns.recovery import NEVER, REACHED, RECHECK, SubmissionResolver
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_state import JobState
from psij.job_status import JobStatus

#: The longest the loop sleeps when nothing happens.
TICK = 0.2
#: How often jobs followed only through their result file are looked at.
ORPHAN_INTERVAL = 2.0
#: After this many refusals in a row (and no success between), no more jobs are submitted:
#: the map's settings are likely wrong for every job.
REFUSALS_TO_STOP = 3
#: The message of a job that was never submitted because the campaign was canceled.
CANCELED_UNSUBMITTED = 'canceled (psij campaign cancel) before it was submitted'


class Observer:
    """What a running campaign tells its user; this one says nothing."""

    def changed(self, record: JobRecord) -> None:
        """``record`` entered a new state."""

    def counts(self, counts: Dict[str, int]) -> None:
        """Jobs per state (every state of `STATES`), after every round of changes."""

    def note(self, text: str) -> None:
        """Something worth a line: a resubmission, a refusal, a submission being resolved."""


@dataclass
class Summary:
    """How a run of the campaign ended."""

    counts: Dict[str, int]
    #: Why it returned before every job was final (a signal, refusals), or None.
    stopped: Optional[str]
    #: The records, in order.
    records: List[JobRecord]


class CampaignRunner:
    """Runs (or takes over) the campaign of a logs folder, whose lock the caller holds."""

    def __init__(self, folder: LogsFolder, executor: JobExecutor, max_running: int,
                 observer: Optional[Observer] = None) -> None:
        if max_running < 1:
            raise ValueError(f'max_running must be at least 1, not {max_running}')
        self.folder = folder
        self.executor = executor
        self.max_running = max_running
        self.observer = observer if observer is not None else Observer()
        self.resolver = SubmissionResolver(folder, executor)
        self._records: Dict[str, JobRecord] = {}
        self._queue: Deque[str] = collections.deque()
        self._jobs: Dict[str, Job] = {}
        self._unresolved: Set[str] = set()
        self._orphans: Set[str] = set()
        #: Jobs the executor accepted but holds back (no native id yet).
        self._held: Set[str] = set()
        self._events: queue.Queue[Optional[Tuple[Job, JobStatus]]] = queue.Queue()
        self._owner: Dict[int, str] = {}
        self._owner_lock = threading.Lock()
        self._stop_reason: Optional[str] = None
        self._refusals = 0
        self._refusing: Optional[str] = None
        self._canceling = False

    # --- control -------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Return from `run` soon, leaving jobs in flight as they are (safe from a signal
        handler: it only sets a flag and wakes the loop)."""
        self._stop_reason = reason
        self._events.put(None)

    def run(self) -> Summary:
        """Submit and follow jobs until each is final (or `stop` is called, or the executor
        keeps refusing jobs); returns the summary."""
        self.executor.set_job_status_callback(self._on_status)
        try:
            self._resume()
            next_resolve = next_orphans = 0.0
            while self._stop_reason is None:
                if not self._canceling and self.folder.cancel_requested():
                    self._cancel_everything()
                now = time.monotonic()
                if self._unresolved and now >= next_resolve:
                    self._resolve()
                    next_resolve = now + RECHECK
                if self._orphans and now >= next_orphans:
                    self._check_orphans()
                    next_orphans = now + ORPHAN_INTERVAL
                if self._held:
                    self._note_native_ids()
                self._fill()
                counts = self.counts()
                self.observer.counts(counts)
                if not any(counts[state] for state in IN_FLIGHT) and (
                        not self._queue or self._refusing is not None):
                    break
                self._drain(TICK)
        finally:
            self.executor.set_job_status_callback(None)
        stopped = self._stop_reason or self._refusing
        return Summary(self.counts(), stopped, [self._records[name] for name in
                                                self.folder.job_names()])

    def counts(self) -> Dict[str, int]:
        """Jobs per state."""
        counts = {state: 0 for state in STATES}
        for record in self._records.values():
            counts[record.state] += 1
        return counts

    # --- taking over ---------------------------------------------------------------------

    def _resume(self) -> None:
        for name in self.folder.job_names():
            record = self.folder.read_record(name)
            self._records[name] = record
            if record.state == UNSUBMITTED:
                self._queue.append(name)
            elif record.state in IN_FLIGHT and record.native_id is not None:
                self._attach(record)
            elif record.state in (SUBMITTING, PENDING):
                self._unresolved.add(name)  # no native id: see recovery
            elif record.state == RUNNING:
                self._orphans.add(name)
        if self._unresolved:
            self.observer.note(f'{len(self._unresolved)} submission(s) were interrupted '
                               'before their native id was recorded; finding out what became '
                               'of them before anything is submitted again')

    def _attach(self, record: JobRecord) -> None:
        job = Job()
        self._own(record.id, job)
        try:
            assert record.native_id is not None
            self.executor.attach(job, record.native_id)
        except InvalidJobException as error:
            self._disown(job)
            self.observer.note(f'job {record.id}: cannot attach to {record.native_id} '
                               f'({error.message}); following its result file')
            self._orphans.add(record.id)
            return
        if self._canceling and not job.status.final:
            self.executor.cancel_jobs([job])

    # --- canceling -----------------------------------------------------------------------

    def _cancel_everything(self) -> None:
        """The campaign is canceled: the jobs not submitted yet fail as canceled, and every
        job in flight is canceled with one call (see the module docstring)."""
        self._canceling = True
        while self._queue:
            self._never_submitted(self._records[self._queue.popleft()])
        jobs = [job for job in self._jobs.values() if not job.status.final]
        self.observer.note(f'canceled: {len(jobs)} job(s) in flight are canceled, nothing '
                           'more is submitted')
        if jobs:
            self.executor.cancel_jobs(jobs)
        if self._orphans:
            self.observer.note(f'{len(self._orphans)} job(s) started by an earlier run cannot '
                               'be canceled from here (the executor cannot attach to them); '
                               'they are followed to their end')

    def _never_submitted(self, record: JobRecord) -> None:
        record.state, record.message = FAILED, CANCELED_UNSUBMITTED
        record.times['ended'] = time.time()
        self._write(record)

    # --- submitting ----------------------------------------------------------------------

    def _fill(self) -> None:
        if self._refusing is not None:
            return
        in_flight = sum(1 for record in self._records.values() if record.state in IN_FLIGHT)
        while self._queue and in_flight < self.max_running and self._stop_reason is None:
            self._submit(self._records[self._queue.popleft()])
            in_flight += 1
            if self._refusing is not None:
                return

    def _submit(self, record: JobRecord) -> None:
        job = Job()
        job.spec = spec_for(self.folder, record, job.id)
        record.state, record.job_id, record.native_id = SUBMITTING, job.id, None
        record.exit_code = record.message = record.failed_line = None
        for command in record.commands:
            command.exit_code = None
        record.times = {key: None for key in record.times}
        record.times['submitted'] = time.time()
        self._write(record)  # before submit: see recovery
        self._own(record.id, job)
        try:
            self.executor.submit(job)
        except SubmitException as error:
            self._submit_failed(record, job, error)
            return
        self._refusals = 0
        if job.native_id is None:
            # The executor holds it back (a cap of its own): it is not at the scheduler yet,
            # and would be lost with this process. The record stays ``submitting`` until the
            # job has its native id (`_note_native_ids`).
            self._held.add(record.id)
            return
        self._queued(record, job.native_id)

    def _queued(self, record: JobRecord, native_id: str) -> None:
        record.native_id = native_id
        if record.state == SUBMITTING:
            record.state = PENDING
        record.times['queued'] = time.time()
        self._write(record)

    def _note_native_ids(self) -> None:
        """Record the native ids that jobs held back by the executor have got since."""
        for name in sorted(self._held):
            job = self._jobs.get(name)
            if job is None:
                self._held.discard(name)
            elif job.native_id is not None:
                self._held.discard(name)
                self._queued(self._records[name], job.native_id)

    def _submit_failed(self, record: JobRecord, job: Job, error: SubmitException) -> None:
        self._disown(job)
        if error.transient and not isinstance(error, InvalidJobException):
            # It may have reached the scheduler (a timeout): the recovery rule decides.
            self._unresolved.add(record.id)
            self.observer.note(f'job {record.id}: submission failed, maybe after reaching '
                               f'the scheduler ({error.message}); finding out before trying '
                               'again')
            return
        kind = 'invalid job' if isinstance(error, InvalidJobException) else \
            'submission refused'
        record.state, record.message = FAILED, f'{kind}: {error.message}'
        record.times['ended'] = time.time()
        self._write(record)
        self._refusals += 1
        if self._refusals >= REFUSALS_TO_STOP:
            self._refusing = (f'the executor refused {self._refusals} jobs in a row (last: '
                              f'{error.message}); no more jobs are submitted')
            self.observer.note(self._refusing)

    # --- following -----------------------------------------------------------------------

    def _own(self, name: str, job: Job) -> None:
        with self._owner_lock:
            self._owner[id(job)] = name
        self._jobs[name] = job

    def _disown(self, job: Job) -> None:
        with self._owner_lock:
            name = self._owner.pop(id(job), None)
        if name is not None and self._jobs.get(name) is job:
            del self._jobs[name]

    def _on_status(self, job: Job, status: JobStatus) -> None:
        """The executor's callback (any thread): hand the change to the loop."""
        self._events.put((job, status))

    def _drain(self, timeout: float) -> None:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if event is not None:
                self._handle(*event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, job: Job, status: JobStatus) -> None:
        with self._owner_lock:
            name = self._owner.get(id(job))
        if name is None or self._jobs.get(name) is not job:
            return  # not (or no longer) the current submission of a job of ours
        record = self._records[name]
        if name in self._held:
            self._note_native_ids()
        if status.final:
            self._disown(job)
            self._held.discard(name)
            self._finish(record, status, self._result_of(record))
        elif status.state == JobState.ACTIVE and record.state != RUNNING:
            record.native_id = record.native_id or job.native_id
            record.state = RUNNING
            record.times['started'] = status.time
            self._write(record)

    def _result_of(self, record: JobRecord) -> Optional[RunResult]:
        result = self.folder.read_result(record.id)
        return result if result is not None and result.attempt == record.job_id else None

    def _finish(self, record: JobRecord, status: Optional[JobStatus],
                result: Optional[RunResult]) -> None:
        outcome.settle(record, status, result, time.time())
        self._orphans.discard(record.id)
        self._write(record)

    def _check_orphans(self) -> None:
        """Jobs known to have started but not followed by the executor: their result file
        says when they end; a script whose process is gone without finishing it failed."""
        here = socket.gethostname()
        for name in sorted(self._orphans):
            record = self._records[name]
            result = self._result_of(record)
            if result is not None and result.complete:
                self._finish(record, None, result)
            elif (result is not None and result.pid is not None and result.host == here
                  and not psutil.pid_exists(result.pid)):
                self._finish(record, None, self._result_of(record))

    def _resolve(self) -> None:
        claimed = {record.native_id for record in self._records.values()
                   if record.native_id is not None}
        findings = self.resolver.resolve(
            [self._records[name] for name in sorted(self._unresolved)], claimed)
        for name, found in findings.items():
            record = self._records[name]
            if found.verdict == REACHED:
                self._unresolved.discard(name)
                self.observer.note(f'job {name}: the interrupted submission reached the '
                                   f'executor ({found.reason}); following it')
                record.native_id = found.native_id
                record.state = RUNNING
                self._write(record)
                if found.native_id is not None:
                    self._attach(record)
                else:
                    self._orphans.add(name)
            elif found.verdict == NEVER:
                self._unresolved.discard(name)
                then = 'the campaign is canceled' if self._canceling else 'submitting it again'
                self.observer.note(f'job {name}: the interrupted submission never ran '
                                   f'({found.reason}); {then}')
                record.attempts.append(Attempt(record.job_id or '',
                                               record.times.get('submitted'), found.reason))
                record.state, record.job_id = UNSUBMITTED, None
                if self._canceling:
                    self._never_submitted(record)
                else:
                    self._write(record)
                    self._queue.appendleft(name)

    def _write(self, record: JobRecord) -> None:
        self.folder.write_record(record)
        self.observer.changed(record)
