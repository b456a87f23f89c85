"""The common base of the launchers that start a job through one of the bash scripts here.

Every script is called as ``bash SCRIPT [--option VALUE]... -- EXECUTABLE [ARGUMENT]...``:
each value is its own argv word, so nothing is ever interpolated into shell code and every
path, argument and environment value reaches the job verbatim. The shared shell code is in
``launcher_lib.sh``.
"""

import pathlib
from typing import ClassVar, List, Optional

from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_spec import JobSpec
from psij.launcher import Launcher
from psij.resource_spec import ResourceSpecV1

SCRIPT_DIRECTORY = pathlib.Path(__file__).parent


def script_path(name: str) -> pathlib.Path:
    """The installed path of the launcher script called ``name``."""
    return SCRIPT_DIRECTORY / name


def spec_of(job: Job) -> JobSpec:
    """The job's specification; a job without one cannot be launched."""
    if job.spec is None:
        raise InvalidJobException('Job.spec is None; give the job a JobSpec to launch it')
    return job.spec


def command_of(spec: JobSpec) -> List[str]:
    """The job's command line: the executable followed by the arguments."""
    if not spec.executable:
        raise InvalidJobException('JobSpec.executable is not set; give a program name or path')
    return [spec.executable, *spec.arguments]


def resources_of(spec: JobSpec) -> ResourceSpecV1:
    """The job's resources; launchers only understand `ResourceSpecV1`."""
    resources = spec.resources
    if not isinstance(resources, ResourceSpecV1):
        raise InvalidJobException(
            f'JobSpec.resources is a {type(resources).__name__}; launchers need a '
            'ResourceSpecV1')
    return resources


def output_options(spec: JobSpec) -> List[str]:
    """``--stdout``/``--stderr`` for scripts whose ranks append to the job's output files."""
    options: List[str] = []
    if spec.stdout_path is not None:
        options += ['--stdout', str(spec.stdout_path)]
    if spec.stderr_path is not None:
        options += ['--stderr', str(spec.stderr_path)]
    return options


class ScriptLauncher(Launcher):
    """A launcher whose command is ``bash <script_name> <options> -- <executable> <args>``.

    Subclasses set `script_name` and add their own options in `script_options`. The options
    every script understands are passed here: the launcher log, the pre/post_launch scripts
    and the number of processes.
    """

    script_name: ClassVar[str] = ''

    def get_launch_command(self, job: Job, log_file: Optional[str] = None) -> List[str]:
        """``bash`` running this launcher's script for ``job``; see the class docstring."""
        spec = spec_of(job)
        command = command_of(spec)
        options: List[str] = []
        if log_file is not None:
            options += ['--log-file', log_file]
        if spec.pre_launch is not None:
            options += ['--pre-launch', str(spec.pre_launch)]
        if spec.post_launch is not None:
            options += ['--post-launch', str(spec.post_launch)]
        options += ['--process-count', str(self.process_count(spec))]
        options += self.script_options(spec)
        return ['bash', str(script_path(self.script_name)), *options, '--', *command]

    def process_count(self, spec: JobSpec) -> int:
        """How many processes the script starts: ``computed_process_count`` by default."""
        return resources_of(spec).computed_process_count

    def script_options(self, spec: JobSpec) -> List[str]:
        """Options only this launcher's script takes; none by default."""
        return []
