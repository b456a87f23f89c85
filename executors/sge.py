"""The Grid Engine executor (``sge``, also ``gridengine`` and ``uge``): ``qsub -terse``,
``qstat -xml``, ``qacct -j`` and ``qdel``.

`GridEngine` holds everything Grid Engine-specific as pure functions (the ``#$`` lines, the
commands, the parsers of their output); `SgeJobExecutor` is the batch base class bound to it.
Written and tested against Son of Grid Engine 8.1.9; the commands and output formats it uses
are those of Sun/Oracle Grid Engine 6.2 too, and of Univa/Altair Grid Engine as documented
(not tested there). ``docs/executors/sge.md`` has the full story: the field table, states,
messages and known limits.

How the job maps to ``qsub`` options (lines ``#$ ...`` of the job script):

==========================================  ==============================================
always                                      ``-S /bin/bash`` (the script needs bash, whatever
                                            the queue's shell), ``-cwd`` (the job starts in
                                            the submitting process's directory, as with
                                            Slurm), ``-o <work dir>/$JOB_ID.out -j y`` (the
                                            script's own output, not the job's)
``JobSpec.name`` (else the executable)      ``-N`` (characters other than letters, digits
                                            and ``_.+-`` become ``_``; a leading digit and
                                            the names NONE, ALL, TEMPLATE get a ``_``, since
                                            Grid Engine refuses them)
``JobAttributes.duration``                  ``-l h_rt=H:MM:SS`` (rounded up to whole seconds)
``JobAttributes.queue_name``                ``-q``
``JobAttributes.account`` (= project_name)  ``-P`` (a Grid Engine project)
``JobAttributes.reservation_id``            ``-ar`` (an advance reservation id)
``computed_process_count`` ×                ``-pe PE SLOTS``, one slot per core; PE from
``cpu_cores_per_process``                   ``custom_attributes['sge.pe']``, else
                                            `SgeExecutorConfig.parallel_environment`; a
                                            job of one slot gets no ``-pe`` unless
                                            ``sge.pe`` is given; more than one slot without
                                            a PE is refused
``node_count``, ``processes_per_node``      not expressible in Grid Engine: the PE's
                                            ``allocation_rule`` places the slots
``ResourceSpecV1.memory`` (whole job)       ``-l h_vmem=<memory / slots>M`` (per slot, MiB
                                            rounded up; the resource name is
                                            `SgeExecutorConfig.memory_resource`; 0: not set)
``ResourceSpecV1.exclusive_node_use``       ``-l exclusive=true`` (qsub refuses it where the
                                            ``exclusive`` complex is not defined; the error
                                            names the field)
``ResourceSpecV1.gpu_cores_per_process``    refused: GPU resources are site-defined; request
                                            them with ``sge.l`` (e.g. ``'gpu=1'``)
``JobSpec.inherit_environment`` (True)      ``-V``; False: no ``-V``, so the job has only the
                                            environment Grid Engine gives every job
``JobSpec.environment``, ``directory``,     set by the script itself, so that every value
``stdin_path``/``stdout_path``/             reaches the job verbatim
``stderr_path``
``JobSpec.launcher='mpirun'``               ``-notify`` (unless ``sge.notify`` is given), so
                                            that a ``qdel`` reaches Open MPI's ranks
``custom_attributes['sge.KEY']``            ``#$ -KEY VALUE`` (``True``: the bare flag
                                            ``-KEY``; ``False``/``None``: left out), written
                                            after the lines above, so that it overrides them
                                            (``sge.l`` values are merged with ours, the last
                                            value of a resource wins); except ``sge.pe``, the
                                            PE name, which takes the slot count
==========================================  ==============================================

Final states: an exit-code marker settles the job (0: COMPLETED, else FAILED with the exit
code). Without one (the job was killed as a whole), ``qacct`` says why: ``failed 37``, or a
SIGKILL after ``h_rt`` → FAILED, "time limit of H:MM:SS reached"; ``failed 100`` with
SIGKILL → CANCELED ("deleted with qdel, or killed with SIGKILL"); another signal → FAILED with
minus the signal as exit code; any other ``failed`` code → FAILED quoting it. A job this
process deleted ends CANCELED as soon as it leaves the queue. States in the queue: ``qw``,
``hqw``, ``Rq``... QUEUED; ``r``, ``t``, ``Rr``, ``s``, ``S``, ``T``, ``dr``... ACTIVE;
``Eqw`` (error state: Grid Engine could not start the job and keeps it, never to run until
someone clears the error with ``qmod -cj``) FAILED, with the reason from ``qacct`` (the
failed start has a record); the job stays in Grid Engine's queue. A state this module does
not know is ignored.
"""

import logging
import math
import os
import pathlib
import pwd
import re
import signal
import threading
import xml.etree.ElementTree as ElementTree
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from psij.batch import (
    AccountingUnavailable,
    BatchScheduler,
    BatchSchedulerExecutor,
    BatchSchedulerExecutorConfig,
    SchedulerStatus,
    StatusCommandError,
)
from psij.batch.markers import SCRIPT_OUTPUT
from psij.batch.script import ScriptInputs, custom_options, job_name
from psij.exceptions import InvalidJobException, SubmitException
from psij.job import Job
from psij.job_executor_config import JobExecutorConfig
from psij.job_state import JobState
from psij.resource_spec import ResourceSpecV1
from psij.transport import CommandResult, Transport

logger = logging.getLogger('psij.executors.sge')

_PLAIN_DIRECTIVE_VALUE = re.compile(r'[A-Za-z0-9_.,:/=@%+-]+')
# qsub reads '#' as the start of a comment anywhere on a '#$' line (also inside quotes) and
# drops every quote character, so these can never be written; a line break ends the line.
_UNWRITABLE = '#"\'\n\r\x00'
# In -o paths: '$' starts a pseudo variable ($JOB_ID...), ':' separates a host name, ','
# separates paths for several hosts.
_UNWRITABLE_IN_PATHS = _UNWRITABLE + '$:,'
_OPTION_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')
_OBJECT_NAME = re.compile(r'[A-Za-z_.+-][A-Za-z0-9_.+-]*')
_RESOURCE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_RESERVED_NAMES = {'NONE', 'ALL', 'TEMPLATE'}
_RESERVED_OPTIONS = {
    'o': 'the executor sends the script\'s own output there; use JobSpec.stdout_path',
    'e': 'the executor joins the script\'s own errors to its output; use JobSpec.stderr_path',
    'i': 'use JobSpec.stdin_path',
    'j': 'the executor joins the script\'s own output and errors',
    'S': 'the job script needs /bin/bash',
    'b': 'the executor submits a script, not a binary',
    'shell': 'the executor submits a script, not a binary',
    'C': 'the executor writes its directives with the #$ prefix',
    't': 'array jobs are not supported',
    'tc': 'array jobs are not supported',
    'sync': 'qsub must return at once with the job id',
    'terse': 'the executor gives it to qsub itself',
}
# The pending states contain q (qw, hqw, Eqw, Rq, hRwq); the others have started.
_STARTED_LETTERS = set('rtsST')
_KNOWN_LETTERS = set('dEhrRsStTwqz')

# qsub's refusals that are about one field of the job.
_SUBMIT_ERRORS_BY_FIELD = (
    ('unknown queue', 'JobAttributes.queue_name',
     'Grid Engine has no such queue (`qconf -sql` lists them)'),
    ('parallel environment', "JobAttributes.custom_attributes['sge.pe'] (or "
     'SgeExecutorConfig.parallel_environment)',
     'Grid Engine has no such parallel environment (`qconf -spl` lists them)'),
    ('requested project', 'JobAttributes.account',
     'Grid Engine has no such project (`qconf -sprjl` lists them)'),
    ('advance reservation', 'JobAttributes.reservation_id',
     'Grid Engine has no such advance reservation (`qrstat` lists them)'),
    ('unknown resource "exclusive"', 'ResourceSpecV1.exclusive_node_use',
     'this Grid Engine defines no "exclusive" complex (`qconf -sc`); ask the administrators '
     'for one, or leave exclusive_node_use False'),
    ('"h_rt" is not a time value', 'JobAttributes.duration',
     'Grid Engine does not accept this time limit'),
    ('unknown resource', "JobAttributes.custom_attributes['sge.l'] (or ResourceSpecV1.memory "
     'with SgeExecutorConfig.memory_resource)',
     'Grid Engine has no such resource (`qconf -sc` lists them)'),
    ('is not a memory value', 'ResourceSpecV1.memory (or custom_attributes[\'sge.l\'])',
     'Grid Engine does not accept this memory value'),
    ('no suitable queues', 'JobSpec.resources',
     'no queue can ever run the job as asked (slots, memory, other resources, queue); '
     '`qsub -w v` on the job script explains'),
    ('invalid option argument', "JobAttributes.custom_attributes['sge.*']",
     'qsub does not know one of the options'),
    ('unknown option', "JobAttributes.custom_attributes['sge.*']",
     'qsub does not know one of the options'),
    ('option must have argument', "JobAttributes.custom_attributes['sge.*']",
     'an option needs a value'),
)
_TRANSIENT_SUBMIT_ERRORS = ('unable to contact qmaster', 'unable to send message to qmaster',
                            'commlib error', 'qmaster is not alive', 'got send error',
                            'timeout', 'try again later')

# qacct takes ONE job id (or one job name pattern) per call, so the accounting command runs
# it once per job in one shell, each answer between two lines of ours.
_QACCT_BEGIN = 'psij-qacct-begin'
_QACCT_END = 'psij-qacct-end'
_QACCT_LOOP = (f'for id do echo "{_QACCT_BEGIN} $id"; qacct -j "$id" 2>&1; '
               f'echo "{_QACCT_END} $id $?"; done')
# qacct's name for the accounting file that does not exist yet (or no more).
_NO_ACCOUNTING_FILE = 'no jobs running since startup'
_XML_INVALID = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f]')
#: How many ids of jobs this process deleted are remembered until the queue drops them.
_DELETED_MEMORY = 10000


@dataclass(frozen=True)
class GridEngineSettings:
    """What a site may need to change in the scripts (see `SgeExecutorConfig`)."""

    parallel_environment: Optional[str] = None
    memory_resource: str = 'h_vmem'


#: The settings of the executor rendering a script in this thread (`SgeJobExecutor`).
_SETTINGS: ContextVar[Optional[GridEngineSettings]] = ContextVar('psij_sge_settings',
                                                                 default=None)


class SgeExecutorConfig(BatchSchedulerExecutorConfig):
    """`BatchSchedulerExecutorConfig` plus the Grid Engine settings.

    :param parallel_environment: the parallel environment (``qconf -spl``) of jobs that need
        more than one slot, when the job does not name one with ``sge.pe``.
    :param memory_resource: the resource ``ResourceSpecV1.memory`` is asked as, per slot:
        ``h_vmem`` (the default: a hard limit on each slot's virtual memory, the resource most
        sites make consumable), or e.g. ``mem_free``, ``virtual_free``, ``h_rss``.

    The other parameters are those of `BatchSchedulerExecutorConfig`.
    """

    def __init__(self, launcher_log_file: Union[str, pathlib.Path, None] = None,
                 work_directory: Union[str, pathlib.Path, None] = None,
                 queue_polling_interval: float = 30.0,
                 initial_queue_polling_delay: float = 1.0,
                 marker_polling_interval: float = 2.0,
                 outcome_timeout: float = 120.0,
                 command_timeout: float = 60.0,
                 keep_files: bool = False,
                 file_retention: float = 30 * 24 * 3600.0,
                 parallel_environment: Optional[str] = None,
                 memory_resource: str = 'h_vmem') -> None:
        super().__init__(launcher_log_file=launcher_log_file, work_directory=work_directory,
                         queue_polling_interval=queue_polling_interval,
                         initial_queue_polling_delay=initial_queue_polling_delay,
                         marker_polling_interval=marker_polling_interval,
                         outcome_timeout=outcome_timeout, command_timeout=command_timeout,
                         keep_files=keep_files, file_retention=file_retention)
        if parallel_environment is not None and not (
                isinstance(parallel_environment, str)
                and _OBJECT_NAME.fullmatch(parallel_environment)):
            raise ValueError('SgeExecutorConfig.parallel_environment must be the name of a '
                             f'parallel environment, not {parallel_environment!r}')
        if not isinstance(memory_resource, str) or not _RESOURCE_NAME.fullmatch(
                memory_resource):
            raise ValueError('SgeExecutorConfig.memory_resource must be the name of a Grid '
                             f'Engine resource (e.g. h_vmem), not {memory_resource!r}')
        self.parallel_environment = parallel_environment
        self.memory_resource = memory_resource

    @property
    def settings(self) -> GridEngineSettings:
        """The settings the job scripts are written with."""
        return GridEngineSettings(self.parallel_environment, self.memory_resource)


def directive_value(value: str, field: str) -> str:
    """``value`` written so that qsub reads it back verbatim from a ``#$`` line.

    qsub splits directive lines at blanks outside quotes and removes the quotes; a backslash
    is an ordinary character. It reads ``#`` as the start of a comment everywhere (also inside
    quotes) and drops every quote character, so values with ``#``, ``"``, ``'`` or a line
    break cannot be written at all (tested on Son of Grid Engine 8.1.9).
    """
    if _PLAIN_DIRECTIVE_VALUE.fullmatch(value):
        return value
    bad = sorted({character for character in value if character in _UNWRITABLE})
    if bad or value == '':
        shown = ', '.join(repr(character) for character in bad) or 'nothing'
        raise InvalidJobException(
            f'{field} {value!r} cannot be written in a "#$" line of a Grid Engine job script: '
            f'it contains {shown} (qsub reads # as the start of a comment and drops quotes)')
    return f'"{value}"'


def sge_job_name(name: str) -> str:
    """A name Grid Engine accepts for ``-N``: not starting with a digit, not a keyword."""
    if name[:1].isdigit() or name.upper() in _RESERVED_NAMES:
        return f'_{name}'
    return name


def format_time_limit(seconds: float) -> str:
    """``h_rt`` for a duration: ``H:MM:SS`` (hours may exceed 24), at least one second."""
    total = max(math.ceil(seconds), 1)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}'


def _time_seconds(text: str) -> Optional[int]:
    """Seconds in a Grid Engine time value (``S``, ``H:M:S``, ``M:S``), or None."""
    parts = text.strip().split(':')
    if not 1 <= len(parts) <= 3 or not all(part.isdigit() for part in parts if part):
        return None
    total = 0
    for part in parts:
        total = total * 60 + int(part or 0)
    return total


def _check_custom_option(option: str, field: str) -> None:
    if option == 'pe':
        return  # the parallel environment, checked by _parallel_environment
    if not _OPTION_NAME.fullmatch(option):
        raise InvalidJobException(
            f'{field}: {option!r} is not a qsub option name; use letters, digits and _ '
            "after 'sge.' (e.g. 'sge.l' for -l, 'sge.hold_jid' for -hold_jid)")
    if option in _RESERVED_OPTIONS:
        raise InvalidJobException(
            f'{field}: -{option} is not allowed: {_RESERVED_OPTIONS[option]}')


def custom_directives(attributes: Optional[Dict[str, object]]) -> List[str]:
    """The ``#$`` arguments for the ``sge.``-prefixed custom attributes (``sge.pe`` apart)."""
    directives: List[str] = []
    for option, field, value in custom_options(attributes, 'sge', _check_custom_option):
        if option == 'pe':
            continue  # the parallel environment: see _parallel_environment
        directives.append(f'-{option}' if value is True
                          else f'-{option} {directive_value(str(value), field)}')
    return directives


def _notify(launcher: Optional[str], attributes: Optional[Dict[str, object]]) -> List[str]:
    """``-notify`` for a job of the ``mpirun`` launcher, unless ``sge.notify`` says otherwise.

    Open MPI's mpirun puts every rank in a process group of its own, so the SIGKILL that
    ``qdel`` sends to the job's process group kills mpirun and leaves the ranks running. With
    ``-notify``, Grid Engine sends SIGUSR2 first (and SIGKILL after the queue's ``notify``
    time), which mpirun forwards to the ranks."""
    if launcher != 'mpirun' or (attributes is not None and 'sge.notify' in attributes):
        return []
    return ['-notify']


def _parallel_environment(attributes: Optional[Dict[str, object]],
                          settings: GridEngineSettings) -> Tuple[Optional[str], bool]:
    """The PE name and whether the job named it itself (``sge.pe``)."""
    value = (attributes or {}).get('sge.pe')
    if value is None or value is False:
        return settings.parallel_environment, False
    if not isinstance(value, str) or not _OBJECT_NAME.fullmatch(value):
        raise InvalidJobException(
            "JobAttributes.custom_attributes['sge.pe'] must be the name of a parallel "
            f'environment (`qconf -spl` lists them), not {value!r}')
    return value, True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f'signal {number}'


def job_status(native_state: str, native_id: str = '') -> Optional[SchedulerStatus]:
    """The status for one ``qstat`` state (``qw``, ``hqw``, ``r``, ``Eqw``, ``dr``...); None
    for a state this module does not know and for ``z`` (a job that has ended)."""
    letters = set(native_state)
    if not native_state or not letters <= _KNOWN_LETTERS or 'z' in letters:
        return None
    if 'q' in letters:
        if 'E' in letters:
            # Grid Engine keeps the job, never to run until someone clears the error: for psij
            # it has failed. Accounting has a record of the failed start that says why.
            job = f' {native_id}' if native_id else ''
            return SchedulerStatus(
                JobState.FAILED, native_state, complete=False,
                message=f'error state ({native_state}): Grid Engine could not start the job and '
                        f'keeps it until the error is cleared (`qstat -j{job}` says why, '
                        f'`qmod -cj{job}` runs it again, `qdel{job}` deletes it)')
        if 'h' in letters:
            return SchedulerStatus(JobState.QUEUED, native_state,
                                   message=f'held ({native_state})')
        return SchedulerStatus(JobState.QUEUED, native_state)
    if letters & _STARTED_LETTERS:
        return SchedulerStatus(JobState.ACTIVE, native_state)
    return None


def accounting_status(record: Dict[str, str]) -> Optional[SchedulerStatus]:
    """The final status in one ``qacct -j`` record (its ``key value`` lines), or None if the
    record has no ``failed`` or ``exit_status``.

    ``failed`` is Grid Engine's own verdict (0: the job ran and exited by itself; 37: a limit
    enforced by the qmaster; 100: the job ended by a signal it did not send itself, as qdel
    does; others: the job could not be started or ended abnormally); ``exit_status`` is the
    job script's, 128 + N for signal N.
    """
    failed_text = ' '.join(record.get('failed', '').split())
    exit_text = record.get('exit_status', '').split()
    try:
        failed = int(failed_text.split(' ', 1)[0])
        exit_status = int(exit_text[0])
    except (ValueError, IndexError):
        return None
    native_state = f'failed {failed}, exit_status {exit_status}'
    verdict = f'Grid Engine: failed {failed_text}, exit_status {exit_status}'
    killed_by = exit_status - 128 if exit_status > 128 else None
    limit = _time_limit(record)
    if failed == 0:
        if exit_status == 0:
            return SchedulerStatus(JobState.COMPLETED, native_state, exit_code=0)
        return SchedulerStatus(JobState.FAILED, native_state, exit_code=exit_status)
    if failed == 37 or (killed_by == signal.SIGKILL and limit is not None and limit[1]):
        if limit is not None and limit[1]:
            message = f'time limit of {format_time_limit(limit[0])} reached ({verdict})'
        else:
            message = f'a limit enforced by Grid Engine was reached ({verdict})'
        return SchedulerStatus(JobState.FAILED, native_state, message=message)
    if failed == 100 and killed_by is not None:
        if killed_by == signal.SIGKILL:
            return SchedulerStatus(JobState.CANCELED, native_state,
                                   message=f'deleted with qdel, or killed with SIGKILL '
                                           f'({verdict})')
        return SchedulerStatus(JobState.FAILED, native_state, exit_code=-killed_by,
                               message=f'killed by {_signal_name(killed_by)} ({verdict})')
    if failed == 100:
        return SchedulerStatus(JobState.FAILED, native_state, exit_code=exit_status,
                               message=f'the job ended abnormally ({verdict})')
    if record.get('start_time', '').strip() == '-/-':
        number = record.get('jobnumber', '').strip()
        job = f' {number}' if number.isdigit() else ''
        return SchedulerStatus(
            JobState.FAILED, native_state,
            message=f'Grid Engine could not start the job ({verdict}); unless it was deleted, '
                    f'it waits in error state (Eqw): `qmod -cj{job}` runs it again, '
                    f'`qdel{job}` deletes it')
    return SchedulerStatus(JobState.FAILED, native_state,
                           message=f'the job failed in Grid Engine ({verdict})')


def _time_limit(record: Dict[str, str]) -> Optional[Tuple[int, bool]]:
    """The job's ``h_rt`` in seconds (from the ``category`` line) and whether its wall clock
    time reached it; None if it had none."""
    match = re.search(r'(?:^|[\s,])h_rt=([0-9:]+)', record.get('category', ''))
    limit = _time_seconds(match.group(1)) if match else None
    if not limit:
        return None
    wallclock_match = re.fullmatch(r'([0-9.]+)s?', record.get('ru_wallclock', '').strip())
    wallclock = float(wallclock_match.group(1)) if wallclock_match else -1.0
    return limit, wallclock >= limit


def parse_qacct_records(text: str) -> List[Dict[str, str]]:
    """The records in ``qacct -j`` output: one dict of ``key -> value`` per block of lines
    after a line of ``=``; raises ValueError for text that is not such output."""
    records: List[Dict[str, str]] = []
    current: Optional[Dict[str, str]] = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if set(line.strip()) == {'='}:
            current = {}
            records.append(current)
            continue
        if current is None:
            raise ValueError(f'not a qacct record: {line.strip()[:200]!r}')
        key, _, value = line.partition(' ')
        current[key] = value.strip()
    return records


class GridEngine(BatchScheduler):
    """Grid Engine's scripts, commands and output formats (pure functions).

    One thing is remembered between calls: the ids of jobs this process deleted with qdel,
    so that such a job is known to be CANCELED once it leaves the queue (Grid Engine keeps no
    record of a job deleted before it started, and nothing in ``qacct`` tells a qdel from a
    SIGKILL).
    """

    name = 'sge'
    job_id_variable = 'JOB_ID'
    native_id_pattern = re.compile(r'[0-9]+')

    def __init__(self) -> None:
        self._deleted: Dict[str, None] = {}  # in insertion order: the oldest first
        self._deleted_lock = threading.Lock()

    # --- the job script ------------------------------------------------------------------

    def render_script(self, inputs: ScriptInputs) -> str:
        """The job script, as `BatchScheduler.render_script` writes it, with no line of the
        job's own body read as a directive (see `_without_directive_lines`)."""
        script = super().render_script(inputs)
        # The directives end at the first empty line (no directive value holds a line break).
        head, blank, rest = script.partition('\n\n')
        return head + blank + _without_directive_lines(rest)

    def script_context(self, inputs: ScriptInputs,
                       settings: Optional[GridEngineSettings] = None) -> Dict[str, object]:
        """The values of ``sge.mustache``; see the module docstring for the mapping.
        ``settings`` default to those of the executor rendering the script."""
        settings = settings or _SETTINGS.get() or GridEngineSettings()
        spec = inputs.spec
        attributes = spec.attributes
        resources = spec.resources
        if not isinstance(resources, ResourceSpecV1):
            raise InvalidJobException(
                f'JobSpec.resources is a {type(resources).__name__}; the sge executor needs a '
                'ResourceSpecV1')
        if resources.gpu_cores_per_process:
            raise InvalidJobException(
                'ResourceSpecV1.gpu_cores_per_process: Grid Engine has no standard GPU '
                "resource; ask for the site's one with custom_attributes['sge.l'] "
                "(e.g. 'gpu=1', see `qconf -sc`)")
        slots = resources.computed_process_count * (resources.cpu_cores_per_process or 1)
        custom = attributes.custom_attributes
        environment, named = _parallel_environment(custom, settings)
        if slots > 1 and environment is None:
            raise InvalidJobException(
                f'JobSpec.resources asks for {slots} slots (processes x cpu_cores_per_process); '
                'Grid Engine gives a job more than one slot only through a parallel '
                "environment: set custom_attributes['sge.pe'] or "
                'SgeExecutorConfig(parallel_environment=...) (`qconf -spl` lists them)')
        requests: List[str] = []
        if resources.memory:
            per_slot = math.ceil(resources.memory / slots / 1024 / 1024)
            requests.append(f'{settings.memory_resource}={per_slot}M')
        if resources.exclusive_node_use:
            requests.append('exclusive=true')
        directory = str(inputs.marker_directory)
        unwritable = sorted({character for character in directory
                             if character in _UNWRITABLE_IN_PATHS})
        if unwritable:
            raise InvalidJobException(
                f'work directory {directory!r} contains '
                f'{", ".join(repr(character) for character in unwritable)}, which qsub cannot '
                'take in the -o path of the script output; choose a work_directory without '
                '# \' " $ : , or line breaks')
        # Grid Engine puts the job number in place of $JOB_ID when the job starts.
        script_output = f'"{directory}/$JOB_ID{SCRIPT_OUTPUT}"'

        def optional(value: Optional[str], field: str) -> Optional[str]:
            return directive_value(value, field) if value else None

        return {
            'job_name': sge_job_name(job_name(spec)),
            'script_output': script_output,
            'time_limit': format_time_limit(attributes.duration.total_seconds()),
            'queue': optional(attributes.queue_name, 'JobAttributes.queue_name'),
            'project': optional(attributes.account, 'JobAttributes.account'),
            'reservation': optional(attributes.reservation_id, 'JobAttributes.reservation_id'),
            'parallel_environment': environment if (slots > 1 or named) else None,
            'slots': slots,
            'resource_requests': requests,
            'inherit_environment': spec.inherit_environment,
            'custom_directives': _notify(spec.launcher, custom) + custom_directives(custom),
        }

    # --- submit ----------------------------------------------------------------------------

    def submit_command(self, script_path: str) -> List[str]:
        """``qsub -terse SCRIPT``."""
        return ['qsub', '-terse', script_path]

    def parse_submit_output(self, result: CommandResult) -> str:
        """The job id printed by ``qsub -terse`` (its last line; warnings may come first)."""
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.ok and lines:
            native_id = lines[-1].split('.')[0]
            if self.native_id_pattern.fullmatch(native_id):
                return native_id
        error = ' '.join(line.strip() for line in (result.stderr or result.stdout).splitlines()
                         if line.strip() and line.strip() != 'Exiting.') or result.describe()
        lowered = error.lower()
        if result.returncode is not None and result.returncode != 0:
            for needle, field, explanation in _SUBMIT_ERRORS_BY_FIELD:
                if needle.lower() in lowered:
                    raise InvalidJobException(f'{field}: {explanation}; qsub said: {error}')
        transient = result.returncode is None or any(
            needle in lowered for needle in _TRANSIENT_SUBMIT_ERRORS)
        raise SubmitException(f'qsub did not accept the job: {error}', transient=transient)

    # --- status ----------------------------------------------------------------------------

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """``qstat -xml -u USER``: every job of this user still in the queue (qstat cannot
        select jobs by id in this format; ``-u`` overrides a site default of ``-u '*'``)."""
        return ['qstat', '-xml', '-u', _current_user()]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``qstat`` shows, and those of ``native_ids`` that this process deleted
        and that have now left the queue (CANCELED); any other job is left out."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        statuses: Dict[str, SchedulerStatus] = {}
        for native_id, state in _qstat_jobs(result.stdout):
            if 'z' in state:
                continue  # a zombie: the job has ended, as if it had left the queue
            status = job_status(state, native_id)
            if status is None:
                logger.debug('qstat: state %r of job %s is not known here; ignored', state,
                             native_id)
                status = SchedulerStatus(JobState.NEW, state)
            known = statuses.get(native_id)
            # Array jobs have a line per task: any running task makes the job ACTIVE.
            if known is None or (known.state != JobState.ACTIVE
                                 and status.state == JobState.ACTIVE):
                statuses[native_id] = status
        for native_id in native_ids:
            if native_id not in statuses and self._forget_deleted(native_id):
                statuses[native_id] = SchedulerStatus(JobState.CANCELED, 'deleted',
                                                      message='canceled')
        return statuses

    # --- accounting ------------------------------------------------------------------------

    def accounting_command(self, native_ids: Sequence[str]) -> Optional[List[str]]:
        """``qacct -j ID`` for each id, in one shell (qacct takes one job id per call); each
        answer is framed by ``psij-qacct-begin ID`` and ``psij-qacct-end ID STATUS``."""
        return ['sh', '-c', _QACCT_LOOP, 'psij-qacct', *native_ids]

    def parse_accounting_output(self, result: CommandResult,
                                native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The final states in the last accounting record of each job qacct knows."""
        if result.returncode is None:
            raise StatusCommandError(result.describe())
        records: Dict[str, SchedulerStatus] = {}
        answers = _qacct_answers(result)
        missing_file = 0
        for native_id in native_ids:
            if native_id not in answers:
                raise StatusCommandError(f'qacct gave no answer for job {native_id} '
                                         f'({result.describe()})')
            text, status = answers[native_id]
            if status != 0:
                if f'job id {native_id} not found' in text:
                    continue
                if _NO_ACCOUNTING_FILE in text:
                    missing_file += 1
                    continue
                first = next((line for line in text.splitlines() if line.strip()), '')
                raise StatusCommandError(f'qacct -j {native_id} exited with status {status}: '
                                         f'{first.strip()[:200]}')
            try:
                found = [record for record in parse_qacct_records(text)
                         if record.get('jobnumber') == native_id]
            except ValueError as error:
                raise StatusCommandError(f'qacct -j {native_id}: {error}') from None
            if not found:
                continue
            # A job has a record per attempt (an error state, a rerun): the last one counts.
            status_of_job = accounting_status(found[-1])
            if status_of_job is None:
                raise StatusCommandError(f'qacct -j {native_id}: a record without failed and '
                                         'exit_status lines')
            records[native_id] = status_of_job
        if missing_file and not records and missing_file == len(native_ids):
            raise AccountingUnavailable(
                'qacct: the accounting file does not exist (no job has ended since accounting '
                'was switched on, or it is off: reporting_params accounting=true in '
                '`qconf -sconf`)')
        return records

    # --- cancel ----------------------------------------------------------------------------

    def cancel_command(self, native_id: str) -> List[str]:
        """``qdel ID``."""
        return ['qdel', native_id]

    def parse_cancel_output(self, result: CommandResult, native_id: str) -> None:
        """Nothing if the job was deleted (or is being deleted), or had already ended."""
        text = f'{result.stdout}\n{result.stderr}'
        lowered = text.lower()
        if result.returncode is not None and (
                f'deleted job {native_id}' in lowered
                or f'registered the job {native_id} for deletion' in lowered
                or f'job {native_id} is already in deletion' in lowered):
            self._remember_deleted(native_id)
            return
        if result.returncode is not None and f'job "{native_id}" does not exist' in lowered:
            return  # it had already ended
        raise SubmitException(f'qdel of job {native_id} failed: {_first_line(result)}',
                              transient=result.returncode is None or 'commlib' in lowered
                              or 'qmaster' in lowered)

    def _remember_deleted(self, native_id: str) -> None:
        with self._deleted_lock:
            self._deleted[native_id] = None
            while len(self._deleted) > _DELETED_MEMORY:
                del self._deleted[next(iter(self._deleted))]

    def _forget_deleted(self, native_id: str) -> bool:
        with self._deleted_lock:
            if native_id not in self._deleted:
                return False
            del self._deleted[native_id]
            return True

    # --- list ------------------------------------------------------------------------------

    def list_command(self, user: str) -> List[str]:
        """``qstat -xml -u USER``."""
        return ['qstat', '-xml', '-u', user]

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The ids, once each, in qstat's order."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        return list(dict.fromkeys(native_id for native_id, _ in _qstat_jobs(result.stdout)))


def _without_directive_lines(body: str) -> str:
    """``body`` with no line starting with ``#$``.

    qsub reads every line that starts with ``#$`` as a directive, wherever it is in the script,
    also inside a quoted word that spans lines (an argument or a variable holding a line break
    then ``#$``). Every value in the body is one single-quoted word, so such a line break is
    written ``'$'\\n''`` instead: the same characters for bash, no directive for qsub.
    """
    rewritten = body.replace('\n#$', "'$'\\n''#$")
    if any(line.startswith('#$') for line in rewritten.splitlines()):
        raise InvalidJobException(
            'the job script would have a line starting with #$ that Grid Engine would read as '
            'a directive; a value of the job holds a line break followed by #$ in a way the '
            'executor cannot rewrite')
    return rewritten


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a name (some containers): every user's jobs, then
        return '*'


def _first_line(result: CommandResult) -> str:
    for line in (result.stdout + '\n' + result.stderr).splitlines():
        if line.strip():
            return line.strip()
    return result.describe()


def _qstat_jobs(text: str) -> List[Tuple[str, str]]:
    """``(job number, state)`` for each ``job_list`` element of ``qstat -xml`` output; raises
    `StatusCommandError` for output that is not qstat's XML."""
    try:
        # Job names may hold control characters that XML 1.0 does not allow.
        root = ElementTree.fromstring(_XML_INVALID.sub('?', text))
    except ElementTree.ParseError as error:
        raise StatusCommandError(f'qstat printed something that is not its XML ({error}): '
                                 f'{text.strip()[:200]!r}') from None
    if root.tag != 'job_info':
        raise StatusCommandError(f'qstat printed XML without job_info: {text.strip()[:200]!r}')
    jobs: List[Tuple[str, str]] = []
    for element in root.iter('job_list'):
        number = (element.findtext('JB_job_number') or '').strip()
        state = (element.findtext('state') or '').strip()
        if not number.isdigit():
            raise StatusCommandError(f'qstat listed a job without a job number: '
                                     f'{ElementTree.tostring(element)[:200]!r}')
        jobs.append((number, state))
    return jobs


def _qacct_answers(result: CommandResult) -> Dict[str, Tuple[str, int]]:
    """The text and exit status of each qacct run of the accounting command, by job id."""
    answers: Dict[str, Tuple[str, int]] = {}
    current: Optional[str] = None
    lines: List[str] = []
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == _QACCT_BEGIN:
            current, lines = words[1], []
            continue
        if len(words) == 3 and words[0] == _QACCT_END and words[1] == current:
            try:
                status = int(words[2])
            except ValueError:
                raise StatusCommandError(f'accounting command: bad status line {line!r}') \
                    from None
            answers[current] = ('\n'.join(lines), status)
            current = None
            continue
        if current is None:
            if line.strip():
                raise StatusCommandError(f'accounting command printed {line.strip()[:200]!r} '
                                         f'outside an answer ({result.describe()})')
            continue
        lines.append(line)
    return answers


class SgeJobExecutor(BatchSchedulerExecutor):
    """Runs jobs through Grid Engine; see the module docstring for how a job maps to
    ``qsub``.

    ``native_id`` is the Grid Engine job number. Configure it with an `SgeExecutorConfig`
    (a plain `psij.batch.BatchSchedulerExecutorConfig` works too, with the default Grid
    Engine settings).
    """

    name = 'sge'
    version = '0.1.0'
    scheduler = GridEngine()

    def __init__(self, url: Optional[str] = None,
                 config: Optional[JobExecutorConfig] = None,
                 transport: Optional[Transport] = None) -> None:
        super().__init__(url=url, config=config, transport=transport)
        self.settings = (config.settings if isinstance(config, SgeExecutorConfig)
                         else GridEngineSettings())

    def generate_script(self, job: Job) -> str:
        """The script `submit` would write for ``job`` (checks the job like `submit`)."""
        # The base class renders through the scheduler object all executors share; this
        # executor's settings reach it through a context variable set only meanwhile.
        token = _SETTINGS.set(self.settings)
        try:
            return super().generate_script(job)
        finally:
            _SETTINGS.reset(token)
