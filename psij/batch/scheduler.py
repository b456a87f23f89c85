"""The sans-IO interface of a batch scheduler: commands to build, outputs to parse.

A `BatchScheduler` never runs anything. Its methods turn a job into a script and into argvs,
and turn a `CommandResult` back into ids and states, so they can be tested with captured
output and no scheduler at all, and the same code works whatever transport runs the commands.
Every method is a pure function of its arguments and of the scheduler's settings, which are
given when it is built; what must be remembered about one job (that we canceled it) lives with
the tracked job, not here.
"""

import enum
import functools
import importlib
import importlib.resources
import pathlib
import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Dict, List, Optional, Sequence, Tuple

from psij.batch.markers import is_safe_file_stem
from psij.batch.script import ElementNames, ScriptInputs, render_job_body, render_template
from psij.job_state import JobState
from psij.transport import CommandResult

if TYPE_CHECKING:
    from psij.queue_limits.limits import SchedulerQueues


@dataclass(frozen=True)
class SchedulerStatus:
    """What the scheduler says about one job.

    :param state: QUEUED, ACTIVE or a final state; NEW when the scheduler knows the job but
        its state means nothing to this library (a state added in a later release...): the
        job's state is left as it is.
    :param native_state: the scheduler's own name for the state (``PENDING``, ``TIMEOUT``...).
    :param exit_code: the exit code, where the scheduler reports one.
    :param message: why the job is in this state, for people (``time limit of 0:01:00
        reached``, a pending reason...).
    :param complete: False if this final status lacks something that accounting can add
        (Slurm's ``squeue`` says FAILED but not the exit code).
    """

    state: JobState
    native_state: str
    exit_code: Optional[int] = None
    message: Optional[str] = None
    complete: bool = True


class StatusCommandError(Exception):
    """A status, accounting or list command failed in a way that says nothing about the jobs
    (controller down, timeout, RPC limit, output that cannot be read); the caller retries
    later."""


class AccountingUnavailable(StatusCommandError):
    """The scheduler keeps no accounting (Slurm without slurmdbd): accounting cannot tell
    whether it knows a job."""


class CancelOutcome(enum.Enum):
    """What the scheduler did with a cancel it did not refuse."""

    #: The scheduler is stopping the job (or removing it from the queue).
    REQUESTED = 'requested'
    #: The job had already ended: there was nothing to cancel.
    ALREADY_ENDED = 'already ended'


@dataclass(frozen=True)
class JobScript:
    """A job script written in the work directory, about to be submitted.

    :param inputs: what the script was made from (the job, its launch command...).
    :param path: where it was written (on the machine where the scheduler runs).
    :param text: its contents.
    """

    inputs: ScriptInputs
    path: pathlib.PurePath
    text: str


@dataclass(frozen=True)
class SubmitCommand:
    """The command that submits a job script, and what it reads on its standard input (None:
    nothing)."""

    argv: List[str]
    stdin: Optional[str] = None


class BatchScheduler(ABC):
    """Builds one scheduler's commands and scripts and parses their output; runs nothing.

    A subclass sets `name` and `job_id_variable`, ships a template ``<name>.mustache`` next to
    its module (see `render_script`) and implements the command and parser methods. Settings
    (a site's parallel environment...) are attributes given to its constructor. Two schedulers
    of the same class with equal settings are the same scheduler: executors of either share one
    status tracker.
    """

    #: The scheduler's name, also the name of the executor bound to it (``slurm``).
    name: ClassVar[str] = ''
    #: The variable holding the scheduler's id of the job inside the job script.
    job_id_variable: ClassVar[str] = ''
    #: A pattern every native id of this scheduler matches.
    native_id_pattern: ClassVar['re.Pattern[str]'] = re.compile(r'[0-9]+')
    #: How an array element's script names itself; None: the scheduler runs no arrays (an
    #: executor then submits each element of a `psij.JobArray` as a job of its own).
    element_names: ClassVar[Optional[ElementNames]] = None
    #: The most elements one native array may have, when the scheduler cannot be asked
    #: (`array_limit_command`); None: no limit psij knows of.
    max_array_size: ClassVar[Optional[int]] = None
    #: Whether the scheduler makes a job wait for others (`ScriptInputs.dependencies`); if
    #: not, psij holds a dependent job until its predecessors end.
    supports_dependencies: ClassVar[bool] = False
    #: At most this many ids per cancel command (None: any number).
    max_cancel_batch: ClassVar[Optional[int]] = None
    #: The module that reads this scheduler's queues and their limits (its ``command()``
    #: and ``parse(result)``, pure functions: ``psij.executors.slurm_queues``); None: the
    #: scheduler does not tell (see `queue_limits_command`).
    queue_limits_module: ClassVar[Optional[str]] = None

    # --- the job script ------------------------------------------------------------------

    def render_script(self, inputs: ScriptInputs) -> str:
        """The job script: the scheduler's template rendered with `script_context` plus
        ``job_body``, the common body.

        The template is ``<name>.mustache`` next to the module of the scheduler's class, else
        of the nearest base class that has one: a subclass in another package may ship its own
        template (named after its own `name`) or use the one of the scheduler it extends.
        """
        context = self.script_context(inputs)
        context['job_body'] = render_job_body(inputs, self.job_id_variable, self.element_names)
        return render_template(self.template(), context)

    def template(self) -> str:
        """The text of this scheduler's template (see `render_script`)."""
        looked_in: List[str] = []
        for cls in type(self).__mro__:
            if not (isinstance(cls, type) and issubclass(cls, BatchScheduler)) \
                    or cls is BatchScheduler or not cls.name:
                continue
            text = _read_template(cls.__module__, f'{cls.name}.mustache')
            if text is not None:
                return text
            looked_in.append(f'{cls.name}.mustache beside {cls.__module__}')
        raise FileNotFoundError(f'no job script template for {type(self).__name__}; looked for '
                                + ', '.join(looked_in or ['a class with a name']))

    @abstractmethod
    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values for the scheduler's directive lines; raises `InvalidJobException` for a
        value the scheduler cannot take, naming the field."""

    # --- commands and their output ---------------------------------------------------------

    @abstractmethod
    def submit_command(self, script: JobScript) -> SubmitCommand:
        """The command that submits ``script`` (and what it reads on stdin)."""

    @abstractmethod
    def parse_submit_output(self, result: CommandResult) -> str:
        """The native id of the submitted job (of the native array, for an array); raises
        `SubmitException` (or `InvalidJobException` when the refusal names a field of the
        job) if it was refused."""

    def element_ids(self, native_id: str, count: int) -> List[str]:
        """The native ids of the ``count`` elements of the native array ``native_id`` (as
        `parse_submit_output` returned it), in order (for a scheduler with arrays)."""
        raise NotImplementedError(f'{type(self).__name__} runs no arrays')

    def array_limit_command(self) -> Optional[List[str]]:
        """An argv asking the scheduler how many elements one array may have; None: use
        `max_array_size`."""
        return None

    def parse_array_limit(self, result: CommandResult) -> Optional[int]:
        """The most elements one array may have, from `array_limit_command`'s output; None
        if it does not say."""
        return None

    def parse_job_limit(self, result: CommandResult) -> Optional[int]:
        """The most jobs the scheduler holds at once, from `array_limit_command`'s output (an
        array with more elements is refused, as splitting cannot help); None if it does not
        say."""
        return None

    def queue_limits_command(self) -> Optional[List[str]]:
        """An argv listing the scheduler's queues with their limits; None: it cannot tell
        (only the config's limits apply, see `psij.queue_limits`)."""
        if self.queue_limits_module is None:
            return None
        command: List[str] = importlib.import_module(self.queue_limits_module).command()
        return command

    def parse_queue_limits(self, result: CommandResult) -> 'SchedulerQueues':
        """The queues and their limits in `queue_limits_command`'s output; raises
        `StatusCommandError` if the command failed or its output cannot be read."""
        if self.queue_limits_module is None:
            raise StatusCommandError(f'{self.name} does not tell its queues\' limits')
        queues: SchedulerQueues = importlib.import_module(self.queue_limits_module).parse(
            result)
        return queues

    @abstractmethod
    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """One argv asking for the state of all ``native_ids``."""

    @abstractmethod
    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The states the status command reported; a job it does not know is left out.
        Raises `StatusCommandError` if the command failed or printed something it should not
        (a job missing from garbled output would look like a job that left the queue)."""

    def accounting_command(self, native_ids: Sequence[str]) -> Optional[List[str]]:
        """One argv asking accounting about jobs that left the queue; None if there is none."""
        return None

    def parse_accounting_output(self, result: CommandResult,
                                native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """Like `parse_status_output`, for the accounting command; raises
        `AccountingUnavailable` if the scheduler keeps no accounting."""
        return {}

    @abstractmethod
    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """ONE argv that cancels every job of ``native_ids`` (at most `max_cancel_batch`)."""

    @abstractmethod
    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """What the cancel did to each job; raises `SubmitException` if the scheduler refused
        (another user's jobs, a controller that does not answer: ``transient``), for all of
        them."""

    @abstractmethod
    def list_command(self, user: str) -> List[str]:
        """The argv listing the jobs of ``user``."""

    @abstractmethod
    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The native ids in the output of `list_command`; `StatusCommandError` on failure."""

    def find_submission_command(self, user: str) -> Optional[List[str]]:
        """An argv listing ``user``'s jobs with the script each was submitted from, to find
        out whether a submission whose answer was lost (a dropped connection, a timeout)
        reached the scheduler; None if the scheduler cannot say (the submit then fails as
        transient, and the caller decides)."""
        return None

    def parse_find_submission(self, result: CommandResult, script: str) -> Optional[str]:
        """The native id (of the job, or of the array) submitted from the script at path
        ``script``, from `find_submission_command`'s output; None if no job was; raises
        `StatusCommandError` if the output cannot be read."""
        return None

    def is_valid_native_id(self, native_id: str) -> bool:
        """True if ``native_id`` looks like an id of this scheduler (and is safe in a file
        name)."""
        return bool(self.native_id_pattern.fullmatch(native_id)) and is_safe_file_stem(
            native_id)

    # --- identity ----------------------------------------------------------------------------

    def _settings(self) -> Optional[Tuple[Tuple[str, object], ...]]:
        """The settings that make this scheduler what it is, or None if they cannot be
        compared (a scheduler with unhashable state is only equal to itself)."""
        settings = tuple(sorted(vars(self).items()))
        try:
            hash(settings)
        except TypeError:
            return None
        return settings

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self):
            return False
        assert isinstance(other, BatchScheduler)
        mine = self._settings()
        return mine is not None and mine == other._settings()

    def __hash__(self) -> int:
        settings = self._settings()
        return hash((type(self), settings)) if settings is not None else id(self)

    def __repr__(self) -> str:
        settings = ', '.join(f'{key}={value!r}' for key, value in sorted(vars(self).items()))
        return f'{type(self).__name__}({settings})'


@functools.cache
def _read_template(module: str, name: str) -> Optional[str]:
    """The template ``name`` beside ``module``, or None if there is none."""
    loaded = sys.modules.get(module)
    package = getattr(loaded, '__package__', None) if loaded is not None else None
    if package:
        resource = importlib.resources.files(package).joinpath(name)
        return resource.read_text() if resource.is_file() else None
    # A top-level module (a plugin that is not a package): its template is beside its file.
    path = pathlib.Path(getattr(loaded, '__file__', '') or '').parent / name
    return path.read_text() if path.is_file() else None
