"""The local executor's resource budget: the settings, what a job needs, which GPUs exist.

`LocalJobExecutorConfig` takes ``cores``, ``gpus`` and ``memory``; any one of them set turns
the budget on (all None: every job starts at once, as without a budget). Each is checked here,
with an error naming the field and what it accepts:

- ``cores``: a whole number, 1 or more, or ``"all"`` (what psutil counts, logical cores).
  None: not limited.
- ``gpus``: a whole number N (devices ``0`` .. ``N-1``), a list of device names or ids (each
  job gets its own, by name, in ``CUDA_VISIBLE_DEVICES``, ``ROCR_VISIBLE_DEVICES`` and
  ``HIP_VISIBLE_DEVICES``), or ``"all"``/None: the GPUs that ``nvidia-smi -L`` or
  ``rocm-smi`` list, none if neither is there.
- ``memory``: bytes, a size such as ``"512M"`` or ``"4G"`` (K, M, G, T: powers of 1024), or
  ``"all"`` (psutil's total memory). None: not limited.

A job needs ``process_count x cpu_cores_per_process`` cores (1 core per process by default),
``process_count x gpu_cores_per_process`` GPUs and ``memory`` bytes of its `ResourceSpecV1`
(none given: 1 core, nothing else). ``exclusive_node_use`` and ``node_count`` are not looked at:
the machine is one node.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import psutil

from psij.job_spec import JobSpec
from psij.resource_packing import Resources

__all__ = ['Budget', 'CoresSetting', 'GpusSetting', 'MemorySetting', 'UNLIMITED',
           'check_cores', 'check_gpus', 'check_memory', 'describe_figures', 'find_gpus',
           'job_needs',
           'make_budget']

#: What a field that is not limited counts as (no machine has this much).
UNLIMITED = 2 ** 62

CoresSetting = Union[int, str, None]
GpusSetting = Union[int, str, Sequence[Union[int, str]], None]
MemorySetting = Union[int, str, None]

_SIZE = re.compile(r'([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(?:I?B)?|B)?', re.IGNORECASE)
_UNITS = {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4}
_DEVICE_NAME = re.compile(r'[A-Za-z0-9_.:-]+')


def check_cores(field: str, value: object) -> CoresSetting:
    """``value`` as a ``cores`` setting (see the module docstring); ValueError naming
    ``field`` otherwise."""
    if value is None or value == 'all':
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{field} must be a whole number of cores, 1 or more, "all" or '
                         f'None; not {value!r}')
    return value


def check_gpus(field: str, value: object) -> GpusSetting:
    """``value`` as a ``gpus`` setting: a whole number (0 or more), a list of device names
    or ids, ``"all"`` or None; ValueError naming ``field`` otherwise."""
    allowed = ('a whole number of GPUs (0 or more), a list of device names or ids, "all" '
               'or None')
    if value is None or value == 'all':
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f'{field} must be {allowed}; not {value!r}')
        return value
    if isinstance(value, (list, tuple)):
        names = [str(item) for item in value]
        for item, name in zip(value, names):
            if isinstance(item, bool) or not isinstance(item, (int, str)) or \
                    not _DEVICE_NAME.fullmatch(name):
                raise ValueError(f'{field}: {item!r} is not a device name or id (letters, '
                                 'digits and _ . : -)')
        if len(set(names)) != len(names):
            raise ValueError(f'{field} names a device twice: {names}')
        return list(value)
    raise ValueError(f'{field} must be {allowed}; not {value!r}')


def check_memory(field: str, value: object) -> MemorySetting:
    """``value`` as a ``memory`` setting (bytes, a size like ``"4G"``, ``"all"`` or None);
    ValueError naming ``field`` otherwise."""
    if value is None or value == 'all':
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and _SIZE.fullmatch(value.strip()) and parse_size(value) >= 1:
        return value
    raise ValueError(f'{field} must be a number of bytes (1 or more), a size with a K, M, G '
                     f'or T suffix (powers of 1024, e.g. "512M" or "4G"), "all" or None; '
                     f'not {value!r}')


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"4G"`` (checked by `check_memory` first)."""
    match = _SIZE.fullmatch(text.strip())
    assert match is not None
    return int(float(match.group(1)) * _UNITS[(match.group(2) or '').upper()])


@dataclass(frozen=True)
class Budget:
    """What the jobs of one executor may use at once: ``limits`` (`UNLIMITED` where a field
    is not limited; ``limits.gpus`` is ``len(devices)``) and the GPU device names."""

    limits: Resources
    devices: Tuple[str, ...]

    def describe(self) -> str:
        """E.g. ``'cores=2, gpus=0, memory=unlimited'``."""
        def one(name: str, value: int) -> str:
            return f'{name}={"unlimited" if value >= UNLIMITED else value}'
        return ', '.join((one('cores', self.limits.cores), one('gpus', self.limits.gpus),
                          one('memory', self.limits.memory)))


def describe_figures(cores: int, devices: Tuple[str, ...], memory: int) -> str:
    """A budget's figures as `Budget.describe` writes them."""
    return Budget(Resources(cores, len(devices), memory), tuple(devices)).describe()


def make_budget(cores: CoresSetting, gpus: GpusSetting, memory: MemorySetting
                ) -> Optional[Budget]:
    """The budget of checked settings, or None if none is set (no budget: all jobs start at
    once)."""
    if cores is None and gpus is None and memory is None:
        return None
    if cores == 'all':
        core_limit = psutil.cpu_count() or 1
    else:
        core_limit = UNLIMITED if cores is None else int(cores)
    if gpus is None or gpus == 'all':
        devices = tuple(find_gpus())
    elif isinstance(gpus, int):
        devices = tuple(str(index) for index in range(gpus))
    else:
        devices = tuple(str(item) for item in gpus)
    if memory == 'all':
        memory_limit = int(psutil.virtual_memory().total)
    elif isinstance(memory, str):
        memory_limit = parse_size(memory)
    else:
        memory_limit = UNLIMITED if memory is None else memory
    return Budget(Resources(core_limit, len(devices), memory_limit), devices)


def job_needs(spec: JobSpec) -> Resources:
    """What a job of ``spec`` takes out of the budget while it runs."""
    resources = spec.resources
    if resources is None:
        return Resources(cores=1)
    processes = int(getattr(resources, 'computed_process_count', 1))
    cores = getattr(resources, 'cpu_cores_per_process', None) or 1
    gpus = getattr(resources, 'gpu_cores_per_process', None) or 0
    memory = getattr(resources, 'memory', None) or 0
    return Resources(processes * cores, processes * gpus, memory)


def find_gpus() -> List[str]:
    """The ids of the GPUs ``nvidia-smi -L`` (else ``rocm-smi``) lists; none if neither tool
    is installed or it fails."""
    for tool, argv, pattern in (
            ('nvidia-smi', ['nvidia-smi', '-L'], re.compile(r'^GPU (\d+):', re.M)),
            ('rocm-smi', ['rocm-smi', '--showid'], re.compile(r'^GPU\[(\d+)\]', re.M))):
        if shutil.which(tool) is None:
            continue
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0:
            return list(dict.fromkeys(pattern.findall(result.stdout)))
    return []
