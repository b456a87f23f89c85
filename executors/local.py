"""The local executor: runs each job as a child process of this Python process.

A job with the default launcher and no pre/post-launch script is started with a single
``exec`` of its executable: no shell in between. The process-wide reaper thread reaps every
job (see `psij.reaper`); the exit status is recorded in the work directory so that another
process can `attach` to the job and learn its real final state and exit code.

A cancel is recorded before any signal is sent (in this process for its own jobs, as a mark
in the work directory for a job another process owns), so the reaper, which decides the final
state once, always knows whether the job was canceled: the submitting process, its journal
and every process that attaches report the same final state.

Each element of a `psij.JobArray` is a process of its own, at most ``JobArray.throttle`` of an
array running at once; a job that depends on others (of any executor) is held by psij until
they have ended; ``LocalJobExecutorConfig(max_in_flight=N)`` runs at most N jobs at once. A job
psij holds (`psij.submission_gate`) is QUEUED, without a native id, with a message saying why,
and starts (on the ``psij-submitter`` thread) as soon as it may; canceled, it never starts.
This process stages a job's files (`psij.executors.local_staging`): in before its process
starts, out and cleanup after it is reaped, before the job is reported final.

Limit: a job's exit code is recorded by the process that submitted it. If that process ends
before the job does, nobody can learn the exit code any more; an attached job then ends
FAILED with a message saying that its outcome is unknown (never a guessed COMPLETED), or
CANCELED if a cancel mark says it was canceled. ``LocalJobExecutorConfig(detached=True)``
lifts it: the work directory's watcher process starts, holds and reaps the jobs
(`psij.executors.local_detached`).
"""

import logging
import os
import pathlib
import subprocess
import threading
import weakref
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, List, Optional, Sequence, Union

from psij.dependencies import check_submittable
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_array import JobArray
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.launcher import Launcher
from psij.poller import get_poller
from psij.reaper import get_reaper
from psij.submission_gate import GateWaker, SubmissionGate, check_max_in_flight

from .local_budget import CoresSetting, GpusSetting, MemorySetting
from .local_budget_queue import budget_queue, check_budget
from .local_detached import DetachedJobs, check_detached
from .local_exit import exit_status, launcher_log
from .local_held_jobs import WaitingElsewhere
from .local_process_tree import cancel_child, terminate_tree
from .local_records import (
    ExitRecord,
    JobRecord,
    RecordStore,
    is_running,
)
from .local_spawn import job_environment, start_process
from .local_staging import StagingPlan, plan_staging, run_after_job

logger = logging.getLogger('psij.executors.local')


@dataclass
class _RunningJob:
    job: Job
    record: JobRecord
    process: 'subprocess.Popen[bytes]'
    launcher: Launcher
    log_file: Optional[str]  # None: the launcher was not told of one (see launcher_log)
    staging: Optional[StagingPlan]


@dataclass
class _AttachedJob:
    job: Job
    record: JobRecord


class LocalJobExecutorConfig(JobExecutorConfig):
    """Settings of the local executor (a plain `JobExecutorConfig` is taken too: no cap).

    :param launcher_log_file: see `JobExecutorConfig`.
    :param work_directory: see `JobExecutorConfig`.
    :param max_in_flight: at most this many of the executor's jobs run at once (array elements
        count one each); the others wait, QUEUED, held by psij, and start as earlier ones end
        (None: no cap).
    :param detached: the jobs are started and kept by the work directory's watcher process,
        not this one, so they run, end and are recorded after this process has exited
        (`psij.executors.local_detached`; docs: "Jobs that outlive their submitter").
    :param cores, gpus, memory: the budget the executor's jobs share with every budgeted
        local executor of the work directory, in any process (`psij.executors.local_budget`):
        a job starts once it fits, else waits QUEUED. All None: no budget.
    """

    def __init__(self, launcher_log_file: Union[str, pathlib.Path, None] = None,
                 work_directory: Union[str, pathlib.Path, None] = None,
                 max_in_flight: Optional[int] = None, detached: bool = False,
                 cores: CoresSetting = None, gpus: GpusSetting = None,
                 memory: MemorySetting = None) -> None:
        super().__init__(launcher_log_file=launcher_log_file, work_directory=work_directory)
        self.max_in_flight = check_max_in_flight('LocalJobExecutorConfig.max_in_flight',
                                                 max_in_flight)
        self.detached = check_detached('LocalJobExecutorConfig.detached', detached)
        self.cores, self.gpus, self.memory = check_budget('LocalJobExecutorConfig', cores,
                                                          gpus, memory)


class LocalJobExecutor(JobExecutor):
    """Runs jobs as local processes. ``native_id`` is the process id.

    Files of this executor live in ``<work_directory>/local``. The config may be a
    `LocalJobExecutorConfig` (``max_in_flight``) or any `JobExecutorConfig`.
    """

    name = 'local'
    version = '0.1.0'
    #: Seconds between SIGTERM and SIGKILL when a job is canceled.
    cancel_grace_period = 2.0
    #: Seconds between checks of jobs attached from another process.
    attach_poll_interval = 0.25
    #: What starts jobs psij holds (the process's submitting thread; tests may give another).
    gate_waker: ClassVar[Optional[GateWaker]] = None

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None) -> None:
        super().__init__(url=url, config=config)
        # Any config with a max_in_flight is taken (it is checked again: a plain object may
        # carry anything); a plain JobExecutorConfig, as psij-python code makes, has none.
        cap = check_max_in_flight(f'{type(self.config).__name__}.max_in_flight',
                                  getattr(self.config, 'max_in_flight', None))
        # Processes have no throttle of their own: the gate keeps each array's.
        self._gate = SubmissionGate(self, cap, self.gate_waker, keeps_throttles=True)
        # Jobs the gate lets go wait here for room in the budget, if there is one.
        self._budget = budget_queue(self.config, self._start, self.gate_waker)
        self._records = RecordStore(self.config.work_directory / 'local')
        removed = self._records.prune_once()
        if removed:
            logger.info('removed %d local job records older than 30 days from %s', removed,
                        self._records.directory)
        self._lock = threading.Lock()
        self._running: Dict[int, _RunningJob] = {}
        self._attached: Dict[int, _AttachedJob] = {}
        self._detached = DetachedJobs(self, self._records)
        self._waiting_elsewhere = WaitingElsewhere(self, self._records)
        # Staging resolved at submit (relative paths against the submitter's directory then).
        self._staging: weakref.WeakKeyDictionary[Job, StagingPlan] = \
            weakref.WeakKeyDictionary()

    # --- submit ----------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Start the job now; on return it is ACTIVE and ``native_id`` is its pid.

        Unless psij holds it (``max_in_flight`` of the executor's jobs are running, or it
        waits for predecessors to end: see `psij.submission_gate`): it is then QUEUED, without
        a native id, and starts as soon as it may; a dependency that can no longer be met
        ends it FAILED. Raises `InvalidJobException` for a bad specification and
        `SubmitException` if the process could not be started.
        """
        spec = self._check_job(job)
        if getattr(self.config, 'detached', False):
            return self._detached.submit(job, spec)
        self._offer([job], [spec], self._gate.submit)

    def submit_array(self, array: JobArray) -> None:
        """Start every element of ``array`` as a process of its own, at most
        ``array.throttle`` of them (and ``max_in_flight`` of the executor's jobs) running at
        once; the others are QUEUED, held by psij, and start as earlier ones end. Every
        element is checked before any starts (errors name the field, as `submit`'s); one that
        cannot be started after that (its stdout cannot be opened) ends FAILED, saying why.
        With ``detached=True`` the watcher takes the whole array and keeps its throttle."""
        if not isinstance(array, JobArray):
            raise TypeError(f'submit_array() takes a JobArray, not {type(array).__name__}')
        specs: List[JobSpec] = []
        try:
            for job in array.jobs:
                specs.append(self._check_job(job))
        except BaseException:
            for job in array.jobs[:len(specs)]:
                job.executor = None
            raise
        if getattr(self.config, 'detached', False):
            return self._detached.submit_array(array, specs)
        self._offer(list(array.jobs), specs, self._gate.submit_each)

    def _offer(self, jobs: List[Job], specs: List[JobSpec],
               submit: Callable[[List[Job]], None]) -> None:
        """Hand ``jobs`` (checked, bound to this executor) to the gate's ``submit``."""
        try:
            for job, spec in zip(jobs, specs):
                _check_directory(spec)
                if self._budget is not None:
                    self._budget.check(spec)
                check_submittable(job)
                plan = plan_staging(spec)
                if plan is not None:
                    with self._lock:
                        self._staging[job] = plan
            submit(jobs)
        except BaseException:
            for job in jobs:
                if job.native_id is None and job.status.state == JobState.NEW:
                    job.executor = None
            raise

    def _send(self, jobs: List[Job]) -> None:
        """Start ``jobs`` now (the gate's `Sender`; it sends one job at a time); raises as
        `submit` does."""
        for job in jobs:
            assert job.spec is not None  # checked at submit
            if job._cancel_requested:  # canceled while the gate handed it over
                self._set_job_status(job, JobStatus(JobState.CANCELED,
                                                    message='canceled before it started'))
                continue
            if self._budget is not None:
                self._budget.offer(job)
            else:
                self._start(job, job.spec)

    def _waits_natively_for(self, job: Job, predecessor: Job) -> bool:
        """Never: processes do not wait for one another; psij holds the job instead."""
        return False

    def _abandon(self, job: Job, status: JobStatus) -> None:
        """End ``job`` with ``status`` and stop its process (for the gate; a local job starts
        only once its predecessors have ended, so its dependency cannot fail after that)."""
        self._set_job_status(job, status)
        with self._lock:
            running = self._running.get(int(job.native_id or 0))
        if running is not None and running.job is job:
            cancel_child(running.process.pid, self.cancel_grace_period)

    def _start(self, job: Job, spec: JobSpec) -> None:
        launcher = self._get_launcher(spec.launcher or 'single')
        log_file = str(self._records.directory / f'{job.id}.launcher.log')
        argv = launcher.get_launch_command(job, log_file)
        _check_directory(spec)  # again: a held job starts later
        with self._lock:
            staging = self._staging.pop(job, None)
        failure = staging.stage_in() if staging is not None else None
        if failure is not None:  # the job never runs
            self._set_job_status(job, JobStatus(JobState.FAILED, message=failure))
            return
        process_count = getattr(spec.resources, 'computed_process_count', 1)
        added = {b'PSIJ_NODEFILE': os.fsencode(self._records.nodefile(process_count))}
        if self._budget is not None:
            added.update(self._budget.environment(job))
        process, ticks = start_process(argv, spec, job_environment(spec, added))
        pid = process.pid
        job.native_id = str(pid)
        record = JobRecord(pid=pid, start_ticks=ticks, job_id=job.id, name=spec.name)
        self._records.write_job(record)
        with self._lock:
            self._running[pid] = _RunningJob(job, record, process, launcher,
                                             launcher_log(argv, log_file), staging)
        self._set_job_status(job, JobStatus(JobState.ACTIVE, metadata={'pid': pid}))
        get_reaper().watch(pid, lambda exit_code: self._on_exit(pid, exit_code))
        if job._cancel_requested:
            # A cancel that came while the process was being started found nothing to
            # signal; it is registered now, so one of the two signals it.
            cancel_child(pid, self.cancel_grace_period)

    def _on_exit(self, pid: int, exit_code: int) -> None:
        """Called on the reaper thread when a job's process has been reaped."""
        with self._lock:
            running = self._running.pop(pid)
        # We reaped it: tell Popen, whose finalizer would otherwise try to reap it again.
        running.process.returncode = exit_code
        job = running.job
        status = exit_status(exit_code, running.launcher, running.log_file)
        # A cancel is recorded before any signal goes out: by this process on the job (see
        # cancel), by another one as a mark in the work directory, which it then stands for.
        # A COMPLETED end stays COMPLETED after a cancel: no need to look for a mark then.
        if status.state != JobState.COMPLETED and self._records.is_marked_canceled(
                running.record):
            job._request_cancel()
        staging = running.staging
        if staging is not None and staging.after_job:
            # Final only once staged out and cleaned up, off the reaper's thread.
            run_after_job(lambda: self._end(running, staging.finish(job, status)))
        else:
            self._end(running, status)

    def _end(self, running: _RunningJob, status: JobStatus) -> None:
        """Give ``running``'s job its final ``status`` and journal it."""
        journaled: List[JobStatus] = []

        def journal(taken: JobStatus) -> None:
            # The status exactly as the job took it (under the lock a cancel takes too): the
            # one truth for this process and for every process that attaches.
            journaled.append(taken)
            self._records.write_exit(running.record, ExitRecord(
                state=taken.state.value, exit_code=taken.exit_code, message=taken.message,
                time=taken.time))

        self._set_job_status(running.job, status, journal)
        if not journaled:  # the job was final already: record what it is
            journal(running.job.status)

    # --- cancel ----------------------------------------------------------------------------

    def cancel(self, job: Job) -> None:
        """SIGTERM the job's whole process tree (SIGKILL after `cancel_grace_period`).

        The job then ends CANCELED, unless it exits with 0 (COMPLETED: it finished anyway).
        A job psij holds ends CANCELED at once and never starts.
        """
        # _should_cancel records the cancel on the job before anything is signalled: the
        # reaper may see the job die before _terminate_tree returns.
        if not self._should_cancel(job):
            return
        if self._gate.cancel(job) or (self._budget is not None and self._budget.cancel(job)):
            return  # held: CANCELED now, never started
        if self._waiting_elsewhere.follows(job):  # waits in another process's budget queue
            pid = self._waiting_elsewhere.pid_to_cancel(job)
        else:
            pid = self._detached.pid_to_cancel(job)  # a held detached job's goes to the watcher
        if pid is None:
            return
        with self._lock:
            running = self._running.get(pid)
            attached = self._attached.get(pid)
        if running is not None and running.job is job:
            cancel_child(pid, self.cancel_grace_period)  # returns at once: see there
        elif attached is not None:
            # The owner decides how the job ended, when it reaps it: the mark must be there
            # before the job can die of our signal.
            self._records.mark_canceled(attached.record)
            if is_running(pid, attached.record.start_ticks):
                terminate_tree(pid, self.cancel_grace_period)
            self._check_attached(pid)

    def cancel_jobs(self, jobs: Sequence[Job]) -> None:
        """`cancel` every job of ``jobs``: those not started yet first, so that none of them
        starts in the room that the end of the others makes (a job that waits has its job id
        as native id, one that runs its pid)."""
        for job in sorted(jobs, key=lambda job: (job.native_id or '').isdigit()):
            job.cancel()

    # --- attach ----------------------------------------------------------------------------

    def attach(self, job: Job, native_id: str) -> None:
        """Track the local job ``native_id`` (a pid recorded in this work directory, or the
        job id of a job that waits for room in a budget or is held by the detached watcher).

        The status is looked up at once, so the job leaves NEW before this returns.
        """
        self._check_attachable(job)
        if isinstance(native_id, str) and (self._waiting_elsewhere.attach(job, native_id)
                                           or self._detached.attach(job, native_id)):
            return  # a held job (its native id is its job id)
        if not isinstance(native_id, str) or not native_id.isdigit():
            raise InvalidJobException(
                f'native_id {native_id!r} is not a local job id (a process id: digits only)')
        pid = int(native_id)
        found = self._records.find(pid)
        if found is None:
            raise InvalidJobException(
                f'native_id {native_id}: no local job with this id in '
                f'{self._records.directory}; attach works for jobs started by the local '
                'executor with the same work_directory')
        job.native_id = native_id
        self._follow(job, found[0])

    def _follow(self, job: Job, record: JobRecord, check_now: bool = True) -> None:
        """Track ``job`` by the journal ``record`` of its process (attached or detached)."""
        job.executor = self
        with self._lock:
            self._attached[record.pid] = _AttachedJob(job, record)
        if not (check_now and self._check_attached(record.pid, refresh=False)):
            get_poller().schedule(self, self.attach_poll_interval)

    def _check_attached(self, pid: int, refresh: bool = True) -> bool:
        """Update one attached job from the records; True once it is final."""
        with self._lock:
            attached = self._attached.get(pid)
        if attached is None:
            return True
        job, record = attached.job, attached.record
        exit_record = self._exit_record(record, refresh)
        if exit_record is None:
            if is_running(pid, record.start_ticks):
                self._set_job_status(job, JobStatus(JobState.ACTIVE, metadata={'pid': pid}))
                return False
            if is_running(record.owner_pid, record.owner_start_ticks):
                return False  # the owner has not written the exit record yet
            # The owner may have written it after we read the journal and then ended; now
            # that it has ended, one more read is final.
            exit_record = self._exit_record(record, True)
        if exit_record is not None:
            status = JobStatus(JobState.from_name(exit_record.state), exit_record.time,
                               exit_record.message, exit_record.exit_code)
        elif self._records.is_marked_canceled(record):
            # Any process that attaches finds the same mark, so all of them say CANCELED.
            status = JobStatus(
                JobState.CANCELED,
                message=f'canceled; the process that submitted the job (pid '
                        f'{record.owner_pid}) ended before it, so no exit code was recorded')
        else:
            status = JobStatus(
                JobState.FAILED,
                message=f'outcome unknown: the process that submitted the job '
                        f'(pid {record.owner_pid}) ended before the job, so no exit code was '
                        'recorded')
        with self._lock:
            self._attached.pop(pid, None)
        # The owner's record was made with the cancel rule applied: it is the truth here too.
        self._set_job_status(job, status, as_recorded=exit_record is not None)
        return True

    def _exit_record(self, record: JobRecord, refresh: bool) -> Optional[ExitRecord]:
        """How the job of ``record`` ended, if its owner has written it down."""
        found = self._records.find(record.pid, refresh)
        return found[1] if found is not None and found[0] == record else None

    def poll(self) -> Optional[float]:
        """Check every attached job (called by the process's status poller)."""
        with self._lock:
            pids = list(self._attached)
        self._records.refresh()
        pending = [pid for pid in pids if not self._check_attached(pid, refresh=False)]
        return self.attach_poll_interval if pending else None

    # --- list ------------------------------------------------------------------------------

    def list(self) -> List[str]:
        """The native ids of the jobs of this work directory that are still running, then
        those a live psij process holds before their start (job ids: waiting for room in a
        budget, or held by a watcher)."""
        return self._records.running_job_ids() + self._waiting_elsewhere.waiting_ids()


def _check_directory(spec: JobSpec) -> None:
    directory = spec.directory
    if directory is not None and not directory.is_dir():
        raise InvalidJobException(
            f'JobSpec.directory {str(directory)!r} is not an existing directory')
