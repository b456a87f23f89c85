"""Getting started: run one job on this machine and wait for it."""

import pathlib

from psij import Job, JobExecutor, JobSpec, JobState

executor = JobExecutor.get_instance('local')
job = Job(JobSpec('/bin/echo', ['hello', 'world'], stdout_path='hello.txt'))
executor.submit(job)          # returns at once; the job runs in the background
status = job.wait()           # blocks until the job is COMPLETED, FAILED or CANCELED

print(f'job {job.native_id} ended {status}')
assert status is not None and status.state == JobState.COMPLETED, status
assert pathlib.Path('hello.txt').read_text() == 'hello world\n'
