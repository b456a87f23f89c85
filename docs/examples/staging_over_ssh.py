"""Send a file with a job to a Slurm cluster reached over SSH, and get its result back.

psij copies ``input.txt`` to the cluster through the SSH master before the submission, the
job script puts it in place, and after the job's end psij brings ``output.txt`` back here
before the job is reported COMPLETED. The host is a ``Host`` of your ``~/.ssh/config``
(here from ``PSIJ_EXAMPLE_HOST``; the tests set it to their test sshd).

Requires: slurm, sshd
"""

import os
import pathlib

from psij import Job, JobExecutor, JobSpec, JobState
from psij.staging import StageIn, StageOut, StageOutFlags

host = os.environ.get('PSIJ_EXAMPLE_HOST', 'cluster')
executor = JobExecutor.get_instance('slurm', url=f'ssh://{host}')

pathlib.Path('input.txt').write_text('hello from here\n')
# No JobSpec.directory: the job runs in your home directory on the cluster.
job = Job(JobSpec('/bin/sh', ['-c', 'tr a-z A-Z < psij-example/in.txt > psij-example/out.txt'],
                  stage_in={StageIn('input.txt', 'psij-example/in.txt')},
                  stage_out={StageOut('psij-example/out.txt', 'results/output.txt',
                                      StageOutFlags.ON_SUCCESS)},
                  cleanup={'psij-example'}))
executor.submit(job)
print(job.wait())

assert job.status.state == JobState.COMPLETED, job.status
assert pathlib.Path('results/output.txt').read_text() == 'HELLO FROM HERE\n'
