"""Capabilities: the named checks of the suite, and how a check reports its outcome."""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from .context import Context
from .errors import CheckFailed, NotApplicable, require
from .target import Target

__all__ = ['Capability', 'CheckFailed', 'NotApplicable', 'all_capabilities', 'capability',
           'require']


Check = Callable[[Context], None]
Applies = Callable[[Target], Optional[str]]


def always(target: Target) -> Optional[str]:
    """Applies to every target."""
    return None


@dataclass(frozen=True)
class Capability:
    """One named check. ``applies`` returns None, or the reason it does not apply, without
    running any job; ``check`` runs jobs and raises `CheckFailed` (or `NotApplicable`)."""

    id: str
    title: str
    check: Check
    applies: Applies = always
    timeout: float = 300.0


_CAPABILITIES: Dict[str, Capability] = {}


def capability(id: str, title: str, applies: Applies = always,
               timeout: float = 300.0) -> Callable[[Check], Check]:
    """Register the decorated function as the check of capability ``id``."""
    def register(check: Check) -> Check:
        if id in _CAPABILITIES:
            raise ValueError(f'capability {id!r} is defined twice')
        _CAPABILITIES[id] = Capability(id, title, check, applies, timeout)
        return check
    return register


def all_capabilities() -> List[Capability]:
    """Every capability, in the suite's fixed order (the order of definition)."""
    from . import checks  # noqa: F401  (defining the checks registers them)
    return list(_CAPABILITIES.values())

