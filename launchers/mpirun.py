"""The `mpirun` launcher: the job's processes as the ranks of Open MPI's or MPICH's mpirun."""

import re
from typing import List

from psij.job_spec import JobSpec

from ._script import ScriptLauncher, output_options, resources_of

_VARIABLE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


class MpirunLauncher(ScriptLauncher):
    """Starts ``resources.computed_process_count`` ranks with ``mpirun``.

    The ``mpirun`` used is the ``PSIJ_MPIRUN`` environment variable (a command name or path;
    ``mpirun`` by default), looked up after pre_launch, which may load an MPI module.
    ``mpirun --version`` decides the options, at run time:

    - Open MPI (``--version`` says "Open MPI" or "OpenRTE"): ``--allow-run-as-root
      --oversubscribe -n N``, ``--map-by ppr:M:node`` when ``processes_per_node`` is set,
      and ``-x NAME`` for every variable of the job's environment and every variable
      pre_launch exports or changes (Open MPI does not pass the environment on to other
      hosts by itself); a job with ``inherit_environment=False`` gets bash's default
      ``PATH`` exported, since Open MPI's mpirun does not start without its rsh agent on
      ``PATH`` (the ranks see that ``PATH`` too);
    - anything else is taken to be Hydra (MPICH, Intel MPI...): ``-n N`` and ``-ppn M``.

    ``PSIJ_NODEFILE`` is given as the host file (``--hostfile`` / ``-f``) only when it names
    more than one host.

    mpirun's own messages go to the launcher log, not into the job's output: each rank runs
    through a small wrapper that appends the rank's stdout and stderr to the job's files
    (when ``stdout_path``/``stderr_path`` are unset, the rank's stream is mpirun's, i.e. the
    launcher log), exports ``PSIJ_RANK`` and ``PSIJ_PROCESS_COUNT``, and records the rank's
    exit code. The job's exit code is the first non-zero one in rank order, or 0. If mpirun
    fails and no rank has recorded an exit code, mpirun could not start the job: that is
    reported as a launcher failure quoting mpirun's output (and post_launch is not run).
    """

    name = 'mpirun'
    version = '0.1.0'
    script_name = 'mpirun.sh'

    def script_options(self, spec: JobSpec) -> List[str]:
        """Output paths, processes per node and the job's environment variable names."""
        options = output_options(spec)
        processes_per_node = resources_of(spec).processes_per_node
        if processes_per_node is not None:
            options += ['--processes-per-node', str(processes_per_node)]
        for variable in spec.environment or {}:
            # Only a valid shell name can be forwarded with -x.
            if _VARIABLE_NAME.match(variable):
                options += ['--forward-variable', variable]
        return options
