"""psij-python's ``psij.executors.batch.batch_scheduler_executor``, on psij's one batch base.

`BatchSchedulerExecutor` is `psij.batch.BatchSchedulerExecutor` itself: every psij batch
executor is one, and a subclass written for psij-python (setting no ``scheduler``,
implementing psij-python's nine methods) runs on it through `psij.batch.psij_python`.
`BatchSchedulerExecutorConfig` takes psij-python's parameters, in its order.
"""

import os
import pathlib
from typing import Any, Optional, Union

from psij.batch import BatchSchedulerExecutor
from psij.batch import BatchSchedulerExecutorConfig as _PsijConfig
from psij.batch.psij_python import UNKNOWN_ERROR, InvalidJobStateError, check_status_exit_code

__all__ = ['UNKNOWN_ERROR', 'BatchSchedulerExecutor', 'BatchSchedulerExecutorConfig',
           'InvalidJobStateError', 'check_status_exit_code']


class BatchSchedulerExecutorConfig(_PsijConfig):
    """`psij.batch.BatchSchedulerExecutorConfig` with psij-python's parameters, in its order.

    :param queue_polling_error_threshold: accepted and not used: a failing status command
        never fails jobs here (it is retried with backoff).
    :param keep_files: as in psij-python, also set by the environment variable
        ``PSIJ_BATCH_KEEP_FILES``.

    psij's other settings (``outcome_timeout``...) may be given by name.
    """

    def __init__(self, launcher_log_file: Union[str, pathlib.Path, None] = None,
                 work_directory: Union[str, pathlib.Path, None] = None,
                 queue_polling_interval: float = 30.0,
                 initial_queue_polling_delay: float = 1.0,
                 queue_polling_error_threshold: int = 2,
                 keep_files: bool = False, **settings: Any) -> None:
        super().__init__(launcher_log_file=launcher_log_file, work_directory=work_directory,
                         queue_polling_interval=queue_polling_interval,
                         initial_queue_polling_delay=initial_queue_polling_delay,
                         keep_files=keep_files or 'PSIJ_BATCH_KEEP_FILES' in os.environ,
                         **settings)
        self.queue_polling_error_threshold = queue_polling_error_threshold

    @classmethod
    def _from_config(cls, config: Optional[Any]) -> 'BatchSchedulerExecutorConfig':
        """A config with the work directory and launcher log of ``config`` (psij-python)."""
        return cls(launcher_log_file=getattr(config, 'launcher_log_file', None),
                   work_directory=getattr(config, 'work_directory', None))
