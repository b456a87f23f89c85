"""Grid Engine's cluster queues and their limits: the command that shows them and its parser
(pure).

``qconf -sq '*'`` prints the configuration of every cluster queue, one ``name value`` line per
attribute (a long value goes on over lines ending in ``\\``), each queue starting with its
``qname``. What becomes a limit (`psij.queue_limits.QueueLimits`): ``h_rt``, the hard wall-time
limit (``INFINITY``: none; where hosts override it, ``00:05:00,[host=1:00:00]``, the longest
of them, so that a job no host would take is refused and one that some host takes is not).
``slots`` counts per host, and a job may spread over hosts, so it is left to the scheduler.
Grid Engine has no default queue: a job that names none is checked against no queue.
"""

from datetime import timedelta
from typing import Dict, List, Optional

from psij.batch.pieces import clock_seconds
from psij.batch.scheduler import StatusCommandError
from psij.queue_limits.limits import QueueLimits, SchedulerQueues
from psij.transport import CommandResult


def command() -> List[str]:
    """The argv showing every cluster queue's configuration."""
    return ['qconf', '-sq', '*']


def parse(result: CommandResult) -> SchedulerQueues:
    """The queues in ``result`` (of `command`); `StatusCommandError` if it failed or the
    output does not start with a queue."""
    if not result.ok:
        raise StatusCommandError(f'cannot show the queues: {result.describe()}')
    queues: Dict[str, Dict[str, str]] = {}
    current: Optional[Dict[str, str]] = None
    for line in result.stdout.replace('\\\n', ' ').splitlines():
        name, _, value = line.strip().partition(' ')
        if not name:
            continue
        if name == 'qname':
            current = queues.setdefault(value.strip(), {})
        elif current is None:
            raise StatusCommandError(f'not a queue configuration of qconf: {line[:200]!r}')
        else:
            current[name] = ' '.join(value.split())
    return SchedulerQueues({name: _limits(values) for name, values in queues.items()}, None)


def _limits(values: Dict[str, str]) -> QueueLimits:
    seconds = _longest_time(values.get('h_rt', 'INFINITY'))
    return QueueLimits(max_duration=timedelta(seconds=seconds) if seconds else None)


def _longest_time(text: str) -> Optional[int]:
    """The longest time of a queue attribute (a value, then ``[host=value]`` overrides), or
    None if one of them is INFINITY (or cannot be read: no limit is better than a wrong
    one)."""
    found: List[int] = []
    for part in text.replace('[', ',').replace(']', ',').split(','):
        value = part.split('=')[-1].strip()
        if not value:
            continue
        seconds = clock_seconds(value)
        if seconds is None:
            return None
        found.append(seconds)
    return max(found) if found else None
