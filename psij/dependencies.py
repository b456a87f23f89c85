"""Jobs that run after others: `Job.depends_on` and the rules of a dependency.

A job may depend on other jobs (or on every element of a `psij.JobArray`): it runs after they
all COMPLETED (`DependencyCondition.COMPLETED`, a scheduler's ``afterok``), or after they all
ended in any state (`DependencyCondition.ENDED`, ``afterany``). Batch executors use the
scheduler's own dependencies where it has them; otherwise psij holds the job until its
predecessors end. A dependency that can no longer be met (a predecessor of an ``afterok`` job
ended FAILED or CANCELED) ends the dependent job at once, FAILED, with a message naming the
predecessor and its state: never pending for ever, never run.
"""

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from psij.exceptions import InvalidJobException
from psij.job_state import JobState
from psij.job_status import JobStatus

if TYPE_CHECKING:
    from psij.job import Job


class DependencyCondition(enum.Enum):
    """When a dependent job may run."""

    #: After every predecessor COMPLETED (``afterok``).
    COMPLETED = 'afterok'
    #: After every predecessor ended, in any state (``afterany``).
    ENDED = 'afterany'


@dataclass(frozen=True)
class Dependency:
    """A job runs after ``jobs``, as ``condition`` says."""

    jobs: Tuple['Job', ...]
    condition: DependencyCondition = DependencyCondition.COMPLETED


def failed_dependency(dependencies: Sequence[Dependency]) -> Optional[JobStatus]:
    """The FAILED status of a job whose dependencies can no longer be met (a predecessor of
    an ``afterok`` dependency ended in another state than COMPLETED), or None."""
    for dependency in dependencies:
        if dependency.condition != DependencyCondition.COMPLETED:
            continue
        for job in dependency.jobs:
            status = job.status
            if status.state.final and status.state != JobState.COMPLETED:
                said = f': {status.message}' if status.message else ''
                return JobStatus(
                    JobState.FAILED,
                    message=f'dependency never satisfied: predecessor job {job.id}'
                            f'{_native(job)} ended {status.state.name}{said}',
                    metadata={'predecessor': job.id})
    return None


def _native(job: 'Job') -> str:
    return f' ({job.native_id})' if job.native_id else ''


def all_ended(dependencies: Sequence[Dependency]) -> bool:
    """True if every predecessor is final."""
    return all(job.status.state.final for dependency in dependencies for job in dependency.jobs)


def predecessors(dependencies: Sequence[Dependency]) -> List['Job']:
    """Every predecessor, once each, in order."""
    seen: Dict[str, Job] = {}
    for dependency in dependencies:
        for job in dependency.jobs:
            seen.setdefault(job.id, job)
    return list(seen.values())


def check_submittable(job: 'Job') -> None:
    """Raise `InvalidJobException` if ``job``'s dependencies cannot be submitted: a
    predecessor that was never submitted (nothing would ever run it), or a cycle."""
    for predecessor in predecessors(job.dependencies):
        if predecessor.executor is None and not predecessor.status.state.final:
            raise InvalidJobException(
                f'Job.dependencies: predecessor job {predecessor.id} was never submitted; '
                'submit the predecessors first')
    _check_no_cycle(job)


def _check_no_cycle(start: 'Job') -> None:
    path: List[Job] = []
    on_path: Set[str] = set()
    done: Set[str] = set()

    def visit(job: 'Job') -> None:
        if job.id in done:
            return
        if job.id in on_path:
            cycle = path[[seen.id for seen in path].index(job.id):] + [job]
            raise InvalidJobException(
                'Job.dependencies: the jobs depend on one another in a cycle: '
                + ' -> '.join(seen.id for seen in cycle))
        on_path.add(job.id)
        path.append(job)
        for predecessor in predecessors(job.dependencies):
            visit(predecessor)
        path.pop()
        on_path.discard(job.id)
        done.add(job.id)

    visit(start)


def as_jobs(items: Iterable[object]) -> List['Job']:
    """The jobs named by ``items``: jobs, and every element of job arrays."""
    from psij.job import Job
    from psij.job_array import JobArray
    jobs: List[Job] = []
    for item in items:
        if isinstance(item, JobArray):
            jobs.extend(item.jobs)
        elif isinstance(item, Job):
            jobs.append(item)
        else:
            raise TypeError(f'Job.depends_on takes jobs or job arrays, not '
                            f'{type(item).__name__}')
    return jobs
