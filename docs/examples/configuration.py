"""Configuring executors: the work directory, and the polling of batch schedulers."""

import pathlib

from psij import Job, JobExecutor, JobExecutorConfig, JobSpec, JobState
from psij.batch import BatchSchedulerExecutorConfig

# Every executor keeps its files in <work_directory>/<executor name>.
work = pathlib.Path.cwd() / 'psij-work'
local = JobExecutor.get_instance('local', config=JobExecutorConfig(work_directory=work))
job = Job(JobSpec('/bin/true'))
local.submit(job)
assert job.wait() is not None and job.status.state == JobState.COMPLETED
print(sorted(path.name for path in (work / 'local').iterdir()))
assert any(path.name.startswith('journal.') for path in (work / 'local').iterdir())

# Batch executors take a BatchSchedulerExecutorConfig (all times in seconds).
config = BatchSchedulerExecutorConfig(
    work_directory=work,                 # must be visible from the compute nodes
    queue_polling_interval=60,           # at most this long between two squeue calls
    initial_queue_polling_delay=2,       # the first squeue after a submit comes this soon
    outcome_timeout=300,                 # how long accounting may take to know a lost job
    keep_files=True,                     # keep the scripts and logs of completed jobs
)
slurm = JobExecutor.get_instance('slurm', config=config)
print(slurm.config)
assert slurm.config is config

# A plain JobExecutorConfig works too: the batch settings then take their defaults.
slurm = JobExecutor.get_instance('slurm', config=JobExecutorConfig(work_directory=work))
assert isinstance(slurm.config, BatchSchedulerExecutorConfig)
assert slurm.config.queue_polling_interval == 30.0

# Bad values are refused when the configuration is made, naming the field.
try:
    BatchSchedulerExecutorConfig(queue_polling_interval=0)
except ValueError as error:
    print(error)
    assert 'queue_polling_interval' in str(error)
else:
    raise AssertionError('a zero polling interval was accepted')
