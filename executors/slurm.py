"""The Slurm executor: ``sbatch --parsable``, ``squeue``, ``sacct`` and ``scancel``.

`Slurm` holds everything Slurm-specific as pure functions (the ``#SBATCH`` lines, the
commands, the parsers of their output); `SlurmJobExecutor` is the batch base class bound to it.

How the job maps to ``sbatch`` options:

==========================================  ==============================================
``JobSpec.name`` (else the executable)      ``--job-name`` (unsafe characters become ``_``)
``JobAttributes.duration``                  ``--time`` (Slurm rounds up to whole minutes)
``JobAttributes.queue_name``                ``--partition``
``JobAttributes.account``                   ``--account``
``JobAttributes.reservation_id``            ``--reservation``
``ResourceSpecV1.node_count``               ``--nodes`` (also when computed from
                                            ``processes_per_node``)
``computed_process_count``                  ``--ntasks``
``ResourceSpecV1.processes_per_node``       ``--ntasks-per-node``
``ResourceSpecV1.cpu_cores_per_process``    ``--cpus-per-task``
``ResourceSpecV1.gpu_cores_per_process``    ``--gpus-per-task``
``ResourceSpecV1.exclusive_node_use``       ``--exclusive``
``ResourceSpecV1.memory`` (whole job)       ``--mem`` per node, in MiB rounded up (0: not set)
``JobSpec.inherit_environment=False``       ``--export=NONE``
``JobSpec.environment``, ``directory``,     set by the script itself, so that every value
``stdin_path``/``stdout_path``/             reaches the job verbatim
``stderr_path``
``custom_attributes['slurm.KEY']``          ``#SBATCH --KEY=VALUE`` (``-K VALUE`` for a
                                            one-letter key; ``True``: the bare flag;
                                            ``False``/``None``: left out). Written after the
                                            lines above, so it overrides them.
==========================================  ==============================================

sbatch is run as ``env -u SBATCH_… sbatch --parsable SCRIPT``: the ``SBATCH_*`` variables of
the submitting environment that would override one of the script's ``#SBATCH`` lines (or clash
with it) are unset, so the job's fields win; the others still apply.

Final states: ``COMPLETED`` → COMPLETED; ``FAILED`` → FAILED with the exit code;
``CANCELLED`` → CANCELED (saying by whom when accounting knows); ``TIMEOUT`` → FAILED,
"time limit of ... reached"; ``OUT_OF_MEMORY``, ``NODE_FAIL``, ``PREEMPTED``, ``BOOT_FAIL``,
``DEADLINE`` → FAILED with a message saying so. A state this module does not know is ignored
while the job is in the queue, and is FAILED naming the state if accounting reports it.
"""

import functools
import logging
import re
import shlex
from typing import Dict, List, Optional, Sequence

from psij.batch import (
    SCRIPT_OUTPUT,
    AccountingUnavailable,
    ArraySlice,
    BatchScheduler,
    BatchSchedulerExecutor,
    CancelOutcome,
    CommandResult,
    DirectiveQuoting,
    ElementNames,
    JobScript,
    NativeDependency,
    SchedulerStatus,
    ScriptInputs,
    StatusCommandError,
    SubmitCommand,
    SubmitErrors,
    clock_time,
    custom_options,
    job_name,
    mebibytes,
    require_resource_spec,
    whole_seconds,
)
from psij.exceptions import InvalidJobException, SubmitException
from psij.job_state import JobState

from .slurm_input_environment import without_overriding_variables

logger = logging.getLogger('psij.executors.slurm')

# An id as squeue and sacct print it: also pending arrays (13_[0-3], 45_[2-3%2]).
_QUEUE_ID = re.compile(r'[0-9]+(_[0-9]+|_\[[0-9,%\[\]-]+\])?(\+[0-9]+)?')
_OPTION_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9-]*')
_ELEMENT_ID = re.compile(r'[0-9]+_[0-9]+')
_MAX_ARRAY_SIZE = re.compile(r'^MaxArraySize\s*=\s*([0-9]+)\s*$', re.MULTILINE)
_MAX_JOB_COUNT = re.compile(r'^MaxJobCount\s*=\s*([0-9]+)\s*$', re.MULTILINE)
# scancel's word on one job it could not kill (in lower case).
_KILL_ERROR = re.compile(r'kill job error on job id ([0-9_]+): (.*)')
_RESERVED_OPTIONS = {'output': 'JobSpec.stdout_path', 'o': 'JobSpec.stdout_path',
                     'error': 'JobSpec.stderr_path', 'e': 'JobSpec.stderr_path',
                     'input': 'JobSpec.stdin_path', 'i': 'JobSpec.stdin_path'}
# squeue and sacct answer for an array job only under its tasks' ids, which one PSI/J job
# cannot follow (yet).
_UNSUPPORTED_OPTIONS = {'array': 'job arrays are not supported', 'a': 'job arrays are not '
                        'supported'}

_QUEUED_STATES = {'PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD',
                  'RESV_DEL_HOLD', 'SPECIAL_EXIT'}
_ACTIVE_STATES = {'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT',
                  'RESIZING'}
_FAILURE_MESSAGES = {
    'OUT_OF_MEMORY': 'out of memory: the job used more memory than it was given',
    'NODE_FAIL': 'a node allocated to the job failed',
    'PREEMPTED': 'preempted by another job',
    'BOOT_FAIL': 'a node allocated to the job failed to boot',
    'DEADLINE': 'the job could not end before its deadline',
}

#: How sbatch reads values from ``#SBATCH`` lines: it splits them at unquoted blanks, removes
#: quotes, and reads a backslash as escaping the next character everywhere; so a value in
#: double quotes with ``\\`` and ``"`` escaped comes back unchanged (tested on Slurm 22.05).
#: Line breaks and NUL cannot be written at all.
DIRECTIVES = DirectiveQuoting('#SBATCH', escaped='\\"')

#: sbatch's refusals that are about one field of the job, and the transient ones.
SUBMIT_ERRORS = SubmitErrors('sbatch', by_field=(
    ('invalid partition', 'JobAttributes.queue_name',
     'Slurm has no such partition (`sinfo -s` lists them)'),
    ('invalid account', 'JobAttributes.account',
     'not an account of this user on this partition (`sacctmgr show assoc user=$USER`)'),
    ('reservation', 'JobAttributes.reservation_id',
     'Slurm has no such usable reservation (`scontrol show reservation`)'),
    ('invalid --time', 'JobAttributes.duration', 'Slurm does not accept this time limit'),
    ('time limit', 'JobAttributes.duration', 'Slurm does not accept this time limit'),
    ('invalid feature specification', "JobAttributes.custom_attributes['slurm.constraint']",
     'no node of the partition has these features'),
    ('memory specification', 'ResourceSpecV1.memory',
     'no node of the partition has this much memory'),
    ('gres', 'ResourceSpecV1.gpu_cores_per_process',
     'the partition has no such GPUs (generic resources)'),
    ('node configuration is not available', 'JobSpec.resources',
     'no node configuration of the partition fits the nodes, processes and cores asked for'),
    ('unrecognized option', "JobAttributes.custom_attributes['slurm.*']",
     'sbatch does not know one of the options'),
), transient=('unable to contact slurm controller', 'socket timed out',
              'temporarily unavailable', 'slurm_persist_conn', 'try again'))


def _duration_seconds(text: str) -> Optional[int]:
    """Seconds in a Slurm duration (``M``, ``M:SS``, ``H:MM:SS``, ``D-H[:M[:S]]``), or None."""
    match = re.fullmatch(r'(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?', text.strip())
    if match is None:
        return None
    days, first, second, third = match.groups()
    if days is not None:
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
    elif third is not None:
        hours, minutes, seconds = int(first), int(second), int(third)
    elif second is not None:
        hours, minutes, seconds = 0, int(first), int(second)
    else:
        hours, minutes, seconds = 0, int(first), 0
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


def _describe_limit(text: str) -> str:
    """`` of H:MM:SS`` for a Slurm time limit; empty if it is not one."""
    seconds = _duration_seconds(text)
    return '' if seconds is None else f' of {clock_time(seconds)}'


def format_time_limit(seconds: float) -> str:
    """``--time`` for a duration: ``D-HH:MM:SS``, at least one minute (Slurm's minimum)."""
    days, rest = divmod(whole_seconds(seconds, minimum=60), 86400)
    return f'{days}-{clock_time(rest, hour_digits=2)}'


def _check_custom_option(option: str, field: str) -> None:
    if not _OPTION_NAME.fullmatch(option):
        raise InvalidJobException(
            f'{field}: {option!r} is not an sbatch option name; use letters, digits and - '
            "after 'slurm.' (e.g. 'slurm.constraint')")
    if option in _RESERVED_OPTIONS:
        raise InvalidJobException(
            f'{field}: the executor sets --{option} itself (for its markers); use '
            f'{_RESERVED_OPTIONS[option]} instead')
    if option in _UNSUPPORTED_OPTIONS:
        raise InvalidJobException(f'{field}: {_UNSUPPORTED_OPTIONS[option]} (one PSI/J job is '
                                  'one Slurm job)')


def custom_directives(attributes: Optional[Dict[str, object]]) -> List[str]:
    """The ``#SBATCH`` arguments for the ``slurm.``-prefixed custom attributes."""
    directives: List[str] = []
    for option, field, value in custom_options(attributes, 'slurm', _check_custom_option):
        flag = f'-{option}' if len(option) == 1 else f'--{option}'
        if value is True:
            directives.append(flag)
        else:
            text = DIRECTIVES.value(str(value), field)
            directives.append(f'{flag} {text}' if len(option) == 1 else f'{flag}={text}')
    return directives


def _exit_code(text: str) -> Optional[int]:
    """Slurm's ``exit:signal`` as one number: the exit status, or minus the signal."""
    status, _, signal = text.partition(':')
    try:
        if signal and int(signal) != 0:
            return -int(signal)
        return int(status)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def job_status(native_state: str, reason: str = '', time_limit: str = '',
               exit_code: str = '', from_accounting: bool = False) -> Optional[SchedulerStatus]:
    """The status for one Slurm state (``RUNNING``, ``CANCELLED by 1000``...), or None for a
    state this module does not know (never an error)."""
    words = native_state.split()
    if not words:
        return None
    name = words[0].rstrip('+')
    reason = '' if reason in ('None', '(null)') else reason
    if name in _QUEUED_STATES:
        return SchedulerStatus(JobState.QUEUED, name,
                               message=f'{name.lower()}: {reason}' if reason else None)
    if name in _ACTIVE_STATES:
        return SchedulerStatus(JobState.ACTIVE, name)
    code = _exit_code(exit_code) if exit_code else None
    if name == 'COMPLETED':
        return SchedulerStatus(JobState.COMPLETED, name, exit_code=0)
    if name == 'FAILED':
        return SchedulerStatus(JobState.FAILED, name, exit_code=code,
                               complete=code is not None)
    if name == 'CANCELLED' and reason == 'DependencyNeverSatisfied':
        # --kill-on-invalid-dep: Slurm ended the job because a predecessor failed; the job
        # never ran (psij itself says which predecessor, when it submitted the job).
        return SchedulerStatus(JobState.FAILED, name,
                               message='dependency never satisfied: a predecessor did not '
                                       'complete (Slurm canceled the job: '
                                       'DependencyNeverSatisfied)')
    if name == 'CANCELLED':
        by = f' by uid {words[2]}' if len(words) >= 3 and words[1] == 'by' else ''
        # Without accounting Slurm does not say who canceled; accounting is asked once.
        return SchedulerStatus(JobState.CANCELED, name, message=f'canceled{by}',
                               complete=from_accounting)
    if name == 'TIMEOUT':
        return SchedulerStatus(
            JobState.FAILED, name,
            message=f'time limit{_describe_limit(time_limit)} reached (Slurm state TIMEOUT)')
    if name in _FAILURE_MESSAGES:
        return SchedulerStatus(JobState.FAILED, name, exit_code=code if code else None,
                               message=f'{_FAILURE_MESSAGES[name]} (Slurm state {name})')
    if from_accounting and name not in ('', 'UNKNOWN'):
        # Accounting only holds ended jobs' final records; a state we do not know is still an
        # end, and saying which one beats waiting for nothing.
        return SchedulerStatus(JobState.FAILED, name, exit_code=code,
                               message=f'ended in Slurm state {name}, unknown to psij')
    return None


def _array_directive(array: Optional[ArraySlice]) -> Optional[str]:
    """``--array`` for an array: indices from 0, ``%N`` its throttle."""
    if array is None:
        return None
    throttle = f'%{array.throttle}' if array.throttle else ''
    return f'0-{array.count - 1}{throttle}'


def _dependency_directive(dependencies: Sequence[NativeDependency]) -> Optional[str]:
    """``--dependency=afterok:1:2,afterany:3`` (all must hold); with
    ``--kill-on-invalid-dep=yes`` in the template, so that Slurm too ends a job whose
    dependency can no longer be met."""
    parts = [f'{dependency.condition.value}:{":".join(dependency.native_ids)}'
             for dependency in dependencies if dependency.native_ids]
    return ','.join(parts) if parts else None


def _job_ids(native_ids: Sequence[str]) -> List[str]:
    """``native_ids`` with array elements (``123_4``) replaced by their array (``123``),
    once each, in order."""
    # partition before the pattern: most ids are plain, and this runs for every tracked job.
    return list(dict.fromkeys(
        native_id.partition('_')[0] if '_' in native_id and _ELEMENT_ID.fullmatch(native_id)
        else native_id for native_id in native_ids))


class Slurm(BatchScheduler):
    """Slurm's scripts, commands and output formats (pure functions)."""

    name = 'slurm'
    job_id_variable = 'SLURM_JOB_ID'
    element_names = ElementNames('"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
                                 'SLURM_ARRAY_TASK_ID', 0)
    supports_dependencies = True
    native_id_pattern = re.compile(r'[0-9]+(_[0-9]+)?(\+[0-9]+)?')
    status_format = '%i|%T|%r|%l'
    accounting_fields = 'JobID,State,ExitCode,Timelimit'
    queue_limits_module = 'psij.executors.slurm_queues'

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values of ``slurm.mustache``; see the module docstring for the mapping."""
        spec = inputs.spec
        attributes = spec.attributes
        resources = require_resource_spec(spec, self.name)
        nodes: Optional[int] = None
        if resources.node_count is not None or resources.processes_per_node is not None:
            nodes = resources.computed_node_count
        memory: Optional[str] = None
        if resources.memory:
            memory = f'{mebibytes(resources.memory, resources.computed_node_count)}M'
        DIRECTIVES.refuse_in_path(
            str(inputs.marker_directory), '%\\',
            'sbatch reads as a file name pattern (%) or drops from the output path (\\)')
        # An array element's own id is ARRAY_INDEX (%A_%a), as its markers are named.
        pattern = '%A_%a' if inputs.array is not None else '%j'
        script_output = DIRECTIVES.value(
            str(inputs.marker_directory / f'{pattern}{SCRIPT_OUTPUT}'), 'the work directory')
        optional = DIRECTIVES.optional
        return {
            'job_name': job_name(spec),
            'script_output': script_output,
            'time_limit': format_time_limit(attributes.duration.total_seconds()),
            'partition': optional(attributes.queue_name, 'JobAttributes.queue_name'),
            'account': optional(attributes.account, 'JobAttributes.account'),
            'reservation': optional(attributes.reservation_id, 'JobAttributes.reservation_id'),
            'nodes': nodes,
            'ntasks': resources.computed_process_count,
            'ntasks_per_node': resources.processes_per_node,
            'cpus_per_task': resources.cpu_cores_per_process,
            'gpus_per_task': resources.gpu_cores_per_process,
            'exclusive': resources.exclusive_node_use,
            'memory': memory,
            'inherit_environment': spec.inherit_environment,
            'array': _array_directive(inputs.array),
            'dependency': _dependency_directive(inputs.dependencies),
            'custom_directives': custom_directives(attributes.custom_attributes),
        }

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """``sbatch --parsable SCRIPT`` through ``env -u``, without the ``SBATCH_*`` input
        variables that would override the script's ``#SBATCH`` lines (see
        `slurm_input_environment`)."""
        return SubmitCommand(without_overriding_variables(
            script.text, ['sbatch', '--parsable', str(script.path)]))

    def find_submission_command(self, user: str) -> Optional[List[str]]:
        """``squeue`` (live jobs, the script as ``%o``) then ``sacct`` (jobs of the last day,
        ``SubmitLine``) for ``user``, in one shell: every job with the script it came from."""
        # Without accounting (sacct fails) the queue alone answers: a job that already left
        # it is then not found.
        user = shlex.quote(user)  # the line is a shell's
        return ['sh', '-c', f'squeue --noheader --states=all --user={user} --format=%F^%o && '
                            f'{{ sacct --noheader --parsable2 --allocations --user={user} '
                            '--starttime=now-1days --format=JobID,SubmitLine --delimiter=^ '
                            '2>/dev/null || true; }']

    def parse_find_submission(self, result: CommandResult, script: str) -> Optional[str]:
        """The job (or array) whose script is ``script``: ``ID^COMMAND`` lines (an array's
        elements give ``ID_N``)."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        for line in result.stdout.splitlines():
            native_id, _, command = line.partition('^')
            if command == script or command.endswith(f' {script}'):
                return native_id.split('_')[0].strip()
        return None

    def parse_submit_output(self, result: CommandResult) -> str:
        """The job id printed by ``sbatch --parsable`` (``ID`` or ``ID;cluster``)."""
        lines = result.stdout.strip().splitlines()
        if result.ok and lines:
            native_id = lines[-1].split(';')[0].strip()
            if self.native_id_pattern.fullmatch(native_id):
                return native_id
        raise SUBMIT_ERRORS.refusal(
            result, result.stderr.strip() or result.stdout.strip() or result.describe())

    def element_ids(self, native_id: str, count: int) -> List[str]:
        """``ID_0`` to ``ID_<count - 1>``."""
        return [f'{native_id}_{index}' for index in range(count)]

    def array_limit_command(self) -> Optional[List[str]]:
        """``scontrol show config``: its ``MaxArraySize``."""
        return ['scontrol', 'show', 'config']

    def parse_array_limit(self, result: CommandResult) -> Optional[int]:
        """``MaxArraySize`` (indices 0 to MaxArraySize - 1: that many elements)."""
        match = _MAX_ARRAY_SIZE.search(result.stdout) if result.ok else None
        return int(match.group(1)) if match else None

    def parse_job_limit(self, result: CommandResult) -> Optional[int]:
        """``MaxJobCount``: the most jobs the controller holds (each element counts)."""
        match = _MAX_JOB_COUNT.search(result.stdout) if result.ok else None
        return int(match.group(1)) if match else None

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """``squeue`` for all ``native_ids`` at once, finished jobs included; array
        elements are asked for by their array (``--array`` shows each element, pending ones
        too, as ``ID_INDEX``)."""
        return ['squeue', '--noheader', '--states=all', '--array',
                f'--format={self.status_format}', '--jobs=' + ','.join(_job_ids(native_ids))]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``squeue`` shows; a job it no longer knows is left out."""
        if not result.ok:
            if result.returncode is not None and 'invalid job id' in result.stderr.lower():
                return {}  # none of the jobs is known any more
            raise StatusCommandError(result.describe())
        statuses: Dict[str, SchedulerStatus] = {}
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            fields = line.strip().split('|')
            if len(fields) not in (3, 4) or not _QUEUE_ID.fullmatch(fields[0]):
                raise StatusCommandError(f'squeue printed a line that is not a job status: '
                                         f'{line.strip()[:200]!r}')
            native_id, state, reason = fields[:3]
            status = job_status(state, reason, fields[3] if len(fields) == 4 else '')
            if status is None:
                logger.debug('squeue: state %r of job %s is not known here; ignored', state,
                             native_id)
                status = SchedulerStatus(JobState.NEW, state)
            statuses[native_id] = status
        return statuses

    def accounting_command(self, native_ids: Sequence[str]) -> Optional[List[str]]:
        """``sacct`` for all ``native_ids``, one line per job."""
        return ['sacct', '--noheader', '--parsable2', '--allocations',
                f'--format={self.accounting_fields}',
                '--jobs=' + ','.join(_job_ids(native_ids))]

    def parse_accounting_output(self, result: CommandResult,
                                native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``sacct`` knows (states may lag behind the queue by a moment)."""
        if not result.ok:
            if 'accounting storage is disabled' in result.stderr.lower():
                raise AccountingUnavailable(result.describe())
            raise StatusCommandError(result.describe())
        records: Dict[str, SchedulerStatus] = {}
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            fields = line.strip().split('|')
            if len(fields) != 4 or not _QUEUE_ID.fullmatch(fields[0]):
                raise StatusCommandError(f'sacct printed a line that is not a job record: '
                                         f'{line.strip()[:200]!r}')
            native_id, state, exit_code, time_limit = fields
            status = job_status(state, '', time_limit, exit_code, from_accounting=True)
            if status is not None:
                records[native_id] = status
        return records

    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """``scancel ID ID...``."""
        return ['scancel', *native_ids]

    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """REQUESTED for each job scancel took, ALREADY_ENDED for each the controller says has
        ended (or no longer knows: it ended longer ago than ``MinJobAge``).

        scancel exits 0 without a word for unknown and finished ids alike (Slurm 22.05), so
        exit 0 is REQUESTED; releases that exit 1 name each job they could not kill
        (``Kill job error on job id N: Job/step already completing or completed``, ``...:
        Invalid job id specified``). A refusal of an id itself (``Invalid job id abc``) is
        an error, as is a controller that does not answer (transient).
        """
        outcomes = {native_id: CancelOutcome.REQUESTED for native_id in native_ids}
        if result.ok:
            return outcomes
        lowered = result.stderr.lower()
        if result.returncode is not None:
            ended = {match.group(1) for match in _KILL_ERROR.finditer(lowered)
                     if 'already completing or completed' in match.group(2)
                     or 'invalid job id specified' in match.group(2)}
            others = [line for line in lowered.splitlines()
                      if 'error' in line and not _KILL_ERROR.search(line)]
            if ended and not others:
                outcomes.update({native_id: CancelOutcome.ALREADY_ENDED
                                 for native_id in native_ids if native_id in ended})
                return outcomes
        raise SubmitException(
            f'scancel of {" ".join(native_ids)} failed: {result.describe()}',
            transient=result.returncode is None or any(
                needle in lowered for needle in SUBMIT_ERRORS.transient))

    def list_command(self, user: str) -> List[str]:
        """``squeue`` listing the ids of ``user``'s jobs."""
        return ['squeue', '--noheader', f'--user={user}', '--format=%i']

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The ids, one per line; squeue's complaint about the user (``Invalid user``, with
        exit status 0) is a failure, not an empty list."""
        if not result.ok or 'error:' in result.stderr:
            raise StatusCommandError(result.describe())
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]


class SlurmJobExecutor(BatchSchedulerExecutor):
    """Runs jobs through Slurm; see the module docstring for how a job maps to ``sbatch``.

    ``native_id`` is the Slurm job id. Configure it with a
    `psij.batch.BatchSchedulerExecutorConfig`.
    """

    version = '0.1.0'
    scheduler = Slurm()
