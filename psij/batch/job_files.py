"""The files batch jobs leave in the work directory: what goes when a job ends, and what goes
once it is old.

A COMPLETED job's ``.started`` marker and nodefile are removed at once, and its script,
launcher log and script output too unless the executor keeps files; its ``.ec`` marker stays
(another process may attach later). Everything else stays until it is older than the
executors' ``file_retention``: a process that tracks jobs in a directory removes such files
about once per `PRUNE_INTERVAL`, never those of a job it tracks.
"""

import logging
import pathlib
from typing import Dict, Iterable, List, Set

from psij.batch import markers
from psij.batch.evidence import TrackedJob
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.transport import Transport

logger = logging.getLogger('psij.batch.tracker')

#: Files older than the executors' ``file_retention`` are looked for this often per directory.
PRUNE_INTERVAL = 3600.0
#: The names of the files a job may have in its marker directory, by native id and by job id.
FILES_BY_NATIVE_ID = (markers.STARTED, markers.EXIT_CODE, markers.SCRIPT_OUTPUT,
                      markers.NODEFILE, markers.STARTED + '.tmp', markers.EXIT_CODE + '.tmp')
FILES_BY_JOB_ID = (markers.SCRIPT, markers.LAUNCHER_LOG)


def remove_finished_job_files(transport: Transport, tracked: TrackedJob,
                              status: JobStatus) -> None:
    """Remove what a job that ended with ``status`` no longer needs (see the module
    docstring); a job that did not complete keeps all its files."""
    if status.state != JobState.COMPLETED:
        return
    directory = tracked.marker_directory
    paths = [directory / (tracked.native_id + name) for name in (markers.STARTED,
                                                                 markers.NODEFILE)]
    if not tracked.executor.batch_config.keep_files:
        paths += tracked.files
        paths.append(directory / (tracked.native_id + markers.SCRIPT_OUTPUT))
    for path in paths:
        try:
            transport.remove_file(path)
        except OSError as error:
            logger.debug('cannot remove %s: %s', path, error)


class OldFilePruner:
    """Removes old files of the marker directories, at most once per `PRUNE_INTERVAL` per
    directory."""

    def __init__(self) -> None:
        self._next_at: Dict[pathlib.Path, float] = {}

    def prune(self, transport: Transport, jobs: Iterable[TrackedJob], now: float) -> None:
        """Remove the files of the directories of ``jobs`` not modified for the smallest
        ``file_retention`` of the executors using each directory, if that is due; the files
        of ``jobs`` stay, however old."""
        if self._next_at and now < min(self._next_at.values()):
            return  # nothing known is due (the common case: no need to look at every job)
        tracked = list(jobs)
        retention: Dict[pathlib.Path, float] = {}
        for job in tracked:
            age = job.executor.batch_config.file_retention
            retention[job.marker_directory] = min(retention.get(job.marker_directory, age), age)
        due = [directory for directory in retention
               if now >= self._next_at.get(directory, -float('inf'))]
        if not due:
            return
        kept = _file_names(tracked)
        for directory in due:
            self._next_at[directory] = now + PRUNE_INTERVAL
            try:
                old = transport.old_files(directory, retention[directory])
                removed = 0
                for name in sorted(old - kept):
                    transport.remove_file(directory / name)
                    removed += 1
            except OSError as error:
                logger.warning('cannot remove old files from %s: %s', directory, error)
                continue
            if removed:
                logger.info('removed %d files older than %.0f s from %s', removed,
                            retention[directory], directory)


def _file_names(jobs: List[TrackedJob]) -> Set[str]:
    names: Set[str] = set()
    for job in jobs:
        names.update(job.native_id + suffix for suffix in FILES_BY_NATIVE_ID)
        names.update(job.job.id + suffix for suffix in FILES_BY_JOB_ID)
    return names


def settle(transport: Transport, tracked: TrackedJob, status: JobStatus) -> None:
    """Give ``tracked`` its final ``status`` (ACTIVE first, if it started) and remove the files
    it no longer needs."""
    executor = tracked.executor
    if tracked.started and tracked.job.status.state != JobState.ACTIVE:
        executor._set_job_status(tracked.job, JobStatus(JobState.ACTIVE, time=status.time))
    executor._set_job_status(tracked.job, status)
    remove_finished_job_files(transport, tracked, status)
