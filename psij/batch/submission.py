"""What a batch job's submission says about the jobs it waits for."""

from typing import Dict, List, Tuple

from psij.batch.script import NativeDependency
from psij.dependencies import DependencyCondition
from psij.job import Job


def native_dependencies(job: Job) -> Tuple[NativeDependency, ...]:
    """The scheduler's ids ``job`` must wait for, by condition: its predecessors that have
    not ended (those that have, and allow the job to run, need no waiting; the submission
    gate never sends a job one of whose predecessors forbids it)."""
    waiting: Dict[DependencyCondition, List[str]] = {}
    for dependency in job.dependencies:
        for predecessor in dependency.jobs:
            if predecessor.status.state.final or predecessor.native_id is None:
                continue
            ids = waiting.setdefault(dependency.condition, [])
            if predecessor.native_id not in ids:
                ids.append(predecessor.native_id)
    return tuple(NativeDependency(condition, tuple(ids)) for condition, ids in waiting.items())
