"""The ``srun`` launcher in a Slurm job: one job step with a task per process.

Requires: slurm
"""

import pathlib
from datetime import timedelta

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

output = pathlib.Path.cwd() / 'tasks.txt'
job = Job(JobSpec(
    '/bin/sh', ['-c', 'echo "task $SLURM_PROCID (PSIJ_RANK $PSIJ_RANK) on $(hostname)"'],
    resources=ResourceSpecV1(node_count=1, processes_per_node=2),
    launcher='srun',
    stdout_path=output,
))
JobExecutor.get_instance('slurm').submit(job)
status = job.wait(timeout=timedelta(minutes=10))
assert status is not None and status.state == JobState.COMPLETED, status

lines = sorted(output.read_text().splitlines())
print('\n'.join(lines))
assert [line.split(' on ')[0] for line in lines] == [
    'task 0 (PSIJ_RANK 0)', 'task 1 (PSIJ_RANK 1)']
