"""The queue limits of `BatchSchedulerExecutorConfig.queue_limits`: from a mapping (what a
configuration file's ``[site.NAME.queue.QNAME]`` holds, or what a caller gives) to
`QueueLimits`, with the rules of `psij.configuration.schema` for sizes and durations."""

from datetime import timedelta
from typing import Any, Dict, Mapping, Optional

from psij.configuration.schema import QUEUE_LIMIT_KEYS, BadValue
from psij.queue_limits.limits import QueueLimits

#: What the errors call the setting.
FIELD = 'BatchSchedulerExecutorConfig.queue_limits'


def limits_from_config(value: Optional[Mapping[str, Any]]) -> Dict[str, QueueLimits]:
    """Per queue name, its `QueueLimits`, from ``{queue: {key: value}}`` (or ``{queue:
    QueueLimits}``).

    Raises ValueError naming ``queue_limits['QUEUE'].KEY``, the value and what is allowed,
    for an unknown key, a bad value, or a minimum above its maximum.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f'{FIELD} must be a mapping of queue name -> limits, not {value!r}')
    converted: Dict[str, QueueLimits] = {}
    for queue, table in value.items():
        if not isinstance(queue, str) or not queue.strip():
            raise ValueError(f'{FIELD}: a queue name must be a non-empty string, not '
                             f'{queue!r}')
        converted[queue] = _one_queue(queue, table)
    return converted


def _one_queue(queue: str, table: Any) -> QueueLimits:
    where = f'{FIELD}[{queue!r}]'
    if isinstance(table, QueueLimits):
        limits = table
    elif isinstance(table, Mapping):
        values: Dict[str, Any] = {}
        for key, item in table.items():
            if key not in QUEUE_LIMIT_KEYS:
                raise ValueError(f'{where}.{key}: unknown limit (allowed: '
                                 f'{", ".join(QUEUE_LIMIT_KEYS)})')
            values[key] = _convert(where, key, item)
        limits = QueueLimits(**values)
    else:
        raise ValueError(f'{where} must be a mapping of limits (allowed keys: '
                         f'{", ".join(QUEUE_LIMIT_KEYS)}), not {table!r}')
    for low, high in (('min_nodes', 'max_nodes'), ('min_duration', 'max_duration')):
        lowest, highest = getattr(limits, low), getattr(limits, high)
        if lowest is not None and highest is not None and lowest > highest:
            raise ValueError(f'{where}.{low} ({lowest}) is above {where}.{high} ({highest})')
    return limits


def _convert(where: str, key: str, item: Any) -> Any:
    rule = QUEUE_LIMIT_KEYS[key]
    if isinstance(item, timedelta) and key.endswith('_duration'):
        if item <= timedelta(0):
            raise ValueError(f'{where}.{key} must be {rule.allowed} greater than 0, not '
                             f'{item}')
        return item
    try:
        return rule.convert(item)
    except BadValue as error:
        raise ValueError(f'{where}.{key} {error}, not {item!r} (allowed: '
                         f'{rule.allowed})') from None
