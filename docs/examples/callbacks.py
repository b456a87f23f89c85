"""Following jobs with callbacks: every state, in order, exactly one final state."""

import threading
from typing import List

from psij import Job, JobExecutor, JobSpec, JobState, JobStatus, JobStatusCallback

executor = JobExecutor.get_instance('local')
all_done = threading.Event()
finished: List[str] = []


class Progress(JobStatusCallback):
    """An object callback; a plain function taking (job, status) works as well."""

    def __init__(self) -> None:
        self.states: List[JobState] = []

    def job_status_changed(self, job: Job, job_status: JobStatus) -> None:
        self.states.append(job_status.state)


def on_any_job(job: Job, status: JobStatus) -> None:
    """Called for every state change of every job of this executor."""
    if status.final:
        finished.append(f'{job.spec.name if job.spec else job.id}: {status}')
        if len(finished) == 2:
            all_done.set()


executor.set_job_status_callback(on_any_job)
good, bad = Job(JobSpec('/bin/true', name='good')), Job(JobSpec('/bin/false', name='bad'))
progress = Progress()
good.set_job_status_callback(progress)
for job in (good, bad):
    executor.submit(job)

# Callbacks run on psij's threads: keep them short, and never wait() for a job inside one.
assert all_done.wait(timeout=60)
print('\n'.join(sorted(finished)))
assert progress.states == [JobState.QUEUED, JobState.ACTIVE, JobState.COMPLETED]
assert bad.status.state == JobState.FAILED and bad.status.exit_code == 1
