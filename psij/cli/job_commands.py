"""``psij status``, ``wait``, ``cancel`` and ``list``: jobs found by native id, from any
process (see `psij.cli.job_lookup`)."""

import argparse
import queue
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Set

from psij.cli.executor_setup import open_executor
from psij.cli.exit_status import CliError, ExitStatus, exit_status_of_job
from psij.cli.job_lookup import (
    FIRST_ANSWER_TIMEOUT,
    FoundJob,
    attach_all,
    note_unknown,
    wait_for_first_answer,
)
from psij.cli.output import job_record, print_json, print_line, status_text
from psij.cli.parser import executor_name
from psij.cli.progress import UNKNOWN, LiveCounts, choose_display
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus

#: While waiting, how often the live counts are redrawn (and the timeout checked) when
#: nothing changes.
IDLE_TICK = 0.5


def _error_line(message: str) -> None:
    print_line(f'psij: error: {message}', sys.stderr)


def _unknown_line(item: FoundJob) -> None:
    reason = str(item.error)
    # The local executor's message starts with the id this line already names.
    prefix = f'native_id {item.native_id}: '
    if reason.startswith(prefix):
        reason = reason[len(prefix):]
    _error_line(f'unknown job {item.native_id}: {reason}')


def _record(options: argparse.Namespace, item: FoundJob) -> Dict[str, Any]:
    # The "final" status of an unknown id is not a state of a job.
    status = None if item.job is None or item.error is not None else item.job.status
    return job_record(executor_name(options), item.native_id, status, error=item.error)


# --- status ----------------------------------------------------------------------------------


def status_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij status ID...``: the current state of each job."""
    executor = open_executor(options)
    found = attach_all(executor, options.native_ids)
    silent = wait_for_first_answer(found)
    unknown = [item for item in found if item.error is not None]
    for item in found:
        if item in silent:
            item.error = _no_answer(executor.name, item)
            _error_line(item.error)
        elif item.error is not None:
            _unknown_line(item)
        elif not options.json:
            assert item.status is not None
            print_line(status_text(item.native_id, item.status))
    if options.json:
        print_json({'executor': executor_name(options),
                    'jobs': [_record(options, item) for item in found]})
    if unknown:
        return ExitStatus.UNKNOWN_JOB
    return ExitStatus.BACKEND if silent else ExitStatus.OK


def _no_answer(executor: str, item: FoundJob) -> str:
    return (f'no answer about job {item.native_id} from the {executor} executor within '
            f'{FIRST_ANSWER_TIMEOUT:g} s')


# --- wait ------------------------------------------------------------------------------------


class _ChangeFeed:
    """State changes delivered by the executor's threads, handed to the waiting thread.

    Also remembers every state each job went through (implied ones included), so that
    ``--states ACTIVE`` is met by a job that was ACTIVE only between two looks.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._seen: Dict[int, Set[JobState]] = {}

    def on_status(self, job: Job, status: JobStatus) -> None:
        """The executor's status callback."""
        with self._lock:
            self._seen.setdefault(id(job), set()).add(status.state)
        self._queue.put(job)

    def seen(self, job: Job) -> Set[JobState]:
        """Every state ``job`` was seen in, its current one included."""
        with self._lock:
            return set(self._seen.get(id(job), set())) | {job.status.state}

    def changed_jobs(self, timeout: float) -> List[Job]:
        """The jobs that changed since the last call, waiting up to ``timeout`` for one."""
        try:
            jobs = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                return jobs


class _Waiter:
    """The loop of ``psij wait``: follows the jobs until each is done or time runs out."""

    def __init__(self, found: List[FoundJob], feed: _ChangeFeed,
                 states: Optional[Set[JobState]], timeout: Optional[float],
                 json_output: bool) -> None:
        self.found = found
        self.feed = feed
        self.states = states
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.display = choose_display(json_output)
        self.by_job = {id(item.job): item for item in found if item.job is not None}
        self.shown: Dict[str, JobState] = {}
        self.done: Set[str] = set()
        self.timed_out = False

    def reached(self, item: FoundJob) -> bool:
        """True if the job is in (or went through) an awaited state."""
        if item.job is None:
            return False
        if self.states is None:
            return item.job.status.final
        return bool(self.feed.seen(item.job) & self.states)

    def _examine(self, item: FoundJob) -> None:
        if item.native_id in self.done:
            return
        if item.error is not None or note_unknown(item):
            _unknown_line(item)
            self.done.add(item.native_id)
            return
        assert item.job is not None
        status = item.job.status
        if status.state != JobState.NEW and self.shown.get(item.native_id) != status.state:
            self.shown[item.native_id] = status.state
            self.display.changed(item.native_id, status)
        if status.final or self.reached(item):
            self.done.add(item.native_id)

    def counts(self) -> Dict[str, int]:
        """Jobs per state (UNKNOWN: ids the executor does not know)."""
        counts: Dict[str, int] = {}
        for item in self.found:
            name = UNKNOWN if item.error is not None or item.job is None \
                else item.job.status.state.value
            counts[name] = counts.get(name, 0) + 1
        return counts

    def run(self) -> None:
        """Wait; on return, `done` holds every job that needs no more waiting."""
        for item in self.found:
            self._examine(item)
        tick = LiveCounts.REDRAW_INTERVAL if isinstance(self.display, LiveCounts) \
            else IDLE_TICK
        self.display.counts(self.counts())
        while len(self.done) < len(self.found):
            wait = tick
            if self.deadline is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    self.timed_out = True
                    break
                wait = min(wait, remaining)
            for job in self.feed.changed_jobs(wait):
                changed = self.by_job.get(id(job))
                if changed is not None:
                    self._examine(changed)
            self.display.counts(self.counts())
        self.display.finish()


def _awaited_states(options: argparse.Namespace) -> Optional[Set[JobState]]:
    if not options.states:
        return None
    return {state for group in options.states for state in group}


def wait_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij wait ID...``: until every job is final (or reached ``--states``)."""
    executor = open_executor(options)
    feed = _ChangeFeed()
    executor.set_job_status_callback(feed.on_status)
    found = attach_all(executor, options.native_ids)
    states = _awaited_states(options)
    waiter = _Waiter(found, feed, states, options.timeout, options.json)
    waiter.run()
    known = [item for item in found if item.error is None and item.job is not None]
    not_done = [item for item in known if item.native_id not in waiter.done]
    not_reached = [item for item in known
                   if item.native_id in waiter.done and not waiter.reached(item)]
    if isinstance(waiter.display, LiveCounts) and not options.json:
        # The counts do not say which jobs need attention: name them.
        for item in known:
            assert item.job is not None
            status = item.job.status
            if (len(known) == 1 or item in not_done or item in not_reached
                    or (states is None and status.state != JobState.COMPLETED)):
                print_line(status_text(item.native_id, status))
    if waiter.timed_out:
        shown = ', '.join(f'{item.native_id} {item.job.status.state.value}'
                          for item in not_done[:5] if item.job is not None)
        more = ', ...' if len(not_done) > 5 else ''
        _error_line(f'--timeout of {options.timeout:g} s ran out with {len(not_done)} of '
                    f'{len(found)} jobs not done: {shown}{more}')
    if options.json:
        records = []
        for item in found:
            record = _record(options, item)
            record['reached'] = item.error is None and waiter.reached(item)
            records.append(record)
        print_json({'executor': executor_name(options), 'jobs': records,
                    'states': None if states is None else sorted(
                        state.value for state in states),
                    'timed_out': waiter.timed_out})
    return _wait_exit_status(len(known) < len(found), waiter.timed_out, states, known,
                             bool(not_reached))


def _wait_exit_status(unknown: bool, timed_out: bool, states: Optional[Set[JobState]],
                      known: List[FoundJob], not_reached: bool) -> int:
    """Unknown ids first, then a timeout; then, for final states, the first job (in
    command-line order) that did not complete decides, as in ``psij run``."""
    if unknown:
        return ExitStatus.UNKNOWN_JOB
    if timed_out:
        return ExitStatus.TIMEOUT
    if states is not None:
        return ExitStatus.UNREACHABLE if not_reached else ExitStatus.OK
    for item in known:
        assert item.job is not None
        if item.job.status.state != JobState.COMPLETED:
            return exit_status_of_job(item.job.status)
    return ExitStatus.OK


# --- cancel ----------------------------------------------------------------------------------


def cancel_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij cancel ID...``: cancel each job, then (unless --no-wait) wait until it ended."""
    executor = open_executor(options)
    found = attach_all(executor, options.native_ids)
    silent = wait_for_first_answer(found)
    problems: Dict[str, ExitStatus] = {}
    requested: Set[str] = set()
    for item in found:
        if item in silent:
            item.error = _no_answer(executor.name, item)
            problems[item.native_id] = ExitStatus.BACKEND
            continue
        if item.error is not None or item.job is None:
            problems[item.native_id] = ExitStatus.UNKNOWN_JOB
            continue
        if item.job.status.final:
            continue
        try:
            executor.cancel(item.job)
        except (SubmitException, InvalidJobException) as error:
            item.error = f'cancel of job {item.native_id} failed: {error}'
            problems[item.native_id] = ExitStatus.BACKEND
            continue
        requested.add(item.native_id)
    timed_out: List[FoundJob] = []
    if not options.no_wait:
        deadline = time.monotonic() + options.timeout
        for item in found:
            if item.native_id in requested and item.job is not None and item.job.wait(
                    timeout=max(deadline - time.monotonic(), 0.0)) is None:
                timed_out.append(item)
    for item in found:
        problem = problems.get(item.native_id)
        if problem == ExitStatus.UNKNOWN_JOB:
            _unknown_line(item)
        elif problem is not None:
            _error_line(str(item.error))
        elif not options.json:
            assert item.job is not None
            line = status_text(item.native_id, item.job.status)
            if item.native_id not in requested:
                line += ' [already final; nothing to cancel]'
            elif options.no_wait:
                line += ' [cancel requested]'
            print_line(line)
    if timed_out:
        _error_line(f'--timeout of {options.timeout:g} s ran out before job(s) '
                    f'{", ".join(item.native_id for item in timed_out)} ended')
    if options.json:
        records = []
        for item in found:
            record = _record(options, item)
            record['cancel_requested'] = item.native_id in requested
            records.append(record)
        print_json({'executor': executor_name(options), 'jobs': records})
    if ExitStatus.UNKNOWN_JOB in problems.values():
        return ExitStatus.UNKNOWN_JOB
    if problems:
        return ExitStatus.BACKEND
    return ExitStatus.TIMEOUT if timed_out else ExitStatus.OK


# --- list ------------------------------------------------------------------------------------


def list_command(options: argparse.Namespace, command: List[str]) -> int:
    """``psij list``: the native ids of this user's jobs the executor still sees."""
    executor = open_executor(options)
    try:
        native_ids = executor.list()
    except SubmitException as error:
        raise CliError(ExitStatus.BACKEND, f'cannot list the jobs of the {executor.name} '
                                           f'executor: {error.message}') from error
    if options.json:
        print_json({'executor': executor_name(options), 'native_ids': native_ids})
    else:
        for native_id in native_ids:
            print_line(native_id)
    return ExitStatus.OK
