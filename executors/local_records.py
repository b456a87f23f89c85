"""On-disk records of local jobs, so that another process can attach to them.

Each submitting process appends to its own journal in the executor's work directory (mode
0700), ``journal.<pid>.<start ticks>.jsonl``, kept open for appending, so that recording a
job costs two ``write`` calls and no file creation (creating a file per job halved the
throughput on a busy disk). Lines are JSON:

- at submit: the job's pid and its start time in clock ticks (a reused pid starts at another
  time), its id and name;
- once the submitter has reaped the job: the same pid and ticks with ``"exit"``: final state,
  exit code, message. This line is the evidence for the final state.

Each line goes out in one ``write`` to a file opened with O_APPEND, and a reader only uses
lines whose newline it has seen, so a reader never acts on half a record. The submitting
process is the journal's owner; its pid and start ticks are in the file name.
``<pid>.<start ticks>.cancel`` is written by a process that cancels a job it does not own,
before it signals the job, so that the owner reports CANCELED (and, if the owner ended first,
so that every process that attaches reports the same CANCELED). The start ticks in the name
keep a mark from applying to a later job that got the same pid.

Journals of processes that have ended, cancel marks, launcher logs and the records of held
jobs (`psij.executors.local_held_records`: those of the detached watcher, and the waiting
journals of processes that have ended) are removed once they have not been modified for
`RECORD_RETENTION` (30 days), by the first local executor a process makes for the directory
(`RecordStore.prune`): a later attach to such a job finds no record.
"""

import json
import os
import pathlib
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from psij.private_directories import make_private_directory

#: Records not modified for this many seconds are removed (see `RecordStore.prune`).
RECORD_RETENTION = 30 * 24 * 3600.0

_pruned_directories: Set[str] = set()
_pruned_lock = threading.Lock()


@dataclass
class JobRecord:
    """What the submitting process wrote about a job it started."""

    pid: int
    start_ticks: int
    job_id: str
    name: Optional[str]
    owner_pid: int = 0
    owner_start_ticks: int = 0


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


@dataclass
class _ParsedJournal:
    """What has been read of one journal so far."""

    owner_pid: int
    owner_start_ticks: int
    offset: int = 0
    starts: Dict[int, JobRecord] = field(default_factory=dict)
    exits: Dict[Tuple[int, int], ExitRecord] = field(default_factory=dict)


class RecordStore:
    """The records of one local executor's work directory."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        make_private_directory(directory)
        self._nodefiles: Dict[int, str] = {}
        self._lock = threading.Lock()
        self._journal_fd: Optional[int] = None
        self._journal_owner = (0, 0)
        self._parsed: Dict[str, _ParsedJournal] = {}

    # --- writing (the submitting process) ---------------------------------------------------

    def owner(self) -> Tuple[int, int]:
        """(pid, start ticks) of this process, the owner of the jobs it records."""
        pid = os.getpid()
        if self._journal_owner[0] != pid:
            self._journal_owner = (pid, process_start_ticks(pid))
            self._journal_fd = None  # after a fork, the child writes its own journal
        return self._journal_owner

    def _append(self, data: Dict[str, object]) -> None:
        line = (json.dumps(data) + '\n').encode()
        with self._lock:
            owner_pid, owner_ticks = self.owner()
            if self._journal_fd is None:
                path = f'{self.directory}/journal.{owner_pid}.{owner_ticks}.jsonl'
                self._journal_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(self._journal_fd, line)

    def write_job(self, record: JobRecord) -> None:
        """Record a just-started job."""
        self._append({'pid': record.pid, 'start_ticks': record.start_ticks,
                       'job_id': record.job_id, 'name': record.name})

    def write_exit(self, job: JobRecord, record: ExitRecord) -> None:
        """Record how ``job`` ended."""
        # Spelled out: dataclasses.asdict costs more than the rest of the line (it runs
        # before the job's final callbacks).
        self._append({'pid': job.pid, 'start_ticks': job.start_ticks, 'exit': {
            'state': record.state, 'exit_code': record.exit_code, 'message': record.message,
            'time': record.time}})

    # --- reading (any process) --------------------------------------------------------------

    def _refresh(self) -> List[_ParsedJournal]:
        """Read what every journal gained since the last call."""
        journals: List[_ParsedJournal] = []
        for path in self.directory.glob('journal.*.jsonl'):
            key = str(path)
            parsed = self._parsed.get(key)
            if parsed is None:
                _, owner_pid, owner_ticks, _ = path.name.split('.')
                parsed = _ParsedJournal(int(owner_pid), int(owner_ticks))
                self._parsed[key] = parsed
            with open(key, 'rb') as stream:
                stream.seek(parsed.offset)
                text = stream.read()
            complete = text[:text.rfind(b'\n') + 1]
            parsed.offset += len(complete)
            for line in complete.splitlines():
                self._parse_line(parsed, json.loads(line))
            journals.append(parsed)
        return journals

    @staticmethod
    def _parse_line(parsed: _ParsedJournal, data: Dict[str, object]) -> None:
        pid, ticks = int(data['pid']), int(data['start_ticks'])  # type: ignore[call-overload]
        exit_data = data.get('exit')
        if isinstance(exit_data, dict):
            parsed.exits[(pid, ticks)] = ExitRecord(**exit_data)
        else:
            name = data.get('name')
            parsed.starts[pid] = JobRecord(
                pid=pid, start_ticks=ticks, job_id=str(data['job_id']),
                name=name if isinstance(name, str) else None,
                owner_pid=parsed.owner_pid, owner_start_ticks=parsed.owner_start_ticks)

    def find(self, pid: int, refresh: bool = True
             ) -> Optional[Tuple[JobRecord, Optional[ExitRecord]]]:
        """The latest job recorded with ``pid`` and how it ended (None while unknown).

        ``refresh=False`` looks only at what was read before (callers checking many jobs
        refresh once with `refresh`).
        """
        with self._lock:
            journals = self._refresh() if refresh else list(self._parsed.values())
        best: Optional[Tuple[JobRecord, Optional[ExitRecord]]] = None
        for parsed in journals:
            record = parsed.starts.get(pid)
            if record is not None and (best is None or record.start_ticks > best[0].start_ticks):
                best = (record, parsed.exits.get((pid, record.start_ticks)))
        return best

    def find_job(self, job_id: str) -> Optional[Tuple[JobRecord, Optional[ExitRecord]]]:
        """The job recorded with the psij job id ``job_id`` and how it ended (read afresh;
        it goes through every record: for the rare look-up by job id)."""
        with self._lock:
            journals = self._refresh()
        for parsed in journals:
            for record in parsed.starts.values():
                if record.job_id == job_id:
                    return record, parsed.exits.get((record.pid, record.start_ticks))
        return None

    def refresh(self) -> None:
        """Read what every journal gained since the last read."""
        with self._lock:
            self._refresh()

    def running_job_ids(self) -> List[str]:
        """The pids (as strings) of recorded jobs that have not ended."""
        with self._lock:
            journals = self._refresh()
        found = set()
        for parsed in journals:
            for pid, record in parsed.starts.items():
                if ((pid, record.start_ticks) not in parsed.exits
                        and is_running(pid, record.start_ticks)):
                    found.add(pid)
        return [str(pid) for pid in sorted(found)]

    # --- old records --------------------------------------------------------------------------

    def prune_once(self, retention: float = RECORD_RETENTION) -> int:
        """`prune`, the first time a process asks for this directory; 0 after that."""
        with _pruned_lock:
            if str(self.directory) in _pruned_directories:
                return 0
            _pruned_directories.add(str(self.directory))
        return self.prune(retention)

    def prune(self, retention: float = RECORD_RETENTION) -> int:
        """Remove the journals of processes that have ended, the cancel marks and the
        launcher logs not modified for ``retention`` seconds; returns how many went."""
        limit = time.time() - retention
        removed = 0
        for pattern in ('journal.*.jsonl', 'waiting.*.jsonl', '*.cancel', '*.launcher.log',
                        'held.*.json'):
            for path in self.directory.glob(pattern):
                if pattern.endswith('.jsonl'):  # <kind>.<owner pid>.<owner ticks>.jsonl
                    try:
                        _, owner_pid, owner_ticks, _ = path.name.split('.')
                        owner = (int(owner_pid), int(owner_ticks))
                    except ValueError:
                        continue
                    if is_running(*owner):
                        continue
                try:
                    if path.stat().st_mtime >= limit:
                        continue
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed += 1
                with self._lock:
                    self._parsed.pop(str(path), None)
        return removed

    # --- cancel marks and node files ----------------------------------------------------------

    def _cancel_mark(self, job: JobRecord) -> str:
        return f'{self.directory}/{job.pid}.{job.start_ticks}.cancel'

    def mark_canceled(self, job: JobRecord) -> None:
        """Record that ``job`` is being canceled; call it before signalling the job, so that
        whoever sees the job end also sees the mark."""
        os.close(os.open(self._cancel_mark(job), os.O_WRONLY | os.O_CREAT, 0o600))

    def is_marked_canceled(self, job: JobRecord) -> bool:
        """True if some process called `mark_canceled` for ``job``."""
        return os.path.exists(self._cancel_mark(job))

    def nodefile(self, process_count: int) -> str:
        """A file listing this host once per process slot (the value of PSIJ_NODEFILE)."""
        path = self._nodefiles.get(process_count)
        if path is None:
            path = f'{self.directory}/nodefile.{process_count}'
            if not os.path.exists(path):
                # Threads and processes may all be here at once: each writes a file of its
                # own and renames it, so the node file is complete whenever it exists.
                descriptor, temporary = tempfile.mkstemp(
                    prefix=f'nodefile.{process_count}.', suffix='.tmp', dir=self.directory)
                try:
                    with os.fdopen(descriptor, 'w') as stream:
                        stream.write((socket.gethostname() + '\n') * process_count)
                    os.replace(temporary, path)
                except BaseException:
                    _remove(temporary)
                    raise
            self._nodefiles[process_count] = path
        return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
