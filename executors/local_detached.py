"""Detached local jobs, seen from the process that submits or attaches to them.

With ``LocalJobExecutorConfig(detached=True)``, `LocalJobExecutor.submit` hands each job to the
watcher (`psij.executors.local_watcher`), which starts it, or holds it while
``max_in_flight`` of the jobs sent with the same settings run, and keeps it until it ends. The
job in this process is then followed like an attached job:

- a job the watcher started at once has its pid as native id, and is followed through the
  watcher's journal as any attached local job (`LocalJobExecutor` does it);
- a job the watcher holds has its psij job id as native id, and is followed through its held
  record (`psij.executors.local_held_records`) until it has a process, then through the
  journal by that pid (its native id stays the job id). Its cancel goes to the watcher; once
  it has a process, a cancel is the attached one (a mark, then signals).

The elements of an array (`submit_array`) are handed over in one request and followed each
as such a job (an element's job id is ``<array id>-<index>``); a job's ``depends_on`` goes
with it, for the watcher to wait for (`psij.executors.local_watcher_dependencies`: only jobs
of the same watcher, or jobs that have ended).

Any process with the same work directory may `attach` to such a job by its native id, while it
is held, runs, or after it ended, detached or not.
"""

import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from psij.dependencies import check_submittable
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_array import JobArray
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.poller import get_poller

from .local_held_records import HELD_ID, HeldRecords
from .local_records import RecordStore, is_running
from .local_watcher_client import (
    ArrayElement,
    WatcherSubmission,
    cancel_at_watcher,
    submit_array_to_watcher,
    submit_to_watcher,
)
from .local_watcher_dependencies import dependencies_to_send
from .local_watcher_protocol import CONFIG_KEYS

if TYPE_CHECKING:
    from .local import LocalJobExecutor


def check_detached(field: str, value: object) -> bool:
    """``value`` as the ``detached`` setting; ValueError naming ``field`` unless a bool."""
    if not isinstance(value, bool):
        raise ValueError(f'{field} must be True or False, not {value!r}')
    return value


class DetachedJobs:
    """The detached jobs of one local executor: submit through the watcher, follow the held
    ones, cancel them."""

    def __init__(self, executor: 'LocalJobExecutor', records: RecordStore) -> None:
        self._executor = executor
        self._records = records
        self._held_records = HeldRecords(records.directory)
        self._lock = threading.Lock()
        #: Jobs (by native id, a job id) not known to have a process yet.
        self._held: Dict[str, Job] = {}
        #: The pid of each job with a held id once its process exists.
        self._pids: Dict[str, int] = {}

    # --- submit ----------------------------------------------------------------------------

    def submit(self, job: Job, spec: JobSpec) -> None:
        """Hand ``job`` (checked, bound to the executor) to the watcher; on return it is
        ACTIVE (native id: its pid) or held, QUEUED (native id: its job id), or final (a
        dependency that could not be met)."""
        try:
            dependencies = dependencies_to_send(job, self._executor)
            check_submittable(job)  # a cycle
            submission = submit_to_watcher(self._executor.name, spec, job.id,
                                           self._work_directory(), self._settings(),
                                           dependencies)
        except BaseException:
            job.executor = None
            raise
        self._take(job, submission)

    def submit_array(self, array: JobArray, specs: List[JobSpec]) -> None:
        """Hand the elements of ``array`` (checked, bound to the executor; ``specs`` are
        theirs) to the watcher, which submits them all or none; on return each is as after
        `submit`."""
        try:
            elements = []
            for job, spec in zip(array.jobs, specs):
                dependencies = dependencies_to_send(job, self._executor)
                check_submittable(job)  # a cycle
                elements.append(ArrayElement(spec, job.id, dependencies))
            submissions = submit_array_to_watcher(
                self._executor.name, array.id, array.throttle, elements,
                self._work_directory(), self._settings())
        except BaseException:
            for job in array.jobs:
                job.executor = None
            raise
        failure: Optional[SubmitException] = None
        for job, submission in zip(array.jobs, submissions):
            try:
                self._take(job, submission)
            except SubmitException as error:  # the others are followed all the same
                failure = failure or error
        if failure is not None:
            raise failure

    def _work_directory(self) -> str:
        return str(self._executor.config.work_directory)

    def _settings(self) -> Dict[str, Any]:
        config = self._executor.config
        return {key: getattr(config, key) for key in CONFIG_KEYS
                if getattr(config, key, None) is not None}

    def _take(self, job: Job, submission: WatcherSubmission) -> None:
        """Follow ``job`` as the watcher reported it taken."""
        job.native_id = submission.native_id
        if submission.native_id.isdigit():
            pid = int(submission.native_id)
            found = self._records.find(pid)
            if found is None or found[0].job_id != job.id:
                raise SubmitException(f'the local job watcher started job {job.id} as pid '
                                      f'{pid} but did not record it in {self._records.directory}')
            # ACTIVE on return, as for a job this process starts, even if it has ended
            # already: its end is taken from the journal (the evidence), which the status
            # poller reads next.
            self._executor._set_job_status(job, JobStatus(JobState.ACTIVE,
                                                          metadata={'pid': pid}))
            self._executor._follow(job, found[0], check_now=False)
            return
        self._executor._set_job_status(job, submission.status)
        if not submission.status.final:
            self._track(job)

    # --- attach ----------------------------------------------------------------------------

    def attach(self, job: Job, native_id: str) -> bool:
        """Follow the held detached job ``native_id`` (a job id); False if ``native_id`` is
        not of that form (it may be a pid). Raises `InvalidJobException` if no watcher of
        this work directory ever held such a job."""
        if not HELD_ID.fullmatch(native_id):
            return False
        if self._held_records.read(native_id) is None:
            raise InvalidJobException(
                f'native_id {native_id}: no held detached local job with this id in '
                f'{self._records.directory}')
        job.executor = self._executor
        job.native_id = native_id
        self._track(job)
        return True

    def _track(self, job: Job) -> None:
        assert job.native_id is not None
        with self._lock:
            self._held[job.native_id] = job
        if not self._check(job.native_id):
            get_poller().schedule(self, self._executor.attach_poll_interval)

    def _check(self, native_id: str) -> bool:
        """Update the held job ``native_id`` from its record; True once it is no longer held
        (final, or handed over to the executor's following of its pid)."""
        with self._lock:
            job = self._held.get(native_id)
        if job is None:
            return True
        record = self._held_records.read(native_id)
        status: Optional[JobStatus] = None
        if record is None:
            status = JobStatus(JobState.FAILED, message=f'the record of held job {native_id} '
                                                        'is gone')
        elif record.state == 'STARTED' and record.pid is not None:
            found = self._records.find(record.pid)
            if found is None or found[0].job_id != native_id:
                return False  # the journal line comes first; not read yet
            with self._lock:
                self._held.pop(native_id, None)
                self._pids[native_id] = record.pid
            self._executor._follow(job, found[0])
            return True
        elif record.state == 'QUEUED':
            if is_running(record.watcher_pid, record.watcher_start_ticks):
                self._executor._set_job_status(job, JobStatus(
                    JobState.QUEUED, record.time, record.message))
                return False
            again = self._held_records.read(native_id)  # it may have changed before the end
            if again is not None and again.state != 'QUEUED':
                return self._check(native_id)
            status = JobStatus(
                JobState.FAILED,
                message=f'outcome unknown: the local watcher (pid {record.watcher_pid}) that '
                        'held the job ended before it recorded the job\'s start')
        else:
            status = JobStatus(JobState.from_name(record.state), record.time, record.message)
        with self._lock:
            self._held.pop(native_id, None)
        self._executor._set_job_status(job, status, as_recorded=True)
        return True

    def poll(self) -> Optional[float]:
        """Check every held job (called by the process's status poller)."""
        with self._lock:
            native_ids = list(self._held)
        pending = [native_id for native_id in native_ids if not self._check(native_id)]
        return self._executor.attach_poll_interval if pending else None

    # --- cancel ----------------------------------------------------------------------------

    def pid_to_cancel(self, job: Job) -> Optional[int]:
        """The pid the executor is to cancel ``job`` by (as an attached job), or None when
        there is none: the watcher was asked to cancel the job it holds, or it is final."""
        native_id = job.native_id or ''
        if native_id.isdigit():
            return int(native_id)
        with self._lock:
            pid = self._pids.get(native_id)
        if pid is not None or not HELD_ID.fullmatch(native_id):
            return pid
        found = cancel_at_watcher(self._executor.name, str(self._executor.config.work_directory),
                                  native_id)
        self._check(native_id)
        with self._lock:
            pid = self._pids.get(native_id)
        # Not found: it has just started (cancel it by its pid) or just ended.
        return None if found else pid

