"""Slurm's partitions and their limits: the command that lists them and its parser (pure).

``scontrol --all --oneliner show partition`` prints one line per partition (hidden ones too,
which a user may be allowed to use) of ``Key=Value`` words. What becomes a limit
(`psij.queue_limits.QueueLimits`): ``MaxNodes`` and ``MinNodes`` (above 1), ``MaxTime``,
``MaxCPUsPerNode`` and ``MaxMemPerNode`` (MiB) times the most nodes a job may have there
(``MaxNodes``, else ``TotalNodes``); ``UNLIMITED``/``INFINITE`` is no limit. The partition
with ``Default=YES`` is where a job that names none goes.
"""

from datetime import timedelta
from typing import Dict, List, Optional

from psij.executors.slurm import _duration_seconds

from psij.batch.scheduler import StatusCommandError
from psij.queue_limits.limits import QueueLimits, SchedulerQueues
from psij.transport import CommandResult


def command() -> List[str]:
    """The argv listing every partition with its limits."""
    return ['scontrol', '--all', '--oneliner', 'show', 'partition']


def parse(result: CommandResult) -> SchedulerQueues:
    """The partitions in ``result`` (of `command`); `StatusCommandError` if it failed or a
    line is not a partition."""
    if not result.ok:
        raise StatusCommandError(f'cannot list the partitions: {result.describe()}')
    limits: Dict[str, QueueLimits] = {}
    default: Optional[str] = None
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        words: Dict[str, str] = {}
        for word in line.split():
            key, _, value = word.partition('=')
            words[key] = value
        name = words.get('PartitionName')
        if not name:
            raise StatusCommandError(f'not a partition line of scontrol: {line[:200]!r}')
        limits[name] = _limits(words)
        if words.get('Default') == 'YES':
            default = name
    return SchedulerQueues(limits, default)


def _limits(words: Dict[str, str]) -> QueueLimits:
    max_nodes = _count(words.get('MaxNodes'))
    min_nodes = _count(words.get('MinNodes'))
    most_nodes = max_nodes or _count(words.get('TotalNodes'))
    cpus = _count(words.get('MaxCPUsPerNode'))
    memory = _count(words.get('MaxMemPerNode'))
    seconds = _duration_seconds(words.get('MaxTime', ''))
    return QueueLimits(
        min_nodes=min_nodes if min_nodes is not None and min_nodes > 1 else None,
        max_nodes=max_nodes,
        max_cores=cpus * most_nodes if cpus and most_nodes else None,
        max_memory=memory * most_nodes * 1024 * 1024 if memory and most_nodes else None,
        max_duration=timedelta(seconds=seconds) if seconds else None)


def _count(text: Optional[str]) -> Optional[int]:
    """A whole number of a partition's field; None for UNLIMITED, INFINITE, NONE..."""
    return int(text) if text is not None and text.isdigit() else None
