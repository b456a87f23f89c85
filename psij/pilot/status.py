"""What a pilot is doing, read from its directory: allocations, workers, tasks, utilisation.

Read only; any process (``psij pilot status``) can call it while the pilot runs. The figures
are one look at the files: a task moving meanwhile may be counted in the state it left.
"""

import json
import pathlib
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from psij.pilot.outcomes import ResultReader
from psij.pilot.task_queue import PilotDirectory


@dataclass
class WorkerStatus:
    """One worker: where it runs, what it offers, what its tasks take now."""

    name: str
    host: str
    cores: int
    busy_cores: int
    running: int
    started: float


@dataclass
class AllocationStatus:
    """One allocation: its job, whether it ended (and how), its workers."""

    key: str
    executor: str
    native_id: Optional[str]
    submitted: float
    ended: Optional[Dict[str, Any]]
    workers: List[WorkerStatus] = field(default_factory=list)


@dataclass
class PilotStatus:
    """A pilot at one moment. ``tasks``: counts by state (QUEUED: waiting for room, ACTIVE:
    held by a worker, then the final states). ``utilisation``: busy cores over the cores of
    the workers of allocations that have not ended (None without any)."""

    name: str
    directory: str
    allocations: List[AllocationStatus]
    tasks: Dict[str, int]
    utilisation: Optional[float]

    def to_dict(self) -> Dict[str, Any]:
        """The status as plain JSON values."""
        return asdict(self)


def _read(path: pathlib.Path) -> Optional[Dict[str, Any]]:
    try:
        document: Dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return document


def pilot_status(root: pathlib.Path, name: str) -> PilotStatus:
    """The status of the pilot whose directory is ``root``; ValueError if there is none."""
    directory = PilotDirectory(root)
    if not directory.queue.is_dir():
        raise ValueError(f'no pilot {name!r} at {root} (its queue directory is missing)')
    busy: Dict[str, Dict[str, List[int]]] = {}
    for allocation, holder, entry in directory.claims():
        busy.setdefault(allocation, {}).setdefault(holder, []).append(entry.request.cores)
    allocations: List[AllocationStatus] = []
    for path in sorted(directory.allocations.glob('*.json')):
        record = _read(path)
        if record is None:
            continue
        key = path.name[:-len('.json')]
        status = AllocationStatus(key, str(record.get('executor')), record.get('native_id'),
                                  float(record.get('submitted', 0)),
                                  _read(directory.allocations / f'{key}.ended'))
        for worker_path in sorted((root / 'workers' / key).glob('*.json')):
            worker = _read(worker_path)
            if worker is None:
                continue
            held = busy.get(key, {}).get(str(worker.get('worker')), [])
            status.workers.append(WorkerStatus(
                str(worker.get('worker')), str(worker.get('host')), int(worker['cores']),
                sum(held), len(held), float(worker.get('started', 0))))
        allocations.append(status)
    reader = ResultReader(directory.done)
    reader.refresh()
    tasks: Dict[str, int] = {'QUEUED': len(directory.queued()),
                             'ACTIVE': sum(len(held) for workers in busy.values()
                                           for held in workers.values())}
    for result in reader.results.values():
        state = str(result.get('state'))
        tasks[state] = tasks.get(state, 0) + 1
    live = [worker for allocation in allocations if allocation.ended is None
            for worker in allocation.workers]
    cores = sum(worker.cores for worker in live)
    utilisation = sum(worker.busy_cores for worker in live) / cores if cores else None
    return PilotStatus(name, str(root), allocations, tasks, utilisation)
