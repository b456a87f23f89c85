"""Test doubles for the batch tracker: a scheduler, a transport, a clock and a poller.

- `ScriptedScheduler`: a `BatchScheduler` whose status and accounting parsers return what the
  test scripted (per native id), or raise `StatusCommandError` when told to;
- `RecordingTransport`: a `LocalTransport` (files on a tmp dir) that runs no command but
  records every argv with the time it was run;
- `FakeClock` and `SimulatedPoller`: a clock that only moves when the test says so and a
  stand-in for the process's status poller, so a test drives `SchedulerTracker.poll` itself,
  at the delays the tracker asks for, with no thread and no sleeping;
- `scripted_executor`: a `BatchSchedulerExecutor` bound to a `ScriptedScheduler`.
"""

import itertools
import pathlib
import shlex
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from psij.batch import (
    BatchScheduler,
    BatchSchedulerExecutor,
    BatchSchedulerExecutorConfig,
    CancelOutcome,
    ElementNames,
    JobScript,
    SchedulerStatus,
    ScriptInputs,
    StatusCommandError,
    SubmitCommand,
)
from psij.batch.registry import TrackerRegistry
from psij.exceptions import SubmitException
from psij.job_state import JobState
from psij.poller import PollTarget
from psij.submission_gate import SubmissionGate
from psij.transport import CommandResult, FinishedCommand, LocalTransport, RunningCommand

STATUS = 'scripted-status'
ACCOUNTING = 'scripted-accounting'
SUBMIT = 'scripted-submit'
CANCEL = 'scripted-cancel'


def queued() -> SchedulerStatus:
    """The scheduler's word for a job waiting in the queue."""
    return SchedulerStatus(JobState.QUEUED, 'PENDING')


def running() -> SchedulerStatus:
    """The scheduler's word for a running job."""
    return SchedulerStatus(JobState.ACTIVE, 'RUNNING')


class ScriptedScheduler(BatchScheduler):
    """A test double of a batch scheduler: it builds trivial commands, and its parsers
    ignore the command output and answer from what the test scripted.

    :ivar queue: what the status command reports, by native id; a job missing from it has
        left the queue. A submitted job enters it as `queued`.
    :ivar accounting: the final records accounting reports, by native id.
    :ivar has_accounting: False: `accounting_command` is None (no accounting on this system).
    :ivar status_error: while set, the status parser raises `StatusCommandError` with it.
    :ivar accounting_lag: accounting answers this many calls with nothing before it shows
        its records (records reach accounting late).
    :ivar status_calls: the native ids each status command asked about, in order.
    :ivar accounting_calls: the same for the accounting command.
    :ivar cancel_outcome: what every cancel did.
    :ivar cancel_error: while set, the cancel parser raises it (a refusal of the scheduler).
    :ivar submissions: what each submitted script was made from (arrays, dependencies).
    """

    name = 'scripted'
    job_id_variable = 'SCRIPTED_JOB_ID'
    element_names = ElementNames('"${SCRIPTED_ARRAY_ID}_${SCRIPTED_TASK}"', 'SCRIPTED_TASK',
                                 0)
    supports_dependencies = True

    def __init__(self) -> None:
        self.queue: Dict[str, SchedulerStatus] = {}
        self.accounting: Dict[str, SchedulerStatus] = {}
        self.has_accounting = True
        self.status_error: Optional[str] = None
        self.accounting_lag = 0
        self.status_calls: List[List[str]] = []
        self.accounting_calls: List[List[str]] = []
        self.cancel_outcome = CancelOutcome.REQUESTED
        self.cancel_error: Optional[SubmitException] = None
        self.submissions: List[ScriptInputs] = []
        self._ids = itertools.count(1001)

    def render_script(self, inputs: ScriptInputs) -> str:
        """A plain script running the launch command (no template needed); ``inputs`` are
        recorded in `submissions`."""
        self.submissions.append(inputs)
        return '#!/bin/sh\n' + shlex.join(inputs.launch_command) + '\n'

    def element_ids(self, native_id: str, count: int) -> List[str]:
        """``ID_0`` to ``ID_<count - 1>``, each entering the queue as QUEUED."""
        self.queue.pop(native_id, None)
        ids = [f'{native_id}_{index}' for index in range(count)]
        for element in ids:
            self.queue[element] = queued()
        return ids

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """Unused: `render_script` needs no template."""
        return {}

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """``scripted-submit SCRIPT``."""
        return SubmitCommand([SUBMIT, str(script.path)])

    def parse_submit_output(self, result: CommandResult) -> str:
        """A new native id; the job enters the queue as QUEUED."""
        native_id = str(next(self._ids))
        self.queue[native_id] = queued()
        return native_id

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """``scripted-status --jobs=ID,ID,...``."""
        return [STATUS, '--jobs=' + ','.join(native_ids)]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The scripted `queue` entries of ``native_ids``, or `StatusCommandError` (also for
        a command that failed or did not answer)."""
        self.status_calls.append(list(native_ids))
        if self.status_error is not None:
            raise StatusCommandError(self.status_error)
        if not result.ok:
            raise StatusCommandError(result.describe())
        return {native_id: self.queue[native_id] for native_id in native_ids
                if native_id in self.queue}

    def accounting_command(self, native_ids: Sequence[str]) -> Optional[List[str]]:
        """``scripted-accounting --jobs=...``, or None without accounting."""
        if not self.has_accounting:
            return None
        return [ACCOUNTING, '--jobs=' + ','.join(native_ids)]

    def parse_accounting_output(self, result: CommandResult,
                                native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The scripted `accounting` records of ``native_ids`` (none during the lag)."""
        self.accounting_calls.append(list(native_ids))
        if len(self.accounting_calls) <= self.accounting_lag:
            return {}
        return {native_id: self.accounting[native_id] for native_id in native_ids
                if native_id in self.accounting}

    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """``scripted-cancel ID ID...``; the test scripts what the cancel does to the queue."""
        return [CANCEL, *native_ids]

    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """Every job gets `cancel_outcome`, unless `cancel_error` is set."""
        if self.cancel_error is not None:
            raise self.cancel_error
        return {native_id: self.cancel_outcome for native_id in native_ids}

    def list_command(self, user: str) -> List[str]:
        """``scripted-list USER``."""
        return ['scripted-list', user]

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The ids in the scripted queue."""
        return sorted(self.queue)


@dataclass(frozen=True)
class RecordedCommand:
    """One command a `RecordingTransport` was asked to run."""

    at: float
    argv: Tuple[str, ...]
    #: The name of the thread that ran it.
    thread: str

    @property
    def program(self) -> str:
        """argv[0]."""
        return self.argv[0]


class RecordingTransport(LocalTransport):
    """A test double of a `Transport`: files are real (on a tmp dir), commands are not run
    but recorded, each with the time of ``clock``, and answered with empty success.

    Its `key` is unique, so that every test gets its own tracker.
    ``on_run`` is called with each argv after it is recorded, to act while a command "runs".
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.key = f'recording-{uuid.uuid4()}'
        self.clock = clock
        self.commands: List[RecordedCommand] = []
        self.listings = 0
        self.removed: List[pathlib.Path] = []
        self.on_run: Optional[Callable[[Sequence[str]], None]] = None

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        """Record ``argv``; see the class docstring."""
        self.commands.append(RecordedCommand(self.clock(), tuple(argv),
                                             threading.current_thread().name))
        if self.on_run is not None:
            self.on_run(argv)
        return CommandResult(argv, 0, '', '')

    def start(self, argv: Sequence[str], stdin: Optional[str] = None,
              timeout: float = 60.0) -> RunningCommand:
        """Record ``argv`` and answer at once, like `run`."""
        return FinishedCommand(self.run(argv, stdin, timeout))

    def list_directory(self, path: pathlib.Path) -> Set[str]:
        """Count the listing and list ``path``."""
        self.listings += 1
        return super().list_directory(path)

    def remove_file(self, path: pathlib.Path) -> None:
        """Record the removal and remove ``path``."""
        self.removed.append(path)
        super().remove_file(path)

    def runs_of(self, *programs: str) -> List[RecordedCommand]:
        """The recorded commands whose argv[0] is one of ``programs``."""
        return [command for command in self.commands if command.program in programs]


class FakeClock:
    """A test double of the clock of `psij.batch.tracker`: `monotonic` returns a time that only
    moves when `SimulatedPoller` (or the test) advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        """The simulated time."""
        return self.now


class SimulatedPoller:
    """A test double of `psij.poller.StatusPoller` on a `FakeClock`.

    `schedule` behaves like the real one (the earliest request wins; a target is dropped
    while it is being polled and rescheduled with the delay its `poll` returns), but nothing
    runs until the test calls `run_for` or `run_until`, which jump the clock from one due
    poll to the next.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._due: Dict[int, Tuple[float, PollTarget]] = {}
        self.polls = 0

    def schedule(self, target: PollTarget, delay: float = 0.0) -> None:
        """Poll ``target`` in ``delay`` simulated seconds unless it is due sooner."""
        due = self.clock.now + delay
        current = self._due.get(id(target))
        if current is None or due < current[0]:
            self._due[id(target)] = (due, target)

    def _step(self, end: float) -> bool:
        """Run the earliest poll due by ``end``; False if there is none."""
        if not self._due:
            return False
        key, (due, target) = min(self._due.items(), key=lambda item: item[1][0])
        if due > end:
            return False
        del self._due[key]
        self.clock.now = max(self.clock.now, due)
        self.polls += 1
        delay = target.poll()
        if delay is not None:
            self.schedule(target, delay)
        return True

    def run_for(self, seconds: float) -> None:
        """Run every poll due in the next ``seconds``, then set the clock to their end."""
        end = self.clock.now + seconds
        for _ in range(100_000):
            if not self._step(end):
                break
        else:
            raise AssertionError('the tracker polls in a tight loop')
        self.clock.now = max(self.clock.now, end)

    def run_until(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Run polls until ``condition()`` holds or ``seconds`` have passed; whether it
        holds."""
        end = self.clock.now + seconds
        for _ in range(100_000):
            if condition():
                return True
            if not self._step(end):
                self.clock.now = max(self.clock.now, end)
                return condition()
        raise AssertionError('the tracker polls in a tight loop')


class SimulatedSubmitter:
    """A test double of `psij.submission_gate.Submitter`: held jobs are released by polls of a
    `SimulatedPoller`, on its simulated time, instead of by a thread."""

    def __init__(self, poller: SimulatedPoller) -> None:
        self.poller = poller
        self._targets: Dict[int, _GateRelease] = {}

    def wake(self, gate: SubmissionGate, delay: float = 0.0) -> None:
        """Release what ``gate`` can at the next poll due in ``delay`` simulated seconds."""
        target = self._targets.setdefault(id(gate), _GateRelease(gate, self.poller.clock))
        self.poller.schedule(target, delay)


class _GateRelease:
    """One gate's release, as a poll target."""

    def __init__(self, gate: SubmissionGate, clock: FakeClock) -> None:
        self.gate = gate
        self.clock = clock

    def poll(self) -> Optional[float]:
        return self.gate.release(self.clock.monotonic())


def scripted_executor(scheduler: ScriptedScheduler, transport: RecordingTransport,
                      work_directory: pathlib.Path,
                      registry: Optional[TrackerRegistry] = None,
                      submitter: Optional[SimulatedSubmitter] = None,
                      **settings: object) -> BatchSchedulerExecutor:
    """A `BatchSchedulerExecutor` of ``scheduler`` through ``transport``, its jobs tracked in
    ``registry`` (the process's trackers by default; a registry on a `FakeClock` and a
    `SimulatedPoller` for simulated time); ``settings`` go to `BatchSchedulerExecutorConfig`
    (``keep_files``, ``queue_polling_interval``...)."""

    class ScriptedExecutor(BatchSchedulerExecutor):
        """An executor bound to one `ScriptedScheduler` (test double)."""

        name = 'scripted'
        version = '0.0.1'

    ScriptedExecutor.scheduler = scheduler
    if registry is not None:
        ScriptedExecutor.tracker_registry = registry
    if submitter is not None:
        ScriptedExecutor.gate_waker = submitter
    config = BatchSchedulerExecutorConfig(work_directory=work_directory,
                                          **settings)  # type: ignore[arg-type]
    return ScriptedExecutor(config=config, transport=transport)
