"""Follow a local job from another process with ``attach``.

A child Python process submits a job, prints its native id (the pid) and waits for it. This
process attaches a new `Job` to that id, once while the job runs and once after it ended, and
both times learns the real outcome, exit code included.
"""

import subprocess
import sys
import textwrap

from psij import Job, JobExecutor, JobState

SUBMITTER = textwrap.dedent('''
    from psij import Job, JobExecutor, JobSpec
    job = Job(JobSpec('/bin/sh', ['-c', 'sleep 1; exit 3']))
    JobExecutor.get_instance('local').submit(job)
    print(job.native_id, flush=True)
    job.wait()      # the submitting process records the exit code: it must outlive the job
''')

submitter = subprocess.Popen([sys.executable, '-c', SUBMITTER], stdout=subprocess.PIPE,
                             text=True)
assert submitter.stdout is not None
native_id = submitter.stdout.readline().strip()
executor = JobExecutor.get_instance('local')

job = Job()                                   # no spec needed to attach
executor.attach(job, native_id)
print(f'attached to {native_id}: {job.status}')
assert job.status.state == JobState.ACTIVE    # looked up at once, not at the next poll
status = job.wait()
print(f'job {native_id} ended {status}')
assert status is not None and status.state == JobState.FAILED and status.exit_code == 3

assert submitter.wait() == 0
later = Job()                                 # the job and its submitter are gone now
executor.attach(later, native_id)
print(f'attached again: {later.status}')
assert later.status.state == JobState.FAILED and later.status.exit_code == 3
