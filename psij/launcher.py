"""The launcher interface: how the processes of a job are started on its lead node."""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, List, Optional, Set

from psij.job_executor_config import JobExecutorConfig
from psij.plugins import PluginRegistry, version_matches

if TYPE_CHECKING:
    from psij.job import Job

launchers: 'PluginRegistry[Launcher]' = PluginRegistry('psij.launchers', 'launcher')

LAUNCHER_ERROR_PREFIX = 'PSIJ-LAUNCHER-ERROR: '


class Launcher(ABC):
    """Turns a job into the command that starts its processes on the lead node.

    The executor runs that command in the job's directory, with the job's environment,
    standard streams and ``PSIJ_NODEFILE`` already set. The command sources ``pre_launch``
    once, starts ``process_count`` copies of the executable (for a launcher that starts
    copies), sources ``post_launch`` once, and exits with the job's exit code. When the
    launcher itself fails (not the job), it writes a line starting with
    ``PSIJ-LAUNCHER-ERROR: `` to ``log_file``.
    """

    name: ClassVar[str] = ''
    version: ClassVar[str] = '0.0.0'
    DEFAULT_LAUNCHER_NAME: ClassVar[str] = 'single'

    def __init__(self, config: Optional[JobExecutorConfig] = None) -> None:
        self.config = config if config is not None else JobExecutorConfig()

    @abstractmethod
    def get_launch_command(self, job: 'Job', log_file: Optional[str] = None) -> List[str]:
        """The argv that launches ``job``; ``log_file`` receives the launcher's own messages."""

    def is_launcher_failure(self, output: str) -> bool:
        """True if ``output`` (the launcher log) says the launcher, not the job, failed."""
        return any(line.startswith(LAUNCHER_ERROR_PREFIX) for line in output.splitlines())

    def get_launcher_failure_message(self, output: str) -> str:
        """The launcher's failure messages found in ``output``, joined."""
        return '; '.join(line[len(LAUNCHER_ERROR_PREFIX):] for line in output.splitlines()
                         if line.startswith(LAUNCHER_ERROR_PREFIX))

    @staticmethod
    def get_instance(name: str, version_constraint: Optional[str] = None,
                     config: Optional[JobExecutorConfig] = None) -> 'Launcher':
        """A launcher of the kind called ``name``; errors as in `JobExecutor.get_instance`."""
        cls = launchers.load(name)
        if not version_matches(cls.version, version_constraint):
            raise ValueError(f'launcher {name!r} is version {cls.version}, which does not '
                             f'satisfy {version_constraint!r}')
        return cls(config=config)

    @staticmethod
    def get_launcher_names() -> Set[str]:
        """The names of every installed launcher, aliases included."""
        return launchers.names()

    @staticmethod
    def register_launcher(name: str, cls: 'type[Launcher]') -> None:
        """Make ``cls`` available under ``name`` without an entry point."""
        launchers.register(name, cls)
