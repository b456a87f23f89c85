"""The common base of srun, aprun and jsrun: a launch command worked out entirely in Python."""

from abc import abstractmethod
from typing import ClassVar, List, Tuple

from psij.job_spec import JobSpec
from psij.resource_spec import ResourceSpecV1

from ._script import ScriptLauncher, output_options, resources_of


class ParallelCommandLauncher(ScriptLauncher):
    """Runs the job's processes with a parallel launch command such as ``srun -n 4``.

    ``launch_ranks.sh`` sources pre_launch, checks that the command is on PATH, runs it with
    each rank wrapped (the rank's output is appended to the job's files, ``PSIJ_RANK`` and
    ``PSIJ_PROCESS_COUNT`` are exported, its exit code is recorded), sources post_launch and
    exits with the first non-zero exit code in rank order, or 0. The launch command's own
    messages go to the launcher log; if it fails before any rank ran, that is reported as a
    launcher failure (and post_launch is not run).
    """

    script_name = 'launch_ranks.sh'
    rank_variables: ClassVar[Tuple[str, ...]] = ()
    """Environment variables that hold a process's rank, tried in order."""

    @abstractmethod
    def launch_command(self, resources: ResourceSpecV1) -> List[str]:
        """The launch command without the program, e.g. ``['srun', '-n', '4']``."""

    def script_options(self, spec: JobSpec) -> List[str]:
        """The launch command, the rank variables and the output paths."""
        options: List[str] = []
        for word in self.launch_command(resources_of(spec)):
            options += ['--launcher-word', word]
        for variable in self.rank_variables:
            options += ['--rank-variable', variable]
        return options + output_options(spec)
