"""Parsers of option values (``--time``, ``--env``, ``--attr``...).

Each one takes the text from the command line and returns the value or raises
`argparse.ArgumentTypeError` with a message that says what was given and what is allowed;
argparse prefixes it with the option's name.
"""

import argparse
import re
from datetime import timedelta
from typing import List, Tuple

from psij.job_state import JobState

_SECONDS = re.compile(r'[0-9]+')
_MINUTES_SECONDS = re.compile(r'([0-9]+):([0-9]{1,2})')
_HOURS_MINUTES_SECONDS = re.compile(r'([0-9]+):([0-9]{1,2}):([0-9]{1,2})')
_DAYS_HOURS_MINUTES_SECONDS = re.compile(r'([0-9]+)-([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})')
_DURATION_FORMATS = 'SECONDS, MM:SS, HH:MM:SS or D-HH:MM:SS'

_MEMORY = re.compile(r'([0-9]+)\s*(?:([KMGT])(?:I?B)?|B)?', re.IGNORECASE)
_MEMORY_UNITS = {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4}

# What a job script can export: POSIX shell variable names.
_ENVIRONMENT_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')

#: States `psij wait --states` accepts (NEW is where every attached job starts).
AWAITABLE_STATES = [state for state in JobState if state != JobState.NEW]


def positive_int(text: str) -> int:
    """A positive integer (``-n``, ``--nodes``, ...)."""
    if not re.fullmatch(r'\s*[0-9]+\s*', text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, not {text!r}')
    return int(text)


def positive_seconds(text: str) -> float:
    """A positive number of seconds (``--timeout``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be a positive number of seconds, not {text!r}')
    return value


def duration(text: str) -> timedelta:
    """A wall time: SECONDS, MM:SS, HH:MM:SS or D-HH:MM:SS (as Slurm writes them)."""
    stripped = text.strip()
    days = hours = minutes = seconds = 0
    if _SECONDS.fullmatch(stripped):
        seconds = int(stripped)
    elif (match := _MINUTES_SECONDS.fullmatch(stripped)) is not None:
        minutes, seconds = int(match.group(1)), int(match.group(2))
        _check_below(text, 'seconds', seconds, 60)
    elif (match := _HOURS_MINUTES_SECONDS.fullmatch(stripped)) is not None:
        hours, minutes, seconds = (int(group) for group in match.groups())
        _check_below(text, 'minutes', minutes, 60)
        _check_below(text, 'seconds', seconds, 60)
    elif (match := _DAYS_HOURS_MINUTES_SECONDS.fullmatch(stripped)) is not None:
        days, hours, minutes, seconds = (int(group) for group in match.groups())
        _check_below(text, 'hours', hours, 24)
        _check_below(text, 'minutes', minutes, 60)
        _check_below(text, 'seconds', seconds, 60)
    else:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a duration; use {_DURATION_FORMATS} (e.g. 90, 30:00, 2:00:00, '
            '1-12:00:00)')
    try:
        value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is longer than the longest duration, {timedelta.max}') from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f'{text!r}: the duration must be longer than 0')
    return value


def _check_below(text: str, unit: str, value: int, limit: int) -> None:
    if value >= limit:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a duration: {value} {unit} must be less than {limit} '
            f'(formats: {_DURATION_FORMATS})')


def memory_size(text: str) -> int:
    """A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024)."""
    match = _MEMORY.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a size; use a number of bytes with an optional K, M, G or T '
            'suffix (powers of 1024), e.g. 512M or 4G')
    return int(match.group(1)) * _MEMORY_UNITS[(match.group(2) or '').upper()]


def environment_variable(text: str) -> Tuple[str, str]:
    """``NAME=VALUE`` (the value may be empty and may contain ``=``)."""
    name, equals, value = text.partition('=')
    if not equals:
        raise argparse.ArgumentTypeError(f'{text!r} is not NAME=VALUE')
    if not _ENVIRONMENT_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f'{text!r}: the variable name {name!r} must be letters, digits and _, not starting '
            'with a digit')
    return name, value


def custom_attribute(text: str) -> Tuple[str, object]:
    """``KEY=VALUE`` (a string value) or a bare ``KEY`` (the value true: a flag)."""
    key, equals, value = text.partition('=')
    if not key or key != key.strip() or any(character.isspace() for character in key):
        raise argparse.ArgumentTypeError(
            f'{text!r}: the attribute key must be non-empty without blanks, e.g. '
            'slurm.constraint=haswell')
    return (key, value) if equals else (key, True)


def state_list(text: str) -> List[JobState]:
    """Comma-separated state names, any case (``--states active,completed``)."""
    states: List[JobState] = []
    for name in text.split(','):
        wanted = name.strip().upper()
        matching = [state for state in AWAITABLE_STATES if state.value == wanted]
        if not matching:
            allowed = ', '.join(state.value for state in AWAITABLE_STATES)
            raise argparse.ArgumentTypeError(
                f'unknown state {name.strip()!r}; allowed (comma-separated): {allowed}')
        states.append(matching[0])
    return states
