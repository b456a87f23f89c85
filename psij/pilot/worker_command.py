"""The command line of a pilot worker (``python -m psij.pilot.worker``): its arguments and
what the node offers when they do not say."""

import argparse
import os
import pathlib
from typing import List, MutableMapping, Optional, Sequence

from psij.resource_packing import Resources


def node_capacity(cores: Optional[int], gpus: int, memory: Optional[int]) -> Resources:
    """What the node offers: as given, else the cores this process may run on and the
    node's physical memory."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
            else (os.cpu_count() or 1)
    if memory is None:
        memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    return Resources(cores, gpus, memory)


def parse_worker_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The worker's command line arguments (see `psij.pilot.allocations.worker_arguments`)."""
    parser = argparse.ArgumentParser(prog='python -m psij.pilot.worker',
                                     description='Run the tasks of a psij pilot on this node.')
    parser.add_argument('--pilot-directory', required=True, type=pathlib.Path)
    parser.add_argument('--allocation', required=True)
    parser.add_argument('--idle-timeout', type=float, default=300.0)
    parser.add_argument('--poll-interval', type=float, default=0.2)
    parser.add_argument('--stream-outputs', action='store_true')
    parser.add_argument('--cores', type=int)
    parser.add_argument('--gpus', help='a number of GPUs (devices 0 .. N-1) or "all"')
    parser.add_argument('--gpu-devices', help='the GPUs by name, comma separated')
    parser.add_argument('--memory', type=int)
    parser.add_argument('--allocation-duration', type=float,
                        help="the allocation's wall time in seconds: no task is started "
                             'that says it needs longer than what is left of it')
    return parser.parse_args(argv)


#: Prefixes of what Open MPI's mpirun sets for the processes it starts (its runtime's
#: addresses, ranks and session), which a worker it started must not hand to its tasks: an
#: Open MPI mpirun that finds them refuses to run ("mpirun does not support recursive
#: calls"). ``OMPI_MCA_`` settings of the user's own (``OMPI_MCA_btl``...) are kept.
OPEN_MPI_RUNTIME_PREFIXES = ('PMIX_', 'OMPI_COMM_WORLD_', 'OMPI_MCA_orte_', 'OMPI_MCA_ess',
                             'OMPI_MCA_pmix', 'OMPI_MCA_initial_wdir',
                             'OMPI_MCA_shmem_RUNTIME_QUERY_hint')
OPEN_MPI_RUNTIME_NAMES = ('OMPI_APP_CTX_NUM_PROCS', 'OMPI_COMMAND', 'OMPI_FILE_LOCATION',
                          'OMPI_FIRST_RANKS', 'OMPI_NUM_APP_CTX', 'OMPI_UNIVERSE_SIZE',
                          'OMPI_ARGV')


def forget_open_mpi_runtime(environment: MutableMapping[str, str]) -> List[str]:
    """Take out of ``environment`` what Open MPI's mpirun set for this worker's own rank
    (only if Open MPI started it); the names taken out."""
    if 'OMPI_COMM_WORLD_RANK' not in environment:
        return []
    names = [name for name in environment
             if name.startswith(OPEN_MPI_RUNTIME_PREFIXES) or name in OPEN_MPI_RUNTIME_NAMES]
    for name in names:
        del environment[name]
    return names
