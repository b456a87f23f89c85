"""A parameter sweep as one job array: ten elements of one command, at most three at once.

Each element gets its index (0 to 9) in ``PSIJ_ARRAY_INDEX``, and ``{PSIJ_ARRAY_INDEX}`` in
its arguments, paths and environment is replaced by it. On a batch scheduler the same code is
one native array submission (replace ``'local'`` with ``'slurm'``: see ``sweep_slurm.py``).
"""

import pathlib

from psij import Job, JobArray, JobExecutor, JobSpec, JobState
from psij.job_array import INDEX_TOKEN

executor = JobExecutor.get_instance('local')
spec = JobSpec('/bin/sh', ['-c', 'echo "$1 squared is $(($1 * $1))"', 'sh', INDEX_TOKEN],
               stdout_path=pathlib.Path(f'square-{INDEX_TOKEN}.txt'))
array = JobArray(spec, 10, throttle=3)
executor.submit_array(array)

statuses = array.wait()
for element in array.jobs:
    print(element.array_index, element.native_id, element.status.state)
assert all(status is not None and status.state == JobState.COMPLETED for status in statuses)
assert pathlib.Path('square-7.txt').read_text() == '7 squared is 49\n'

# Each element is a full Job: it has its own state, exit code and native id.
assert isinstance(array.jobs[3], Job) and array.jobs[3].array_index == 3
