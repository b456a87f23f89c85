"""The settings of a pilot: who provides allocations, their shape, and when they end."""

import pathlib
import re
from datetime import timedelta
from typing import Optional, Union

from psij.executors.local_budget import GpusSetting
from psij.job_executor_config import JobExecutorConfig
from psij.launcher import Launcher
from psij.pilot.gpus import check_setting

_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')

Seconds = Union[int, float, timedelta]


def _seconds(field: str, value: Seconds, minimum: float = 0.0) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f'PilotExecutorConfig.{field} must be seconds (int or float) or a '
                        f'timedelta, not {type(value).__name__}')
    if not seconds > minimum:
        raise ValueError(f'PilotExecutorConfig.{field} must be more than {minimum:g} seconds, '
                         f'not {seconds:g}')
    return seconds


def _count(field: str, value: Optional[int], allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        allowed = 'a positive int or None' if allow_none else 'a positive int'
        raise ValueError(f'PilotExecutorConfig.{field} must be {allowed}, not {value!r}')
    return value


def _optional_str(field: str, value: Optional[str]) -> Optional[str]:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f'PilotExecutorConfig.{field} must be a non-empty str or None, '
                         f'not {value!r}')
    return value


def _launcher_name(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    names = Launcher.get_launcher_names()
    if not isinstance(value, str) or value not in names:
        raise ValueError('PilotExecutorConfig.worker_launcher must be None or an installed '
                         f'launcher ({", ".join(sorted(names))}), not {value!r}')
    return value


class PilotExecutorConfig(JobExecutorConfig):
    """Settings of a `psij.pilot.PilotJobExecutor`.

    :param executor: the psij executor that provides allocations (``'slurm'``, ``'sge'``,
        ``'pbs'``, ``'lsf'``..., or ``'local'``: the workers then run on this machine).
    :param url: that executor's url (e.g. ``ssh://host``; None: this machine).
    :param nodes: nodes per allocation; one worker runs on each. With ``executor='local'``
        each "node" is one more worker on this machine, started by `worker_launcher`.
    :param duration: wall time of each allocation.
    :param queue_name: the queue (Slurm partition) allocations go to.
    :param account: the account allocations are charged to.
    :param max_allocations: at most this many allocations exist at once.
    :param idle_timeout: a worker that has had nothing to run for this long ends, and with
        its last worker the allocation.
    :param max_attempts: a task whose allocation ended under it is queued again, up to this
        many runs in all; then it is FAILED saying why.
    :param name: the pilot's name; every process that makes a pilot of the same name and
        work directory shares its queue and allocations.
    :param cores_per_node: cores each allocation asks for per node (None: whole nodes,
        exclusively); a worker offers this many (None: the cores it may run on).
    :param gpus_per_node: the GPUs a worker offers: a number N (devices 0 .. N-1), a list of
        device names or ids, ``"all"`` (what ``nvidia-smi``/``rocm-smi`` list on its node) or
        None (none). Each task gets its own in ``CUDA_VISIBLE_DEVICES``,
        ``ROCR_VISIBLE_DEVICES`` and ``HIP_VISIBLE_DEVICES`` (`psij.pilot.gpus`).
    :param memory_per_node: bytes of memory a worker offers (None: not limited).
    :param worker_launcher: the launcher that starts one worker per node of an allocation
        (an installed launcher's name). None: ``srun`` on Slurm, ``mpirun`` elsewhere for
        more than one node, and for one node the worker is the allocation's job itself
        (``single``). Given, it is used whatever the number of nodes.
    :param provider_config: the config given to the allocation executor (None: a default
        one with this ``work_directory``).
    :param poll_interval: seconds between two looks at the pilot directory.
    :param release_grace: an allocation that ended is released (its unfinished tasks queued
        again) once all its workers recorded their exit, or this long after its end was
        learned if some never did (a failed node): long enough for the scheduler to have
        killed what was left of it.
    :param stream_outputs: a task without ``stdout_path``/``stderr_path`` has them streamed
        into one file per worker (`psij.pilot.output_stream`) instead of discarded.
    :param work_directory: the pilot's files are in ``<work_directory>/pilot/<name>``; it
        must be visible from the allocations' nodes.
    """

    def __init__(self, executor: str = 'slurm', url: Optional[str] = None, nodes: int = 1,
                 duration: Seconds = timedelta(hours=1), queue_name: Optional[str] = None,
                 account: Optional[str] = None, max_allocations: int = 2,
                 idle_timeout: Seconds = 300.0, max_attempts: int = 3, name: str = 'default',
                 cores_per_node: Optional[int] = None, gpus_per_node: GpusSetting = None,
                 memory_per_node: Optional[int] = None, worker_launcher: Optional[str] = None,
                 provider_config: Optional[JobExecutorConfig] = None,
                 poll_interval: float = 0.2, release_grace: Seconds = 60.0,
                 stream_outputs: bool = False,
                 work_directory: Union[str, pathlib.Path, None] = None) -> None:
        super().__init__(work_directory=work_directory)
        if not isinstance(executor, str) or not executor or executor == 'pilot':
            raise ValueError('PilotExecutorConfig.executor must name an executor that '
                             f'provides allocations (slurm, sge, pbs, lsf, local...), not '
                             f'{executor!r}')
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError('PilotExecutorConfig.name must be 1 to 64 letters, digits, '
                             f'"_", "." or "-" (not starting with one of the last three), '
                             f'not {name!r}')
        if provider_config is not None and not isinstance(provider_config, JobExecutorConfig):
            raise TypeError('PilotExecutorConfig.provider_config must be a JobExecutorConfig '
                            f'or None, not {type(provider_config).__name__}')
        self.executor = executor
        self.url = _optional_str('url', url)
        self.nodes = _count('nodes', nodes) or 1
        self.duration = _seconds('duration', duration)
        self.queue_name = _optional_str('queue_name', queue_name)
        self.account = _optional_str('account', account)
        self.max_allocations = _count('max_allocations', max_allocations) or 1
        self.idle_timeout = _seconds('idle_timeout', idle_timeout)
        self.max_attempts = _count('max_attempts', max_attempts) or 1
        self.name = name
        self.cores_per_node = _count('cores_per_node', cores_per_node, allow_none=True)
        self.gpus_per_node = check_setting(gpus_per_node)
        self.memory_per_node = _count('memory_per_node', memory_per_node, allow_none=True)
        self.worker_launcher = _launcher_name(worker_launcher)
        self.provider_config = provider_config
        self.poll_interval = _seconds('poll_interval', poll_interval)
        self.release_grace = _seconds('release_grace', release_grace, minimum=-1.0)
        if not isinstance(stream_outputs, bool):
            raise TypeError('PilotExecutorConfig.stream_outputs must be a bool, not '
                            f'{type(stream_outputs).__name__}')
        self.stream_outputs = stream_outputs

    @property
    def pilot_directory(self) -> pathlib.Path:
        """Where this pilot's queue, claims, results and allocation records are."""
        return self.work_directory / 'pilot' / self.name

    def __repr__(self) -> str:
        return (f'PilotExecutorConfig(executor={self.executor!r}, name={self.name!r}, '
                f'nodes={self.nodes}, max_allocations={self.max_allocations}, '
                f'work_directory={str(self.work_directory)!r})')
