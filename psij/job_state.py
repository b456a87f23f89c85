"""Job states and their order."""

from enum import Enum
from typing import Optional


class JobState(Enum):
    """The states a job goes through: ``NEW → QUEUED → ACTIVE → COMPLETED | FAILED | CANCELED``.

    ``COMPLETED``, ``FAILED`` and ``CANCELED`` are final: once a job is in one of them, its
    state does not change again.
    """

    NEW = 'NEW'
    QUEUED = 'QUEUED'
    ACTIVE = 'ACTIVE'
    COMPLETED = 'COMPLETED'
    FAILED = 'FAILED'
    CANCELED = 'CANCELED'

    @property
    def final(self) -> bool:
        """True for ``COMPLETED``, ``FAILED`` and ``CANCELED``."""
        return self in _FINAL

    @property
    def order(self) -> int:
        """Position in the life cycle (0 to 3); the three final states share position 3."""
        return _ORDER[self.value]

    def is_greater_than(self, other: 'JobState') -> bool:
        """True if a job in ``other`` can later be in this state (and they differ)."""
        if other.final:
            return False
        return self.order > other.order

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f'JobState.{self.value}'

    @staticmethod
    def from_name(name: str) -> 'JobState':
        """The state called ``name`` (``'COMPLETED'``...); a clear error for anything else."""
        try:
            return JobState[name]
        except KeyError:
            allowed = ', '.join(state.value for state in JobState)
            raise ValueError(f'unknown job state {name!r}; allowed: {allowed}') from None


_MAIN_PATH = (JobState.NEW, JobState.QUEUED, JobState.ACTIVE)
# Looked up, not computed: the batch tracker asks for every job on every poll.
_FINAL = frozenset((JobState.COMPLETED, JobState.FAILED, JobState.CANCELED))
_ORDER = {'NEW': 0, 'QUEUED': 1, 'ACTIVE': 2, 'COMPLETED': 3, 'FAILED': 3, 'CANCELED': 3}


class JobStateOrder:
    """Kept for compatibility with code written for psij-python."""

    @staticmethod
    def prev(state: JobState) -> Optional[JobState]:
        """The state before ``state`` on the main path, or None for ``NEW``."""
        if state.final:
            return JobState.ACTIVE
        index = _MAIN_PATH.index(state)
        return _MAIN_PATH[index - 1] if index > 0 else None
