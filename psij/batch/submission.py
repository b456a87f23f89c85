"""What a batch job's submission says about the jobs it waits for."""

import pathlib
from typing import Dict, List, Optional, Tuple

from psij.batch import markers
from psij.batch.script import NativeDependency
from psij.dependencies import DependencyCondition
from psij.job import Job


def native_dependencies(job: Job) -> Tuple[NativeDependency, ...]:
    """The scheduler's ids ``job`` must wait for, by condition: its predecessors that have
    not ended (those that have, and allow the job to run, need no waiting; the submission
    gate never sends a job one of whose predecessors forbids it), with the exit-code marker
    of each that is a batch job (see `NativeDependency.exit_markers`)."""
    waiting: Dict[DependencyCondition, List[str]] = {}
    exit_markers: Dict[DependencyCondition, List[Tuple[str, pathlib.PurePath]]] = {}
    for dependency in job.dependencies:
        for predecessor in dependency.jobs:
            native_id = predecessor.native_id
            if predecessor.status.state.final or native_id is None:
                continue
            ids = waiting.setdefault(dependency.condition, [])
            if native_id in ids:
                continue
            ids.append(native_id)
            marker = exit_marker(predecessor)
            if marker is not None:
                exit_markers.setdefault(dependency.condition, []).append((native_id, marker))
    return tuple(NativeDependency(condition, tuple(ids),
                                  tuple(exit_markers.get(condition, ())))
                 for condition, ids in waiting.items())


def exit_marker(job: Job) -> Optional[pathlib.PurePath]:
    """Where the batch job ``job`` writes its exit-code marker: ``<native id>.ec`` in the work
    directory of its executor (where its tracker reads it); None for a job of another kind of
    executor, or without a native id."""
    # Imported here: the executor module imports this one.
    from psij.batch.executor import BatchSchedulerExecutor
    executor = job.executor
    if not isinstance(executor, BatchSchedulerExecutor) or job.native_id is None:
        return None
    return executor.directory / f'{job.native_id}{markers.EXIT_CODE}'
