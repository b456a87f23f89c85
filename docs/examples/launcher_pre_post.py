"""``pre_launch`` and ``post_launch``: scripts sourced once around the job's processes."""

import pathlib

from psij import Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

# pre_launch is sourced by the launcher's shell: what it exports, every process sees.
pathlib.Path('setup.sh').write_text('export GREETING="hello from pre_launch"\n')
# post_launch runs once after all processes; PSIJ_JOB_EXIT_CODE holds the job's exit code.
pathlib.Path('report.sh').write_text('echo "job exit code: $PSIJ_JOB_EXIT_CODE" > report.txt\n')

job = Job(JobSpec(
    '/bin/sh', ['-c', 'echo "$PSIJ_RANK: $GREETING"'],
    resources=ResourceSpecV1(process_count=2),
    launcher='multiple',
    pre_launch='setup.sh',
    post_launch='report.sh',
    stdout_path='out.txt',
))
JobExecutor.get_instance('local').submit(job)
status = job.wait()
assert status is not None and status.state == JobState.COMPLETED, status

print(pathlib.Path('out.txt').read_text(), end='')
print(pathlib.Path('report.txt').read_text(), end='')
assert sorted(pathlib.Path('out.txt').read_text().splitlines()) == [
    '0: hello from pre_launch', '1: hello from pre_launch']
assert pathlib.Path('report.txt').read_text() == 'job exit code: 0\n'
