"""The pilot's tasks on the shared file system: queued, claimed, finished.

One directory per pilot (``<work_directory>/pilot/<name>``), visible from every node, is the
only channel between the submitting processes and the workers; there is no server::

    queue/<task>~<cores>~<gpus>~<memory>~<seconds>.task
                                                 waiting; JSON: id, attempt, spec
                                                 (or a batch of an array's elements:
                                                 `psij.pilot.task_batches`)
    claimed/<allocation>/<worker>/<same name>    taken by a worker (one atomic rename)
    ended/<allocation>/...                       an ended allocation's claims, being released
    done/                                        outcomes (`psij.pilot.outcomes`)
    cancel/<task>                                a cancel asked for (by any process)
    allocations/<allocation>.json                an allocation's record (see `allocations`)

The request is in the file name so that a worker places tasks from one directory listing,
without reading them: what the task needs of a node, and the seconds it says it needs
(`QueueEntry.duration`; 0: it says nothing), which a worker compares with the time its
allocation has left. A name without the seconds (written before they were added) reads as 0.
A claim is a rename, so two workers never take the same task; a task goes back to
``queue/`` only when the allocation that held it is known to have ended, so it never runs
twice at the same time (it may run again after a worker died between its end and its
``.ec``: at least once, never concurrently).
"""

import fcntl
import json
import os
import pathlib
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from psij.pilot.outcomes import RESULT_SUFFIX, ResultLog, ResultReader
from psij.pilot.task_batches import batch_range, holds, release_batch, task_count, withdraw_batch
from psij.private_directories import make_private_directory
from psij.resource_packing import Resources

TASK_SUFFIX = '.task'


#: What one task needs of a node: cores, GPUs and bytes of memory (the placement's own type,
#: so that a listing goes to `psij.resource_packing` without a conversion).
TaskRequest = Resources


@dataclass(frozen=True)
class QueueEntry:
    """A task file as named in a listing; sorting by ``file_name`` is arrival order."""

    task_id: str
    request: TaskRequest
    file_name: str
    #: Whole seconds the task says it runs at most (its ``JobAttributes.duration``, rounded
    #: up); 0 if it says nothing. A worker starts it only with at least this long left.
    duration: int = 0


def entry_name(task_id: str, request: TaskRequest, duration: int = 0) -> str:
    """The file name of a task: its id, its request and its duration in seconds."""
    return (f'{task_id}~{request.cores}~{request.gpus}~{request.memory}~{duration}'
            f'{TASK_SUFFIX}')


def parse_entry_name(name: str) -> Optional[QueueEntry]:
    """The entry a file name stands for, or None for anything else (temporary files)."""
    if not name.endswith(TASK_SUFFIX):
        return None
    parts = name[:-len(TASK_SUFFIX)].split('~')
    if len(parts) not in (4, 5) or not all(part.isdigit() for part in parts[1:]):
        return None
    duration = int(parts[4]) if len(parts) == 5 else 0
    return QueueEntry(parts[0], TaskRequest(int(parts[1]), int(parts[2]), int(parts[3])), name,
                      duration)


def _write_atomically(path: pathlib.Path, text: str) -> None:
    temporary = path.parent / f'.{path.name}.{os.getpid()}.tmp'
    with open(temporary, 'w') as stream:
        stream.write(text)
    os.replace(temporary, path)


def _names(directory: pathlib.Path) -> List[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


class PilotDirectory:
    """The file operations on one pilot directory; safe from any number of processes."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.queue = root / 'queue'
        self.claimed = root / 'claimed'
        self.ended = root / 'ended'
        self.done = root / 'done'
        self.cancel = root / 'cancel'
        self.allocations = root / 'allocations'

    def ensure(self) -> None:
        """Create the directory tree (mode 0700) if it is not there."""
        for directory in (self.queue, self.claimed, self.ended, self.done, self.cancel,
                          self.allocations):
            make_private_directory(directory)

    # --- queue ---------------------------------------------------------------------------

    def put(self, task_id: str, request: TaskRequest, document: Dict[str, Any],
            duration: int = 0) -> None:
        """Queue a task that needs ``request`` for at most ``duration`` seconds (0: not
        said): ``document`` (id, attempt, spec) appears whole or not at all."""
        _write_atomically(self.queue / entry_name(task_id, request, duration),
                          json.dumps(document))

    def queued(self) -> List[QueueEntry]:
        """The waiting tasks, oldest first."""
        entries = [parse_entry_name(name) for name in _names(self.queue)]
        return sorted((entry for entry in entries if entry is not None),
                      key=lambda entry: entry.file_name)

    def waiting_count(self) -> int:
        """How many tasks wait (one listing, no sorting; a batch counts its elements)."""
        return self.waiting_demand()[0]

    def waiting_demand(self) -> Tuple[int, int]:
        """How many tasks wait, and the longest duration (seconds) one of them says it needs
        (0: none says); one listing, no sorting, no file read."""
        count = longest = 0
        for name in _names(self.queue):
            if not name.endswith(TASK_SUFFIX) or name.startswith('.'):
                continue
            parts = name[:-len(TASK_SUFFIX)].split('~')
            count += task_count(parts[0])
            if len(parts) == 5 and parts[4].isdigit():
                longest = max(longest, int(parts[4]))
        return count, longest

    def claim(self, entry: QueueEntry, worker_directory: pathlib.Path) -> Optional[pathlib.Path]:
        """Take ``entry`` for a worker; None if another worker (or a cancel) took it first."""
        target = worker_directory / entry.file_name
        try:
            os.rename(self.queue / entry.file_name, target)
        except FileNotFoundError:
            return None
        return target

    def worker_directory(self, allocation: str, worker: str) -> pathlib.Path:
        """Where a worker's claims go (made if missing)."""
        directory = self.claimed / allocation / worker
        make_private_directory(directory)
        return directory

    @staticmethod
    def read_task(path: pathlib.Path) -> Dict[str, Any]:
        """A task file's document."""
        with open(path) as stream:
            document: Dict[str, Any] = json.load(stream)
        return document

    # --- claims --------------------------------------------------------------------------

    def claims(self) -> Iterator[Tuple[str, str, QueueEntry]]:
        """``(allocation, worker, entry)`` of every task a worker holds now."""
        for allocation in _names(self.claimed):
            for worker in _names(self.claimed / allocation):
                for name in _names(self.claimed / allocation / worker):
                    entry = parse_entry_name(name)
                    if entry is not None:
                        yield allocation, worker, entry

    def release(self, allocation: str, max_attempts: int,
                reason: str) -> Tuple[List[str], List[str]]:
        """After ``allocation`` ended: queue its unfinished tasks again, or fail those that
        had ``max_attempts`` runs. Returns (requeued ids, failed ids).

        Under the pilot's lock, so one process does it; one that died half way through leaves
        ``ended/<allocation>`` for the next call to finish.
        """
        with open(self.root / 'release.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._release(allocation, max_attempts, reason)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _release(self, allocation: str, max_attempts: int,
                 reason: str) -> Tuple[List[str], List[str]]:
        source = self.claimed / allocation
        held = self.ended / allocation
        try:
            os.rename(source, held)
        except FileNotFoundError:
            if not held.is_dir():
                return [], []  # no claim was ever made, or released already
        requeued: List[str] = []
        failed: List[str] = []
        reader = ResultReader(self.done)
        reader.refresh()
        canceled = self.cancel_requests()
        finished = set(reader.results)
        for worker in _names(held):
            for name in _names(held / worker):
                entry = parse_entry_name(name)
                path = held / worker / name
                if entry is None:
                    continue
                if batch_range(entry.task_id) is not None:
                    again, out = release_batch(self, allocation, entry, self.read_task(path),
                                               finished, canceled, max_attempts, reason)
                    requeued += again
                    failed += out
                elif entry.task_id in canceled and entry.task_id not in reader.results:
                    self.write_result(entry.task_id, {
                        'state': 'CANCELED', 'exit_code': None, 'allocation': allocation,
                        'message': f'canceled; {reason} before the cancel reached it'})
                elif entry.task_id not in reader.results:
                    document = self.read_task(path)
                    attempt = int(document.get('attempt', 1))
                    history = list(document.get('history', []))
                    history.append(f'attempt {attempt} on allocation {allocation}: {reason}')
                    if attempt >= max_attempts:
                        self.write_result(entry.task_id, {
                            'state': 'FAILED', 'exit_code': None, 'attempt': attempt,
                            'allocation': allocation,
                            'message': f'{reason}; the task ran {attempt} of at most '
                                       f'{max_attempts} times ({"; ".join(history)})'})
                        failed.append(entry.task_id)
                    else:
                        document['attempt'] = attempt + 1
                        document['history'] = history
                        self.put(entry.task_id, entry.request, document, entry.duration)
                        requeued.append(entry.task_id)
                os.unlink(path)
            os.rmdir(held / worker)
        os.rmdir(held)
        return requeued, failed

    # --- results and cancels -------------------------------------------------------------

    def result_log(self, allocation: str, worker: str) -> ResultLog:
        """A worker's log of outcomes (see `psij.pilot.outcomes`)."""
        return ResultLog(self.done, allocation, worker)

    def write_result(self, task_id: str, result: Dict[str, Any]) -> None:
        """Record an outcome decided outside a worker (state, exit_code, message...)."""
        result.setdefault('time', time.time())
        _write_atomically(self.done / f'{task_id}{RESULT_SUFFIX}', json.dumps(result))

    def request_cancel(self, task_id: str) -> None:
        """Leave a cancel mark for whichever worker holds the task."""
        (self.cancel / task_id).touch()

    def cancel_requests(self) -> Set[str]:
        """The ids of tasks a cancel was asked for."""
        return set(_names(self.cancel))

    def withdraw(self, task_id: str) -> bool:
        """Take a still-queued task out of the queue and record it CANCELED; False if no
        worker-free copy of it is queued (it runs, or has ended)."""
        for entry in self.queued():
            if not holds(entry.task_id, task_id):
                continue
            if batch_range(entry.task_id) is not None:
                return withdraw_batch(self, entry, self.cancel_requests())
            target = self.done / f'.{entry.file_name}.withdrawn'
            try:
                os.rename(self.queue / entry.file_name, target)
            except FileNotFoundError:
                return False
            self.write_result(task_id, {'state': 'CANCELED', 'exit_code': None,
                                        'message': 'canceled while queued'})
            os.unlink(target)
            return True
        return False

    def locate(self, task_id: str) -> Optional[str]:
        """Where a task is: 'done', 'claimed', 'queue', or None if this pilot has no such
        task (looked up in that order, then once more: a task moves while we look)."""
        reader = ResultReader(self.done)
        for _ in range(2):
            reader.refresh()
            if task_id in reader.results:
                return 'done'
            if any(holds(entry.task_id, task_id) for _, _, entry in self.claims()):
                return 'claimed'
            if any(holds(entry.task_id, task_id) for entry in self.queued()):
                return 'queue'
        return None
