"""``--local-cores``, ``--local-gpus``, ``--local-memory``: the local executor's budget on the
command line of ``psij run`` and ``psij submit`` (`psij.executors.local_budget`).

They become the ``cores``, ``gpus`` and ``memory`` settings of `LocalJobExecutorConfig`, over
a profile's (the command line wins), and are refused for an executor that has no budget.
"""

import argparse
from typing import Any, Dict, List, TypeVar, Union

from psij.cli import option_values

P = TypeVar('P', bound=argparse.ArgumentParser)

#: Option destination -> config field.
FIELDS = {'local_cores': 'cores', 'local_gpus': 'gpus', 'local_memory': 'memory'}


def _cores(text: str) -> Union[int, str]:
    if text == 'all':
        return text
    try:
        return option_values.positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a number of cores: use a whole number, 1 or more, or "all"'
        ) from None


def _gpus(text: str) -> Union[int, str, List[str]]:
    if text == 'all':
        return text
    if text.isdigit():
        return int(text)
    names = [name.strip() for name in text.split(',')]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a GPU list: use a number of GPUs, "all", or device names or '
            'ids separated by commas (e.g. 0,2 or GPU-1a2b,GPU-3c4d)')
    return names


def _memory(text: str) -> Union[int, str]:
    return text if text == 'all' else option_values.memory_size(text)


def budget_options(parser: P) -> P:
    """Add the options to ``parser`` (a parent parser of ``run`` and ``submit``)."""
    group = parser.add_argument_group('local executor budget (-e local; shared by every '
                                      'psij process of the work directory)')
    group.add_argument('--local-cores', type=_cores, metavar='N|all',
                       help='cores the local jobs may use at once; a job waits, QUEUED, '
                            'until its cores are free')
    group.add_argument('--local-gpus', type=_gpus, metavar='N|all|ID,ID...',
                       help='GPUs the local jobs share: a number, "all" (those nvidia-smi or '
                            'rocm-smi list) or device ids; each job gets its own in '
                            'CUDA_VISIBLE_DEVICES')
    group.add_argument('--local-memory', type=_memory, metavar='SIZE|all',
                       help='memory the local jobs may ask for at once (e.g. 16G)')
    return parser


def budget_overrides(options: argparse.Namespace) -> Dict[str, Any]:
    """The config fields the options give (none given: empty)."""
    return {field: getattr(options, dest) for dest, field in FIELDS.items()
            if getattr(options, dest, None) is not None}


def option_of(field: str) -> str:
    """The option that sets config field ``field``."""
    dest = next(dest for dest, name in FIELDS.items() if name == field)
    return '--' + dest.replace('_', '-')
