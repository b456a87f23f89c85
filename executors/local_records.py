"""On-disk records of local jobs, so that another process can attach to them.

One file per job, ``<pid>.job`` in the executor's work directory (mode 0700), of JSON lines:

1. written at submit: the pid and its start time in clock ticks (to tell a reused pid apart),
   the submitting process (the owner, which reaps the job) and the job's name;
2. appended by the owner when it has reaped the job: final state, exit code, message. This
   line is the evidence for the final state.

A line counts only once its newline is written, so a reader never acts on half a record.
``<pid>.cancel`` is written by a process that cancels a job it does not own, so that the owner
reports CANCELED.
"""

import json
import os
import pathlib
import socket
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple


@dataclass
class JobRecord:
    """What the submitting process wrote about a job it started."""

    pid: int
    start_ticks: int
    owner_pid: int
    owner_start_ticks: int
    job_id: str
    name: Optional[str]


@dataclass
class ExitRecord:
    """How a job ended, as seen by the process that reaped it."""

    state: str
    exit_code: Optional[int]
    message: Optional[str]
    time: float


def _read_stat(pid: int) -> Optional[Tuple[str, int]]:
    """(state letter, start time in clock ticks since boot) of ``pid``, from /proc."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as stream:
            text = stream.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(b')') + 2:].split()
    return fields[0].decode(), int(fields[19])


def process_start_ticks(pid: int) -> int:
    """When process ``pid`` started, in clock ticks since boot (0 if it does not exist)."""
    stat = _read_stat(pid)
    return 0 if stat is None else stat[1]


def is_running(pid: int, start_ticks: int) -> bool:
    """True if the process ``pid`` that started at ``start_ticks`` is alive (not a zombie)."""
    stat = _read_stat(pid)
    return stat is not None and stat[1] == start_ticks and stat[0] not in ('Z', 'X')


class RecordStore:
    """The records of one local executor's work directory."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        self._nodefiles: Dict[int, str] = {}

    def _path(self, pid: int, kind: str) -> str:
        return f'{self.directory}/{pid}.{kind}'

    def write_job(self, record: JobRecord) -> None:
        """Record a just-started job, replacing whatever an earlier job with its pid left."""
        try:
            os.unlink(self._path(record.pid, 'cancel'))
        except FileNotFoundError:
            pass
        self._write_line(record.pid, asdict(record), os.O_CREAT | os.O_TRUNC)

    def write_exit(self, pid: int, record: ExitRecord) -> None:
        """Record how job ``pid`` ended."""
        self._write_line(pid, asdict(record), os.O_APPEND)

    def _write_line(self, pid: int, data: Dict[str, object], flags: int) -> None:
        line = (json.dumps(data) + '\n').encode()
        fd = os.open(self._path(pid, 'job'), os.O_WRONLY | flags, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def _read_lines(self, pid: int) -> List[Dict[str, object]]:
        try:
            with open(self._path(pid, 'job'), 'rb') as stream:
                text = stream.read()
        except FileNotFoundError:
            return []
        complete = text[:text.rfind(b'\n') + 1]
        return [json.loads(line) for line in complete.splitlines()]

    def read_job(self, pid: int) -> Optional[JobRecord]:
        """The record of job ``pid``, or None."""
        lines = self._read_lines(pid)
        return JobRecord(**lines[0]) if lines else None  # type: ignore[arg-type]

    def read_exit(self, pid: int) -> Optional[ExitRecord]:
        """How job ``pid`` ended, or None if that is not recorded (yet)."""
        lines = self._read_lines(pid)
        return ExitRecord(**lines[1]) if len(lines) > 1 else None  # type: ignore[arg-type]

    def mark_canceled(self, pid: int) -> None:
        """Tell the owner of job ``pid`` that it is being canceled."""
        os.close(os.open(self._path(pid, 'cancel'), os.O_WRONLY | os.O_CREAT, 0o600))

    def is_marked_canceled(self, pid: int) -> bool:
        """True if another process canceled job ``pid``."""
        return os.path.exists(self._path(pid, 'cancel'))

    def running_job_ids(self) -> List[str]:
        """The pids (as strings) of recorded jobs that have not ended."""
        found: List[int] = []
        for path in self.directory.glob('*.job'):
            pid = int(path.stem)
            lines = self._read_lines(pid)
            if len(lines) == 1 and is_running(pid, JobRecord(**lines[0]).start_ticks):  # type: ignore[arg-type]
                found.append(pid)
        return [str(pid) for pid in sorted(found)]

    def nodefile(self, process_count: int) -> str:
        """A file listing this host once per process slot (the value of PSIJ_NODEFILE)."""
        path = self._nodefiles.get(process_count)
        if path is None:
            path = f'{self.directory}/nodefile.{process_count}'
            if not os.path.exists(path):
                temporary = f'{path}.{os.getpid()}.tmp'
                with open(temporary, 'w') as stream:
                    stream.write((socket.gethostname() + '\n') * process_count)
                os.replace(temporary, path)
            self._nodefiles[process_count] = path
        return path
