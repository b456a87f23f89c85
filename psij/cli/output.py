"""How jobs are shown: one text line per job, or JSON records with stable keys.

A job record (``--json``) always has exactly these keys (docs/cli.md):

``executor``, ``native_id``, ``job_id`` (psij's own id; null for a job found by native id),
``state`` (null when ``error`` is set), ``final``, ``exit_code``, ``message``, ``time``
(when the state was entered, seconds since the epoch), ``metadata`` (executor-specific,
may be null) and ``error`` (null, or why the id could not be looked up).
"""

import json
import sys
from typing import IO, Any, Dict, Optional

from psij.job_status import JobStatus


def status_text(native_id: str, status: JobStatus) -> str:
    """``12345 FAILED exit=3 (exit code 3)``: id, state, exit code and message if known."""
    text = f'{native_id} {status.state.value}'
    if status.exit_code is not None:
        text += f' exit={status.exit_code}'
    if status.message:
        text += f' ({status.message})'
    return text


def job_record(executor: str, native_id: str, status: Optional[JobStatus],
               job_id: Optional[str] = None, error: Optional[str] = None) -> Dict[str, Any]:
    """The JSON record of one job (see the module docstring for the keys)."""
    return {
        'executor': executor,
        'native_id': native_id,
        'job_id': job_id,
        'state': None if status is None else status.state.value,
        'final': False if status is None else status.final,
        'exit_code': None if status is None else status.exit_code,
        'message': None if status is None else status.message,
        'time': None if status is None else status.time,
        'metadata': None if status is None else status.metadata,
        'error': error,
    }


def print_json(document: Dict[str, Any], stream: Optional[IO[str]] = None) -> None:
    """Write ``document`` as one line of JSON, keys sorted."""
    target = sys.stdout if stream is None else stream
    # default=str: executor metadata may hold values JSON does not know.
    target.write(json.dumps(document, sort_keys=True, default=str) + '\n')
    target.flush()


def print_line(text: str, stream: Optional[IO[str]] = None) -> None:
    """Write one line of text and flush it (output may be read while psij runs)."""
    target = sys.stdout if stream is None else stream
    target.write(text + '\n')
    target.flush()
