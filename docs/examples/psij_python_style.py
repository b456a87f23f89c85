"""Code written for psij-python runs here unchanged; a few things are stricter or clearer."""

from datetime import timedelta

from psij import *  # noqa: F403  (raised AttributeError in psij-python 0.9.11)
from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState
from psij.job_state import JobStateOrder

# The psij-python way of building and running a job.
ex = JobExecutor.get_instance('local')
spec = JobSpec()
spec.executable = '/bin/date'
spec.arguments = ['--utc']
spec.stdout_path = 'date.txt'
spec.attributes = JobAttributes(project_name='proj1')     # the old name of `account`
job = Job(spec)
ex.submit(job)
status = job.wait(timeout=timedelta(seconds=60))
assert status is not None
assert status.state == JobState.COMPLETED
assert spec.attributes.account == 'proj1'
assert JobStateOrder.prev(JobState.ACTIVE) == JobState.QUEUED

# Different: a job that is not named has no name (psij-python reported the executable).
assert spec.name is None

# Different: wrong types are refused by setters too, not only by constructors.
try:
    spec.arguments = '--utc'
except TypeError as error:
    print(error)
else:
    raise AssertionError('a string was accepted as the argument list')
