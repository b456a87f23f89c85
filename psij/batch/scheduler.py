"""The sans-IO interface of a batch scheduler: commands to build, outputs to parse.

A `BatchScheduler` never runs anything. Its methods turn a job into a script and into argvs,
and turn a `CommandResult` back into ids and states, so they can be tested with captured
output and no scheduler at all, and the same code works whatever transport runs the commands.
"""

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Sequence

from psij.batch.markers import is_safe_file_stem
from psij.batch.script import ScriptInputs, read_template, render_job_body, render_template
from psij.job_state import JobState
from psij.transport import CommandResult


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


class BatchScheduler(ABC):
    """Builds one scheduler's commands and scripts and parses their output; runs nothing.

    A subclass sets `name` and `job_id_variable`, ships a template ``<name>.mustache`` next to
    its module (see `render_script`) and implements the command and parser methods.
    """

    #: The scheduler's name, also the executor's name (``slurm``).
    name: ClassVar[str] = ''
    #: The variable holding the scheduler's id of the job inside the job script.
    job_id_variable: ClassVar[str] = ''
    #: A pattern every native id of this scheduler matches.
    native_id_pattern: ClassVar['re.Pattern[str]'] = re.compile(r'[0-9]+')

    # --- the job script ------------------------------------------------------------------

    def render_script(self, inputs: ScriptInputs) -> str:
        """The job script: the template ``<name>.mustache`` next to the subclass's module,
        rendered with `script_context` plus ``job_body``, the common body."""
        context = self.script_context(inputs)
        context['job_body'] = render_job_body(inputs, self.job_id_variable)
        package = type(self).__module__.rpartition('.')[0]
        return render_template(read_template(package, f'{self.name}.mustache'), context)

    @abstractmethod
    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values for the scheduler's directive lines; raises `InvalidJobException` for a
        value the scheduler cannot take, naming the field."""

    # --- commands and their output ---------------------------------------------------------

    @abstractmethod
    def submit_command(self, script_path: str) -> List[str]:
        """The argv that submits the script at ``script_path``."""

    def submit_command_for(self, script_path: str, script: str) -> List[str]:
        """The argv that submits ``script``, written at ``script_path``: `submit_command` by
        default. A scheduler whose command depends on the script's content overrides this
        (Slurm unsets the ``SBATCH_*`` variables that would override its ``#SBATCH`` lines)."""
        return self.submit_command(script_path)

    def submit_input(self, script: str) -> Optional[str]:
        """What the submit command reads on its standard input: nothing by default; a
        scheduler whose submit command reads the script from stdin (LSF's ``bsub``) returns
        ``script``, the text written at the path given to `submit_command`."""
        return None

    @abstractmethod
    def parse_submit_output(self, result: CommandResult) -> str:
        """The native id of the submitted job; raises `SubmitException` (or
        `InvalidJobException` when the refusal names a field of the job) if it was refused."""

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
    def cancel_command(self, native_id: str) -> List[str]:
        """The argv that cancels ``native_id``."""

    @abstractmethod
    def parse_cancel_output(self, result: CommandResult, native_id: str) -> None:
        """Raise `SubmitException` if the cancel failed; a job that already ended is fine."""

    @abstractmethod
    def list_command(self, user: str) -> List[str]:
        """The argv listing the jobs of ``user``."""

    @abstractmethod
    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The native ids in the output of `list_command`; `StatusCommandError` on failure."""

    def is_valid_native_id(self, native_id: str) -> bool:
        """True if ``native_id`` looks like an id of this scheduler (and is safe in a file
        name)."""
        return bool(self.native_id_pattern.fullmatch(native_id)) and is_safe_file_stem(
            native_id)
