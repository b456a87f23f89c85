"""The `single` launcher: one process of the job's executable."""

from typing import List, Optional

from psij.job import Job
from psij.job_spec import JobSpec

from ._script import ScriptLauncher, command_of, spec_of


class SingleLauncher(ScriptLauncher):
    """Runs one process, whatever the job's process count.

    Without pre_launch and post_launch the command is just ``[executable, *arguments]``: no
    shell at all, so a local executor starts the program directly (the common case, and the
    one that matters for throughput). Otherwise ``single.sh`` sources pre_launch, runs the
    program, then sources post_launch, which finds the job's exit code in the (not exported)
    shell variable ``PSIJ_JOB_EXIT_CODE``. The launcher's exit code is the program's.
    """

    name = 'single'
    version = '0.1.0'
    script_name = 'single.sh'

    def get_launch_command(self, job: Job, log_file: Optional[str] = None) -> List[str]:
        """The program's own argv, or ``single.sh`` when pre/post_launch is set."""
        spec = spec_of(job)
        if spec.pre_launch is None and spec.post_launch is None:
            return command_of(spec)
        return super().get_launch_command(job, log_file)

    def process_count(self, spec: JobSpec) -> int:
        """Always 1."""
        return 1
