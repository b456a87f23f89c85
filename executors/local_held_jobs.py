"""Jobs that wait for room in another process's budget, seen from the process that attaches.

A local executor with a budget gives a job that must wait its job id as native id and a held
record (``cancel_by='mark'``: `psij.executors.local_held_records`). Any process with the same
work directory may `attach` to it by that id:

- while it waits, it is QUEUED with its holder's message (what it waits for);
- once the holder has started it, it is followed through the holder's journal by its pid, as
  any attached local job (`LocalJobExecutor` does it); its native id stays the job id;
- if the holder ended while the job waited, and its journal shows no process for it, the job
  never ran: FAILED, saying so (CANCELED if a cancel was asked for), never COMPLETED;
- a cancel while it waits appends the job id to the holder's cancel requests, which the
  holder looks at while the job waits: the job then ends CANCELED in both processes and never
  starts. A job that has a process is canceled as any attached job (a mark, then signals).
"""

import threading
from typing import TYPE_CHECKING, Dict, List, Optional

from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.poller import get_poller

from .local_held_records import HELD_ID, HeldRecord, HeldRecords
from .local_records import RecordStore, is_running

if TYPE_CHECKING:
    from .local import LocalJobExecutor


class WaitingElsewhere:
    """The attached jobs of one local executor that wait in another process's budget queue
    (see the module docstring)."""

    def __init__(self, executor: 'LocalJobExecutor', records: RecordStore) -> None:
        self._executor = executor
        self._records = records
        self._held_records = HeldRecords(records.directory)
        self._lock = threading.Lock()
        #: Jobs (by native id, a job id) not known to have a process yet.
        self._held: Dict[str, Job] = {}
        #: The pid of each such job once its process exists.
        self._pids: Dict[str, int] = {}

    def attach(self, job: Job, native_id: str) -> bool:
        """Follow ``native_id``, a job waiting in a budget queue; False if it is not one (a
        pid, or a job the detached watcher holds). Raises `InvalidJobException` if it is a
        job id that no holder of this work directory ever recorded."""
        if not HELD_ID.fullmatch(native_id):
            return False
        record = self._held_records.read(native_id)
        if record is None:
            raise InvalidJobException(
                f'native_id {native_id}: no held local job with this id in '
                f'{self._records.directory} (a job id is the native id of a local job while it '
                'waits for room in the budget or is held by the detached watcher)')
        if record.cancel_by != 'mark':
            return False
        job.executor = self._executor
        job.native_id = native_id
        with self._lock:
            self._held[native_id] = job
        if not self._check(native_id):
            get_poller().schedule(self, self._executor.attach_poll_interval)
        return True

    def follows(self, job: Job) -> bool:
        """True if ``job`` was attached here."""
        with self._lock:
            return job.native_id in self._held or job.native_id in self._pids

    def _check(self, native_id: str) -> bool:
        """Update the job ``native_id`` from its record; True once it is no longer followed
        here (final, or handed over to the executor's following of its pid)."""
        with self._lock:
            job = self._held.get(native_id)
        if job is None:
            return True
        record = self._held_records.read(native_id)
        if record is None:
            return self._end(job, JobStatus(
                JobState.FAILED, message=f'the record of held job {native_id} is gone'))
        if record.state == 'STARTED' and record.pid is not None:
            return self._started(job, record.pid)
        if record.state != 'QUEUED':  # ended without a process, as its holder recorded
            return self._end(job, JobStatus(JobState.from_name(record.state), record.time,
                                            record.message), as_recorded=True)
        if is_running(record.watcher_pid, record.watcher_start_ticks):
            self._executor._set_job_status(job, JobStatus(
                JobState.QUEUED, record.time, record.message, metadata={'held_by_psij': True}))
            return False
        return self._holder_ended(job, record)

    def _holder_ended(self, job: Job, record: HeldRecord) -> bool:
        """``job``'s holder is gone, its record last said QUEUED: did the job ever start?"""
        native_id = record.job_id
        self._held_records.refresh()
        again = self._held_records.read(native_id)  # it may have changed before the end
        if again is not None and again.state != 'QUEUED':
            return self._check(native_id)
        found = self._records.find_job(native_id)  # started just before the holder died
        if found is not None:
            return self._started(job, found[0].pid)
        holder = f'the process that submitted the job (pid {record.watcher_pid})'
        if self._held_records.cancel_requested(record):
            return self._end(job, JobStatus(
                JobState.CANCELED, message=f'canceled; {holder} died before the job started: '
                                           'it never ran'))
        return self._end(job, JobStatus(
            JobState.FAILED, message=f'{holder} died while the job waited for resources, '
                                     'before it started: it never ran'))

    def _started(self, job: Job, pid: int) -> bool:
        """Hand ``job``, whose process is ``pid``, over to the executor's following of its
        journal record; False while that record is not there yet."""
        native_id = job.native_id
        assert native_id is not None
        found = self._records.find(pid)
        if found is None or found[0].job_id != native_id:
            return False  # the journal line comes first; not read yet
        with self._lock:
            self._held.pop(native_id, None)
            self._pids[native_id] = pid
        self._executor._follow(job, found[0])
        return True

    def _end(self, job: Job, status: JobStatus, as_recorded: bool = False) -> bool:
        with self._lock:
            self._held.pop(job.native_id or '', None)
        self._executor._set_job_status(job, status, as_recorded=as_recorded)
        return True

    def poll(self) -> Optional[float]:
        """Check every job followed here (called by the process's status poller)."""
        with self._lock:
            native_ids = list(self._held)
        pending = [native_id for native_id in native_ids if not self._check(native_id)]
        return self._executor.attach_poll_interval if pending else None

    def waiting_ids(self) -> List[str]:
        """The native ids of the jobs any live psij process of this work directory holds
        before their start."""
        return self._held_records.waiting_ids()

    def pid_to_cancel(self, job: Job) -> Optional[int]:
        """The pid the executor is to cancel ``job`` by (as an attached job), or None: the
        holder was asked to cancel the waiting job (the cancel mark), or it is final."""
        native_id = job.native_id or ''
        with self._lock:
            pid = self._pids.get(native_id)
        if pid is not None:
            return pid
        record = self._held_records.read(native_id)
        if record is None or record.state != 'QUEUED':
            self._check(native_id)  # started (its pid is taken now) or ended
        else:
            # The mark first, then a look at the record: the holder writes STARTED before it
            # looks for marks once more, so either it sees the mark or we see the pid.
            self._held_records.request_cancel(record)
            self._held_records.refresh()
            self._check(native_id)
        with self._lock:
            return self._pids.get(native_id)
