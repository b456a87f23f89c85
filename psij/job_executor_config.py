"""Configuration shared by executors."""

import pathlib
from typing import Union

_DEFAULT_WORK_DIRECTORY = pathlib.Path('~/.psij/work')


class JobExecutorConfig:
    """Settings common to every executor.

    :param launcher_log_file: accepted for compatibility with psij-python and not used: psij's
        executors keep one launcher log per job in the work directory, since that log is part
        of the evidence of the job's final state and a shared file would mix jobs.
    :param work_directory: where executors keep job scripts, markers and records
        (``~/.psij/work`` by default; each executor uses a sub-directory named after it).
    """

    def __init__(self, launcher_log_file: Union[str, pathlib.Path, None] = None,
                 work_directory: Union[str, pathlib.Path, None] = None) -> None:
        self.launcher_log_file = None if launcher_log_file is None else pathlib.Path(
            launcher_log_file)
        self.work_directory = pathlib.Path(
            work_directory if work_directory is not None else _DEFAULT_WORK_DIRECTORY
        ).expanduser()

    def __repr__(self) -> str:
        return f'{type(self).__name__}(work_directory={str(self.work_directory)!r})'
