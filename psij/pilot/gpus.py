"""The GPUs of one pilot worker: which devices it has, which task holds which.

A worker's GPUs come from `PilotExecutorConfig.gpus_per_node`, checked as the local
executor's ``gpus`` setting is (`psij.executors.local_budget.check_gpus`): a number N
(devices ``0`` .. ``N-1``), a list of device names or ids, or ``"all"`` (what ``nvidia-smi``
or ``rocm-smi`` list on the worker's node). Each task that asks for GPUs gets its own devices,
named in the same variables as on the local executor
(`psij.executors.local_budget_queue.GPU_VARIABLES`); a task that asks for none gets them set
empty, so that it cannot take another task's devices. A worker without GPUs sets nothing.
"""

from typing import Dict, List, Optional, Sequence

from psij.executors.local_budget import GpusSetting, check_gpus, find_gpus
from psij.executors.local_budget_queue import GPU_VARIABLES

FIELD = 'PilotExecutorConfig.gpus_per_node'


def check_setting(value: object) -> GpusSetting:
    """``value`` as a ``gpus_per_node`` setting; ValueError naming the field otherwise."""
    return check_gpus(FIELD, value)


def worker_options(setting: GpusSetting) -> List[str]:
    """The worker's command line options for ``setting`` (none for None)."""
    if setting is None:
        return []
    if isinstance(setting, (list, tuple)):
        return ['--gpu-devices', ','.join(str(device) for device in setting)]
    return ['--gpus', str(setting)]


def devices_of(count: Optional[str], names: Optional[str]) -> List[str]:
    """The worker's devices from its ``--gpus`` (a number or ``all``) and ``--gpu-devices``
    (names, comma separated) options."""
    if names:
        return names.split(',')
    if count is None:
        return []
    if count == 'all':
        return find_gpus()
    if not count.isdigit():
        raise ValueError(f'--gpus must be a whole number or "all", not {count!r}')
    return [str(index) for index in range(int(count))]


class Devices:
    """The devices of a worker and which are free; a task takes the lowest free ones."""

    def __init__(self, devices: Sequence[str]) -> None:
        self.all = list(devices)
        self.free = list(devices)

    def take(self, count: int) -> List[str]:
        """``count`` free devices (the caller's placement made sure there are enough)."""
        if count > len(self.free):
            raise RuntimeError(f'{count} GPU(s) asked for, {len(self.free)} free')
        taken, self.free = self.free[:count], self.free[count:]
        return taken

    def give_back(self, devices: Sequence[str]) -> None:
        """Make ``devices`` free again (in the worker's order)."""
        back = set(devices) | set(self.free)
        self.free = [device for device in self.all if device in back]

    def environment(self, devices: Sequence[str]) -> Dict[str, str]:
        """The variables that bind a task to ``devices`` (none if the worker has no GPUs)."""
        if not self.all:
            return {}
        value = ','.join(devices)
        return {name.decode(): value for name in GPU_VARIABLES}
