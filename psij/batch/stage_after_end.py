"""What psij stages itself after a batch job's end, before the job is reported final.

Two things the job script cannot do:

- over SSH, bring the stage-outs the script made (listed in the staging area's record file)
  from the remote side to their local targets, then empty the job's staging area
  (`psij.batch.staging_plan`); a moved stage-out at a mapped place is removed there once it
  arrived;
- after a cancel (the scheduler kills the script), stage out the ``ON_CANCEL`` entries from
  the job's directory and clean up with ``ON_CANCEL`` in ``cleanup_flags``: a copy, link or
  move on this machine (`psij.local_file_staging`, the job script's semantics), through the
  master over SSH. For a job not seen running
  (canceled in the queue, most likely: nothing in its directory) a missing source is no
  error, as with ``IF_PRESENT``;
- after a job that started and ended FAILED without its exit-code marker (its script was
  killed before it could stage: the time limit, the OOM killer, a node that failed), the same
  for the ``ON_ERROR`` entries and cleanup: the outputs a failed job leaves (a checkpoint, a
  log) are what ON_ERROR is for, and a killed script never staged them.

This runs on a small pool of worker threads, never on the poller thread, and only then is
the job given its final status (`psij.batch.job_files.settle`). A stage-out that fails makes
a COMPLETED job FAILED, naming the file; a FAILED or CANCELED job keeps its state, with the
file named in its message. What arrived stays; what did not stays on the remote side (the
message says where).
"""

import concurrent.futures
import logging
import os
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

from psij.batch.evidence import TrackedJob
from psij.batch.job_files import settle
from psij.batch.staging_plan import StagedOut, StagingPlan
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.local_file_staging import remove_inside, transfer
from psij.staging import StageOutFlags, StagingMode
from psij.transport import Transport

logger = logging.getLogger('psij.batch.staging')

#: Threads that stage after jobs' ends (at most this many transfers at once).
WORKERS = 4
#: Waits between tries of a transfer whose connection failed (then the message says so).
RETRY_WAITS = (2.0, 10.0, 30.0)

_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
_pool_lock = threading.Lock()

T = TypeVar('T')


def _workers() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=WORKERS, thread_name_prefix='psij-stage-after-end')
        return _pool


def settle_after_staging(transport: Transport, tracked: TrackedJob, status: JobStatus) -> None:
    """Give ``tracked`` its final ``status`` (as `settle`), after what it must have staged
    (see the module docstring) is done, on a worker thread; at once if there is nothing."""
    plan = tracked.executor.take_staging_plan(tracked.job)
    flag = psij_side_flag(status, tracked.started, tracked.exit_marker is not None)
    if plan is None or not needs_work(plan, flag):
        settle(transport, tracked, status)
        return
    _workers().submit(_stage_then_settle, transport, tracked, status, plan, flag)


def psij_side_flag(status: JobStatus, started: bool,
                   script_ended: bool) -> Optional[StageOutFlags]:
    """The flag of the entries psij stages itself after an end with ``status``: ON_CANCEL
    after a cancel, ON_ERROR after a job that started and whose script was killed before it
    wrote its exit-code marker (``script_ended`` False); None when the script did it all."""
    if status.state == JobState.CANCELED:
        return StageOutFlags.ON_CANCEL
    if status.state == JobState.FAILED and started and not script_ended:
        return StageOutFlags.ON_ERROR
    return None


def needs_work(plan: StagingPlan, flag: Optional[StageOutFlags]) -> bool:
    """True if ``plan`` leaves psij something to do (``flag``: see `psij_side_flag`)."""
    if plan.area is not None:
        return True
    return flag is not None and plan.flagged(flag)


def _stage_then_settle(transport: Transport, tracked: TrackedJob, status: JobStatus,
                       plan: StagingPlan, flag: Optional[StageOutFlags]) -> None:
    try:
        final = stage_after_end(transport, plan, status, tracked.started, flag)
    except BaseException as error:  # the job is reported final whatever happens here
        logger.exception('staging after the end of job %s failed', tracked.job.id)
        final = with_problems(status, [f'psij could not stage after the job ended: {error}'])
    settle(transport, tracked, final)


def with_problems(status: JobStatus, problems: Sequence[str]) -> JobStatus:
    """``status`` with ``problems`` said: a COMPLETED job becomes FAILED."""
    if not problems:
        return status
    said = '; '.join(problems)
    state = JobState.FAILED if status.state == JobState.COMPLETED else status.state
    message = f'{status.message}; {said}' if status.message else said
    return JobStatus(state, message=message, exit_code=status.exit_code,
                     metadata=status.metadata)


def stage_after_end(transport: Transport, plan: StagingPlan, status: JobStatus,
                    started: bool, flag: Optional[StageOutFlags] = None) -> JobStatus:
    """Do what ``plan`` leaves psij after the job's end with ``status`` (``flag``: the
    entries psij stages itself, see `psij_side_flag`); the status to give the job (see the
    module docstring)."""
    problems: List[str] = []
    if plan.area is not None:
        from psij.batch import remote_staging  # only over SSH
        problems += remote_staging.fetch_recorded(transport, plan)
    if flag is not None and plan.flagged(flag):
        problems += _psij_side(transport, plan, started, flag)
    if plan.area is not None:
        from psij.batch import remote_staging
        problems += remote_staging.empty_area(transport, plan, keep_outputs=bool(problems))
    return with_problems(status, problems)


def retried(action: Callable[[], T]) -> T:
    """``action()``, tried again after `RETRY_WAITS` while its connection fails."""
    for wait in RETRY_WAITS:
        try:
            return action()
        except ConnectionError as error:
            logger.info('staging: %s; trying again in %.0f s', error, wait)
            time.sleep(wait)
    return action()


def job_side_source(plan: StagingPlan, out: StagedOut) -> str:
    """The absolute path, on the job's side, of a stage-out's source."""
    source = out.entry.source
    if source.is_absolute() or plan.directory is None:
        return str(source)
    return os.path.join(plan.directory, str(source))


def _psij_side(transport: Transport, plan: StagingPlan, started: bool,
               flag: StageOutFlags) -> List[str]:
    entries = [out for out in plan.stage_out if out.entry.flags & flag]
    spec = plan.job_side_spec
    cleanup = sorted(str(path) for path in spec.cleanup or ()) if (
        spec.cleanup_flags.normalized() & flag) else []
    label = 'ON_CANCEL' if flag == StageOutFlags.ON_CANCEL else 'ON_ERROR'
    if plan.over_ssh:
        from psij.batch import remote_staging
        return remote_staging.on_cancel(transport, plan, entries, cleanup, started, label)
    problems = [problem for problem in (_place_locally(plan, out, started, label)
                                        for out in entries) if problem]
    if cleanup and plan.directory is not None:
        for line in clean_locally(plan.directory, cleanup):
            logger.info('%s', line)
    return problems


def _place_locally(plan: StagingPlan, out: StagedOut, started: bool,
                   label: str) -> Optional[str]:
    source = job_side_source(plan, out)
    target = out.local
    verb = {StagingMode.COPY: 'copy', StagingMode.LINK: 'link',
            StagingMode.MOVE: 'move'}[out.entry.mode]
    if not os.path.lexists(source):
        if out.entry.flags & StageOutFlags.IF_PRESENT or not started:
            return None
        return (f'JobSpec.stage_out ({label}): cannot {verb} {str(out.entry.source)!r} to '
                f'{target!r}: no such file or directory')
    try:
        transfer(out.entry.mode, source, target)
    except OSError as error:
        return (f'JobSpec.stage_out ({label}): cannot {verb} {str(out.entry.source)!r} to '
                f'{target!r}: {error}')
    return None


def clean_locally(directory: str, paths: Sequence[str]) -> List[str]:
    """Remove those of ``paths`` (relative to ``directory``, or absolute) whose parent,
    resolved, is inside ``directory`` (`psij.local_file_staging.remove_inside`); a line for
    each one left alone or that could not be removed."""
    said: List[str] = []
    for path in paths:
        try:
            if not remove_inside(directory, path):
                said.append(f'psij: cleanup: {path} is outside the job directory; left alone')
        except OSError as error:
            said.append(f'psij: cleanup: cannot remove {path}: {error}')
    return said


def pairs_of(entries: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """``entries`` without repeats, in order (two entries may name one remote path)."""
    seen = set()
    unique = []
    for pair in entries:
        if pair not in seen:
            seen.add(pair)
            unique.append(pair)
    return unique
