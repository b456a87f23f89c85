"""Waiting for states, with and without a timeout, and canceling."""

from datetime import timedelta

from psij import Job, JobExecutor, JobSpec, JobState

executor = JobExecutor.get_instance('local')
job = Job(JobSpec('/bin/sleep', ['600']))
executor.submit(job)

# Wait until the job runs (or has gone further: a later state also ends the wait).
status = job.wait(target_states=[JobState.ACTIVE])
assert status is not None and status.state == JobState.ACTIVE

# With a timeout (seconds or a timedelta), wait() returns None if it ran out.
assert job.wait(timeout=0.5) is None
assert job.wait(timeout=timedelta(milliseconds=500)) is None

job.cancel()                # SIGTERM to the job's processes, SIGKILL 2 s later if needed
status = job.wait()
print(status)
assert status is not None and status.state == JobState.CANCELED

# A final state ends every wait, even one for a state the job can no longer reach.
status = job.wait(target_states=[JobState.ACTIVE])
assert status is not None and status.state == JobState.CANCELED

# A job that was never submitted is CANCELED at once.
never_submitted = Job(JobSpec('/bin/true'))
never_submitted.cancel()
print(never_submitted.status)
assert never_submitted.status.state == JobState.CANCELED
