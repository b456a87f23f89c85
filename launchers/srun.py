"""The `srun` launcher: the job's processes as the tasks of a Slurm job step."""

from typing import List

from psij.resource_spec import ResourceSpecV1

from ._parallel_command import ParallelCommandLauncher


class SrunLauncher(ParallelCommandLauncher):
    """Starts the job's processes with ``srun``, inside a Slurm allocation.

    The command is ``srun -n N [--ntasks-per-node=M] [--cpus-per-task=C]`` where N is
    ``computed_process_count``, M is ``processes_per_node`` and C is
    ``cpu_cores_per_process`` (each only when set). Ranks come from ``SLURM_PROCID``. See
    `ParallelCommandLauncher` for output, exit codes and failures.
    """

    name = 'srun'
    version = '0.1.0'
    rank_variables = ('SLURM_PROCID',)

    def launch_command(self, resources: ResourceSpecV1) -> List[str]:
        """``srun`` with the task count, tasks per node and cores per task."""
        command = ['srun', '-n', str(resources.computed_process_count)]
        if resources.processes_per_node is not None:
            command.append(f'--ntasks-per-node={resources.processes_per_node}')
        if resources.cpu_cores_per_process is not None:
            command.append(f'--cpus-per-task={resources.cpu_cores_per_process}')
        return command
