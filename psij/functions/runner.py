"""What a function job runs: ``PYTHON runner.py CALL_FILE`` (or ``python -m
psij.functions.runner CALL_FILE``).

This module imports only the standard library (and cloudpickle, once it has checked that it is
there), because it runs on the nodes, with the Python the `FunctionExecutor` was told to use,
where psij and its dependencies may not be installed: `psij.functions.calls` copies this file
into the executor's work directory and jobs run that copy by path.

A call file is one line of JSON (the header: the submitter's Python and cloudpickle versions,
and the directories to put on ``sys.path``) followed by a pickle, in base64, of ``(function
bytes, [call bytes, ...])``, each part pickled on its own by cloudpickle, so that arguments that
cannot be loaded fail only their own call. Both files are text (ASCII), so that they go through
any transport's text files unchanged: over SSH the call files are written, and the results read,
on the far side (`psij.functions.store`). The runner checks the header first: a Python whose version
(major.minor) differs from the submitter's, or one without cloudpickle, fails the job with
exit status `EXIT_MISMATCH` and a result file saying what differs (and the same text on
stderr). Then it runs each call in order and writes the result file: one line of JSON (the
header: ``error``, the number of outcomes) followed by a pickle of the outcomes (base64), each
``('value', bytes)`` or ``('raised', exception bytes or None, type name, text, traceback)``.
The result file is written under a temporary name with mode 0600 and renamed, so a reader sees
a whole file or none.

Under a parallel launcher every rank runs the calls; only rank 0 (``PSIJ_RANK`` unset or 0)
writes the result.
"""

import base64
import binascii
import json
import os
import pickle
import sys
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: The suffixes of the files of one call (``<call id><suffix>``), in the same directory.
CALL_SUFFIX = '.call'
RESULT_SUFFIX = '.result'
STDOUT_SUFFIX = '.out'
STDERR_SUFFIX = '.err'
#: The version of both file formats (2: the pickle in base64).
FORMAT = 2
#: Exit statuses: a call raised; the Python here does not match the submitter's; the call file
#: could not be read or its function loaded.
EXIT_RAISED = 1
EXIT_MISMATCH = 3
EXIT_UNREADABLE = 4

Outcome = Tuple[Any, ...]


def result_path(call_path: str) -> str:
    """The result file of the call file ``call_path``."""
    stem = call_path[:-len(CALL_SUFFIX)] if call_path.endswith(CALL_SUFFIX) else call_path
    return stem + RESULT_SUFFIX


def parse_header_and_payload(data: bytes, where: str) -> Tuple[Dict[str, Any], bytes]:
    """The JSON header line of a call or result file's content ``data``, and the bytes the
    base64 after it stands for; ValueError naming ``where`` if it is not such a file."""
    line, _, payload = data.partition(b'\n')
    try:
        header = json.loads(line.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f'{where}: the first line is not JSON ({error})') from None
    if not isinstance(header, dict):
        raise ValueError(f'{where}: the first line is not a JSON object')
    if header.get('format') != FORMAT:
        raise ValueError(f'{where}: format {header.get("format")!r}, this runner reads '
                         f'format {FORMAT}')
    try:
        return header, base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f'{where}: the payload is not base64 ({error})') from None


def read_header_and_payload(path: str) -> Tuple[Dict[str, Any], bytes]:
    """The JSON header line and the payload of the call or result file ``path``."""
    with open(path, 'rb') as stream:
        data = stream.read()
    return parse_header_and_payload(data, path)


def file_text(header: Dict[str, Any], payload: bytes) -> str:
    """A call or result file's content: the JSON header line, then ``payload`` in base64."""
    return (json.dumps(header) + '\n'
            + base64.encodebytes(payload).decode('ascii'))


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) under a temporary name, then rename it."""
    temporary = f'{path}.tmp-{os.getpid()}'
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, 'wb') as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def result_bytes(outcomes: Sequence[Outcome], error: Optional[str]) -> bytes:
    """A result file's content."""
    header = {'format': FORMAT, 'error': error, 'count': len(outcomes)}
    return file_text(header, pickle.dumps(list(outcomes), protocol=4)).encode('ascii')


def _cloudpickle() -> Any:
    """The cloudpickle module (imported here: this file must run, and say so, without it)."""
    import cloudpickle  # type: ignore[import-untyped,unused-ignore]
    return cloudpickle


def mismatch(header: Dict[str, Any]) -> Optional[str]:
    """What differs between this Python and the submitter's (None: nothing that matters)."""
    here = '.'.join(str(part) for part in sys.version_info[:3])
    wanted = header.get('python') or []
    problems: List[str] = []
    if list(sys.version_info[:2]) != list(wanted):
        problems.append(
            f'Python {here} here ({sys.executable}), but the function was submitted from '
            f'Python {header.get("python_version", "?")} ({header.get("python_path", "?")}); '
            f'cloudpickle needs the same major.minor version on both sides')
    try:
        cloudpickle = _cloudpickle()
    except ImportError as error:
        problems.append(f'cloudpickle cannot be imported by {sys.executable} ({error}); '
                        f'install cloudpickle {header.get("cloudpickle", "")} there')
    else:
        submitted = header.get('cloudpickle')
        if submitted and cloudpickle.__version__ != submitted:
            print(f'psij runner: warning: cloudpickle {cloudpickle.__version__} here, '
                  f'{submitted} where the function was submitted', file=sys.stderr)
    if not problems:
        return None
    return 'the Python running this function job does not match: ' + '; '.join(problems)


def _raised(error: BaseException, when: str = '') -> Outcome:
    cloudpickle = _cloudpickle()
    text = ''.join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        dumped: bytes = cloudpickle.dumps(error)
        pickle.loads(dumped)  # an exception whose reconstruction fails is sent as text only
        data: Optional[bytes] = dumped
    except Exception:
        data = None
    name = f'{type(error).__module__}.{type(error).__qualname__}'
    return ('raised', data, name, when + str(error), text)


def run_calls(function_bytes: bytes, calls: Sequence[bytes]) -> List[Outcome]:
    """Load the function and run it on each call's arguments; an outcome per call."""
    cloudpickle = _cloudpickle()
    function = cloudpickle.loads(function_bytes)
    outcomes: List[Outcome] = []
    for call in calls:
        try:
            args, kwargs = cloudpickle.loads(call)
        except Exception as error:
            outcomes.append(_raised(error, 'loading the arguments on the node failed: '))
            continue
        try:
            value = function(*args, **kwargs)
        except BaseException as error:  # SystemExit and KeyboardInterrupt are results too
            outcomes.append(_raised(error))
            continue
        try:
            outcomes.append(('value', cloudpickle.dumps(value)))
        except Exception as error:
            outcomes.append(_raised(error, 'the return value cannot be pickled: '))
    return outcomes


def main(argv: Sequence[str]) -> int:
    """Run the call file ``argv[1]``; the exit status (see the module docstring)."""
    if len(argv) != 2:
        print('usage: runner.py CALL_FILE', file=sys.stderr)
        return 2
    call_path = argv[1]
    writes = os.environ.get('PSIJ_RANK', '0') == '0'

    def fail(status: int, message: str) -> int:
        print(f'psij runner: {message}', file=sys.stderr)
        if writes:
            write_atomically(result_path(call_path), result_bytes([], message))
        return status

    try:
        header, payload = read_header_and_payload(call_path)
    except (OSError, ValueError) as error:
        return fail(EXIT_UNREADABLE, f'cannot read the call file {call_path}: {error}')
    problem = mismatch(header)
    if problem is not None:
        return fail(EXIT_MISMATCH, problem)
    # Functions of the submitter's own modules are pickled by reference: make them importable.
    paths = header.get('sys_path') or {}
    for entry in reversed(paths.get('first') or []):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    sys.path.extend(entry for entry in paths.get('last') or [] if entry not in sys.path)
    try:
        function_bytes, calls = pickle.loads(payload)
        outcomes = run_calls(function_bytes, calls)
    except Exception:
        return fail(EXIT_UNREADABLE, 'cannot load the function (is its module importable '
                    'on the node?):\n' + traceback.format_exc())
    sys.stdout.flush()
    sys.stderr.flush()
    if writes:
        write_atomically(result_path(call_path), result_bytes(outcomes, None))
    return EXIT_RAISED if any(outcome[0] == 'raised' for outcome in outcomes) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
