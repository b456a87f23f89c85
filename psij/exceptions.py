"""Exceptions raised by the PSI/J API.

`InvalidJobException` is a kind of `SubmitException` (never transient): ``submit()`` reports a
job it refuses with either, and code written for psij-python, whose ``submit()`` raises
`SubmitException` where psij raises `InvalidJobException` (a missing executable), catches both
with ``except SubmitException``. ``except InvalidJobException`` still catches only invalid
jobs, so put it first when the two are handled differently.
"""

from typing import Optional


class SubmitException(Exception):
    """A job could not be submitted.

    ``transient`` is True when trying again later may succeed (the scheduler did not answer,
    or said it is busy); an `InvalidJobException` is never transient.
    """

    def __init__(self, message: str, exception: Optional[BaseException] = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.exception = exception
        self.transient = transient


class InvalidJobException(SubmitException):
    """A job, or a part of its specification, is not valid.

    The message names the offending field and what values are allowed. Also raised by the
    constructors and setters of the specification classes, before any submission.
    """

    def __init__(self, message: str, exception: Optional[BaseException] = None) -> None:
        super().__init__(message, exception, transient=False)


class UnreachableStateException(Exception):
    """`Job.wait` was asked for a state the job can no longer reach."""

    def __init__(self, status: object) -> None:
        super().__init__(f'the job reached {status} and cannot reach the awaited state')
        self.status = status
