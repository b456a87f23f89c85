"""What the PBS family shares: PBS Professional / OpenPBS (``pbs``) and Torque (``torque``).

Both take the same ``qsub``, ``qdel`` and ``qselect`` commands and ``#PBS`` directive lines,
name the running job ``PBS_JOBID``, report the same one-letter job states, and encode a
finished job's exit status the same way: 0-255 is the job's own exit code, 256 + N means the
job was killed by signal N, and a negative value means the scheduler could not run the job
(each scheduler has its own table of those reasons). `PbsFamilyScheduler` holds all of that as
pure functions; `executors.pbs` and `executors.torque` add their resource lines and the
format of their ``qstat`` output.

Custom attributes (``custom_attributes``), with ``PREFIX`` the executor's prefix (``pbs`` or
``torque``):

==================================  ======================================================
``PREFIX.l.RESOURCE``: ``VALUE``    ``#PBS -l RESOURCE=VALUE`` (``True``: ``-l RESOURCE``)
``PREFIX.W.ATTRIBUTE``: ``VALUE``   ``#PBS -W ATTRIBUTE=VALUE``
``PREFIX.X`` (one letter)           ``#PBS -X VALUE`` (``True``: the bare flag ``-X``)
``False`` or ``None``               the line is left out
==================================  ======================================================

They come after the mapped lines; ``qsub`` takes the last value given for a resource, so they
override them. Options the executor needs for itself are refused (see `RESERVED_OPTIONS`).

A `psij.JobArray` is one array job (``123[].server``), its elements the subjobs
``123[0].server``..., all in one ``qstat -t``; dependencies are ``-W depend=`` (`depend_value`).
"""

import logging
import re
from dataclasses import dataclass
from typing import (
    Callable,
    ClassVar,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from psij.batch import (
    BatchScheduler,
    CancelOutcome,
    CommandResult,
    DirectiveQuoting,
    JobScript,
    NativeDependency,
    SchedulerStatus,
    ScriptInputs,
    StatusCommandError,
    SubmitCommand,
    SubmitErrors,
    clock_time,
    custom_options,
    require_resource_spec,
    signal_name,
    whole_seconds,
)
from psij.batch import job_name as base_job_name
from psij.batch.script import with_prefix
from psij.dependencies import DependencyCondition
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_spec import JobSpec
from psij.job_state import JobState

logger = logging.getLogger('psij.executors.pbs_common')

#: What a ``#PBS`` line can carry verbatim. Both qsubs split directive lines at blanks and
#: treat quotes and ``#`` in their own ways, so anything else is refused rather than guessed.
DIRECTIVES = DirectiveQuoting('#PBS', plain=re.compile(r'[A-Za-z0-9_.,:/=@%+\[\]-]+'),
                              quote=None, why='no blanks, quotes or #')
_RESOURCE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_.]*')

#: One-letter qsub options a custom attribute may not set, and why.
RESERVED_OPTIONS: Dict[str, str] = {
    'o': 'the executor sets the output path itself (its markers); use JobSpec.stdout_path',
    'e': 'the executor sets the error path itself (its markers); use JobSpec.stderr_path',
    'j': 'the executor joins the script\'s own streams itself; use JobSpec.stdout_path and '
         'JobSpec.stderr_path',
    'k': 'the executor discards the script\'s own streams itself; use JobSpec.stdout_path',
    'S': 'the job script needs bash (-S /bin/bash)',
    'C': 'a different directive prefix would hide the executor\'s own #PBS lines',
    'J': 'the executor writes the array range itself; submit a psij.JobArray',
    't': 'the executor writes the array range itself; submit a psij.JobArray',
    'I': 'interactive jobs are not batch jobs',
}

_SUBJOB_ID = re.compile(r'([0-9]+)\[([0-9]+)\](.*)')  # 123[4].server
_ARRAY_ID = re.compile(r'([0-9]+)\[\](.*)')  # 123[].server
#: The comment of a job deleted as its dependency can no longer be met (msg_registerdel).
DEPENDENCY_DELETED = 'Job deleted as result of dependency on job'
#: ``qstat``'s complaint about one job id it does not know (any more); not a failure of the
#: command: the other jobs were reported. Torque 5 writes ``Unknown Job Id Error ID``.
_UNKNOWN_JOB = re.compile(r'^(qstat|qdel): Unknown Job Id( Error)? \S+$')
#: ``qstat`` and ``qdel`` exit with PBS's error number modulo 256: 153 is PBSE_UNKJOBID.
EXIT_UNKNOWN_JOB = 153

#: qsub's refusals about one field of the job, and the transient ones (of qstat, qdel too).
SUBMIT_ERRORS = SubmitErrors('qsub', by_field=(
    ('unknown queue', 'JobAttributes.queue_name', 'the scheduler has no such queue'),
    ('requested queue not found', 'JobAttributes.queue_name', 'the scheduler has no such queue'),
    ('invalid partition', 'JobAttributes.queue_name', 'the scheduler has no such queue'),
    ('queue is not enabled', 'JobAttributes.queue_name', 'the queue does not accept jobs'),
    ('invalid account', 'JobAttributes.account', 'not an account this user may charge'),
    ('walltime', 'JobAttributes.duration', 'the scheduler does not accept this walltime'),
    ('resource_list.mem', 'ResourceSpecV1.memory', 'the scheduler does not accept this memory'),
    ('unknown resource', 'JobAttributes.custom_attributes',
     'one of the -l resources is not defined on this server'),
    ('resource limits', 'JobSpec.resources',
     'the nodes, processes, cores or memory exceed what the queue or server allows'),
    ('cannot locate feasible nodes', 'JobSpec.resources',
     'no nodes can satisfy the nodes, processes, cores or GPUs asked for'),
    ('illegal attribute or resource value', 'JobSpec.resources',
     'qsub does not accept one of the resource values'),
), transient=('cannot connect to server', 'communication failure', 'connection refused',
              'premature end of message', 'invalid credential', 'try again', 'timed out',
              'no answer', 'temporarily unavailable', 'server busy'))

#: Cancel refusals that mean the job has already ended (or is ending): nothing to cancel.
_ALREADY_ENDED = ('job has finished', 'unknown job id', 'invalid state for job - complete',
                  'request invalid for state of job')


def format_walltime(seconds: float) -> str:
    """``HH:MM:SS`` for ``-l walltime`` (hours may exceed 24), rounded up, at least 1 s."""
    return clock_time(whole_seconds(seconds), hour_digits=2)


def job_name(spec: JobSpec, max_length: int) -> str:
    """The ``-N`` value: `psij.batch.script.job_name`, starting with a letter (POSIX qsub
    requires it) and at most ``max_length`` characters."""
    name = base_job_name(spec)
    if not name[:1].isalpha():
        name = 'j' + name
    return name[:max_length]


def _check_custom_option(prefix: str, reserved: Mapping[str, str]) -> Callable[[str, str], None]:
    """The check of ``PREFIX.`` custom attribute keys (see the module docstring)."""

    def check(option: str, field: str) -> None:
        kind, _, name = option.partition('.')
        if kind in ('l', 'W') and name:
            if not _RESOURCE_NAME.fullmatch(name):
                raise InvalidJobException(
                    f'{field}: {name!r} is not a resource or attribute name; use letters, '
                    'digits, _ and . (starting with a letter)')
        elif len(option) == 1 and option.isalpha():
            if option in reserved:
                raise InvalidJobException(f'{field}: qsub -{option} is not allowed: '
                                          f'{reserved[option]}')
        else:
            # qsub's options are single letters: 'pbs.select' is surely 'pbs.l.select'.
            raise InvalidJobException(
                f'{field}: unknown form; allowed: \'{prefix}.l.RESOURCE\' (#PBS -l), '
                f'\'{prefix}.W.ATTRIBUTE\' (#PBS -W) or \'{prefix}.X\' for a one-letter qsub '
                'option X')
    return check


def custom_directives(attributes: Optional[Mapping[str, object]], prefix: str,
                      reserved: Mapping[str, str] = RESERVED_OPTIONS) -> List[str]:
    """The ``#PBS`` arguments of the ``PREFIX.`` custom attributes (others are ignored)."""
    directives: List[str] = []
    for option, field, value in custom_options(attributes, prefix,
                                               _check_custom_option(prefix, reserved)):
        text = None if value is True else DIRECTIVES.value(str(value), field)
        kind, _, name = option.partition('.')
        if name:
            if text is None and kind == 'W':
                raise InvalidJobException(f'{field}: -W needs a value (ATTRIBUTE=VALUE)')
            directives.append(f'-{kind} {name}' if text is None else f'-{kind} {name}={text}')
        else:
            directives.append(f'-{option}' if text is None else f'-{option} {text}')
    return directives


def match_ids(printed: Iterable[str], requested: Sequence[str]) -> Dict[str, str]:
    """Which requested id each id printed by ``qstat`` is: itself, or else the one requested id
    with the same sequence number, the part before the server (``123``, ``123[4]``): ``qsub``
    and ``qstat`` may spell the server differently, Slurm's Torque-compatible commands print
    bare numbers."""
    wanted = set(requested)
    by_sequence: Dict[str, List[str]] = {}
    for native_id in requested:
        by_sequence.setdefault(native_id.split('.', 1)[0], []).append(native_id)
    matches: Dict[str, str] = {}
    for native_id in printed:
        candidates = by_sequence.get(native_id.split('.', 1)[0], [])
        if native_id in wanted or len(candidates) == 1:
            matches[native_id] = native_id if native_id in wanted else candidates[0]
    return matches


def array_id(native_id: str) -> Optional[str]:
    """The array of a subjob (``123[].server`` for ``123[4].server``); None for other ids."""
    match = _SUBJOB_ID.fullmatch(native_id)
    return f'{match.group(1)}[]{match.group(3)}' if match else None


def status_ids(native_ids: Sequence[str]) -> List[str]:
    """The ids for ``qstat``: each subjob by its array, once, after ``-t`` (which lists every
    subjob of an array, pending ones too) if there is one."""
    ids = list(dict.fromkeys(array_id(native_id) or native_id for native_id in native_ids))
    return (['-t'] if any('[' in native_id for native_id in ids) else []) + ids


def whole_arrays(job: Job, condition: DependencyCondition) -> Set[str]:
    """The arrays ``job`` waits for whole under ``condition``: each subjob of the array (the
    elements of a `psij.JobArray` that share its id) is a predecessor, or has ended."""
    waits = [job for dependency in job.dependencies if dependency.condition == condition
             for job in dependency.jobs]
    waited = {predecessor.native_id for predecessor in waits}
    whole: Set[str] = set()
    for predecessor in waits:
        array = array_id(predecessor.native_id or '')
        if array is not None and array not in whole and predecessor.array is not None and all(
                element.native_id in waited or element.status.state.final
                for element in predecessor.array.jobs
                if array_id(element.native_id or '') == array):
            whole.add(array)
    return whole


def depend_value(job: Job, dependencies: Sequence[NativeDependency],
                 array_suffix: str = '') -> Optional[str]:
    """``-W depend=`` (``afterok:ID:ID,afterany:ID``, all must hold). The subjobs of an array
    waited for whole are named by the array: among the ids, or as ``afterokARRAY_SUFFIX:ID``
    (Torque's ``afterokarray``); other subjobs name themselves."""
    parts: List[str] = []
    for dependency in dependencies:
        kind, whole = dependency.condition.value, whole_arrays(job, dependency.condition)
        ids = [native_id for native_id in dependency.native_ids
               if array_id(native_id) not in whole]
        arrays = list(dict.fromkeys(array_id(native_id) for native_id in dependency.native_ids
                                    if array_id(native_id) in whole))
        parts += [f'{kind}{array_suffix}:{array}' for array in arrays if array_suffix]
        ids += [] if array_suffix else [str(array) for array in arrays]
        parts += [f'{kind}:' + ':'.join(ids)] if ids else []
    return DIRECTIVES.value(','.join(parts), 'Job.dependencies') if parts else None


def check_listing_command(result: CommandResult, command: str) -> None:
    """Raise `StatusCommandError` unless ``qstat`` ran and complained, at most, about job ids
    it does not know (exit status 0, or 153 with only such lines on stderr)."""
    if result.returncode == 0:
        return
    complaints = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if result.returncode == EXIT_UNKNOWN_JOB and all(
            _UNKNOWN_JOB.match(line) for line in complaints):
        return
    raise StatusCommandError(result.describe() if complaints or result.returncode is None
                             else f'{command} exited with status {result.returncode} and no '
                                  'message')


def as_int(value: object) -> Optional[int]:
    """``value`` as an int (qstat prints numbers as numbers or as text), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)  # surrounding blanks are fine; '1.5' and '' are not numbers
    except ValueError:
        return None


@dataclass(frozen=True)
class JobRecord:
    """What qstat says about one job, in the terms both schedulers share: the one-letter
    ``state``, ``exit_status`` (``Exit_status`` / ``exit_status``) where given, whether it
    ``ran`` (an execution host or a start time), was ``deleted`` (PBS's substate 91), its
    ``walltime_limit`` and ``walltime_used`` (seconds) and ``comment`` (why a job waits...)."""

    state: str
    exit_status: Optional[int] = None
    ran: bool = False
    deleted: bool = False
    walltime_limit: Optional[int] = None
    walltime_used: Optional[int] = None
    comment: Optional[str] = None


_QUEUED_STATES = {'Q': 'queued', 'H': 'held', 'W': 'waiting for its start time',
                  'T': 'being moved'}
_ACTIVE_STATES = {'R', 'E', 'B', 'S', 'U'}
#: Final states: F (PBS Pro, finished), C (Torque, completed), X (a finished subjob).
FINAL_STATES = frozenset({'F', 'C', 'X'})


class PbsFamilyScheduler(BatchScheduler):
    """The commands, directives and state decoding PBS Professional and Torque share.

    A subclass sets the class attributes below, ships ``<name>.mustache``, and implements
    `script_context` (with `common_context`), `status_command` and `parse_status_output`
    (turning each job's attributes into a `JobRecord` and then `record_status`).
    """

    job_id_variable = 'PBS_JOBID'
    #: ``123``, ``123.server.domain``, ``123[].server`` (an array), ``123[4].server``.
    native_id_pattern = re.compile(r'[0-9]+(\[[0-9]*\])?(\.[A-Za-z0-9][A-Za-z0-9_.-]*)?')
    #: The scheduler's name in messages (``PBS``, ``Torque``).
    label: ClassVar[str] = 'PBS'
    #: The prefix of this executor's custom attributes.
    custom_prefix: ClassVar[str] = 'pbs'
    #: Other prefixes taken as `custom_prefix` (psij-python's ``pbs`` for Torque).
    custom_aliases: ClassVar[Tuple[str, ...]] = ()
    #: The longest job name ``-N`` takes.
    name_max_length: ClassVar[int] = 64
    #: The name of the exit-status attribute (for messages).
    exit_status_attribute: ClassVar[str] = 'Exit_status'
    #: Negative exit statuses: what went wrong, for messages.
    internal_exit_reasons: ClassVar[Mapping[int, str]] = {}
    #: Negative exit statuses that mean the walltime limit was reached.
    walltime_exit_statuses: ClassVar[FrozenSet[int]] = frozenset()
    #: ``qselect -s`` states for `list` (jobs not yet finished); empty: qselect's default.
    list_states: ClassVar[str] = ''
    #: Options the custom attributes may not set (see `RESERVED_OPTIONS`).
    reserved_options: ClassVar[Mapping[str, str]] = RESERVED_OPTIONS
    supports_dependencies = True
    #: The server attribute (``qstat -B -f``) with the most subjobs of one array.
    array_limit_attribute: ClassVar[str] = 'max_array_size'

    # --- the job script --------------------------------------------------------------------

    def common_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The template values both schedulers write the same way."""
        spec = inputs.spec
        attributes = spec.attributes
        require_resource_spec(spec, self.name)
        directory = str(inputs.marker_directory)
        if any(character in directory for character in '\n\r\x00'):
            raise InvalidJobException(f'work directory {directory!r} contains a line break')
        optional = DIRECTIVES.optional
        return {
            'job_name': job_name(spec, self.name_max_length),
            'walltime': format_walltime(attributes.duration.total_seconds()),
            'queue': optional(attributes.queue_name, 'JobAttributes.queue_name'),
            'account': optional(attributes.account, 'JobAttributes.account'),
            'custom_directives': custom_directives(
                with_prefix(attributes.custom_attributes, self.custom_prefix,
                            self.custom_aliases),
                self.custom_prefix, self.reserved_options),
            'start_in_submit_directory': spec.directory is None,
        }

    # --- submit ----------------------------------------------------------------------------

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """``qsub SCRIPT``."""
        return SubmitCommand(['qsub', str(script.path)])

    def parse_submit_output(self, result: CommandResult) -> str:
        """The job id ``qsub`` printed (its last line: ``123.server``)."""
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.ok and lines and self.native_id_pattern.fullmatch(lines[-1]):
            return lines[-1]
        said = ' '.join((result.stderr.strip() or result.stdout.strip()).split()) or \
            result.describe()
        if result.ok:
            said = f'qsub printed no job id: {said[:300]!r}'
        raise SUBMIT_ERRORS.refusal(result, said)

    def element_ids(self, native_id: str, count: int) -> List[str]:
        """``123[0].server``... of the array ``123[].server``; a plain job is its own element."""
        match = _ARRAY_ID.fullmatch(native_id)
        if match is None:
            if count == 1:
                return [native_id]
            raise SubmitException(f'qsub printed {native_id!r} for an array: not NUMBER[].HOST')
        return [f'{match.group(1)}[{index}]{match.group(2)}' for index in range(count)]

    def array_limit_command(self) -> Optional[List[str]]:
        """``qstat -B -f``: the server's attributes."""
        return ['qstat', '-B', '-f']

    def parse_array_limit(self, result: CommandResult) -> Optional[int]:
        """The server's `array_limit_attribute` (``    max_array_size = 10000``), if set."""
        found = re.findall(rf'^\s*{self.array_limit_attribute} = ([0-9]+)\s*$', result.stdout,
                           re.MULTILINE) if result.ok else []
        return int(found[0]) if found else None

    # --- cancel ----------------------------------------------------------------------------

    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """``qdel ID ID...``."""
        return ['qdel', *native_ids]

    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """For each job, REQUESTED if it is being deleted, ALREADY_ENDED if qdel names it as
        ended (or unknown): qdel is silent for the jobs it deletes, says one line for each other.
        Slurm's Torque-compatible ``qdel`` exits non-zero without a word for a job that has
        ended or that it does not know, so silence with a failure counts as "already ended"."""
        outcomes = {native_id: CancelOutcome.REQUESTED for native_id in native_ids}
        if result.ok:
            return outcomes
        lines = [line.strip().lower() for line in (result.stderr + '\n' + result.stdout)
                 .splitlines() if line.strip()]
        if result.returncode is not None and not lines:
            return {native_id: CancelOutcome.ALREADY_ENDED for native_id in native_ids}
        if result.returncode is not None and all(
                any(needle in line for needle in _ALREADY_ENDED) for line in lines):
            for native_id in native_ids:
                if len(native_ids) == 1 or any(native_id.lower() in line for line in lines):
                    outcomes[native_id] = CancelOutcome.ALREADY_ENDED
            return outcomes
        text = ' '.join(lines)
        raise SubmitException(f'qdel of {" ".join(native_ids)} failed: {result.describe()}',
                              transient=result.returncode is None or any(
                                  needle in text for needle in SUBMIT_ERRORS.transient))

    # --- list ------------------------------------------------------------------------------

    def list_command(self, user: str) -> List[str]:
        """``qselect -u USER``: the ids of the user's jobs that have not finished."""
        return ['qselect', '-u', user] + (['-s', self.list_states] if self.list_states else [])

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The ids, one per line."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        ids = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        for native_id in ids:
            if not self.native_id_pattern.fullmatch(native_id):
                raise StatusCommandError(f'qselect printed a line that is not a job id: '
                                         f'{native_id[:200]!r}')
        return ids

    # --- job states ------------------------------------------------------------------------

    def record_status(self, record: JobRecord) -> SchedulerStatus:
        """The status for what qstat says about one job (never an error: a state this module
        does not know is NEW, which leaves the job as it is)."""
        state = record.state
        if state in _QUEUED_STATES:
            reason = _QUEUED_STATES[state]
            return SchedulerStatus(JobState.QUEUED, state, message=f'{reason}: {record.comment}'
                                   if record.comment else reason)
        if state in _ACTIVE_STATES:
            return SchedulerStatus(JobState.ACTIVE, state)
        if state == 'M':
            return SchedulerStatus(JobState.FAILED, state, complete=False,
                                   message=f'moved to another {self.label} server, where this '
                                           'executor cannot follow it')
        if state in FINAL_STATES:
            return self._final_status(record)
        logger.debug('%s: job state %r is not known here; ignored', self.name, state)
        return SchedulerStatus(JobState.NEW, state)

    def _final_status(self, record: JobRecord) -> SchedulerStatus:
        state, code = record.state, record.exit_status
        if record.comment and record.comment.startswith(DEPENDENCY_DELETED):  # never ran
            return SchedulerStatus(JobState.FAILED, state, message='dependency never '
                                   f'satisfied: {self.label} deleted the job ({record.comment})')
        detail = f'{self.label} {self.exit_status_attribute} {code}'
        if code is None:
            if record.deleted or not record.ran:
                return SchedulerStatus(JobState.CANCELED, state, message='deleted before it '
                                       'started' if not record.ran else 'deleted while running')
            # Ran, ended, no exit status (Slurm's Torque-compatible qstat never gives one):
            # only the job's marker can tell; it is waited for, then the outcome is unknown.
            return SchedulerStatus(JobState.FAILED, state, complete=False)
        limit = record.walltime_limit
        over_time = limit is not None and record.walltime_used is not None and (
            record.walltime_used >= limit)
        if code in self.walltime_exit_statuses or (code > 256 and over_time):
            limit_text = f' of {clock_time(limit)}' if limit is not None else ''
            return SchedulerStatus(JobState.FAILED, state,
                                   exit_code=-(code - 256) if code > 256 else None,
                                   message=f'walltime limit{limit_text} reached ({detail})')
        if code > 256:
            exit_code: Optional[int] = -(code - 256)
            what = f'killed by {signal_name(code - 256)} ({detail})'
        elif code < 0:
            exit_code = None
            reason = self.internal_exit_reasons.get(code, f'{self.label} could not run the job')
            what = f'{reason} ({detail})'
            if record.comment:
                what += f'; comment: {record.comment}'
        else:
            exit_code, what = code, ''
        if record.deleted:
            return SchedulerStatus(JobState.CANCELED, state, exit_code=exit_code,
                                   message='deleted while running' + (f': {what}' if what
                                                                      else ''))
        if code == 0:
            return SchedulerStatus(JobState.COMPLETED, state, exit_code=0)
        return SchedulerStatus(JobState.FAILED, state, exit_code=exit_code, message=what or None)

    def statuses_by_requested_id(self, records: Mapping[str, JobRecord],
                                 native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The status of each requested job that qstat reported (see `match_ids`)."""
        matches = match_ids(records, native_ids)
        return {matches[printed]: self.record_status(record)
                for printed, record in records.items() if printed in matches}
