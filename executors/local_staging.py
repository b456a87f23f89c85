"""File staging for the local executor (`psij.staging`: ``JobSpec.stage_in``, ``stage_out``,
``cleanup``, ``cleanup_flags``), done by psij's own process around the job's process.

A job's entries are resolved into a `StagingPlan` when it is submitted (relative
submitting-side paths against the submitter's working directory then, job-side paths against
the job's directory). `StagingPlan.stage_in` runs on the thread that starts the job, before its
process exists; `StagingPlan.finish` (stage-out per the flags, then cleanup per
``cleanup_flags``) runs after the process has been reaped, on one worker thread
(`run_after_job`) so that a large copy holds up neither the reaper nor other jobs' ends, and
before the job is reported final: its final status is the one `finish` returns.

The file operations are those of `psij.local_file_staging` (the semantics of the batch job
body: COPY ``cp -R -T``, LINK a symbolic link to the absolute source, MOVE ``mv -T``); a
missing source is an error unless the entry has ``IF_PRESENT``. Stage-in stops at the first
failure; stage-out tries every entry. Cleanup removes a path only if its parent directories,
resolved, are inside the job's directory.
"""

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, List, Optional, Tuple
from urllib.parse import unquote

from psij.job import Job
from psij.job_spec import JobSpec
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.local_file_staging import remove_inside, transfer
from psij.staging import URI, StageOutFlags, StagingMode

logger = logging.getLogger('psij.executors.local')

__all__ = ['StagingPlan', 'Transfer', 'plan_staging', 'run_after_job', 'submitting_side_path']


@dataclass(frozen=True)
class Transfer:
    """One entry of ``stage_in`` or ``stage_out``, its paths absolute."""

    mode: StagingMode
    source: str
    target: str
    #: IF_PRESENT: a missing source is skipped.
    optional: bool
    #: The outcomes it is staged for (ON_SUCCESS, ON_ERROR, ON_CANCEL; stage-in: ALWAYS).
    flags: StageOutFlags
    #: The start of its error message, naming the field and the file.
    message: str

    def run(self) -> Optional[str]:
        """Stage this entry; None, or the error message naming the file."""
        try:
            transfer(self.mode, self.source, self.target, self.optional)
        except OSError as error:  # shutil.Error (copytree's list of failures) is one too
            return f'{self.message}: {_reason(error)}'
        return None


@dataclass(frozen=True)
class StagingPlan:
    """What to stage for one job, resolved at submit (`plan_staging`)."""

    #: The job's directory, absolute.
    directory: str
    stage_in_entries: Tuple[Transfer, ...]
    stage_out_entries: Tuple[Transfer, ...]
    #: Paths to remove, as given (relative: to `directory`).
    cleanup: Tuple[str, ...]
    cleanup_flags: StageOutFlags

    @property
    def after_job(self) -> bool:
        """True if something is to be done after the job's process ends."""
        return bool(self.stage_out_entries or self.cleanup)

    def stage_in(self) -> Optional[str]:
        """Stage every ``stage_in`` entry in order, stopping at the first failure: None, or
        the failure's message (the job must then fail without running)."""
        for entry in self.stage_in_entries:
            failure = entry.run()
            if failure is not None:
                return failure
        return None

    def finish(self, job: Job, status: JobStatus) -> JobStatus:
        """Stage out and clean up after ``job``'s process ended with ``status``; the job's
        final status: FAILED, naming the files, if a stage-out failed after a success; the
        failures added to the message otherwise (a failed cleanup changes no state). Never
        raises: an unexpected error becomes the job's message, so the job always ends."""
        try:
            outcome = _outcome(job, status)
            failures = [failure for failure in
                        (entry.run() for entry in self.stage_out_entries
                         if entry.flags & outcome) if failure is not None]
            problems: List[str] = []
            if self.cleanup_flags & outcome:
                problems = [problem for problem in
                            (_clean(self.directory, path) for path in self.cleanup)
                            if problem is not None]
        except Exception as error:  # nothing may keep the job from ending
            logger.exception('staging out job %s failed', job.id)
            failures, problems = [f'JobSpec.stage_out: {type(error).__name__}: {error}'], []
        if not failures and not problems:
            return status
        message = '; '.join(([status.message] if status.message else []) + failures + problems)
        state = JobState.FAILED if failures and status.state == JobState.COMPLETED \
            else status.state
        return JobStatus(state, status.time, message, status.exit_code, status.metadata)


def plan_staging(spec: JobSpec) -> Optional[StagingPlan]:
    """``spec``'s staging resolved now (submit time), or None if it has none. The spec must
    have passed `psij.staging.check_staging`."""
    if not (spec.stage_in or spec.stage_out or spec.cleanup):
        return None
    directory = os.path.abspath(spec.directory if spec.directory is not None else os.curdir)
    stage_in = []
    for entry in sorted(spec.stage_in or (), key=lambda e: (str(e.source), str(e.target))):
        source = submitting_side_path(entry.source)
        stage_in.append(Transfer(
            entry.mode, source, os.path.join(directory, entry.target), False,
            StageOutFlags.ALWAYS, f'JobSpec.stage_in: cannot {_verb(entry.mode)} {source!r} '
                                  f'to {str(entry.target)!r}'))
    stage_out = []
    for out in sorted(spec.stage_out or (), key=lambda e: (str(e.source), str(e.target))):
        target = submitting_side_path(out.target)
        stage_out.append(Transfer(
            out.mode, os.path.join(directory, out.source), target,
            bool(out.flags & StageOutFlags.IF_PRESENT), out.flags,
            f'JobSpec.stage_out: cannot {_verb(out.mode)} {str(out.source)!r} to {target!r}'))
    cleanup = tuple(sorted(str(path) for path in spec.cleanup or ()))
    return StagingPlan(directory, tuple(stage_in), tuple(stage_out), cleanup,
                       spec.cleanup_flags.normalized())


def submitting_side_path(uri: URI, cwd: Optional[str] = None) -> str:
    """The absolute path named by a local ``uri`` (a plain path, or ``file://``, whose path is
    percent-decoded), a relative one taken from ``cwd`` (default: the current directory)."""
    path = unquote(uri.path) if uri.scheme == 'file' else uri.path
    return os.path.normpath(os.path.join(cwd if cwd is not None else os.getcwd(), path))


def _verb(mode: StagingMode) -> str:
    return mode.name.lower()


def _outcome(job: Job, status: JobStatus) -> StageOutFlags:
    """The outcome the flags are checked against: a job that ends CANCELED (the rule of
    `Job._ends_by_cancel`) was canceled, whatever its exit code says."""
    if status.state == JobState.COMPLETED:
        return StageOutFlags.ON_SUCCESS
    if status.state == JobState.CANCELED or job._ends_by_cancel(status):
        return StageOutFlags.ON_CANCEL
    return StageOutFlags.ON_ERROR


def _reason(error: OSError) -> str:
    if error.strerror:
        return error.strerror
    return str(error)


def _clean(directory: str, path: str) -> Optional[str]:
    """Remove ``path`` (relative: to ``directory``) unless, its parent directories resolved,
    it is outside ``directory``; None, or what went wrong."""
    try:
        if not remove_inside(directory, path):
            return f"JobSpec.cleanup: {path!r} is outside the job's directory; left alone"
    except OSError as error:
        return f'JobSpec.cleanup: cannot remove {path!r}: {_reason(error)}'
    return None


# --- the worker thread --------------------------------------------------------------------------


class _AfterJobWorker:
    """Runs tasks one after another on a thread started when there is work and ending when
    there is none. Not a daemon: the interpreter waits for staging in progress at exit, so a
    job's outputs are not left half-copied."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: Deque[Callable[[], None]] = deque()
        self._running = False

    def run(self, task: Callable[[], None]) -> None:
        with self._lock:
            self._tasks.append(task)
            if self._running:
                return
            self._running = True
        try:
            threading.Thread(target=self._drain, name='psij-local-stage-out').start()
        except RuntimeError:  # the interpreter is shutting down: no new thread
            self._drain()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._tasks:
                    self._running = False
                    return
                task = self._tasks.popleft()
            try:
                task()
            except Exception:
                logger.exception('a local job could not be ended after its stage-out')


_worker = _AfterJobWorker()


def run_after_job(task: Callable[[], None]) -> None:
    """Run ``task`` (a job's stage-out and its end) on the process's stage-out thread, after
    the tasks given before it."""
    _worker.run(task)
