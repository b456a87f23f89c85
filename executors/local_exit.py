"""How a local job ended, from its exit code and its launcher's log."""

import os
from typing import List, Optional

from psij.batch.pieces import signal_name
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.launcher import Launcher


def _exit_message(exit_code: int) -> str:
    if exit_code < 0:
        return f'killed by {signal_name(-exit_code)}'
    return f'exit code {exit_code}'


def launcher_log(argv: List[str], log_file: str) -> Optional[str]:
    """``log_file`` if the launch command ``argv`` names it (then the launcher may have
    written its failure there), else None: a process knows the log only through its argv, so
    a job started by a single ``exec`` of its executable has none to read after its end."""
    return log_file if any(log_file in word for word in argv) else None


def exit_status(exit_code: int, launcher: Launcher, log_file: Optional[str]) -> JobStatus:
    """How a local job ended, as its process says: a clean exit 0 is COMPLETED, anything
    else FAILED (the job makes a FAILED end after a cancel CANCELED: `Job._ends_by_cancel`).
    A failure the launcher wrote to ``log_file`` (see `launcher_log`) is a FAILED end."""
    launcher_failure = None if log_file is None else _read_launcher_failure(launcher, log_file)
    if exit_code == 0 and launcher_failure is None:
        return JobStatus(JobState.COMPLETED, exit_code=0)
    if launcher_failure is not None:
        cause = f'launcher {launcher.name!r} failed: {launcher_failure}'
    else:
        cause = _exit_message(exit_code)
    return JobStatus(JobState.FAILED, exit_code=exit_code, message=cause)


def _read_launcher_failure(launcher: Launcher, log_file: str) -> Optional[str]:
    """The launcher's own failure message from its log, or None (the log is then removed)."""
    if not os.path.exists(log_file):  # the usual case; cheaper than catching the error
        return None
    with open(log_file, errors='replace') as stream:
        text = stream.read()
    if launcher.is_launcher_failure(text):
        return launcher.get_launcher_failure_message(text) + f' (log: {log_file})'
    os.unlink(log_file)
    return None
