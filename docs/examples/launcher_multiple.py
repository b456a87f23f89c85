"""The ``multiple`` launcher: N copies of a program, each told its rank."""

import pathlib

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

job = Job(JobSpec(
    '/bin/sh', ['-c', 'echo "copy $PSIJ_RANK of $PSIJ_PROCESS_COUNT"'],
    resources=ResourceSpecV1(process_count=3),
    launcher='multiple',
    stdout_path='copies.txt',
))
JobExecutor.get_instance('local').submit(job)
status = job.wait()
assert status is not None and status.state == JobState.COMPLETED, status

lines = sorted(pathlib.Path('copies.txt').read_text().splitlines())  # copies run in parallel
print('\n'.join(lines))
assert lines == ['copy 0 of 3', 'copy 1 of 3', 'copy 2 of 3']
