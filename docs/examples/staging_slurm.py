"""File staging: copy an input into the job's directory, bring the result back on success,
and remove the scratch files afterwards.

Run it on a login node, from a directory the compute nodes also see.

Requires: slurm
"""

import pathlib
from datetime import timedelta

from psij import Job, JobExecutor, JobSpec, JobState
from psij.staging import StageIn, StageOut, StageOutFlags

here = pathlib.Path.cwd()
(here / 'words.txt').write_text('b\na\nc\n')
run = here / 'run'
run.mkdir(exist_ok=True)

job = Job(JobSpec(
    '/bin/sh', ['-c', 'sort input/words.txt > sorted.txt'],
    directory=run,
    stage_in={StageIn('words.txt', 'input/words.txt')},   # relative: to the current directory
    stage_out={StageOut('sorted.txt', here / 'results' / 'sorted.txt',
                        StageOutFlags.ON_SUCCESS)},
    cleanup={'input'},                                     # inside the job's directory only
))
JobExecutor.get_instance('slurm').submit(job)
status = job.wait(timeout=timedelta(minutes=10))

assert status is not None and status.state == JobState.COMPLETED, status
assert (here / 'results' / 'sorted.txt').read_text() == 'a\nb\nc\n'
assert not (run / 'input').exists()
print('sorted.txt staged out; input cleaned up')
