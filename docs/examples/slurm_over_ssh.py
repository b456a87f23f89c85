"""Run jobs on a Slurm cluster reached over SSH, from a laptop or a workstation.

The host is a ``Host`` of your ``~/.ssh/config`` (here from ``PSIJ_EXAMPLE_HOST``; the tests
set it to their test sshd). Nothing but a POSIX shell and Slurm is needed on the cluster: the
job scripts, their markers and outputs live in your home directory there
(``~/.psij/work/slurm``).

Requires: slurm, sshd
"""

import os

from psij import Job, JobExecutor, JobSpec, JobState

host = os.environ.get('PSIJ_EXAMPLE_HOST', 'cluster')
executor = JobExecutor.get_instance('slurm', url=f'ssh://{host}')

jobs = [Job(JobSpec('/bin/sh', ['-c', f'hostname; exit {code}'])) for code in (0, 3)]
for job in jobs:
    executor.submit(job)          # sbatch, on the cluster, through one SSH connection
for job in jobs:
    print(job.native_id, job.wait())

assert [job.status.state for job in jobs] == [JobState.COMPLETED, JobState.FAILED]
assert jobs[1].status.exit_code == 3
