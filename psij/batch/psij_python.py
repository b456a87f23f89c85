"""Batch executors written for psij-python's batch base, run on ours.

psij-python's ``BatchSchedulerExecutor`` asks a subclass for nine methods
(``generate_submit_script``, ``get_submit_command``, ``job_id_from_submit_output``,
``get_cancel_command``, ``process_cancel_command_output``, ``get_status_command``,
``parse_status_output``, ``get_list_command``, ``parse_list_output``) and runs them from a
thread of its own per executor. Here there is one batch base: `PsijPythonMethods` gives it
psij-python's names (so such a subclass, and code calling ``generate_submit_script`` on any
batch executor, runs unchanged), and `PsijPythonScheduler` adapts a subclass's methods onto
the sans-IO `BatchScheduler` interface, so its jobs are tracked by the process's one poller
with psij's evidence rules: a job the status command no longer lists is settled by its
exit-code file (``<script_dir>/<native_id>.ec``, which psij-python's templates write),
never assumed COMPLETED.
"""

import io
import logging
import pathlib
import re
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Collection, Dict, List, Optional, Sequence, Tuple, Type

from psij.batch.markers import is_safe_file_stem
from psij.batch.scheduler import (
    BatchScheduler,
    CancelOutcome,
    JobScript,
    SchedulerStatus,
    StatusCommandError,
    SubmitCommand,
)
from psij.batch.script import ScriptInputs
from psij.exceptions import SubmitException
from psij.job import Job
from psij.job_state import JobState
from psij.job_status import JobStatus
from psij.transport import CommandResult

if TYPE_CHECKING:
    from psij.batch.executor import BatchSchedulerExecutor

logger = logging.getLogger('psij.batch')


#: What a failed command that printed nothing is said to have printed (psij-python's text,
#: which some of its plugins compare with).
UNKNOWN_ERROR = 'PSIJ: Unknown error'


class InvalidJobStateError(Exception):
    """Raised by ``process_cancel_command_output`` when the job cannot be canceled because it
    has already ended (psij-python's name)."""


def check_status_exit_code(command: str, exit_code: int, out: str) -> None:
    """Raise `RuntimeError` naming ``command`` and its output if ``exit_code`` is not 0 (for
    plugins' ``parse_status_output``, as psij-python's own executors use it)."""
    if exit_code != 0:
        raise RuntimeError(f'status command {command!r} exited with {exit_code} and output '
                           f'{out!r}')


# psij-python's launchers opened the job's standard streams; psij's leave that to the job
# script's common body, which a plugin's template does not have: the launch command given to
# a plugin opens them first.
_WITH_STREAMS = 'exec <"$1" >"$2"; if [ "$3" = "&1" ]; then exec 2>&1; else exec 2>"$3"; fi; ' \
    'shift 3; exec "$@"'


class PsijPythonMethods:
    """psij-python's batch-executor methods, for subclasses written for psij-python.

    psij's own executors get their commands from a `BatchScheduler` and do not use these;
    ``generate_submit_script`` and ``_create_script_context`` work on them too (they write
    psij's script). A subclass that sets no ``scheduler`` implements the other methods, as it
    would for psij-python, and `PsijPythonScheduler` runs them.
    """

    directory: pathlib.Path

    @property
    def work_directory(self) -> pathlib.Path:
        """Where scripts and exit-code files go (psij-python's name for the directory)."""
        return self.directory

    def _create_script_context(self, job: Job) -> Dict[str, object]:
        """psij-python's template context: ``job``, ``custom_attributes`` (by prefix),
        ``env`` and ``psij`` (``launch_command``, ``script_dir``, ``lib``), and
        ``formatted_job_duration`` (``H:M:S``)."""
        executor = self._as_executor()
        inputs = executor.script_inputs(job)
        spec = inputs.spec
        custom: Dict[str, object] = {}
        for key, value in (spec.attributes.custom_attributes or {}).items():
            prefix, dot, rest = key.partition('.')
            if dot:
                entries = custom.setdefault(prefix.lower(), [])
                assert isinstance(entries, list)
                entries.append({'key': rest, 'value': value})
            else:
                custom[key] = value
        context: Dict[str, object] = {
            'job': job,
            'custom_attributes': custom,
            'env': [{'name': name, 'value': value}
                    for name, value in (spec.environment or {}).items()],
            'psij': {'lib': {}, 'launch_command': _with_streams(inputs),
                     'script_dir': str(self.directory)},
        }
        duration = spec.attributes.duration
        if duration is not None:
            context['formatted_job_duration'] = self._format_duration(duration)
        return context

    def _format_duration(self, duration: timedelta) -> str:
        """A duration as psij-python's templates get it, ``H:M:S`` (a plugin may override
        this, as psij-python's LSF executor did)."""
        return _hours_minutes_seconds(duration)

    def generate_submit_script(self, job: Job, context: Dict[str, object],
                               submit_file: IO[str]) -> None:
        """Write the job's script to ``submit_file`` (psij's script, for psij's executors: the
        context is not needed; a psij-python plugin overrides this)."""
        submit_file.write(self._as_executor().generate_script(job))

    def get_submit_command(self, job: Job, submit_file_path: pathlib.Path) -> List[str]:
        """The argv submitting the script at ``submit_file_path`` (psij-python plugins)."""
        raise NotImplementedError

    def job_id_from_submit_output(self, out: str) -> str:
        """The native id in the submit command's output (psij-python plugins)."""
        raise NotImplementedError

    def get_cancel_command(self, native_id: str) -> List[str]:
        """The argv canceling ``native_id`` (psij-python plugins)."""
        raise NotImplementedError

    def process_cancel_command_output(self, exit_code: int, out: str) -> None:
        """Judge a cancel command that exited non-zero: raise `InvalidJobStateError` if the
        job had ended, `SubmitException` if the cancel failed (psij-python plugins)."""
        raise NotImplementedError

    def get_status_command(self, native_ids: Collection[str]) -> List[str]:
        """One argv asking for the states of ``native_ids`` (psij-python plugins)."""
        raise NotImplementedError

    def parse_status_output(self, exit_code: int, out: str) -> Dict[str, JobStatus]:
        """The statuses in the status command's output, by native id (psij-python
        plugins)."""
        raise NotImplementedError

    def get_list_command(self) -> List[str]:
        """The argv listing this user's jobs (psij-python plugins)."""
        raise NotImplementedError

    def parse_list_output(self, out: str) -> List[str]:
        """The native ids in the list command's output: one per line by default."""
        return [line.strip() for line in out.splitlines() if line.strip()]

    def _current_user(self) -> str:
        return self._as_executor().user()

    def _as_executor(self) -> 'BatchSchedulerExecutor':
        from psij.batch.executor import BatchSchedulerExecutor
        assert isinstance(self, BatchSchedulerExecutor)
        return self


def _hours_minutes_seconds(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    return f'{seconds // 3600}:{seconds // 60 % 60}:{seconds % 60}'


def _with_streams(inputs: ScriptInputs) -> List[str]:
    """The launch command, opening the job's standard streams first (``/dev/null`` for those
    not given; stderr joined to stdout when they are the same file)."""
    spec = inputs.spec

    def path(value: Optional[pathlib.Path]) -> str:
        return str(value) if value is not None else '/dev/null'

    joined = spec.stderr_path is not None and spec.stderr_path == spec.stdout_path
    return ['/bin/sh', '-c', _WITH_STREAMS, 'psij-streams', path(spec.stdin_path),
            path(spec.stdout_path), '&1' if joined else path(spec.stderr_path),
            *inputs.launch_command]


def _output(result: CommandResult) -> str:
    """What psij-python's plugins were given: stdout, and stderr too when the command failed
    (`UNKNOWN_ERROR` if it printed nothing)."""
    if result.ok:
        return result.stdout
    return '\n'.join(part for part in (result.stdout, result.stderr) if part) or UNKNOWN_ERROR


class PsijPythonScheduler(BatchScheduler):
    """A `BatchScheduler` made of the psij-python methods of one executor class.

    One class of adapter per executor class (see `for_executor`): adapters of one executor
    class are equal, so all its executors share one tracker, whose commands are built by the
    first one; scripts and submit commands are built by the executor of the job at hand.
    """

    native_id_pattern = re.compile(r'.+')
    #: psij-python's ``get_cancel_command`` takes one id.
    max_cancel_batch = 1

    def __init__(self, executor: 'BatchSchedulerExecutor') -> None:
        self._executor = executor

    @classmethod
    def for_executor(cls, executor: 'BatchSchedulerExecutor') -> 'PsijPythonScheduler':
        """The adapter of ``executor``'s class."""
        executor_class = type(executor)
        adapter = _ADAPTERS.get(executor_class)
        if adapter is None:
            adapter = type(f'{executor_class.__name__}Scheduler', (cls,),
                           {'name': executor_class.name, '__module__': cls.__module__})
            _ADAPTERS[executor_class] = adapter
        return adapter(executor)

    def _settings(self) -> Optional[Tuple[Tuple[str, object], ...]]:
        return ()

    def _legacy(self, job: Optional[Job] = None) -> PsijPythonMethods:
        executor = job.executor if job is not None else None
        return executor if isinstance(executor, PsijPythonMethods) else self._executor

    def render_script(self, inputs: ScriptInputs) -> str:
        """The plugin's ``generate_submit_script`` with psij-python's context."""
        legacy = self._legacy(inputs.job)
        text = io.StringIO()
        legacy.generate_submit_script(inputs.job, legacy._create_script_context(inputs.job),
                                      text)
        return text.getvalue()

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """Not used: the plugin writes the whole script (`render_script`)."""
        return {}

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """The plugin's ``get_submit_command``."""
        job = script.inputs.job
        return SubmitCommand(self._legacy(job).get_submit_command(job, pathlib.Path(script.path)))

    def parse_submit_output(self, result: CommandResult) -> str:
        """The plugin's ``job_id_from_submit_output``; a submit command that failed is a
        `SubmitException` with its output, as in psij-python."""
        if not result.ok:
            raise SubmitException(_output(result) or result.describe(),
                                  transient=result.returncode is None)
        return self._executor.job_id_from_submit_output(result.stdout)

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """The plugin's ``get_status_command``."""
        return self._executor.get_status_command(list(native_ids))

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The plugin's ``parse_status_output``; anything it raises is a failed status
        command, retried later (it never fails the jobs)."""
        if result.returncode is None:
            raise StatusCommandError(result.describe())
        try:
            statuses = self._executor.parse_status_output(result.returncode, _output(result))
        except Exception as error:
            raise StatusCommandError(f'{self.name}: parse_status_output raised '
                                     f'{type(error).__name__}: {error}') from error
        # psij-python's plugins call a job that the scheduler says has finished COMPLETED and
        # leave the exit code to the .ec file (their scripts exit 0 whatever the job did): that
        # is no evidence, so such a job counts as having left the queue, and its .ec file, or
        # nothing within outcome_timeout, settles it.
        return {native_id: _scheduler_status(status) for native_id, status in statuses.items()
                if status.state != JobState.COMPLETED}

    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """The plugin's ``get_cancel_command`` (of one job: `max_cancel_batch` is 1)."""
        (native_id,) = native_ids
        return self._executor.get_cancel_command(native_id)

    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """REQUESTED unless the command failed and the plugin's
        ``process_cancel_command_output`` raised `InvalidJobStateError` (ALREADY_ENDED) or
        `SubmitException` (passed on)."""
        (native_id,) = native_ids
        if result.ok:
            return {native_id: CancelOutcome.REQUESTED}
        if result.returncode is None:
            raise SubmitException(f'cancel of job {native_id} failed: {result.describe()}',
                                  transient=True)
        try:
            self._executor.process_cancel_command_output(result.returncode, _output(result))
        except InvalidJobStateError:
            return {native_id: CancelOutcome.ALREADY_ENDED}
        return {native_id: CancelOutcome.REQUESTED}

    def list_command(self, user: str) -> List[str]:
        """The plugin's ``get_list_command``."""
        return self._executor.get_list_command()

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The plugin's ``parse_list_output``."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        return self._executor.parse_list_output(result.stdout)

    def is_valid_native_id(self, native_id: str) -> bool:
        """Any id that can name the job's files (a psij-python plugin says nothing of its
        ids)."""
        return is_safe_file_stem(native_id)


_ADAPTERS: Dict[type, Type[PsijPythonScheduler]] = {}


def _scheduler_status(status: JobStatus) -> SchedulerStatus:
    """A plugin's `JobStatus` as what the scheduler said."""
    native = (status.metadata or {}).get('native_state')
    return SchedulerStatus(status.state, str(native) if native is not None else status.state.name,
                           exit_code=status.exit_code, message=status.message)
