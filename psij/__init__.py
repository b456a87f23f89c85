"""psij: one API to run jobs locally or on HPC batch schedulers (the PSI/J specification).

Importing this package loads no plugin, starts no thread and installs no signal handler.
"""

from psij.dependencies import DependencyCondition
from psij.exceptions import InvalidJobException, SubmitException, UnreachableStateException
from psij.job import Job, JobStatusCallback
from psij.job_array import JobArray
from psij.job_attributes import JobAttributes
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.launcher import Launcher
from psij.resource_spec import ResourceSpec, ResourceSpecV1

__version__ = '0.1.0'

__all__ = [
    'DependencyCondition',
    'InvalidJobException',
    'Job',
    'JobArray',
    'JobAttributes',
    'JobExecutor',
    'JobExecutorConfig',
    'JobSpec',
    'JobState',
    'JobStatus',
    'JobStatusCallback',
    'Launcher',
    'ResourceSpec',
    'ResourceSpecV1',
    'SubmitException',
    'UnreachableStateException',
]
