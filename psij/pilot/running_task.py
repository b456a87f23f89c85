"""A task a worker started, and its outcome as the worker records it.

A one-process task is started by the worker itself (`psij.pilot.task_process`), any other by
psij's local executor; either way its outcome is what the local executor would report (exit
0 COMPLETED, else FAILED, CANCELED after a stop).
"""

import pathlib
import time
from typing import Any, Dict, List, Optional

from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.pilot.task_process import TaskProcess, exit_message
from psij.pilot.task_queue import QueueEntry


class RunningTask:
    """A task this worker started: by itself (``process``) or through the local executor
    (``job``)."""

    def __init__(self, entry: QueueEntry, path: pathlib.Path, attempt: int,
                 streamed: Dict[str, pathlib.Path]) -> None:
        self.entry = entry
        self.streamed = streamed
        self.path = path
        self.attempt = attempt
        self.started = time.time()
        self.process: Optional[TaskProcess] = None
        self.job: Optional[Job] = None
        self.gpus: List[str] = []

    def stop(self) -> None:
        """Have the task stop (SIGTERM, then SIGKILL; or the local executor's cancel)."""
        if self.process is not None:
            self.process.terminate()
        elif self.job is not None and not self.job.status.state.final:
            self.job.cancel()


def direct_outcome(process: TaskProcess, code: int) -> Dict[str, Any]:
    """The outcome of a directly started task, as the local executor would report it: exit
    0 COMPLETED, else FAILED (CANCELED after a stop)."""
    if code == 0:
        state = JobState.COMPLETED
    else:
        state = JobState.CANCELED if process.canceled else JobState.FAILED
    return {'state': state.value, 'exit_code': code, 'message': exit_message(code)}


def job_outcome(status: JobStatus) -> Dict[str, Any]:
    """The outcome of a task run by the local executor: its final status."""
    return {'state': status.state.value, 'exit_code': status.exit_code,
            'message': status.message}
