"""The pilot executor on Slurm: 100 one-core tasks through at most two allocations of one
core each (two ``sbatch`` calls, not 100), which end 5 s after the queue runs dry.

Requires: slurm
"""

from psij import Job, JobExecutor, JobSpec, JobState
from psij.pilot import PilotExecutorConfig

config = PilotExecutorConfig(executor='slurm', name='example', nodes=1, cores_per_node=1,
                             duration=600, max_allocations=2, idle_timeout=5,
                             queue_name=None, account=None)
executor = JobExecutor.get_instance('pilot', config=config)

jobs = [Job(JobSpec('/bin/sh', ['-c', f'exit {index % 2}'])) for index in range(100)]
for job in jobs:
    executor.submit(job)
for index, job in enumerate(jobs):
    status = job.wait()
    assert status is not None and status.exit_code == index % 2, status
    assert status.state == (JobState.COMPLETED if index % 2 == 0 else JobState.FAILED)
print('allocations used:', sorted({str((job.status.metadata or {})['allocation'])
                                   for job in jobs}))
