"""What a function job raises in the caller, besides the function's own exceptions."""

from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from psij.job import Job
    from psij.job_status import JobStatus


class FunctionJobError(Exception):
    """The base of the errors of `psij.functions` (not of the functions' own exceptions)."""


class CallNotPicklable(FunctionJobError, TypeError):
    """The function or an argument cannot be pickled; raised by ``submit``/``map`` before
    anything is submitted.

    :param argument: which part: ``'function'``, a position (``0``...) or a keyword name.
    :param item: for ``map``, the position of the item in the iterables (else None).
    """

    def __init__(self, message: str, argument: Union[str, int],
                 item: Optional[int] = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.item = item


class RemoteTraceback(Exception):
    """The traceback of an exception raised by a function in its job, as text; it is the
    ``__cause__`` of the exception re-raised in the caller."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return '\n"""\n' + self.text.rstrip('\n') + '\n"""'


class RemoteError(FunctionJobError):
    """An exception raised by the function that cannot be rebuilt in the caller (its class
    cannot be unpickled here): its type name, text and traceback.

    :param type_name: ``module.QualifiedName`` of the exception's class.
    """

    def __init__(self, type_name: str, text: str, traceback: str) -> None:
        super().__init__(f'{type_name}: {text}')
        self.type_name = type_name
        self.text = text
        self.traceback = traceback


class NoResultError(FunctionJobError):
    """The job ended without leaving a result: a time limit, a cancel, a kill, a node lost, out
    of memory... `status` is the job's final status (state and message).

    :param job: the job.
    :param status: its final status.
    """

    def __init__(self, job: 'Job', status: 'JobStatus', detail: str = '') -> None:
        reason = status.message or (f'exit code {status.exit_code}'
                                    if status.exit_code is not None else 'no reason given')
        native = f' ({job.native_id})' if job.native_id else ''
        super().__init__(f'function job {job.id}{native} ended {status.state} without a '
                         f'result: {reason}{detail}')
        self.job = job
        self.status = status


class RunnerError(FunctionJobError):
    """The job could not run the function: the Python on the node does not match the
    submitter's (version, cloudpickle missing), or the function could not be loaded there.
    The message is the runner's (also in the job's stderr file).

    :param job: the job (None for a future recovered without its job).
    :param status: the job's final status, when known.
    """

    def __init__(self, message: str, job: Optional['Job'] = None,
                 status: Optional['JobStatus'] = None) -> None:
        super().__init__(message)
        self.job = job
        self.status = status
