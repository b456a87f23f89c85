"""The `jsrun` launcher: the job's processes in IBM LSF/JSM resource sets."""

from typing import List

from psij.resource_spec import ResourceSpecV1

from ._parallel_command import ParallelCommandLauncher


class JsrunLauncher(ParallelCommandLauncher):
    """Starts the job's processes with ``jsrun`` (IBM Job Step Manager, e.g. on Summit).

    Each process gets a resource set of its own, so the command is
    ``jsrun -n N -a 1 -c C [-g G] [-r M]``:

    - ``-n N``: N resource sets, one per process (``computed_process_count``);
    - ``-a 1``: one process in each;
    - ``-c C``: C cores in each (``cpu_cores_per_process``, 1 when unset);
    - ``-g G``: G GPUs in each (``gpu_cores_per_process``, only when set);
    - ``-r M``: M resource sets, hence processes, per host (``processes_per_node``, only
      when set).

    Ranks come from ``JSM_NAMESPACE_RANK`` (or the MPI rank variables of Spectrum MPI). See
    `ParallelCommandLauncher` for output, exit codes and failures.
    """

    name = 'jsrun'
    version = '0.1.0'
    rank_variables = ('JSM_NAMESPACE_RANK', 'OMPI_COMM_WORLD_RANK', 'PMIX_RANK')

    def launch_command(self, resources: ResourceSpecV1) -> List[str]:
        """``jsrun`` with one process, its cores and its GPUs per resource set."""
        cores = resources.cpu_cores_per_process or 1
        command = ['jsrun', '-n', str(resources.computed_process_count), '-a', '1',
                   '-c', str(cores)]
        if resources.gpu_cores_per_process is not None:
            command += ['-g', str(resources.gpu_cores_per_process)]
        if resources.processes_per_node is not None:
            command += ['-r', str(resources.processes_per_node)]
        return command
