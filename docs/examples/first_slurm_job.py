"""Getting started: run one job through Slurm and wait for it.

Run it on a login node (where ``sbatch`` works), from a directory the compute nodes also see.

Requires: slurm
"""

import pathlib
from datetime import timedelta

from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState, ResourceSpecV1

output = pathlib.Path.cwd() / 'hostname.txt'

executor = JobExecutor.get_instance('slurm')
job = Job(JobSpec(
    '/bin/hostname',
    stdout_path=output,
    resources=ResourceSpecV1(node_count=1),
    attributes=JobAttributes(duration=timedelta(minutes=5)),
))
executor.submit(job)                     # runs sbatch; on return the job is QUEUED
print(f'Slurm job id: {job.native_id}')
status = job.wait(timeout=timedelta(minutes=10))

print(f'job {job.native_id} ended {status}')
assert status is not None and status.state == JobState.COMPLETED, status
print(f'it ran on {output.read_text().strip()}')
