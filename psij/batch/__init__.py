"""The shared machinery of batch-scheduler executors (Slurm, Grid Engine, PBS, LSF).

An executor for a scheduler is two things:

* a `BatchScheduler`: pure functions that render the job script and build the scheduler's
  commands and parse their output; nothing in it runs a command or touches a file;
* a `BatchSchedulerExecutor` subclass that names that scheduler. The base class writes the
  script, runs the commands through a `psij.transport.Transport` and hands the job to the
  process's one `SchedulerTracker`, which watches every job of that scheduler with one status
  command per interval.
"""

from psij.batch.executor import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.batch.scheduler import (
    AccountingUnavailable,
    BatchScheduler,
    SchedulerStatus,
    StatusCommandError,
)

__all__ = ['AccountingUnavailable', 'BatchScheduler', 'BatchSchedulerExecutor',
           'BatchSchedulerExecutorConfig', 'SchedulerStatus', 'StatusCommandError']
