"""LSF's queues and their limits: the command that shows them and its parser (pure).

``bqueues -l`` prints each queue as ``QUEUE: NAME``, then sections; a limit is a header line
of names (``RUNLIMIT``, ``PROCLIMIT``/``TASKLIMIT``, ``MEMLIMIT``, several side by side) and a
line of values under them. Where the queue has both, the limits under ``MAXIMUM LIMITS:`` are
the limits (those under ``DEFAULT LIMITS:`` are what a job gets when it asks nothing). What
becomes a limit (`psij.queue_limits.QueueLimits`): ``RUNLIMIT`` (minutes; ``of HOST``, a
normalised limit, read as it is) the longest wall time; ``PROCLIMIT``/``TASKLIMIT``
(``[min [default]] max`` tasks) the most cores (and the fewest, ignored: a minimum of
cores has no field); ``MEMLIMIT`` is per process, so with a task limit it bounds the job's
memory at ``MEMLIMIT x max tasks`` (a job asking more must give some process more than the
limit). LSF's default queue is not in this output: a job that names no queue is checked
against no queue's limits.
"""

import re
from datetime import timedelta
from typing import Dict, List, Optional

from psij.batch.scheduler import StatusCommandError
from psij.queue_limits.limits import QueueLimits, SchedulerQueues
from psij.transport import CommandResult

_LIMIT_NAME = re.compile(r'[A-Z_]+LIMIT')
_SIZE = re.compile(r'([\d.]+)\s*([KMGTPE]?)B?', re.IGNORECASE)
_UNITS = {'': 1024, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4,
          'p': 1024 ** 5, 'e': 1024 ** 6}


def command() -> List[str]:
    """The argv showing every queue in the long format."""
    return ['bqueues', '-l']


def parse(result: CommandResult) -> SchedulerQueues:
    """The queues in ``result`` (of `command`); `StatusCommandError` if it failed or the
    output does not start with a queue."""
    if not result.ok:
        raise StatusCommandError(f'cannot show the queues: {result.describe()}')
    queues: Dict[str, Dict[str, str]] = {}
    current: Optional[Dict[str, str]] = None
    section = ''
    lines = result.stdout.splitlines()
    for number, line in enumerate(lines):
        if line.startswith('QUEUE:'):
            current, section = queues.setdefault(line[len('QUEUE:'):].strip(), {}), ''
            continue
        if not line.strip():
            continue
        if current is None:
            raise StatusCommandError(f'not a queue of bqueues -l: {line[:200]!r}')
        if line.strip() in ('DEFAULT LIMITS:', 'MAXIMUM LIMITS:'):
            section = line.strip()
            continue
        names = line.split()
        if section == 'DEFAULT LIMITS:' or not all(_LIMIT_NAME.fullmatch(name)
                                                   for name in names):
            continue
        values = lines[number + 1] if number + 1 < len(lines) else ''
        starts = [line.index(name) for name in names] + [max(len(line), len(values))]
        for index, name in enumerate(names):
            # The last column takes the rest of the line: values may be wider than names.
            end = starts[index + 1] if index + 1 < len(names) else len(values)
            current[name] = values[starts[index]:end].strip()
    return SchedulerQueues({name: _limits(values) for name, values in queues.items()}, None)


def _limits(values: Dict[str, str]) -> QueueLimits:
    tasks = (values.get('TASKLIMIT') or values.get('PROCLIMIT') or '').split()
    max_tasks = int(tasks[-1]) if tasks and tasks[-1].isdigit() else None
    memory = _size(values.get('MEMLIMIT'))
    return QueueLimits(max_cores=max_tasks,
                       max_memory=memory * max_tasks if memory and max_tasks else None,
                       max_duration=_minutes(values.get('RUNLIMIT')))


def _minutes(text: Optional[str]) -> Optional[timedelta]:
    match = re.match(r'\s*([\d.]+)\s*min', text or '')
    return timedelta(minutes=float(match.group(1))) if match is not None else None


def _size(text: Optional[str]) -> Optional[int]:
    """Bytes of a MEMLIMIT (``4 G``; a bare number is KB, LSF's default unit)."""
    match = _SIZE.fullmatch((text or '').strip())
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()]) or None
