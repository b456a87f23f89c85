"""`Job.depends_on` of detached local jobs, across the watcher's socket.

A detached job is held by the watcher (`psij.executors.local_watcher`), not by the process that
submitted it, so its predecessors must be jobs the watcher itself sees: the detached jobs it
runs or holds (those of its work directory and executor name), found by their job id or native
id. The watcher holds the dependent job as any local executor does (`psij.submission_gate`:
QUEUED, ``held by psij: waiting for N predecessor(s) to end``; FAILED ``dependency never
satisfied: ...`` once a predecessor makes the dependency impossible), so the job starts or ends
whoever is still alive.

A predecessor that has ended may be any job: the client sends its final state, which decides
the dependency at once. A predecessor that has not ended and that the watcher cannot see (a
job of another executor or work directory, a job of a local executor with ``detached=False``)
is refused at submit, with an `InvalidJobException` naming ``Job.depends_on``: the watcher
could never learn when it ends.
"""

import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from psij.dependencies import DependencyCondition
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_executor import JobExecutor
from psij.job_state import JobState
from psij.job_status import JobStatus

#: A watcher's look-up of one of its jobs by job id, then native id.
FindJob = Callable[[str, Optional[str]], Optional[Job]]
#: Dependencies as the watcher applies them: predecessors and condition of each.
Resolved = List[Tuple[List[Job], DependencyCondition]]

_CONDITIONS = [condition.value for condition in DependencyCondition]
_RULE = ('a detached local job can depend only on detached local jobs of the same work '
         'directory, which its watcher runs, or on jobs that have ended')


# --- the client ----------------------------------------------------------------------------


def dependencies_to_send(job: Job, executor: JobExecutor) -> List[Dict[str, Any]]:
    """``job``'s dependencies as the watcher of ``executor`` (a detached local one) takes
    them; `InvalidJobException` for a predecessor that has not ended and was never
    submitted, or belongs to another executor or work directory."""
    documents: List[Dict[str, Any]] = []
    for dependency in job.dependencies:
        entries = []
        for predecessor in dependency.jobs:
            status = predecessor.status
            if not status.final:
                _check_seen_by_watcher(predecessor, executor)
            entries.append({
                'job_id': predecessor.id, 'native_id': predecessor.native_id,
                'state': status.state.name if status.final else None,
                'message': status.message if status.final else None,
                'exit_code': status.exit_code if status.final else None})
        documents.append({'condition': dependency.condition.value, 'jobs': entries})
    return documents


def _check_seen_by_watcher(predecessor: Job, executor: JobExecutor) -> None:
    other = predecessor.executor
    if other is None:
        raise InvalidJobException(
            f'Job.depends_on: {_RULE}; predecessor job {predecessor.id} was never submitted '
            '(submit the predecessors first)')
    if other.name != executor.name or _directory(other) != _directory(executor):
        raise InvalidJobException(
            f'Job.depends_on: predecessor job {predecessor.id} is a job of the {other.name!r} '
            f'executor with work directory {_directory(other)}, which the watcher of '
            f'{_directory(executor)} cannot see; {_RULE} (or submit it with detached=False, '
            'and psij holds it in this process)')
    if predecessor.native_id is None:  # held in its own process by a non-detached executor
        raise InvalidJobException(
            f'Job.depends_on: predecessor job {predecessor.id} is held in this process by a '
            f'local executor with detached=False; {_RULE}')


def _directory(executor: JobExecutor) -> str:
    return os.path.abspath(executor.config.work_directory)


# --- the watcher ---------------------------------------------------------------------------


def resolve_dependencies(documents: object, find: FindJob, work_directory: str) -> Resolved:
    """The predecessors (the watcher's own jobs, found with ``find``, or stand-ins for jobs
    that had ended) and condition of each dependency in ``documents`` (the request's
    ``"dependencies"``); `InvalidJobException` naming what is wrong."""
    if documents is None:
        return []
    if not isinstance(documents, list):
        raise InvalidJobException(f'the request\'s "dependencies" must be a list, not '
                                  f'{type(documents).__name__}')
    resolved: Resolved = []
    for document in documents:
        if not isinstance(document, dict) or not isinstance(document.get('jobs'), list) \
                or not document['jobs']:
            raise InvalidJobException(
                'each of the request\'s "dependencies" must be an object with "condition" '
                f'and a non-empty list "jobs", not {document!r}')
        condition = document.get('condition')
        if condition not in _CONDITIONS:
            raise InvalidJobException(f'dependency condition {condition!r} is not known; '
                                      f'allowed: {", ".join(_CONDITIONS)}')
        jobs = [_predecessor(entry, find, work_directory) for entry in document['jobs']]
        resolved.append((jobs, DependencyCondition(condition)))
    return resolved


def _predecessor(entry: object, find: FindJob, work_directory: str) -> Job:
    if not isinstance(entry, dict) or not isinstance(entry.get('job_id'), str):
        raise InvalidJobException(f'a predecessor must be an object with a "job_id", not '
                                  f'{entry!r}')
    job_id: str = entry['job_id']
    native_id = entry.get('native_id')
    native = str(native_id) if native_id is not None else None
    job = find(job_id, native)
    if job is not None:
        return job
    state = entry.get('state')
    if state is None:
        said = f' (native id {native})' if native else ''
        raise InvalidJobException(
            f'Job.depends_on: predecessor job {job_id}{said} has not ended and is not a job of '
            f'the local watcher of {work_directory} (a job of a local executor with '
            f'detached=False, or one whose watcher has left); {_RULE}')
    return _ended(job_id, native, JobState.from_name(str(state)), entry.get('message'),
                  entry.get('exit_code'))


def _ended(job_id: str, native_id: Optional[str], state: JobState, message: object,
           exit_code: object) -> Job:
    """A stand-in for a predecessor that ended as the client saw it."""
    if not state.final:
        raise InvalidJobException(f'a predecessor\'s "state" must be final or null, not '
                                  f'{state.name}')
    job = Job()
    job._id = job_id
    job.native_id = native_id
    job._set_status(JobStatus(state, message=str(message) if message is not None else None,
                              exit_code=exit_code if isinstance(exit_code, int) else None),
                    as_recorded=True)
    return job


def depend(job: Job, resolved: Resolved) -> None:
    """Make ``job`` (the watcher's, not submitted yet) depend as ``resolved`` says."""
    for predecessors, condition in resolved:
        job.depends_on(*predecessors, condition=condition)
