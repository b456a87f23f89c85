"""Tasks' outcomes: how they are written and read back.

A worker appends each outcome to its own log, ``done/<allocation>~<worker>.results``, one
JSON object per line, the outcomes it has at once in one ``write`` (no file per task:
creating files is what a shared file system is slowest at). An outcome decided by a
submitting process (a task canceled while queued, a task out of attempts) is a file of its
own, ``done/<task>.ec``, written atomically.
Either way an outcome is written once and never changes.

A reader takes only whole lines (a line is whole once its newline is written) and reads each
log from where it stopped the last time, so following 10,000 outcomes costs one directory
listing and one read per log per look.
"""

import json
import os
import pathlib
from typing import Any, Dict, List, Tuple

RESULT_SUFFIX = '.ec'
LOG_SUFFIX = '.results'


class ResultLog:
    """One worker's log of outcomes (append only; one writer)."""

    def __init__(self, done: pathlib.Path, allocation: str, worker: str) -> None:
        self.path = done / f'{allocation}~{worker}{LOG_SUFFIX}'
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, task_id: str, result: Dict[str, Any]) -> None:
        """Record ``task_id``'s outcome; on return it is in the file."""
        line = json.dumps(dict(result, id=task_id), separators=(',', ':')) + '\n'
        os.write(self._fd, line.encode())

    def append_many(self, results: List[Tuple[str, Dict[str, Any]]]) -> None:
        """Record several outcomes with one ``write`` (whole lines: a reader that sees part
        of it takes the lines that are whole); on return they are in the file."""
        data = ''.join(json.dumps(dict(result, id=task_id), separators=(',', ':')) + '\n'
                       for task_id, result in results).encode()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        """Close the log."""
        os.close(self._fd)


class ResultReader:
    """Every outcome of a pilot, read incrementally (`refresh`)."""

    def __init__(self, done: pathlib.Path) -> None:
        self.done = done
        self.results: Dict[str, Dict[str, Any]] = {}
        self._offsets: Dict[str, int] = {}

    def refresh(self) -> List[str]:
        """Read what was written since the last call; the ids of the new outcomes."""
        new: List[str] = []
        try:
            names = os.listdir(self.done)
        except FileNotFoundError:
            return new
        for name in names:
            if name.startswith('.'):
                continue
            if name.endswith(RESULT_SUFFIX):
                task_id = name[:-len(RESULT_SUFFIX)]
                if task_id not in self.results:
                    result = _read_json(self.done / name)
                    if result is not None:
                        self.results[task_id] = result
                        new.append(task_id)
            elif name.endswith(LOG_SUFFIX):
                new += self._read_log(name)
        return new

    def _read_log(self, name: str) -> List[str]:
        offset = self._offsets.get(name, 0)
        with open(self.done / name, 'rb') as stream:
            stream.seek(offset)
            data = stream.read()
        end = data.rfind(b'\n') + 1
        self._offsets[name] = offset + end
        new: List[str] = []
        for line in data[:end].splitlines():
            result = json.loads(line)
            task_id = str(result.pop('id'))
            if task_id not in self.results:
                self.results[task_id] = result
                new.append(task_id)
        return new


def _read_json(path: pathlib.Path) -> 'Dict[str, Any] | None':
    try:
        with open(path) as stream:
            document: Dict[str, Any] = json.load(stream)
    except FileNotFoundError:
        return None
    return document
