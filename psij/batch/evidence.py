"""What the tracker knows about a batch job, and the final status that knowledge supports.

A batch job is settled only on evidence: the exit-code marker its script wrote, or a final
state from the scheduler's status or accounting command. This module holds the record of that
evidence per job (`TrackedJob`), reads the markers (`read_markers`), and turns evidence into
a final status (`status_from_evidence` and the statuses of jobs whose evidence never came).
"""

import dataclasses
import logging
import pathlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

from psij.batch import markers
from psij.batch.markers import ExitMarker, parse_exit_marker
from psij.batch.scheduler import CancelOutcome, SchedulerStatus
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.transport import Transport

if TYPE_CHECKING:
    from psij.batch.executor import BatchSchedulerExecutor

logger = logging.getLogger('psij.batch.tracker')

#: How long a non-zero exit-code marker waits for the scheduler to say why the job ended.
EXIT_REASON_WAIT = 10.0


@dataclass(eq=False)
class TrackedJob:
    """A job being watched, and the evidence gathered about it so far."""

    job: Job
    executor: 'BatchSchedulerExecutor'
    native_id: str
    marker_directory: pathlib.Path
    #: Files of this job removed once it COMPLETED (unless the config keeps files).
    files: List[pathlib.Path] = field(default_factory=list)
    #: True if the job was attached rather than submitted by this process.
    attached: bool = False
    started: bool = False
    exit_marker: Optional[ExitMarker] = None
    exit_marker_seen_at: Optional[float] = None
    scheduler_status: Optional[SchedulerStatus] = None
    #: When the job was found out of the queue (or final without an exit code) with no
    #: exit-code marker: accounting is asked from then on.
    accounting_since: Optional[float] = None
    #: Successful accounting answers in a row that did not know the job.
    accounting_misses: int = 0
    #: What the scheduler did with our cancel, once it took one.
    cancel: Optional[CancelOutcome] = None
    done: bool = False


@dataclass(frozen=True)
class MarkerNews:
    """Something new in the marker files of one job: its exit-code marker, or (when
    ``exit_marker`` is None) its start."""

    tracked: TrackedJob
    exit_marker: Optional[ExitMarker] = None


def read_markers(transport: Transport, jobs: Sequence[TrackedJob],
                 unchanged: Optional['UnchangedDirectories'] = None) -> List[MarkerNews]:
    """What the marker files of ``jobs`` say that their records do not know yet: per marker
    directory, one listing and a read of each new marker, or, where the transport can read
    many files at once (``read_files``: over SSH), one round trip for it all. A directory
    that ``unchanged`` knows has not changed since it was last read is not read again.

    A marker naming another psij job is not evidence: it was left by an earlier job with the
    same (reused) scheduler id, and the new job's own marker will replace it. An attached job
    takes any marker with its id (the process that attaches does not know psij's id)."""
    news: List[MarkerNews] = []
    by_directory: Dict[pathlib.Path, List[TrackedJob]] = {}
    for job in jobs:
        by_directory.setdefault(job.marker_directory, []).append(job)
    for directory, group in by_directory.items():
        if unchanged is not None and unchanged.skip(transport, directory):
            continue
        try:
            files = _MarkerFiles(transport, directory, group)
        except OSError as error:
            _warn_unreadable(directory, error)
            continue
        for tracked in group:
            exit_name = tracked.native_id + markers.EXIT_CODE
            if tracked.exit_marker is None and exit_name in files.names:
                marker = _exit_marker(files.read(exit_name), tracked)
                if marker is not None:
                    news.append(MarkerNews(tracked, marker))
                    continue
            started_name = tracked.native_id + markers.STARTED
            if not tracked.started and started_name in files.names \
                    and _started_marker_is_ours(files.read(started_name), tracked):
                news.append(MarkerNews(tracked))
    return news


#: A marker directory that cannot be read (a host that cannot be reached) is warned about at
#: most this often; the other failures are logged at INFO.
UNREADABLE_WARNING_INTERVAL = 60.0
_warned_at: Dict[pathlib.Path, float] = {}


def _warn_unreadable(directory: pathlib.Path, error: OSError) -> None:
    now = time.monotonic()
    quiet = now - _warned_at.get(directory, -UNREADABLE_WARNING_INTERVAL) < \
        UNREADABLE_WARNING_INTERVAL
    if not quiet:
        _warned_at[directory] = now
    (logger.info if quiet else logger.warning)(
        'cannot list the marker directory %s (the jobs keep their states): %s', directory, error)


class UnchangedDirectories:
    """Which marker directories have not changed since they were last read, by their
    modification time, where the transport can tell it cheaply (``directory_version``:
    `psij.transport.LocalTransport`). Every marker is written under a temporary name and
    renamed into place, which changes its directory's time. A directory modified less than
    `RECENT` before it was read is read again next time (a change within the file system's
    time granularity would not show), and every directory is read at least every
    `FULL_LOOK_INTERVAL`."""

    RECENT = 1.0
    FULL_LOOK_INTERVAL = 30.0

    def __init__(self) -> None:
        self._read: Dict[pathlib.Path, Tuple[object, float]] = {}

    def skip(self, transport: Transport, directory: pathlib.Path) -> bool:
        """True if ``directory`` need not be read now; else it is noted as read now."""
        version_of: Optional[Callable[[pathlib.Path], Optional[Tuple[int, int]]]] = getattr(
            transport, 'directory_version', None)
        version = version_of(directory) if version_of is not None else None
        now = time.monotonic()
        known = self._read.get(directory)
        if version is not None and known is not None and known[0] == version \
                and now - known[1] < self.FULL_LOOK_INTERVAL:
            return True
        modified_ago = time.time() - version[0] / 1e9 if version is not None else 0.0
        if version is not None and modified_ago >= self.RECENT:
            self._read[directory] = (version, now)
        else:
            self._read.pop(directory, None)
        return False


class _MarkerFiles:
    """The marker files of one directory that matter to ``group``: their names, and their
    texts as they are read."""

    def __init__(self, transport: Transport, directory: pathlib.Path,
                 group: Sequence[TrackedJob]) -> None:
        self._transport = transport
        self._directory = directory
        read_files = getattr(transport, 'read_files', None)
        self._texts: Optional[Dict[str, str]] = None
        if read_files is None:
            self.names = transport.list_directory(directory)
            return
        wanted = [tracked.native_id + suffix for tracked in group
                  for suffix, needed in ((markers.EXIT_CODE, tracked.exit_marker is None),
                                         (markers.STARTED, not tracked.started))
                  if needed]
        self._texts = read_files(directory, wanted) if wanted else {}
        self.names = set(self._texts)

    def read(self, name: str) -> Optional[str]:
        if self._texts is not None:
            return self._texts.get(name)
        return self._transport.read_file(self._directory / name)


def _exit_marker(text: Optional[str], tracked: TrackedJob) -> Optional[ExitMarker]:
    marker = parse_exit_marker(text) if text is not None else None
    if marker is None:
        return None
    if not tracked.attached and marker.job_id not in (None, tracked.job.id):
        logger.debug('ignoring the marker of job %s of an earlier job', tracked.native_id)
        return None
    spec = tracked.job.spec
    return dataclasses.replace(marker, launcher=(spec.launcher if spec is not None else None)
                               or 'single')


def _started_marker_is_ours(text: Optional[str], tracked: TrackedJob) -> bool:
    if tracked.attached:
        return True
    if text is None:
        return False
    job_id = markers.marker_job_id(text)
    if job_id not in (None, tracked.job.id):
        logger.debug('ignoring the .started marker of job %s of an earlier job',
                     tracked.native_id)
        return False
    return True


def _exit_code_text(exit_code: int) -> str:
    return f'exit code {exit_code}'


def marker_message(marker: ExitMarker) -> Optional[str]:
    """Why a marker's job did not complete (None if it did): the launcher's failure, the
    script's own explanation, or the exit code."""
    if marker.launcher_failure is not None:
        named = f'launcher {marker.launcher!r}' if marker.launcher else 'launcher'
        return f'{named} failed: {marker.launcher_failure}'
    if marker.message is not None:
        return marker.message
    if marker.exit_code != 0:
        return _exit_code_text(marker.exit_code)
    return None


def _join(*parts: Optional[str]) -> Optional[str]:
    shown = [part for part in parts if part]
    return '; '.join(shown) if shown else None


def status_from_evidence(marker: Optional[ExitMarker],
                         scheduler_status: Optional[SchedulerStatus]) -> Optional[JobStatus]:
    """The final status the evidence supports, or None if it does not settle the job.

    An exit-code marker is the job's own word on its exit code; the scheduler's final state
    adds why (time limit, cancellation...).
    """
    final = scheduler_status if (
        scheduler_status is not None and scheduler_status.state.final) else None
    metadata: Optional[Dict[str, object]] = (
        {'native_state': final.native_state} if final is not None else None)
    if marker is not None:
        clean = marker.exit_code == 0 and marker_message(marker) is None
        if final is not None and final.state == JobState.CANCELED and not clean:
            return JobStatus(JobState.CANCELED, message=_join(final.message,
                                                              marker_message(marker)),
                             exit_code=marker.exit_code, metadata=metadata)
        if clean:
            return JobStatus(JobState.COMPLETED, exit_code=0, metadata=metadata)
        reason = final.message if final is not None and final.state == JobState.FAILED else None
        return JobStatus(JobState.FAILED, message=_join(reason, marker_message(marker)),
                         exit_code=marker.exit_code, metadata=metadata)
    if final is None:
        return None
    if final.state == JobState.COMPLETED:
        return JobStatus(JobState.COMPLETED, exit_code=0, metadata=metadata)
    message = final.message
    if message is None and final.exit_code is not None:
        message = _exit_code_text(final.exit_code)
    if message is None and final.state == JobState.FAILED:
        message = (f'the scheduler reports {final.native_state}; the exit code is unknown (no '
                   'exit-code marker, no accounting record)')
    return JobStatus(final.state, message=message, exit_code=final.exit_code,
                     metadata=metadata)


def canceled_out_of_queue() -> JobStatus:
    """The status of a job whose cancel the scheduler took and that then left the queue
    without an exit-code marker: the cancel ended it (a scheduler may keep no record of a job
    deleted before it started)."""
    return JobStatus(JobState.CANCELED, message='canceled')


def unknown_job(tracked: TrackedJob, scheduler: str) -> JobStatus:
    """The status of an attached id that the scheduler never knew."""
    return JobStatus(
        JobState.FAILED,
        message=f'{scheduler} knows no job {tracked.native_id} (not in the queue, not in '
                f'accounting) and there is no marker of it in {tracked.marker_directory}',
        metadata={'unknown_job': True})


def unknown_outcome(tracked: TrackedJob, scheduler: str, timeout: float) -> JobStatus:
    """The status of a job that left the queue and whose evidence never came."""
    return JobStatus(
        JobState.FAILED,
        message=f'outcome unknown: {scheduler} job {tracked.native_id} left the queue without '
                f'writing an exit-code marker in {tracked.marker_directory}, and accounting had '
                f'no final record of it within {timeout:g} s')
