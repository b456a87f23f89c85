"""The check of a job against the limits of its queue: refused, never clamped."""

from datetime import timedelta
from typing import List, Optional, Tuple

from psij.exceptions import InvalidJobException
from psij.job_spec import JobSpec
from psij.queue_limits.effective import EffectiveQueue, EffectiveQueues
from psij.resource_spec import ResourceSpecV1

#: (limit name, the field of the spec it bounds, the value the job asks, is it a minimum).
_Asked = Tuple[str, str, object, bool]


def asked(spec: JobSpec) -> List[_Asked]:
    """What ``spec`` asks of a queue, per limit: nodes, cores, GPUs, memory, wall time."""
    found: List[_Asked] = []
    resources = spec.resources if isinstance(spec.resources, ResourceSpecV1) else None
    if resources is not None:
        nodes = resources.computed_node_count
        found += [('min_nodes', 'ResourceSpecV1.node_count', nodes, True),
                  ('max_nodes', 'ResourceSpecV1.node_count', nodes, False)]
        processes = resources.computed_process_count
        found.append(('max_cores', 'ResourceSpecV1.process_count x cpu_cores_per_process',
                      processes * (resources.cpu_cores_per_process or 1), False))
        if resources.gpu_cores_per_process:
            found.append(('max_gpus', 'ResourceSpecV1.process_count x gpu_cores_per_process',
                          processes * resources.gpu_cores_per_process, False))
        if resources.memory is not None:
            found.append(('max_memory', 'ResourceSpecV1.memory', resources.memory, False))
    duration = spec.attributes.duration if spec.attributes is not None else None
    if isinstance(duration, timedelta):
        found += [('min_duration', 'JobAttributes.duration', duration, True),
                  ('max_duration', 'JobAttributes.duration', duration, False)]
    return found


def check_spec(spec: JobSpec, queues: EffectiveQueues) -> Optional[EffectiveQueue]:
    """Raise `InvalidJobException` if ``spec`` asks for a queue the scheduler does not list,
    or more (or less) than a limit of its queue allows; returns the queue checked (None: no
    queue is known for the job)."""
    named = spec.attributes.queue_name if spec.attributes is not None else None
    queue = queues.queue(named)
    if queue is None:
        if named is not None and queues.scheduler_listed:
            known = ', '.join(sorted(queues.queues)) or 'none'
            raise InvalidJobException(f'JobAttributes.queue_name is {named!r}: the scheduler '
                                      f'has no such queue (known: {known})')
        return None
    for limit, field_name, value, minimum in asked(spec):
        bound = getattr(queue.limits, limit)
        if bound is None or (value >= bound if minimum else value <= bound):
            continue
        how = 'at least' if minimum else 'at most'
        source = queue.sources.get(limit, '')
        which = ' (its default queue)' if named is None else ''
        raise InvalidJobException(
            f'{field_name}: the job asks for {_describe(limit, value)}; queue '
            f'{queue.name!r}{which} allows {how} {_describe(limit, bound)} ({limit}, from '
            f'the {source}). psij never changes what a job asks for: ask for '
            f'{"more" if minimum else "less"}, or choose another queue '
            '(JobAttributes.queue_name)')
    return queue


def _describe(limit: str, value: object) -> str:
    if isinstance(value, timedelta):
        return f'{_clock(value)} of wall time'
    if limit == 'max_memory' and isinstance(value, int):
        return f'{value} bytes of memory ({_size(value)})'
    unit = {'min_nodes': 'node', 'max_nodes': 'node', 'max_cores': 'CPU core',
            'max_gpus': 'GPU'}[limit]
    return f'{value} {unit}{"s" if value != 1 else ""}'


def _clock(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    text = f'{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'
    return f'{days}-{text}' if days else text


def _size(value: int) -> str:
    for unit, scale in (('T', 1024 ** 4), ('G', 1024 ** 3), ('M', 1024 ** 2), ('K', 1024)):
        if value >= scale:
            return f'{value / scale:.4g}{unit}'
    return f'{value}B'
