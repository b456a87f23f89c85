"""What a check works with: job specs for the target, submission with recorded callbacks,
bounded waits, a scratch directory and the processes the suite can see."""

import pathlib
import threading
import time
import uuid
from datetime import timedelta
from typing import Dict, List, Optional, Sequence

import psutil

from psij import (
    Job,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    JobStatus,
    ResourceSpecV1,
)

from .errors import CheckFailed
from .target import Target


class StatusHistory:
    """Every status change one job's callbacks delivered, in order, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: List[JobStatus] = []
        self._executor: List[JobStatus] = []

    def from_job(self, status: JobStatus) -> None:
        with self._lock:
            self._job.append(status)

    def from_executor(self, status: JobStatus) -> None:
        with self._lock:
            self._executor.append(status)

    def job_states(self) -> List[JobState]:
        """States delivered to the job's own callback."""
        with self._lock:
            return [status.state for status in self._job]

    def executor_states(self) -> List[JobState]:
        """States delivered to the executor's callback for this job."""
        with self._lock:
            return [status.state for status in self._executor]


class Context:
    """Given to every check; one per capability run."""

    def __init__(self, target: Target, scratch: pathlib.Path) -> None:
        self.target = target
        self.scratch = scratch
        self._histories: Dict[str, StatusHistory] = {}
        self._jobs: List[Job] = []
        self._lock = threading.Lock()

    # --- settings ------------------------------------------------------------------------

    def timeout(self, seconds: float) -> float:
        """``seconds`` scaled by the target's ``timeout_scale`` (slow sites)."""
        return seconds * self.target.timeout_scale

    @staticmethod
    def token() -> str:
        """A string no other job of any run contains."""
        return uuid.uuid4().hex[:12]

    def path(self, name: str) -> pathlib.Path:
        """A file name in this check's scratch directory (which is created)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        return self.scratch / name

    # --- jobs ----------------------------------------------------------------------------

    def executor(self) -> JobExecutor:
        """A new executor of the target, whose callback feeds each job's history."""
        executor = JobExecutor.get_instance(self.target.executor, url=self.target.url)

        def record(job: Job, status: JobStatus) -> None:
            self.history(job).from_executor(status)

        executor.set_job_status_callback(record)
        return executor

    def spec(self, executable: str, arguments: Optional[Sequence[str]] = None,
             process_count: int = 1, duration: Optional[float] = None,
             custom_attributes: Optional[Dict[str, object]] = None,
             **fields: object) -> JobSpec:
        """A JobSpec for the target: its launcher, queue, account and extra attributes."""
        attributes: Dict[str, object] = dict(self.target.extra_attributes)
        attributes.update(custom_attributes or {})
        job_attributes = JobAttributes(
            queue_name=self.target.queue, account=self.target.account,
            custom_attributes=attributes or None,
            duration=timedelta(seconds=duration) if duration else timedelta(minutes=10))
        spec = JobSpec(executable=executable, arguments=list(arguments or []),
                       launcher=self.target.launcher, attributes=job_attributes,
                       resources=ResourceSpecV1(process_count=process_count))
        for name, value in fields.items():
            if not hasattr(spec, name):
                raise AttributeError(f'JobSpec has no field {name!r}')
            setattr(spec, name, value)
        return spec

    def history(self, job: Job) -> StatusHistory:
        """The recorded callbacks of ``job``."""
        with self._lock:
            return self._histories.setdefault(job.id, StatusHistory())

    def submit(self, spec: JobSpec, executor: Optional[JobExecutor] = None) -> Job:
        """Submit a job of ``spec``, recording its callbacks; it is cancelled at cleanup if it
        has not ended by then."""
        job = Job(spec)
        history = self.history(job)
        job.set_job_status_callback(lambda _job, status: history.from_job(status))
        with self._lock:
            self._jobs.append(job)
        (executor or self.executor()).submit(job)
        return job

    def wait_final(self, job: Job, seconds: float) -> JobStatus:
        """The job's final status; `CheckFailed` if it is not final within ``seconds``."""
        status = job.wait(timeout=self.timeout(seconds))
        if status is None or not status.state.final:
            raise CheckFailed(f'job {job.native_id} did not end within '
                              f'{self.timeout(seconds):.0f} s; it is {job.status.state}')
        return status

    def wait_state(self, job: Job, state: JobState, seconds: float) -> JobStatus:
        """Wait until the job is in ``state``; `CheckFailed` if it is not within
        ``seconds`` or ends without reaching it."""
        status = job.wait(timeout=self.timeout(seconds), target_states=[state])
        if status is None or status.state != state:
            now = job.status
            raise CheckFailed(f'job {job.native_id} did not become {state} within '
                              f'{self.timeout(seconds):.0f} s; it is {now.state}'
                              + (f' ({now.message})' if now.message else ''))
        return status

    def cleanup(self) -> None:
        """Cancel every job of this check that has not ended."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            if not job.status.state.final and job.executor is not None:
                try:
                    job.cancel()
                except Exception:  # noqa: BLE001  (best effort; the check's outcome stands)
                    pass

    # --- processes -----------------------------------------------------------------------

    @staticmethod
    def processes_with(token: str) -> List[psutil.Process]:
        """Live processes on this host whose command line contains ``token``."""
        found = []
        for process in psutil.process_iter(['cmdline']):
            cmdline = process.info.get('cmdline') or []
            if any(token in part for part in cmdline):
                found.append(process)
        return found

    def wait_for_processes(self, token: str, present: bool, seconds: float) -> bool:
        """True once processes with ``token`` are present (or all gone, if not
        ``present``); False if that did not happen within ``seconds``."""
        deadline = time.monotonic() + self.timeout(seconds)
        while True:
            if bool(self.processes_with(token)) == present:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
