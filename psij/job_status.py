"""The status of a job: a state plus what is known about how it got there."""

import time as _time
from typing import Dict, Optional

from psij.job_state import JobState


class JobStatus:
    """A job's state, when it was entered, and metadata of that transition.

    :param state: the state.
    :param time: when the state was entered (seconds since the epoch); now if not given.
    :param message: a human-readable explanation, e.g. why a job FAILED.
    :param exit_code: the job's exit code, where known (final states).
    :param metadata: executor-specific details (e.g. the scheduler's own state name).
    """

    __slots__ = ('state', 'time', 'message', 'exit_code', 'metadata')

    def __init__(self, state: JobState, time: Optional[float] = None,
                 message: Optional[str] = None, exit_code: Optional[int] = None,
                 metadata: Optional[Dict[str, object]] = None) -> None:
        if not isinstance(state, JobState):
            raise TypeError(f'JobStatus.state must be JobState, not {type(state).__name__}')
        self.state = state
        self.time = _time.time() if time is None else time
        self.message = message
        self.exit_code = exit_code
        self.metadata = metadata

    @property
    def final(self) -> bool:
        """True if the state is final."""
        return self.state.final

    def __repr__(self) -> str:
        parts = [f'state={self.state}']
        if self.exit_code is not None:
            parts.append(f'exit_code={self.exit_code}')
        if self.message:
            parts.append(f'message={self.message!r}')
        return 'JobStatus(' + ', '.join(parts) + ')'

    __str__ = __repr__
