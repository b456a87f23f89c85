"""Tasks' standard output and error streamed into one file per worker, and read back.

Opt-in (``PilotExecutorConfig(stream_outputs=True)``), as HyperQueue does, to spare the shared
file system one or two files per task: a task whose ``stdout_path``/``stderr_path`` is not set
writes to a file in the node's own temporary directory; when it ends, its worker appends that
file to ``outputs/<allocation>~<worker>.stream`` as one frame, before recording the task's
outcome (so a task seen ended has its output there), and deletes it. A frame is a JSON header
line, ``{"task": ID, "attempt": N, "stream": "stdout", "length": L}``, then L bytes, then a
newline. One writer per file; a reader stops at a frame not yet whole.
"""

import json
import os
import pathlib
from typing import Dict, Iterator, Tuple

STREAM_SUFFIX = '.stream'


class StreamWriter:
    """One worker's stream file (append only)."""

    def __init__(self, directory: pathlib.Path, allocation: str, worker: str) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        self.path = directory / f'{allocation}~{worker}{STREAM_SUFFIX}'
        self._stream = open(self.path, 'ab')

    def append(self, task_id: str, attempt: int, stream: str, source: pathlib.Path) -> None:
        """Append ``source``'s bytes as the ``stream`` of ``task_id`` (a missing file: empty)."""
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            data = b''
        header = json.dumps({'task': task_id, 'attempt': attempt, 'stream': stream,
                             'length': len(data)}, separators=(',', ':'))
        self._stream.write(header.encode() + b'\n' + data + b'\n')
        self._stream.flush()

    def close(self) -> None:
        """Close the file."""
        self._stream.close()


def frames(path: pathlib.Path) -> Iterator[Tuple[Dict[str, object], bytes]]:
    """Every whole frame of one stream file: (header, bytes)."""
    with open(path, 'rb') as stream:
        while True:
            line = stream.readline()
            if not line.endswith(b'\n'):
                return
            header = json.loads(line)
            length = int(header['length'])
            data = stream.read(length + 1)
            if len(data) < length + 1:
                return
            yield header, data[:length]


def task_output(directory: pathlib.Path, task_id: str, stream: str = 'stdout') -> bytes:
    """What ``task_id`` wrote on ``stream`` (``stdout`` or ``stderr``) in its last recorded
    run; KeyError if no worker streamed it."""
    if stream not in ('stdout', 'stderr'):
        raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")
    found: Dict[int, bytes] = {}
    for name in sorted(os.listdir(directory)) if directory.is_dir() else []:
        if not name.endswith(STREAM_SUFFIX):
            continue
        for header, data in frames(directory / name):
            if header.get('task') == task_id and header.get('stream') == stream:
                found[int(str(header.get('attempt', 1)))] = data
    if not found:
        raise KeyError(f'no {stream} of task {task_id!r} was streamed in {directory}')
    return found[max(found)]
