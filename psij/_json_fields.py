"""Reading typed fields out of a parsed JSON document, with errors that name the field.

Shared by the two job spec formats, psij's own (`psij.serialize`) and psij-python's
(`psij.psij_python_json`). Every reader takes the value and its path in the document
(``resources.node_count``, ``arguments[2]``) and raises `SpecFormatError` saying what is allowed
there.
"""

import json
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Dict, List, Optional, Sequence

from psij.exceptions import InvalidJobException

MICROSECONDS_PER_SECOND = 1_000_000


class SpecFormatError(InvalidJobException, ValueError):
    """A job spec document that cannot be read, or a spec that cannot be written exactly.

    ``path`` is the offending field (``'resources.node_count'``), or ``''`` when the problem
    is the document as a whole (malformed JSON, not an object).
    """

    # Its public home: documented, shown and pickled as psij.serialize.SpecFormatError.
    __module__ = 'psij.serialize'

    def __init__(self, path: str, problem: str) -> None:
        where = f'job spec field {path}' if path else 'job spec document'
        super().__init__(f'{where}: {problem}')
        self.path = path


def join_path(path: str, name: str) -> str:
    """The path of field ``name`` of the object at ``path``."""
    return f'{path}.{name}' if path else name


def read_object(value: object, path: str, allowed: Sequence[str]) -> Dict[str, Any]:
    """``value`` as a dict after checking it holds only ``allowed`` keys."""
    if not isinstance(value, dict):
        raise wrong_type(value, path, 'an object' if path else 'a JSON object')
    for key in value:
        if key not in allowed:
            raise SpecFormatError(
                join_path(path, str(key)), f'unknown field; allowed fields: {", ".join(allowed)}')
    return value


def read_optional_str(value: object, path: str) -> Optional[str]:
    """A string, or None for null."""
    if value is not None and not isinstance(value, str):
        raise wrong_type(value, path, 'a string or null')
    return value


def read_str_list(value: object, path: str) -> Optional[List[str]]:
    """A copy of a list of strings, or None for null."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise wrong_type(value, path, 'a list of strings or null')
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise wrong_type(item, f'{path}[{index}]', 'a string')
    return list(value)


def read_bool(value: object, path: str) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise wrong_type(value, path, 'true or false')
    return value


def read_count(value: object, path: str, minimum: int) -> Optional[int]:
    """An integer of at least ``minimum`` (never a boolean), or None for null."""
    expected = 'a positive integer or null' if minimum == 1 else \
        f'an integer of at least {minimum}, or null'
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(value, path, expected)
    if value < minimum:
        raise SpecFormatError(path, f'must be {expected}, not {value}')
    return value


def object_without_repeated_keys(pairs: List[Any]) -> Dict[str, Any]:
    """An ``object_pairs_hook`` for `json.loads` that refuses a key repeated in one object."""
    result: Dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SpecFormatError('', f'the key {key!r} appears twice in one JSON object')
        result[key] = value
    return result


def parse_json(text: Any) -> Any:
    """The value of the JSON text ``text``; `SpecFormatError` if it is not valid JSON
    (including a key repeated in one object)."""
    try:
        return json.loads(text, object_pairs_hook=object_without_repeated_keys)
    except SpecFormatError:
        raise
    except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8/16/32
        raise SpecFormatError('', f'not valid JSON: {error}') from error


def duration_from_decimal(number: Decimal, path: str, shown: object,
                          unit_seconds: int = 1) -> timedelta:
    """``number`` units of ``unit_seconds`` as a timedelta, rounded to the nearest microsecond
    (as `timedelta` does); ``shown`` is how the value appeared in the document, for the error
    message."""
    if not number.is_finite():
        raise SpecFormatError(path, f'must be a finite number of seconds, not {shown}')
    try:
        microseconds = (number * unit_seconds * MICROSECONDS_PER_SECOND).to_integral_value(
            ROUND_HALF_EVEN)
        return timedelta(microseconds=int(microseconds))
    except ArithmeticError:  # OverflowError, or decimal's Overflow for a huge exponent
        raise SpecFormatError(
            path, f'{shown} is longer than the longest duration, {timedelta.max}') from None


def wrong_type(value: object, path: str, expected: str) -> SpecFormatError:
    """The error for ``value`` at ``path``, which should have been ``expected``."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + '...'
    return SpecFormatError(path, f'must be {expected}, not {json_type_name(value)} ({shown})')


def json_type_name(value: object) -> str:
    """The JSON name of the type of ``value`` (``'null'``, ``'object'``...)."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, int):
        return 'integer'
    if isinstance(value, float):
        return 'number'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, list):
        return 'list'
    if isinstance(value, dict):
        return 'object'
    return type(value).__name__

