"""sbatch's input environment variables that would override a job script's ``#SBATCH`` lines.

sbatch reads options from three places, and the later wins: the script's ``#SBATCH`` lines,
its input environment variables (``SBATCH_PARTITION``, ``SBATCH_TIMELIMIT``...), its command
line. A user whose shell sets ``SBATCH_TIMELIMIT`` would otherwise get that limit instead of the
job's ``duration``, and ``SBATCH_MEM_PER_CPU`` would make sbatch refuse a job with ``--mem``.
The Slurm executor therefore submits through ``env -u VARIABLE ... sbatch``, unsetting exactly
the variables of the options its script sets; the others (a site's ``SBATCH_QOS``, say) still
apply. The list comes from the "INPUT ENVIRONMENT VARIABLES" section of sbatch(1), Slurm 22.05.
"""

import re
from typing import Dict, List, Tuple

#: For each long option, the variables that set it, or that sbatch refuses beside it
#: (``--mem``, ``--mem-per-cpu`` and ``--mem-per-gpu`` exclude one another).
OVERRIDING_VARIABLES: Dict[str, Tuple[str, ...]] = {
    'account': ('SBATCH_ACCOUNT',),
    'acctg-freq': ('SBATCH_ACCTG_FREQ',),
    'array': ('SBATCH_ARRAY_INX',),
    'batch': ('SBATCH_BATCH',),
    'clusters': ('SBATCH_CLUSTERS', 'SLURM_CLUSTERS'),
    'constraint': ('SBATCH_CONSTRAINT',),
    'container': ('SBATCH_CONTAINER',),
    'core-spec': ('SBATCH_CORE_SPEC',),
    'cpus-per-gpu': ('SBATCH_CPUS_PER_GPU',),
    'delay-boot': ('SBATCH_DELAY_BOOT',),
    'distribution': ('SBATCH_DISTRIBUTION',),
    'error': ('SBATCH_ERROR',),
    'exclusive': ('SBATCH_EXCLUSIVE',),
    'export': ('SBATCH_EXPORT',),
    'get-user-env': ('SBATCH_GET_USER_ENV',),
    'gpu-bind': ('SBATCH_GPU_BIND',),
    'gpu-freq': ('SBATCH_GPU_FREQ',),
    'gpus': ('SBATCH_GPUS',),
    'gpus-per-node': ('SBATCH_GPUS_PER_NODE',),
    'gpus-per-task': ('SBATCH_GPUS_PER_TASK',),
    'gres': ('SBATCH_GRES',),
    'gres-flags': ('SBATCH_GRES_FLAGS',),
    'hint': ('SBATCH_HINT', 'SLURM_HINT'),
    'ignore-pbs': ('SBATCH_IGNORE_PBS',),
    'input': ('SBATCH_INPUT',),
    'job-name': ('SBATCH_JOB_NAME',),
    'mem': ('SBATCH_MEM_PER_NODE', 'SBATCH_MEM_PER_CPU', 'SBATCH_MEM_PER_GPU'),
    'mem-bind': ('SBATCH_MEM_BIND',),
    'mem-per-cpu': ('SBATCH_MEM_PER_CPU', 'SBATCH_MEM_PER_NODE', 'SBATCH_MEM_PER_GPU'),
    'mem-per-gpu': ('SBATCH_MEM_PER_GPU', 'SBATCH_MEM_PER_NODE', 'SBATCH_MEM_PER_CPU'),
    'network': ('SBATCH_NETWORK',),
    'no-kill': ('SBATCH_NO_KILL',),
    'no-requeue': ('SBATCH_NO_REQUEUE', 'SBATCH_REQUEUE'),
    'open-mode': ('SBATCH_OPEN_MODE',),
    'output': ('SBATCH_OUTPUT',),
    'overcommit': ('SBATCH_OVERCOMMIT',),
    'partition': ('SBATCH_PARTITION',),
    'power': ('SBATCH_POWER',),
    'profile': ('SBATCH_PROFILE',),
    'qos': ('SBATCH_QOS',),
    'requeue': ('SBATCH_REQUEUE', 'SBATCH_NO_REQUEUE'),
    'reservation': ('SBATCH_RESERVATION',),
    'signal': ('SBATCH_SIGNAL',),
    'spread-job': ('SBATCH_SPREAD_JOB',),
    'switches': ('SBATCH_REQ_SWITCH', 'SBATCH_WAIT4SWITCH'),
    'thread-spec': ('SBATCH_THREAD_SPEC',),
    'threads-per-core': ('SBATCH_THREADS_PER_CORE',),
    'time': ('SBATCH_TIMELIMIT',),
    'use-min-nodes': ('SBATCH_USE_MIN_NODES',),
    'wait': ('SBATCH_WAIT',),
    'wait-all-nodes': ('SBATCH_WAIT_ALL_NODES',),
    'wckey': ('SBATCH_WCKEY',),
}

#: sbatch's one-letter options that have an input variable, by their long name.
SHORT_OPTIONS: Dict[str, str] = {
    'A': 'account', 'a': 'array', 'C': 'constraint', 'e': 'error', 'G': 'gpus', 'i': 'input',
    'J': 'job-name', 'k': 'no-kill', 'M': 'clusters', 'm': 'distribution', 'O': 'overcommit',
    'o': 'output', 'p': 'partition', 'q': 'qos', 't': 'time', 'W': 'wait',
}

_DIRECTIVE_OPTION = re.compile(r'#SBATCH\s+(?:--([A-Za-z0-9][A-Za-z0-9-]*)|-([A-Za-z]))')


def directive_options(script: str) -> List[str]:
    """The option names of the script's ``#SBATCH`` lines, in order, one-letter options by
    their long name where they have one. Like sbatch, stops at the first line that is neither
    blank nor a comment."""
    options = []
    for line in script.splitlines()[1:]:
        stripped = line.strip()
        if stripped and not stripped.startswith('#'):
            break
        match = _DIRECTIVE_OPTION.match(stripped)
        if match and match.group(1):
            options.append(match.group(1))
        elif match:
            options.append(SHORT_OPTIONS.get(match.group(2), match.group(2)))
    return options


def overriding_variables(script: str) -> List[str]:
    """The input environment variables of sbatch that would override (or clash with) an
    ``#SBATCH`` line of ``script``: the ones to unset when submitting it."""
    variables: List[str] = []
    for option in directive_options(script):
        for variable in OVERRIDING_VARIABLES.get(option, ()):
            if variable not in variables:
                variables.append(variable)
    return variables


def without_overriding_variables(script: str, command: List[str]) -> List[str]:
    """``command`` run through ``env -u VARIABLE ...`` for each of `overriding_variables`."""
    unset: List[str] = []
    for variable in overriding_variables(script):
        unset += ['-u', variable]
    return ['env', *unset, '--', *command] if unset else list(command)
