"""A third-party executor and launcher found only through the fake distribution's entry points.

The executor "runs" a job by marking it COMPLETED at once; it exists to show that a plugin
outside the psij package is found, loaded once, aliased and version-checked like ours.
"""

import itertools
import threading
from typing import Dict, List, Optional

from psij import Job, JobExecutor, JobExecutorConfig, JobState, JobStatus, Launcher


class FakeExecutor(JobExecutor):
    """Completes every job immediately, without running anything."""

    name = 'fake'
    version = '2.3'

    _counter = itertools.count(1)

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None) -> None:
        super().__init__(url=url, config=config)
        self._jobs: Dict[str, Job] = {}
        self._jobs_lock = threading.Lock()

    def submit(self, job: Job) -> None:
        self._check_job(job)
        native_id = f'fake-{next(self._counter)}'
        job.native_id = native_id
        with self._jobs_lock:
            self._jobs[native_id] = job
        self._set_job_status(job, JobStatus(JobState.QUEUED))
        self._set_job_status(job, JobStatus(JobState.COMPLETED, exit_code=0))

    def cancel(self, job: Job) -> None:
        self._set_job_status(job, JobStatus(JobState.CANCELED))

    def attach(self, job: Job, native_id: str) -> None:
        job.native_id = native_id
        job.executor = self
        self._set_job_status(job, JobStatus(JobState.COMPLETED, exit_code=0))

    def list(self) -> List[str]:
        with self._jobs_lock:
            return sorted(self._jobs)


class FakeLauncher(Launcher):
    """Launches the executable directly, ignoring the process count."""

    name = 'fake_launcher'
    version = '0.5'

    def get_launch_command(self, job: Job, log_file: Optional[str] = None) -> List[str]:
        spec = job.spec
        if spec is None or spec.executable is None:
            raise ValueError('the job has no executable')
        return [spec.executable, *spec.arguments]
