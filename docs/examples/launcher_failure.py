"""When the launcher fails rather than the job, the status message says so."""

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

# PSIJ_MPIRUN names the mpirun to use; here one that does not exist.
job = Job(JobSpec(
    '/bin/hostname',
    resources=ResourceSpecV1(process_count=2),
    launcher='mpirun',
    environment={'PSIJ_MPIRUN': '/nonexistent/mpirun'},
))
JobExecutor.get_instance('local').submit(job)
status = job.wait()

print(status)
assert status is not None and status.state == JobState.FAILED, status
assert status.message is not None and status.message.startswith("launcher 'mpirun' failed: ")
assert '/nonexistent/mpirun' in status.message
