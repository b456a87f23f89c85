"""The `aprun` launcher: the job's processes as the PEs of a Cray ALPS application."""

from typing import List

from psij.resource_spec import ResourceSpecV1

from ._parallel_command import ParallelCommandLauncher


class AprunLauncher(ParallelCommandLauncher):
    """Starts the job's processes with ``aprun`` (Cray ALPS).

    The command is ``aprun -n N [-N M] [-d C]``: N processing elements
    (``computed_process_count``), M per node (``processes_per_node``) and C cores ("depth")
    per processing element (``cpu_cores_per_process``), each only when set. Ranks come from
    ``ALPS_APP_PE``. See `ParallelCommandLauncher` for output, exit codes and failures.
    """

    name = 'aprun'
    version = '0.1.0'
    rank_variables = ('ALPS_APP_PE',)

    def launch_command(self, resources: ResourceSpecV1) -> List[str]:
        """``aprun`` with the PE count, PEs per node and depth."""
        command = ['aprun', '-n', str(resources.computed_process_count)]
        if resources.processes_per_node is not None:
            command += ['-N', str(resources.processes_per_node)]
        if resources.cpu_cores_per_process is not None:
            command += ['-d', str(resources.cpu_cores_per_process)]
        return command
