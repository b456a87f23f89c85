"""The ``mpirun`` launcher: the job's processes as MPI ranks (Open MPI or MPICH).

Requires: mpirun
"""

import pathlib

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

job = Job(JobSpec(
    '/bin/sh', ['-c', 'echo "rank $PSIJ_RANK of $PSIJ_PROCESS_COUNT"'],
    resources=ResourceSpecV1(process_count=4),
    launcher='mpirun',
    stdout_path='ranks.txt',
))
JobExecutor.get_instance('local').submit(job)
status = job.wait()
assert status is not None and status.state == JobState.COMPLETED, status

lines = sorted(pathlib.Path('ranks.txt').read_text().splitlines())
print('\n'.join(lines))
assert lines == [f'rank {rank} of 4' for rank in range(4)]
