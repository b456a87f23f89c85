"""PBS Professional's and Torque's queues and their limits: the command that shows them and
its parser (pure; both print the same format).

``qstat -Q -f`` prints each queue as ``Queue: NAME`` and indented ``attribute = value`` lines
(a long value goes on, more indented, on the next lines). What becomes a limit
(`psij.queue_limits.QueueLimits`): ``resources_max.`` and ``resources_min.`` of ``nodect``
(Torque: ``nodes``), ``walltime``; ``resources_max.`` of ``ncpus`` (Torque: ``procs``),
``ngpus`` and ``mem`` (``kb``, ``mb``, ``gb``, ``tb``: powers of 1024, as PBS reads them).
The server's default queue (``qstat -B -f``) is not asked: a job that names no queue is
checked against no queue's limits.
"""

import re
from datetime import timedelta
from typing import Dict, List, Optional

from psij.batch.pieces import clock_seconds
from psij.batch.scheduler import StatusCommandError
from psij.queue_limits.limits import QueueLimits, SchedulerQueues
from psij.transport import CommandResult

_ATTRIBUTE = re.compile(r'\s+([\w.]+) = (.*)')
_SIZE = re.compile(r'(\d+)\s*([kmgtp]?)(b|w)?', re.IGNORECASE)
_UNITS = {'': 1, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4, 'p': 1024 ** 5}


def command() -> List[str]:
    """The argv showing every queue with its attributes."""
    return ['qstat', '-Q', '-f']


def parse(result: CommandResult) -> SchedulerQueues:
    """The queues in ``result`` (of `command`); `StatusCommandError` if it failed or the
    output does not start with a queue."""
    if not result.ok:
        raise StatusCommandError(f'cannot show the queues: {result.describe()}')
    queues: Dict[str, Dict[str, str]] = {}
    current: Optional[Dict[str, str]] = None
    last = ''
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        if line.startswith('Queue:'):
            current = queues.setdefault(line[len('Queue:'):].strip(), {})
            continue
        if current is None:
            raise StatusCommandError(f'not a queue of qstat -Q -f: {line[:200]!r}')
        match = _ATTRIBUTE.fullmatch(line)
        if match is not None:
            last = match.group(1)
            current[last] = match.group(2).strip()
        elif last:
            current[last] += line.strip()  # a long value, wrapped
    return SchedulerQueues({name: _limits(values) for name, values in queues.items()}, None)


def _limits(values: Dict[str, str]) -> QueueLimits:
    def first(*names: str) -> Optional[str]:
        return next((values[name] for name in names if name in values), None)

    min_nodes = _count(first('resources_min.nodect', 'resources_min.nodes'))
    return QueueLimits(
        min_nodes=min_nodes if min_nodes is not None and min_nodes > 1 else None,
        max_nodes=_count(first('resources_max.nodect', 'resources_max.nodes')),
        max_cores=_count(first('resources_max.ncpus', 'resources_max.procs')),
        max_gpus=_count(first('resources_max.ngpus')),
        max_memory=_size(first('resources_max.mem')),
        min_duration=_duration(first('resources_min.walltime')),
        max_duration=_duration(first('resources_max.walltime')))


def _count(text: Optional[str]) -> Optional[int]:
    """The leading count of a value (Torque's ``nodes`` may read ``2:ppn=4``); None if 0 or
    none."""
    match = re.match(r'\d+', text or '')
    return int(match.group()) or None if match is not None else None


def _size(text: Optional[str]) -> Optional[int]:
    match = _SIZE.fullmatch((text or '').strip())
    if match is None:
        return None
    words = 8 if (match.group(3) or '').lower() == 'w' else 1
    return int(match.group(1)) * _UNITS[match.group(2).lower()] * words or None


def _duration(text: Optional[str]) -> Optional[timedelta]:
    seconds = clock_seconds(text)
    return timedelta(seconds=seconds) if seconds else None
