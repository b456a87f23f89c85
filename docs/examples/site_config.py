"""A two-queue site, a GPU profile and a user template, from one configuration file.

Requires: slurm
"""

import os
import pathlib
import subprocess
from datetime import timedelta

from psij import InvalidJobException, Job, JobAttributes, JobState
from psij.configuration import load

# The file shown on the page (PSIJ_CONFIG names it; the site's and user's files are read too).
os.environ['PSIJ_CONFIG'] = str(pathlib.Path(__file__).with_name('site_config.toml'))
configuration = load()

# Quick jobs: the short queue, with the site's template for its directives.
quick = configuration.profile('quick')
executor = quick.executor()
job = Job(quick.job_spec(executable='/bin/echo', arguments=['hello from the short queue']))
assert '#SBATCH --comment=short-queue' in executor.generate_script(job)
executor.submit(job)
status = job.wait()
assert status is not None and status.state == JobState.COMPLETED, status
shown = subprocess.run(['scontrol', 'show', 'job', str(job.native_id)],
                       capture_output=True, text=True).stdout
assert 'Comment=short-queue' in shown or not shown, shown  # gone after MinJobAge
print('short queue:', job.native_id, status.state)

# Asking for more than a queue allows is refused at submit, never clamped.
too_long = Job(quick.job_spec(executable='/bin/true',
                              attributes=JobAttributes(queue_name='short',
                                                       duration=timedelta(minutes=7))))
try:
    executor.submit(too_long)
except InvalidJobException as error:
    print('refused:', error)
    assert 'JobAttributes.duration' in str(error) and "'short'" in str(error)
    assert 'from the scheduler' in str(error), error
else:
    raise AssertionError('a 7-minute job was sent to a 5-minute queue')

# The site's own limit on debug (one hour), over the partition's (none).
debug = Job(quick.job_spec(executable='/bin/true',
                           attributes=JobAttributes(queue_name='debug',
                                                    duration=timedelta(hours=2))))
try:
    executor.submit(debug)
except InvalidJobException as error:
    assert 'from the config' in str(error), error
    print('refused:', error)
else:
    raise AssertionError('a 2-hour job was sent to debug')

# The GPU profile (this machine has no GPUs: the script is shown, not submitted).
gpu = configuration.profile('gpu')
spec = gpu.job_spec(executable='nvidia-smi')
assert spec.resources is not None and spec.resources.gpu_cores_per_process == 1
script = gpu.executor().generate_script(Job(spec))
assert '#SBATCH --gpus-per-task=1' in script and '#SBATCH --constraint=gpu' in script, script
print('gpu profile:', gpu.summary())
