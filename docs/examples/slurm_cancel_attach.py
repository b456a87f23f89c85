"""Cancel a Slurm job, and follow it from another process with ``attach``.

Requires: slurm
"""

import subprocess
import sys
import textwrap
from datetime import timedelta

from psij import Job, JobExecutor, JobSpec, JobState

WATCHER = textwrap.dedent('''
    import sys
    from psij import Job, JobExecutor, JobState
    job = Job()
    JobExecutor.get_instance('slurm').attach(job, sys.argv[1])
    job.wait(target_states=JobState.ACTIVE)
    print('watcher sees', job.status.state, flush=True)
    print('watcher:', job.wait(), flush=True)
''')

executor = JobExecutor.get_instance('slurm')
job = Job(JobSpec('/bin/sleep', ['600']))
executor.submit(job)
job.wait(target_states=JobState.ACTIVE, timeout=timedelta(minutes=5))

# Another process only needs the native id (the Slurm job id) to follow the job.
watcher = subprocess.Popen([sys.executable, '-c', WATCHER, job.native_id or ''],
                           stdout=subprocess.PIPE, text=True)
assert watcher.stdout is not None
print(watcher.stdout.readline(), end='')   # the watcher has attached and seen the job run

job.cancel()                               # scancel
status = job.wait(timeout=timedelta(minutes=5))
print('submitter:', status)
assert status is not None and status.state == JobState.CANCELED, status

watched, _ = watcher.communicate(timeout=300)
print(watched, end='')
assert watched.startswith('watcher: JobStatus(state=CANCELED'), watched
