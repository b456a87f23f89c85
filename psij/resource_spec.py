"""What a job asks of the cluster: nodes, processes, cores, memory."""

import math
from abc import ABC, abstractmethod
from typing import Optional

from psij._fields import Checked, non_negative_or_none, positive_or_none
from psij.exceptions import InvalidJobException


class ResourceSpec(ABC):
    """The base of resource specifications; `ResourceSpecV1` is the one concrete kind."""

    @property
    @abstractmethod
    def version(self) -> int:
        """The version of this kind of resource specification."""

    @staticmethod
    def get_instance(version: int) -> 'ResourceSpec':
        """An empty resource specification of the given version (only 1 exists)."""
        if version != 1:
            raise ValueError(f'unknown ResourceSpec version {version}; allowed: 1')
        return ResourceSpecV1()


class ResourceSpecV1(ResourceSpec):
    """Nodes, processes, cores and memory for a job.

    ``process_count = node_count * processes_per_node`` must hold when all three are given,
    and a ``process_count`` given with ``node_count`` or ``processes_per_node`` must be a whole
    multiple of it: the PSI/J specification's V1 describes homogeneous jobs (it even forbids
    giving both counts; psij-python accepts them when they agree, and so does psij, so that
    code written for it keeps working). When only some are given the others are computed
    (``computed_*``), always from the current values. An empty specification means one
    process on one core of one node.
    """

    node_count = Checked[Optional[int]](
        Optional[int], 'Allocate this many compute nodes.', validate=positive_or_none)
    process_count = Checked[Optional[int]](
        Optional[int], 'Start this many processes (ranks) in all; 1 if nothing is given.',
        validate=positive_or_none)
    processes_per_node = Checked[Optional[int]](
        Optional[int], 'Start this many processes on each node.', validate=positive_or_none)
    cpu_cores_per_process = Checked[Optional[int]](
        Optional[int], 'CPU cores for each process.', validate=positive_or_none)
    gpu_cores_per_process = Checked[Optional[int]](
        Optional[int], 'GPUs for each process.', validate=positive_or_none)
    exclusive_node_use = Checked[bool](
        bool, 'True: no other job may share the allocated nodes.')
    memory = Checked[Optional[int]](
        Optional[int], 'Memory for the whole job, in bytes.', validate=non_negative_or_none)

    def __init__(self, node_count: Optional[int] = None, process_count: Optional[int] = None,
                 processes_per_node: Optional[int] = None,
                 cpu_cores_per_process: Optional[int] = None,
                 gpu_cores_per_process: Optional[int] = None,
                 exclusive_node_use: bool = False, memory: Optional[int] = None) -> None:
        self.node_count = node_count
        self.process_count = process_count
        self.processes_per_node = processes_per_node
        self.cpu_cores_per_process = cpu_cores_per_process
        self.gpu_cores_per_process = gpu_cores_per_process
        self.exclusive_node_use = exclusive_node_use
        self.memory = memory
        self.check_consistency()

    @property
    def version(self) -> int:
        """Always 1."""
        return 1

    def check_consistency(self) -> None:
        """Raise `InvalidJobException` if the counts contradict each other."""
        nodes, total, per_node = self.node_count, self.process_count, self.processes_per_node
        if nodes is not None and total is not None and per_node is not None:
            if total != nodes * per_node:
                raise InvalidJobException(
                    f'ResourceSpecV1: process_count ({total}) must equal node_count ({nodes}) '
                    f'* processes_per_node ({per_node}) = {nodes * per_node}, or leave one '
                    'of the three unset')
        if nodes is not None and total is not None and total < nodes:
            raise InvalidJobException(
                f'ResourceSpecV1: process_count ({total}) must be at least node_count '
                f'({nodes}): every node runs at least one process')
        for field, count in (('node_count', nodes), ('processes_per_node', per_node)):
            if count is not None and total is not None and total % count:
                raise InvalidJobException(
                    f'ResourceSpecV1: process_count ({total}) must be a whole multiple of '
                    f'{field} ({count}): every node runs the same number of processes; '
                    f'allowed: {count}, {2 * count}, {3 * count}...')

    @property
    def computed_node_count(self) -> int:
        """node_count, or the nodes needed by the processes, or 1."""
        if self.node_count is not None:
            return self.node_count
        if self.process_count is not None and self.processes_per_node is not None:
            return math.ceil(self.process_count / self.processes_per_node)
        return 1

    @property
    def computed_process_count(self) -> int:
        """process_count, or node_count * processes_per_node, or 1."""
        if self.process_count is not None:
            return self.process_count
        return self.computed_node_count * (self.processes_per_node or 1)

    @property
    def computed_processes_per_node(self) -> int:
        """processes_per_node, or the processes spread over the nodes (rounded up)."""
        if self.processes_per_node is not None:
            return self.processes_per_node
        return math.ceil(self.computed_process_count / self.computed_node_count)

    @property
    def memory_kb(self) -> Optional[int]:
        """memory in KiB, rounded up, or None."""
        return None if self.memory is None else math.ceil(self.memory / 1024)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceSpecV1) and vars(self) == vars(other)

    def __repr__(self) -> str:
        given = ', '.join(f'{key}={value!r}' for key, value in vars(self).items()
                          if value is not None and value is not False)
        return f'ResourceSpecV1({given})'
