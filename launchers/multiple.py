"""The `multiple` launcher: several copies of a program on the lead node, without MPI."""

from ._script import ScriptLauncher


class MultipleLauncher(ScriptLauncher):
    """Starts ``resources.computed_process_count`` copies of the executable in parallel.

    All copies run on the lead node (the node file is not used). Each copy has these
    environment variables:

    - ``PSIJ_RANK``: the copy's number, from 0 to N-1;
    - ``PSIJ_PROCESS_COUNT``: N.

    The copies share the job's stdout and stderr; only rank 0 reads the job's stdin, the
    others read an empty input (as with ``mpirun``). pre_launch is sourced once before the
    copies start, post_launch once after they have all ended (it finds the job's exit code
    in the shell variable ``PSIJ_JOB_EXIT_CODE``). The exit code is the first non-zero exit
    code in rank order, or 0.
    """

    name = 'multiple'
    version = '0.1.0'
    script_name = 'multiple.sh'
