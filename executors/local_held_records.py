"""On-disk records of local jobs held before they start, by their psij job id.

A job started at once is known by its pid, recorded in its starter's journal
(`psij.executors.local_records`). A held job has no pid yet, so it is known by its psij job id
(`Job.id`, a UUID), which is its native id while it is held. Two kinds of holder record such
jobs, in two forms that `HeldRecords.read` reads alike (`HeldRecord`):

- the detached watcher, for a job it holds (``max_in_flight``): one file per job,
  ``held.<job id>.json``, replaced whole (written under a temporary name, then renamed) at
  each change, so that a reader sees the old or the new record, never half of one. A cancel
  from another process goes to the watcher (``cancel_by='watcher'``).
- a local executor with a budget (`psij.executors.local_budget_queue`), for each job that
  waits for room (`WaitingRecords`): one line per change in the holder's own journal,
  ``waiting.<pid>.<start ticks>.jsonl``, appended in one ``write`` (a file per job cost a
  millisecond per change on a busy disk; a reader only uses lines whose newline it has seen).
  A cancel from another process is a line with the job id appended to the holder's
  ``waiting.<pid>.<start ticks>.cancel`` (``cancel_by='mark'``), which the holder looks at
  (one ``stat``) while its jobs wait. ``watcher_pid`` is then the submitting process.

A record says, and the latest one of a job (by time) is its record:

- ``QUEUED`` when the job is taken (with the holder's pid and start ticks, so that a reader
  knows whether anyone still holds it, and the message saying what it waits for);
- ``STARTED`` with the pid once its process exists (the journal then has the rest);
- a final state (``CANCELED``, ``FAILED``) when the job ended without ever having a process:
  canceled while held, or refused when its turn came (a stage-in that failed...).

Records are kept after the job has ended (a process may attach by the held id later), and
removed with the journals and cancel marks, 30 days after their last change
(`RecordStore.prune`).
"""

import json
import os
import pathlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, Tuple

from psij.job import Job
from psij.job_status import JobStatus

from .local_records import is_running, process_start_ticks

#: A native id of a held job: a psij job id (an array element's is ``<array id>-<index>``).
HELD_ID = re.compile(
    r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:-[0-9]+)?')
#: The journals of waiting jobs, one per holder (see the module docstring).
WAITING_JOURNALS = 'waiting.*.jsonl'
#: Seconds for which a read of the waiting journals serves the next reads (a status poll
#: reads every job's record in a row); `HeldRecords.refresh` reads them afresh.
READ_AGAIN = 0.02
#: Seconds between looks for new waiting journals (new holders), unless a record is missing.
DISCOVER_AGAIN = 0.1


@dataclass
class HeldRecord:
    """What the holder says about a job it holds or held."""

    job_id: str
    #: ``QUEUED``, ``STARTED`` or the final state of a job that never had a process.
    state: str
    #: The holder: the watcher, or the submitting process (``cancel_by='mark'``).
    watcher_pid: int
    watcher_start_ticks: int
    pid: Optional[int] = None
    message: Optional[str] = None
    time: float = 0.0
    #: How another process cancels the held job: ``'watcher'`` (ask it through its socket)
    #: or ``'mark'`` (`HeldRecords.request_cancel`).
    cancel_by: str = 'watcher'


def _journal_name(holder: Tuple[int, int], suffix: str) -> str:
    return f'waiting.{holder[0]}.{holder[1]}.{suffix}'


def _complete_lines(path: str, offset: int) -> Tuple[List[bytes], int]:
    """The whole lines of ``path`` after ``offset``, and the offset after them."""
    try:
        with open(path, 'rb') as stream:
            stream.seek(offset)
            text = stream.read()
    except FileNotFoundError:
        return [], offset
    complete = text[:text.rfind(b'\n') + 1]
    return complete.splitlines(), offset + len(complete)


class HeldRecords:
    """The held-job records of one local work directory (``<work_directory>/local``)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        #: Each waiting journal known: (its size and what was read of it, its holder).
        self._journals: Dict[str, Tuple[int, Tuple[int, int]]] = {}
        self._latest: Dict[str, HeldRecord] = {}  # by job id, from the waiting journals
        self._read_due = 0.0  # monotonic times: when to read the journals again
        self._discover_due = 0.0

    def _path(self, job_id: str) -> str:
        if not HELD_ID.fullmatch(job_id):
            raise ValueError(f'held job id {job_id!r} is not a psij job id')
        return f'{self.directory}/held.{job_id}.json'

    def write(self, record: HeldRecord) -> None:
        """Replace the file record of ``record.job_id`` (atomically)."""
        path = self._path(record.job_id)
        # One writer per record at a time (its holder), so the temporary name needs no
        # randomness: a plain open costs less than mkstemp.
        temporary = f'{path}.{os.getpid()}.{threading.get_ident()}.tmp'
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                os.write(descriptor, json.dumps(record.__dict__).encode())
            finally:
                os.close(descriptor)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise

    def read(self, job_id: str) -> Optional[HeldRecord]:
        """The latest record of ``job_id`` in either form, or None if there is none (the
        waiting journals as read at most `READ_AGAIN` seconds ago: `refresh` first to see
        every line written before the call)."""
        path = self._path(job_id)
        try:
            with open(path) as stream:
                text = stream.read()
            found: Optional[HeldRecord] = HeldRecord(**json.loads(text))
        except FileNotFoundError:
            found = None
        # A watcher's job may have waited in its budget later: a journal has that part.
        waited = self._from_journals(job_id, discover=False)
        if found is None and waited is None:
            # Not read yet, or a holder not seen yet: look again now.
            waited = self._from_journals(job_id, discover=True)
        if found is None or (waited is not None and waited.time >= found.time):
            return waited
        return found

    def refresh(self) -> None:
        """Read what the known waiting journals gained, now."""
        with self._lock:
            self._read_due = 0.0
        self._from_journals('', discover=False)

    def _from_journals(self, job_id: str, discover: bool) -> Optional[HeldRecord]:
        with self._lock:
            now = time.monotonic()
            if discover or now >= self._discover_due:
                self._discover_due = now + DISCOVER_AGAIN
                for path in self.directory.glob(WAITING_JOURNALS):
                    if str(path) not in self._journals:
                        _, pid, ticks, _ = path.name.split('.')
                        self._journals[str(path)] = (0, (int(pid), int(ticks)))
                        self._read_due = 0.0
            if discover or now >= self._read_due:
                self._read_due = now + READ_AGAIN
                for key, (offset, holder) in self._journals.items():
                    self._journals[key] = (self._read_journal(key, offset, holder), holder)
            return self._latest.get(job_id)

    def _read_journal(self, path: str, offset: int, holder: Tuple[int, int]) -> int:
        """Take in the lines of the journal ``path`` after ``offset``; the new offset."""
        try:
            if os.stat(path).st_size <= offset:
                return offset
        except FileNotFoundError:
            return offset
        lines, offset = _complete_lines(path, offset)
        for line in lines:
            data = json.loads(line)
            self._latest[data['job_id']] = HeldRecord(
                data['job_id'], data['state'], holder[0], holder[1], data.get('pid'),
                data.get('message'), data['time'], cancel_by='mark')
        return offset

    def waiting_ids(self) -> List[str]:
        """The ids of the jobs whose latest record, in either form, says they are held
        (QUEUED) by a holder that lives: what `LocalJobExecutor.list` adds to the running
        ones. Reads every journal and held file of the work directory (not a hot path)."""
        self._from_journals('', discover=True)
        with self._lock:
            latest = dict(self._latest)
        for path in self.directory.glob('held.*.json'):
            try:
                record = HeldRecord(**json.loads(path.read_text()))
            except (FileNotFoundError, ValueError, TypeError):
                continue  # being replaced, or not a record of ours
            known = latest.get(record.job_id)
            if known is None or record.time > known.time:
                latest[record.job_id] = record
        return sorted(job_id for job_id, record in latest.items() if record.state == 'QUEUED'
                      and is_running(record.watcher_pid, record.watcher_start_ticks))

    def request_cancel(self, record: HeldRecord) -> None:
        """Ask the holder of ``record`` (``cancel_by='mark'``) to cancel its job."""
        name = _journal_name((record.watcher_pid, record.watcher_start_ticks), 'cancel')
        descriptor = os.open(f'{self.directory}/{name}',
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(descriptor, f'{record.job_id}\n'.encode())
        finally:
            os.close(descriptor)

    def cancel_requested(self, record: HeldRecord) -> bool:
        """True if some process called `request_cancel` for ``record``'s job."""
        name = _journal_name((record.watcher_pid, record.watcher_start_ticks), 'cancel')
        lines, _ = _complete_lines(f'{self.directory}/{name}', 0)
        return record.job_id.encode() in lines


class WaitingRecords:
    """The records of the jobs one budget queue makes wait (the holder's side): lines in this
    process's waiting journal, and the cancels others ask for.

    Only a job that waits gets a record: one that starts at once costs nothing here.
    """

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._waiting: Set[str] = set()  # ids of recorded jobs that have no process yet
        self._holder = (0, 0)
        self._descriptor: Optional[int] = None
        self._cancel_size = 0  # what was read of the cancel file
        self._canceled: Set[str] = set()  # job ids others asked to cancel

    def _append(self, data: Dict[str, object]) -> None:
        # Called with the lock held: a later change of a job's record (its end, on another
        # thread) is never written before an earlier one.
        pid = os.getpid()
        if self._holder[0] != pid:  # after a fork, the child holds what it waits with
            self._holder = (pid, process_start_ticks(pid))
            self._descriptor = None
            self._cancel_size = 0
            self._canceled.clear()
        if self._descriptor is None:
            self._descriptor = os.open(
                f'{self.directory}/{_journal_name(self._holder, "jsonl")}',
                os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._descriptor, (json.dumps(data) + '\n').encode())

    def _write(self, job: Job, state: str, status: JobStatus, pid: Optional[int] = None
               ) -> None:
        data: Dict[str, object] = {'job_id': job.id, 'state': state, 'message': status.message,
                                   'time': status.time}
        if pid is not None:
            data['pid'] = pid
        self._append(data)

    def waits(self, job: Job, status: JobStatus) -> None:
        """``job`` waits, QUEUED with ``status`` (not yet given to it): record it, and make
        its job id its native id, if it had none, so another process can attach to it."""
        with self._lock:
            new = job.id not in self._waiting
            self._waiting.add(job.id)
            if new and job.native_id is None:
                job.native_id = job.id
            self._write(job, 'QUEUED', status)
        if new:
            job._on_final(self._ended)

    def says(self, job: Job, status: JobStatus) -> None:
        """The message of a recorded waiting ``job`` changed to ``status``'s."""
        with self._lock:
            if job.id in self._waiting:
                self._write(job, 'QUEUED', status)

    def has(self, job: Job) -> bool:
        """True if ``job`` has a record and no process yet."""
        with self._lock:
            return job.id in self._waiting

    def started(self, job: Job, pid: int, status: JobStatus) -> None:
        """``job``'s process ``pid`` exists (its journal line is written): record it, if the
        job has a record, so that a process attached by the job id follows the pid."""
        with self._lock:
            if job.id in self._waiting:
                self._waiting.discard(job.id)
                self._write(job, 'STARTED', status, pid)

    def _ended(self, job: Job, status: JobStatus) -> None:
        # A job's final listener: record an end without a process (canceled while waiting, a
        # start that failed); the journal has the end of one with a process, which may end
        # before `started` is called: its start is recorded here then.
        with self._lock:
            if job.id not in self._waiting:
                return
            self._waiting.discard(job.id)
            native_id = job.native_id
            if native_id is not None and native_id.isdigit():
                self._write(job, 'STARTED', status, int(native_id))
            else:
                self._write(job, status.state.name, status)

    def _read_cancels(self) -> Set[str]:
        """The job ids others asked to cancel (one ``stat`` while none came)."""
        with self._lock:
            if self._descriptor is None:
                return self._canceled  # nothing recorded, nothing to cancel
            path = f'{self.directory}/{_journal_name(self._holder, "cancel")}'
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                return self._canceled
            if size > self._cancel_size:
                lines, self._cancel_size = _complete_lines(path, self._cancel_size)
                self._canceled.update(line.decode() for line in lines)
            return self._canceled

    def asked_to_cancel(self, job: Job) -> bool:
        """True if another process asked to cancel ``job``."""
        return job.id in self._read_cancels()

    def cancel_requested(self, jobs: Iterable[Job]) -> List[Job]:
        """Those of ``jobs`` with a record that another process asked to cancel."""
        canceled = self._read_cancels()
        if not canceled:
            return []
        with self._lock:
            return [job for job in jobs if job.id in self._waiting and job.id in canceled]
