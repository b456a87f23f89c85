"""A cap on jobs in flight: twelve jobs, never more than four at the backend at once. The
others wait QUEUED, held by psij (their message says so), and go as earlier ones end; a held
job that is canceled never reaches the backend.
"""

import time

from psij.executors.local import LocalJobExecutorConfig

from psij import Job, JobExecutor, JobSpec, JobState

executor = JobExecutor.get_instance('local', config=LocalJobExecutorConfig(max_in_flight=4))
# For a batch scheduler: JobExecutor.get_instance(
#     'slurm', config=BatchSchedulerExecutorConfig(max_in_flight=4))
jobs = [Job(JobSpec('/bin/sleep', ['1'])) for _ in range(12)]
started = time.monotonic()
for job in jobs:
    executor.submit(job)   # returns at once, held or not
print(f'12 submits took {time.monotonic() - started:.2f} s')

last = jobs[-1]
print(last.status.state.name, last.status.message)
assert last.status.state == JobState.QUEUED and 'held by psij' in (last.status.message or '')
last.cancel()              # it was held: no process is ever started for it
assert last.status.state == JobState.CANCELED and last.native_id is None

for job in jobs[:-1]:
    assert job.wait() is not None and job.status.state == JobState.COMPLETED
