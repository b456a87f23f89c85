"""The local executor: runs each job as a child process of this Python process.

A job with the default launcher and no pre/post-launch script is started with a single
``exec`` of its executable: no shell in between. The process-wide reaper thread reaps every
job (see `psij.reaper`); the exit status is recorded in the work directory so that another
process can `attach` to the job and learn its real final state and exit code.

A cancel is recorded before any signal is sent (in this process for its own jobs, as a mark
in the work directory for a job another process owns), so the reaper, which decides the final
state once, always knows whether the job was canceled: the submitting process, its journal
and every process that attaches report the same final state.

Limit: a job's exit code is recorded by the process that submitted it. If that process ends
before the job does, nobody can learn the exit code any more; an attached job then ends
FAILED with a message saying that its outcome is unknown (never a guessed COMPLETED), or
CANCELED if a cancel mark says it was canceled.
"""

import logging
import os
import pathlib
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Optional, Tuple

import psutil

from psij.batch.pieces import signal_name
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.launcher import Launcher
from psij.poller import get_poller
from psij.reaper import get_reaper

from .local_records import (
    ExitRecord,
    JobRecord,
    RecordStore,
    is_running,
    process_start_ticks,
)

logger = logging.getLogger('psij.executors.local')


@dataclass
class _RunningJob:
    job: Job
    record: JobRecord
    process: 'subprocess.Popen[bytes]'
    launcher: Launcher
    log_file: str


@dataclass
class _AttachedJob:
    job: Job
    record: JobRecord


@dataclass
class _Leftovers:
    """Processes sent SIGTERM by a cancel; those still alive after the grace period get
    SIGKILL (psutil refuses to signal a pid that was reused meanwhile)."""

    processes: List[psutil.Process]

    def poll(self) -> Optional[float]:
        for process in self.processes:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        return None


def _exit_message(exit_code: int) -> str:
    if exit_code < 0:
        return f'killed by {signal_name(-exit_code)}'
    return f'exit code {exit_code}'


def _exit_status(exit_code: int, launcher: Launcher,
                 launcher_failure: Optional[str]) -> JobStatus:
    """How a local job ended, as its process says: a clean exit 0 is COMPLETED, anything
    else FAILED (the job makes a FAILED end after a cancel CANCELED: `Job._ends_by_cancel`)."""
    if exit_code == 0 and launcher_failure is None:
        return JobStatus(JobState.COMPLETED, exit_code=0)
    if launcher_failure is not None:
        cause = f'launcher {launcher.name!r} failed: {launcher_failure}'
    else:
        cause = _exit_message(exit_code)
    return JobStatus(JobState.FAILED, exit_code=exit_code, message=cause)


def _terminate_tree(pid: int, grace_period: float) -> None:
    """SIGTERM the job's process group and every descendant.

    Whatever of them is still alive after ``grace_period`` seconds gets SIGKILL.
    """
    try:
        lead = psutil.Process(pid)
        if lead.status() == psutil.STATUS_ZOMBIE:
            return
        tree = [lead] + lead.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for process in tree:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    get_poller().schedule(_Leftovers(tree), grace_period)


class LocalJobExecutor(JobExecutor):
    """Runs jobs as local processes. ``native_id`` is the process id.

    Files of this executor live in ``<work_directory>/local``.
    """

    name = 'local'
    version = '0.1.0'
    #: Seconds between SIGTERM and SIGKILL when a job is canceled.
    cancel_grace_period = 2.0
    #: Seconds between checks of jobs attached from another process.
    attach_poll_interval = 0.25

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None) -> None:
        super().__init__(url=url, config=config)
        self._records = RecordStore(self.config.work_directory / 'local')
        removed = self._records.prune_once()
        if removed:
            logger.info('removed %d local job records older than 30 days from %s', removed,
                        self._records.directory)
        self._lock = threading.Lock()
        self._running: Dict[int, _RunningJob] = {}
        self._attached: Dict[int, _AttachedJob] = {}

    # --- submit ----------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Start the job now; on return it is ACTIVE and ``native_id`` is its pid."""
        spec = self._check_job(job)
        try:
            self._start(job, spec)
        except BaseException:
            job.executor = None
            raise

    def _start(self, job: Job, spec: JobSpec) -> None:
        launcher = self._get_launcher(spec.launcher or 'single')
        log_file = str(self._records.directory / f'{job.id}.launcher.log')
        argv = launcher.get_launch_command(job, log_file)
        directory = spec.directory
        if directory is not None and not directory.is_dir():
            raise InvalidJobException(
                f'JobSpec.directory {str(directory)!r} is not an existing directory')
        # Bytes all the way: Popen would otherwise encode every inherited variable again.
        env: Dict[bytes, bytes] = dict(os.environb) if spec.inherit_environment else {}
        for key, value in (spec.environment or {}).items():
            env[os.fsencode(key)] = os.fsencode(value)
        process_count = getattr(spec.resources, 'computed_process_count', 1)
        env[b'PSIJ_NODEFILE'] = os.fsencode(self._records.nodefile(process_count))
        streams = _open_streams(spec)
        try:
            process = subprocess.Popen(argv, stdin=streams[0], stdout=streams[1],
                                       stderr=streams[2], cwd=directory, env=env,
                                       start_new_session=True)
        except (FileNotFoundError, PermissionError) as error:
            raise InvalidJobException(
                f'JobSpec.executable {argv[0]!r} cannot be run: {error.strerror}') from error
        except OSError as error:
            raise SubmitException(f'could not start {argv[0]!r}: {error}') from error
        finally:
            for stream in streams:
                if isinstance(stream, int) or stream is None:
                    continue
                stream.close()
        pid = process.pid
        job.native_id = str(pid)
        record = JobRecord(pid=pid, start_ticks=process_start_ticks(pid), job_id=job.id,
                           name=spec.name)
        self._records.write_job(record)
        with self._lock:
            self._running[pid] = _RunningJob(job, record, process, launcher, log_file)
        self._set_job_status(job, JobStatus(JobState.ACTIVE, metadata={'pid': pid}))
        get_reaper().watch(pid, lambda exit_code: self._on_exit(pid, exit_code))

    def _on_exit(self, pid: int, exit_code: int) -> None:
        """Called on the reaper thread when a job's process has been reaped."""
        with self._lock:
            running = self._running.pop(pid)
        # We reaped it: tell Popen, whose finalizer would otherwise try to reap it again.
        running.process.returncode = exit_code
        job = running.job
        # A cancel is recorded before any signal goes out: by this process on the job (see
        # cancel), by another one as a mark in the work directory, which it then stands for.
        if self._records.is_marked_canceled(running.record):
            job._request_cancel()
        launcher_failure = _read_launcher_failure(running.launcher, running.log_file)
        journaled: List[JobStatus] = []

        def journal(taken: JobStatus) -> None:
            # The status exactly as the job took it (under the lock a cancel takes too): the
            # one truth for this process and for every process that attaches.
            journaled.append(taken)
            self._records.write_exit(running.record, ExitRecord(
                state=taken.state.value, exit_code=taken.exit_code, message=taken.message,
                time=taken.time))

        self._set_job_status(job, _exit_status(exit_code, running.launcher, launcher_failure),
                             journal)
        if not journaled:  # the job was final already: record what it is
            journal(job.status)

    # --- cancel ----------------------------------------------------------------------------

    def cancel(self, job: Job) -> None:
        """SIGTERM the job's whole process tree (SIGKILL after `cancel_grace_period`).

        The job then ends CANCELED, unless it exits with 0 (COMPLETED: it finished anyway).
        """
        # _should_cancel records the cancel on the job before anything is signalled: the
        # reaper may see the job die before _terminate_tree returns.
        if not self._should_cancel(job):
            return
        pid = int(job.native_id or 0)
        with self._lock:
            running = self._running.get(pid)
            attached = self._attached.get(pid)
        if running is not None and running.job is job:
            _terminate_tree(pid, self.cancel_grace_period)
        elif attached is not None:
            # The owner decides how the job ended, when it reaps it: the mark must be there
            # before the job can die of our signal.
            self._records.mark_canceled(attached.record)
            if is_running(pid, attached.record.start_ticks):
                _terminate_tree(pid, self.cancel_grace_period)
            self._check_attached(pid)

    # --- attach ----------------------------------------------------------------------------

    def attach(self, job: Job, native_id: str) -> None:
        """Track the local job ``native_id`` (a pid recorded in this work directory).

        The status is looked up at once, so the job leaves NEW before this returns.
        """
        self._check_attachable(job)
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
        job.executor = self
        job.native_id = native_id
        with self._lock:
            self._attached[pid] = _AttachedJob(job, found[0])
        if not self._check_attached(pid, refresh=False):
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
        """The native ids of the jobs of this work directory that are still running."""
        return self._records.running_job_ids()


def _resolve(path: pathlib.Path, spec: JobSpec) -> pathlib.Path:
    if path.is_absolute() or spec.directory is None:
        return path
    return spec.directory / path


def _open_streams(spec: JobSpec) -> Tuple[Any, Any, Any]:
    """Open the job's stdin, stdout and stderr (DEVNULL where no path is given)."""
    opened: List[IO[bytes]] = []

    def open_path(path: Optional[pathlib.Path], mode: str, field_name: str) -> Any:
        if path is None:
            return subprocess.DEVNULL
        try:
            stream = open(_resolve(path, spec), mode)
        except OSError as error:
            for other in opened:
                other.close()
            raise InvalidJobException(
                f'JobSpec.{field_name} {str(path)!r} cannot be opened: {error.strerror}'
            ) from error
        opened.append(stream)
        return stream

    stdin = open_path(spec.stdin_path, 'rb', 'stdin_path')
    stdout = open_path(spec.stdout_path, 'wb', 'stdout_path')
    if spec.stderr_path is not None and spec.stderr_path == spec.stdout_path:
        stderr = subprocess.STDOUT
    else:
        stderr = open_path(spec.stderr_path, 'wb', 'stderr_path')
    return stdin, stdout, stderr


def _read_launcher_failure(launcher: Launcher, log_file: str) -> Optional[str]:
    """The launcher's own failure message from its log, or None (the log is then removed)."""
    if not os.path.exists(log_file):  # the usual case; cheaper than catching the error
        return None
    with open(log_file, errors='replace') as stream:
        text = stream.read()
    if launcher.is_launcher_failure(text):
        return launcher.get_launcher_failure_message(text) + f' (log: {log_file})'
    os.unlink(log_file)
    return None
