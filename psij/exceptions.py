"""Exceptions raised by the PSI/J API."""

from typing import Optional


class InvalidJobException(Exception):
    """A job, or a part of its specification, is not valid.

    The message names the offending field and what values are allowed.
    """

    def __init__(self, message: str, exception: Optional[BaseException] = None) -> None:
        super().__init__(message)
        self.message = message
        self.exception = exception


class SubmitException(Exception):
    """A job could not be submitted; the backend did not accept it."""

    def __init__(self, message: str, exception: Optional[BaseException] = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.exception = exception
        self.transient = transient


class UnreachableStateException(Exception):
    """`Job.wait` was asked for a state the job can no longer reach."""

    def __init__(self, status: object) -> None:
        super().__init__(f'the job reached {status} and cannot reach the awaited state')
        self.status = status
