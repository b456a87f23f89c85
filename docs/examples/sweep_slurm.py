"""The sweep of ``sweep_array.py`` on Slurm: ONE ``sbatch --array=0-9%3``, whose elements are
``JOB_0`` ... ``JOB_9``, watched with one ``squeue`` for all of them.

Run it on a login node, from a directory the compute nodes also see.

Requires: slurm
"""

import pathlib
from datetime import timedelta

from psij import JobArray, JobAttributes, JobExecutor, JobSpec, JobState
from psij.job_array import INDEX_TOKEN

executor = JobExecutor.get_instance('slurm')
spec = JobSpec('/bin/sh', ['-c', 'echo "$1 squared is $(($1 * $1))"', 'sh', INDEX_TOKEN],
               stdout_path=pathlib.Path.cwd() / f'square-{INDEX_TOKEN}.txt',
               attributes=JobAttributes(duration=timedelta(minutes=5)))
array = JobArray(spec, 10, throttle=3)
executor.submit_array(array)
print('submitted array', array.native_id, 'elements', [job.native_id for job in array.jobs])

statuses = array.wait(timeout=300)
assert all(status is not None and status.state == JobState.COMPLETED for status in statuses)
assert array.jobs[4].native_id == f'{array.native_id}_4'
assert pathlib.Path('square-7.txt').read_text() == '7 squared is 49\n'
