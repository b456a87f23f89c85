"""The files of function calls, as pure functions: their names, what a call file holds, what
a result file says, and the records of native ids (`psij.functions.store` reads and writes them
where the jobs run, through the executor's transport).

Everything lives in ``<executor work directory>/functions`` (on the far side for an executor
over SSH): a copy of `psij.functions.runner` (``runner.py``, what the jobs run), and per job
``<call id>.call`` (the function and its arguments), ``.result`` (what the runner left),
``.out`` and ``.err`` (the job's stdout and stderr). ``native/<executor>-<native id>`` names the
call id of a submitted job, so that another process can find its result
(`psij.functions.recovery`). Call and result files are text (see `psij.functions.runner`).
"""

import json
import os
import pathlib
import pickle
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import cloudpickle  # type: ignore[import-untyped,unused-ignore]

from psij.functions import runner
from psij.functions.errors import CallNotPicklable, RemoteError, RemoteTraceback

#: The sub-directory of the executor's work directory.
SUBDIRECTORY = 'functions'
#: The sub-directory (of `SUBDIRECTORY`) of the native id records.
NATIVE_SUBDIRECTORY = 'native'
#: The runner's copy in `SUBDIRECTORY`.
RUNNER_NAME = 'runner.py'
_UNSAFE = re.compile(r'[^A-Za-z0-9_.-]')


@dataclass(frozen=True)
class CallFiles:
    """The files of one job's calls: ``<directory>/<call_id>.<suffix>``."""

    directory: pathlib.Path
    call_id: str

    def _path(self, suffix: str) -> pathlib.Path:
        return self.directory / f'{self.call_id}{suffix}'

    @property
    def call(self) -> pathlib.Path:
        """The call file (function and arguments)."""
        return self._path(runner.CALL_SUFFIX)

    @property
    def result(self) -> pathlib.Path:
        """The result file the runner writes."""
        return self._path(runner.RESULT_SUFFIX)

    @property
    def stdout(self) -> pathlib.Path:
        """The job's standard output."""
        return self._path(runner.STDOUT_SUFFIX)

    @property
    def stderr(self) -> pathlib.Path:
        """The job's standard error."""
        return self._path(runner.STDERR_SUFFIX)


# --- pickling, with the culprit named ---------------------------------------------------------

def _describe(argument: object) -> str:
    return f'(a {type(argument).__module__}.{type(argument).__qualname__})'


def pickle_function(function: object) -> bytes:
    """``function`` pickled; `CallNotPicklable` (argument ``'function'``) if it cannot be."""
    if not callable(function):
        raise TypeError(f'the function to run must be callable, not {type(function).__name__}')
    try:
        return bytes(cloudpickle.dumps(function))
    except Exception as error:
        raise CallNotPicklable(f'the function {function!r} cannot be pickled: {error}',
                               'function') from error


def pickle_call(args: Sequence[object], kwargs: Mapping[str, object],
                item: Optional[int] = None) -> bytes:
    """``(args, kwargs)`` pickled; `CallNotPicklable` naming the argument (its position, or
    its keyword) that cannot be, and for ``map`` the item."""
    try:
        return bytes(cloudpickle.dumps((tuple(args), dict(kwargs))))
    except Exception as whole_error:
        where = '' if item is None else f'map item {item}: '
        named: List[Tuple[Any, object]] = [*enumerate(args), *kwargs.items()]
        for name, value in named:
            try:
                cloudpickle.dumps(value)
            except Exception as error:
                label = f'argument {name}' if isinstance(name, int) \
                    else f'keyword argument {name!r}'
                raise CallNotPicklable(f'{where}{label} {_describe(value)} cannot be pickled: '
                                       f'{error}', name, item) from error
        raise CallNotPicklable(f'{where}the arguments cannot be pickled together: {whole_error}',
                               'arguments', item) from whole_error


def _sys_path() -> Dict[str, List[str]]:
    """Where the submitter's own modules come from, so that a function of ``tasks.py`` (pickled
    by reference) loads on the node: ``first``, its current directory and its script's, go
    before the node's own entries; ``last``, the other entries of its ``sys.path`` outside the
    Python installation (added by the program, by pytest...), after them."""
    first = [os.getcwd()]
    if sys.path and sys.path[0]:
        first.append(os.path.abspath(sys.path[0]))
    prefixes = {os.path.abspath(prefix) + os.sep
                for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    last = [os.path.abspath(entry) for entry in sys.path[1:]
            if entry and os.path.isdir(entry)
            and not any((os.path.abspath(entry) + os.sep).startswith(prefix)
                        for prefix in prefixes)]
    return {'first': list(dict.fromkeys(first)),
            'last': [entry for entry in dict.fromkeys(last) if entry not in first]}


def call_file_text(function: bytes, calls: Sequence[bytes]) -> str:
    """A call file's content: the header (this Python, cloudpickle) and the calls."""
    header = {
        'format': runner.FORMAT,
        'python': list(sys.version_info[:2]),
        'python_version': '.'.join(str(part) for part in sys.version_info[:3]),
        'python_path': sys.executable,
        'cloudpickle': cloudpickle.__version__,
        'sys_path': _sys_path(),
    }
    return runner.file_text(header, pickle.dumps((function, list(calls)), protocol=4))


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """A result file: the runner's error (the job did not run the calls), or one outcome per
    call."""

    error: Optional[str]
    outcomes: List[runner.Outcome]


def parse_result(text: str, where: str) -> Result:
    """A result file's content (text); ValueError naming ``where`` if it is not one."""
    header, payload = runner.parse_header_and_payload(text.encode('ascii', 'replace'), where)
    error = header.get('error')
    outcomes = [] if error else pickle.loads(payload)
    return Result(str(error) if error else None, list(outcomes))


def outcome_value(outcome: runner.Outcome) -> Tuple[bool, Any]:
    """``(True, value)`` for a returned value, ``(False, exception)`` for a raised one: the
    function's own exception with its remote traceback as ``__cause__`` (a `RemoteError` if it
    cannot be rebuilt here)."""
    if outcome[0] == 'value':
        try:
            return True, pickle.loads(outcome[1])
        except Exception as error:
            failure = RemoteError(type(error).__name__,
                                  f'the return value cannot be unpickled here: {error}', '')
            return False, failure
    _, data, type_name, text, traceback_text = outcome
    exception: Optional[BaseException] = None
    if data is not None:
        try:
            exception = pickle.loads(data)
        except Exception:
            exception = None
    if not isinstance(exception, BaseException):
        exception = RemoteError(type_name, text, traceback_text)
    exception.__cause__ = RemoteTraceback(traceback_text)
    return False, exception


# --- native ids -------------------------------------------------------------------------------

def native_record_name(executor: str, native_id: str) -> str:
    """The file name, in ``native/``, of the record of job ``native_id`` of ``executor``."""
    return _UNSAFE.sub('_', f'{executor}-{native_id}')


def native_record_text(executor: str, native_id: str, call_id: str, count: int) -> str:
    """The record that job ``native_id`` of ``executor`` runs the ``count`` calls of
    ``call_id``."""
    return json.dumps({'executor': executor, 'native_id': native_id, 'call_id': call_id,
                       'count': count})


def parse_native_record(text: str, where: str) -> Dict[str, Any]:
    """A record of `native_record_text`; ValueError naming ``where`` if it is not one."""
    try:
        record = json.loads(text)
    except ValueError as error:
        raise ValueError(f'{where} is not a native id record: {error}') from None
    if not isinstance(record, dict) or not isinstance(record.get('call_id'), str) \
            or not isinstance(record.get('count'), int):
        raise ValueError(f'{where} is not a native id record: {text[:200]!r}')
    return record
