"""The shared machinery of batch-scheduler executors (Slurm, Grid Engine, PBS, LSF).

An executor for a scheduler is two things:

* a `BatchScheduler`: pure functions that render the job script and build the scheduler's
  commands and parse their output; nothing in it runs a command or touches a file;
* a `BatchSchedulerExecutor` subclass that names that scheduler. The base class writes the
  script, runs the commands through a `psij.transport.Transport` and hands the job to the
  process's tracker for that scheduler, which watches all its jobs with one status command per
  interval.

Everything a plugin author needs is importable from here (see the plugin guide): the
interface and its data types, the helpers for the job script (`ScriptInputs`, `job_name`,
`custom_options`, `shell_quote`, `SCRIPT_OUTPUT`), and the pieces every scheduler module is
built from (`DirectiveQuoting`, `SubmitErrors`, `require_resource_spec`, time and memory
formatting, `signal_name`, `current_user`).
"""

from psij.batch.executor import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.batch.markers import SCRIPT_OUTPUT
from psij.batch.pieces import (
    DirectiveQuoting,
    SubmitErrors,
    clock_seconds,
    clock_time,
    current_user,
    mebibytes,
    require_resource_spec,
    signal_name,
    whole_seconds,
)
from psij.batch.scheduler import (
    AccountingUnavailable,
    BatchScheduler,
    CancelOutcome,
    JobScript,
    SchedulerStatus,
    StatusCommandError,
    SubmitCommand,
)
from psij.batch.script import (
    ArraySlice,
    ElementNames,
    NativeDependency,
    ScriptInputs,
    custom_options,
    job_name,
    shell_quote,
    shell_word,
)
from psij.transport import CommandResult

__all__ = [
    'SCRIPT_OUTPUT',
    'AccountingUnavailable',
    'ArraySlice',
    'BatchScheduler',
    'BatchSchedulerExecutor',
    'BatchSchedulerExecutorConfig',
    'CancelOutcome',
    'CommandResult',
    'DirectiveQuoting',
    'ElementNames',
    'JobScript',
    'NativeDependency',
    'SchedulerStatus',
    'ScriptInputs',
    'StatusCommandError',
    'SubmitCommand',
    'SubmitErrors',
    'clock_seconds',
    'clock_time',
    'current_user',
    'custom_options',
    'job_name',
    'mebibytes',
    'require_resource_spec',
    'shell_quote',
    'shell_word',
    'signal_name',
    'whole_seconds',
]
