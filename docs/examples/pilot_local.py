"""The pilot executor on a workstation: 20 small tasks of 1 or 2 cores through one
allocation that the local executor provides (a worker process with 2 cores)."""

import pathlib

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1
from psij.pilot import PilotExecutorConfig

config = PilotExecutorConfig(executor='local', name='sweep', cores_per_node=2,
                             max_allocations=1, idle_timeout=2)
executor = JobExecutor.get_instance('pilot', config=config)

jobs = []
for index in range(20):
    jobs.append(Job(JobSpec(
        '/bin/sh', ['-c', f'echo "task {index}: attempt $PSIJ_PILOT_ATTEMPT"'],
        stdout_path=pathlib.Path.cwd() / f'out-{index}.txt',
        resources=ResourceSpecV1(process_count=1, cpu_cores_per_process=1 + index % 2))))
for job in jobs:
    executor.submit(job)          # QUEUED: waiting for a slot in an allocation
print('first task:', jobs[0].native_id)   # sweep/<task id>: attach() takes it

for job in jobs:
    status = job.wait()
    assert status is not None and status.state == JobState.COMPLETED, status
print(pathlib.Path('out-7.txt').read_text().strip())
assert pathlib.Path('out-7.txt').read_text() == 'task 7: attempt 1\n'
