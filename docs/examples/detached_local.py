"""Local jobs that outlive the process that submitted them (``detached=True``).

A child Python process submits three jobs to a detached local executor with
``max_in_flight=1``, prints their native ids and exits at once: the watcher process starts the
first job and holds the other two (their native id is their job id, they have no pid yet). This
process then attaches to each id and learns its real outcome, exit code included.
"""

import json
import subprocess
import sys
import textwrap

from psij import Job, JobExecutor, JobState

SUBMITTER = textwrap.dedent('''
    import json
    from psij import Job, JobExecutor, JobSpec
    from psij.executors.local import LocalJobExecutorConfig
    executor = JobExecutor.get_instance(
        'local', config=LocalJobExecutorConfig(detached=True, max_in_flight=1))
    ids = []
    for code in (0, 3, 0):
        job = Job(JobSpec('/bin/sh', ['-c', f'sleep 0.5; exit {code}']))
        executor.submit(job)
        ids.append(job.native_id)
    print(json.dumps(ids))   # and exit: the watcher keeps the jobs
''')

result = subprocess.run([sys.executable, '-c', SUBMITTER], capture_output=True, text=True,
                        check=True)
native_ids = json.loads(result.stdout)
print(f'the submitter has exited; its jobs: {native_ids}')

executor = JobExecutor.get_instance('local')   # any local executor of the work directory
for native_id, exit_code in zip(native_ids, (0, 3, 0)):
    job = Job()
    executor.attach(job, native_id)
    status = job.wait(timeout=60)
    print(f'job {native_id} ended {status}')
    assert status is not None and status.exit_code == exit_code
    assert status.state == (JobState.COMPLETED if exit_code == 0 else JobState.FAILED)
