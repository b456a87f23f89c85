"""The Grid Engine executor (``sge``, also ``gridengine`` and ``uge``): ``qsub -terse``,
``qstat -xml``, ``qacct -j`` and ``qdel``.

`GridEngine` holds everything Grid Engine-specific as pure functions (the ``#$`` lines, the
commands, the parsers of their output; ``qacct`` in `executors.sge_accounting`);
`SgeJobExecutor` is the batch base class bound to it. Written and tested against Son of Grid
Engine 8.1.9; the commands and output formats it uses are those of Sun/Oracle Grid Engine 6.2
too, and of Univa/Altair Grid Engine as documented (not tested there).
``docs/executors/sge.md`` has the full story: the field table, states, messages and limits.
In short:

* every script gets ``-S /bin/bash``, ``-cwd`` and ``-o <work dir>/$JOB_ID.out -j y`` (the
  script's own output, not the job's); ``-N`` from the name (a leading digit and the names
  NONE, ALL, TEMPLATE get a ``_``), ``-l h_rt=H:MM:SS``, ``-q``, ``-P`` (the account),
  ``-ar`` (the reservation), ``-V`` when the environment is inherited;
* ``computed_process_count × cpu_cores_per_process`` slots: ``-pe PE SLOTS`` with the PE of
  ``custom_attributes['sge.pe']``, else of the config or the scheduler (`executors.sge_pe`);
  more than one slot with no PE that fits is refused. Node counts cannot be expressed (the
  PE's ``allocation_rule`` places the slots);
* memory as ``-l h_vmem=<memory / slots>M`` (`SgeExecutorConfig.memory_resource`),
  ``exclusive_node_use`` as ``-l exclusive=true``; GPUs are refused (a site-defined
  resource: use ``sge.l``); jobs of the ``mpirun`` launcher get ``-notify`` so that ``qdel``
  reaches Open MPI's ranks;
* ``custom_attributes['sge.KEY']`` becomes ``#$ -KEY VALUE`` (``True``: the bare flag),
  after the lines above;
* a `psij.JobArray` is one ``qsub`` with ``-t 1-N`` (``-tc`` for its throttle), whose
  elements are ``JOB.TASK``; dependencies are ``-hold_jid``, and an afterok job checks its
  predecessors' exit-code markers before it runs (`executors.sge_arrays`).

Final states: an exit-code marker settles the job; without one, ``qacct`` says why (time
limit, deleted, a signal, a failed start). A job whose ``qdel`` Grid Engine took ends
CANCELED as soon as it leaves the queue. ``Eqw`` (an error state Grid Engine keeps until
``qmod -cj``) is FAILED, with the reason from ``qacct``. A state this module does not know is
ignored.
"""

import logging
import re
from typing import Any, Dict, List, Optional, Sequence

from psij.batch import (
    SCRIPT_OUTPUT,
    ArraySlice,
    BatchScheduler,
    BatchSchedulerExecutorConfig,
    CancelOutcome,
    CommandResult,
    DirectiveQuoting,
    JobScript,
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
from psij.batch.pieces import LINE_BREAKS
from psij.batch.script import with_prefix
from psij.exceptions import InvalidJobException, SubmitException
from psij.job_state import JobState

from . import sge_accounting, sge_arrays, sge_output, sge_pe, sge_submission

logger = logging.getLogger('psij.executors.sge')

#: How qsub reads values from ``#$`` lines: it splits them at blanks outside quotes and
#: removes the quotes; a backslash is an ordinary character. It reads ``#`` as the start of a
#: comment everywhere (also inside quotes) and drops every quote character, so values with
#: ``#``, ``"``, ``'`` or a line break cannot be written at all (tested on Son of Grid Engine
#: 8.1.9).
DIRECTIVES = DirectiveQuoting(
    '#$', unwritable={'#': "'#'", '"': "'\"'", "'": '"\'"', **LINE_BREAKS},
    allow_empty=False, why='qsub reads # as the start of a comment and drops quotes')
# In the -o path: also '$' (a pseudo variable, $JOB_ID...), ':' (a host name) and ','
# (paths for several hosts).
_UNWRITABLE_IN_PATHS = '#"\'\n\r\x00$:,'
_OPTION_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')
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
    't': 'submit a psij.JobArray (executor.submit_array) instead',
    'tc': 'give the psij.JobArray a throttle instead',
    'sync': 'qsub must return at once with the job id',
    'terse': 'the executor gives it to qsub itself',
}
# The pending states contain q (qw, hqw, Eqw, Rq, hRwq); the others have started.
_STARTED_LETTERS = set('rtsST')
_KNOWN_LETTERS = set('dEhrRsStTwqz')

#: qsub's refusals that are about one field of the job, and the transient ones.
SUBMIT_ERRORS = SubmitErrors('qsub', by_field=(
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
    ('submit a job with more than', 'JobArray.count',
     'Grid Engine takes at most max_aj_tasks tasks per array (`qconf -sconf`)'),
), transient=('unable to contact qmaster', 'unable to send message to qmaster',
              'commlib error', 'qmaster is not alive', 'got send error', 'timeout',
              'try again later'))


class SgeExecutorConfig(BatchSchedulerExecutorConfig):
    """`BatchSchedulerExecutorConfig` plus the Grid Engine settings.

    :param parallel_environment: the parallel environment (``qconf -spl``) of jobs that need
        more than one slot, when the job does not name one with ``sge.pe``.
    :param single_node_pe: the PE of such jobs on one node, before ``parallel_environment``;
        ``multi_node_pe`` of those on several. None of the three: the scheduler's PEs are read
        and one is chosen per job (`executors.sge_pe`).
    :param memory_resource: the resource ``ResourceSpecV1.memory`` is asked as, per slot:
        ``h_vmem`` (the default: a hard limit on each slot's virtual memory, the resource most
        sites make consumable), or e.g. ``mem_free``, ``virtual_free``, ``h_rss``.

    The other parameters (positional ones too) are those of `BatchSchedulerExecutorConfig`.
    """

    def __init__(self, *args: Any, parallel_environment: Optional[str] = None,
                 memory_resource: str = 'h_vmem', single_node_pe: Optional[str] = None,
                 multi_node_pe: Optional[str] = None, **settings: Any) -> None:
        super().__init__(*args, **settings)
        self.single_node_pe = sge_pe.setting('single_node_pe', single_node_pe)
        self.multi_node_pe = sge_pe.setting('multi_node_pe', multi_node_pe)
        sge_pe.setting('parallel_environment', parallel_environment)
        if not isinstance(memory_resource, str) or not _RESOURCE_NAME.fullmatch(
                memory_resource):
            raise ValueError('SgeExecutorConfig.memory_resource must be the name of a Grid '
                             f'Engine resource (e.g. h_vmem), not {memory_resource!r}')
        self.parallel_environment = parallel_environment
        self.memory_resource = memory_resource


def sge_job_name(name: str) -> str:
    """A name Grid Engine accepts for ``-N``: not starting with a digit, not a keyword."""
    if name[:1].isdigit() or name.upper() in _RESERVED_NAMES:
        return f'_{name}'
    return name


def format_time_limit(seconds: float) -> str:
    """``h_rt`` for a duration: ``H:MM:SS`` (hours may exceed 24), at least one second."""
    return clock_time(whole_seconds(seconds))


def _check_custom_option(option: str, field: str) -> None:
    if option == 'pe':
        return  # the parallel environment, checked by sge_pe.named_by_job
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
            continue  # the parallel environment: see sge_pe.named_by_job
        directives.append(f'-{option}' if value is True
                          else f'-{option} {DIRECTIVES.value(str(value), field)}')
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


class GridEngine(BatchScheduler):
    """Grid Engine's scripts, commands and output formats (pure functions).

    :param parallel_environment: the PE of jobs of more than one slot that name none (see
        `SgeExecutorConfig`).
    :param memory_resource: the resource memory is asked as, per slot.
    :param user: whose jobs the status command lists (qstat selects jobs by user, not by id);
        ``*`` (everyone's) by default.
    """

    name = 'sge'
    job_id_variable = 'JOB_ID'
    native_id_pattern = sge_arrays.NATIVE_ID
    element_names = sge_arrays.ELEMENT_NAMES
    supports_dependencies = True
    queue_limits_module = 'psij.executors.sge_queues'

    def __init__(self, parallel_environment: Optional[str] = None,
                 memory_resource: str = 'h_vmem', user: str = '*') -> None:
        self.parallel_environment = parallel_environment
        self.memory_resource = memory_resource
        self.user = user

    # --- the job script ------------------------------------------------------------------

    def render_script(self, inputs: ScriptInputs) -> str:
        """The job script, as `BatchScheduler.render_script` writes it, with no line of the
        job's own body read as a directive (see `_without_directive_lines`)."""
        script = super().render_script(inputs)
        # The directives end at the first empty line (no directive value holds a line break).
        head, blank, rest = script.partition('\n\n')
        return head + blank + _without_directive_lines(rest)

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values of ``sge.mustache``; see the module docstring for the mapping."""
        spec = inputs.spec
        attributes = spec.attributes
        resources = require_resource_spec(spec, self.name)
        if resources.gpu_cores_per_process:
            raise InvalidJobException(
                'ResourceSpecV1.gpu_cores_per_process: Grid Engine has no standard GPU '
                "resource; ask for the site's one with custom_attributes['sge.l'] "
                "(e.g. 'gpu=1', see `qconf -sc`)")
        slots = resources.computed_process_count * (resources.cpu_cores_per_process or 1)
        # The executor's other names are prefixes too: 'uge.l' is 'sge.l'.
        custom = with_prefix(attributes.custom_attributes, 'sge', ('gridengine', 'uge'))
        named = sge_pe.named_by_job(custom)
        environment = named or self.parallel_environment
        if slots > 1 and environment is None:
            raise InvalidJobException(
                f'JobSpec.resources asks for {slots} slots (processes x cpu_cores_per_process); '
                'Grid Engine gives a job more than one slot only through a parallel '
                "environment: set custom_attributes['sge.pe'] or "
                'SgeExecutorConfig(parallel_environment=...) (`qconf -spl` lists them)')
        requests: List[str] = []
        if resources.memory:
            requests.append(f'{self.memory_resource}={mebibytes(resources.memory, slots)}M')
        if resources.exclusive_node_use:
            requests.append('exclusive=true')
        directory = str(inputs.marker_directory)
        DIRECTIVES.refuse_in_path(directory, _UNWRITABLE_IN_PATHS,
                                  'qsub cannot take in the -o path of the script output')
        # Grid Engine puts the job number in place of $JOB_ID when the job starts, and an
        # element's task id in place of $TASK_ID: named as the markers are.
        name = '$JOB_ID.$TASK_ID' if inputs.array is not None else '$JOB_ID'
        script_output = f'"{directory}/{name}{SCRIPT_OUTPUT}"'
        if inputs.job.dependencies and custom is not None and 'sge.hold_jid' in custom:
            raise InvalidJobException(
                "JobAttributes.custom_attributes['sge.hold_jid']: the job has dependencies "
                '(Job.depends_on), which the executor writes as -hold_jid; give them one way')

        optional = DIRECTIVES.optional
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
            'array': sge_arrays.array_range(inputs.array),
            'throttle': _throttle(inputs.array),
            'hold_jid': sge_arrays.hold_jid(inputs.dependencies),
            'afterok': sge_arrays.afterok_check(inputs.dependencies, directory, inputs.array,
                                                inputs.job_id if inputs.array is None
                                                else inputs.array.array_id),
            'custom_directives': _notify(spec.launcher, custom) + custom_directives(custom),
        }

    # --- submit ----------------------------------------------------------------------------

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """``qsub -terse SCRIPT``."""
        return SubmitCommand(['qsub', '-terse', str(script.path)])

    def parse_submit_output(self, result: CommandResult) -> str:
        """The job id printed by ``qsub -terse`` (its last line; warnings may come first);
        of an array, its job number (``123`` of ``123.1-50:1``)."""
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.ok and lines:
            native_id = lines[-1].split('.')[0]
            if native_id.isdigit():
                return native_id
        said = ' '.join(line.strip() for line in (result.stderr or result.stdout).splitlines()
                        if line.strip() and line.strip() != 'Exiting.') or result.describe()
        raise SUBMIT_ERRORS.refusal(result, said)

    def element_ids(self, native_id: str, count: int) -> List[str]:
        """``ID.1`` to ``ID.<count>`` (Grid Engine's task ids start at 1)."""
        return sge_arrays.element_ids(native_id, count)

    def array_limit_command(self) -> Optional[List[str]]:
        """``qconf -sconf``: the global configuration, with ``max_aj_tasks``."""
        return ['qconf', '-sconf']

    def parse_array_limit(self, result: CommandResult) -> Optional[int]:
        """``max_aj_tasks``; None when it is 0 (no limit) or not said."""
        return sge_arrays.parse_max_array_tasks(result)

    # --- status ----------------------------------------------------------------------------

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """``qstat -xml -u USER``: every job of the scheduler's user still in the queue (qstat
        cannot select jobs by id in this format; ``-u`` overrides a site default of
        ``-u '*'``)."""
        return ['qstat', '-xml', '-u', self.user]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``qstat`` shows, and the array elements of ``native_ids`` among their
        tasks; a job or element that left the queue is left out (the tracker knows whether
        we deleted it). An array's own number is ACTIVE while any of its tasks runs."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        wanted = sge_arrays.wanted_tasks(native_ids)
        statuses: Dict[str, SchedulerStatus] = {}
        for number, state, tasks in sge_output.qstat_jobs(result.stdout):
            if 'z' in state:
                continue  # a zombie: the job has ended, as if it had left the queue
            status = job_status(state, number)
            if status is None:
                logger.debug('qstat: state %r of job %s is not known here; ignored', state,
                             number)
                status = SchedulerStatus(JobState.NEW, state)
            sge_output.keep(statuses, number, status)
            if tasks is not None and number in wanted:
                for task in tasks.among(wanted[number]):
                    sge_output.keep(statuses, f'{number}.{task}', status)
        return statuses

    find_submission_command = staticmethod(sge_submission.find_submission_command)
    parse_find_submission = staticmethod(sge_submission.parse_find_submission)

    # --- accounting ------------------------------------------------------------------------

    def accounting_command(self, native_ids: Sequence[str]) -> Optional[List[str]]:
        """``qacct -j ID`` for each id, in one shell (see `executors.sge_accounting`)."""
        return sge_accounting.accounting_command(native_ids)

    def parse_accounting_output(self, result: CommandResult,
                                native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The final states in the last accounting record of each job qacct knows."""
        return sge_accounting.parse_accounting_output(result, native_ids)

    # --- cancel ----------------------------------------------------------------------------

    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """``qdel ID ID...``."""
        return ['qdel', *native_ids]

    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """For each job or array element, REQUESTED if it was deleted (or is being
        deleted), ALREADY_ENDED if Grid Engine no longer knows it (it forgets a job as soon
        as it ends, a task too); qdel says one line per job or task (see `executors.sge_output`).
        Any other answer fails the whole command."""
        lowered = f'{result.stdout}\n{result.stderr}'.lower()
        outcomes: Dict[str, CancelOutcome] = {}
        if result.returncode is not None:
            said = sge_output.qdel_answers(lowered)
            for native_id in native_ids:
                number = native_id.split('.', 1)[0]
                outcome = said.get(native_id) or said.get(number)
                if outcome is not None:
                    outcomes[native_id] = outcome
        if len(outcomes) == len(native_ids):
            return outcomes
        first_line = sge_output.first_line(result)
        raise SubmitException(f'qdel of {" ".join(native_ids)} failed: {first_line}',
                              transient=result.returncode is None or 'commlib' in lowered
                              or 'qmaster' in lowered)

    # --- list ------------------------------------------------------------------------------

    def list_command(self, user: str) -> List[str]:
        """``qstat -xml -u USER``."""
        return ['qstat', '-xml', '-u', user]

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The ids, once each, in qstat's order."""
        if not result.ok:
            raise StatusCommandError(result.describe())
        return list(dict.fromkeys(number for number, _, _ in sge_output.qstat_jobs(result.stdout)))


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


def _throttle(array: Optional[ArraySlice]) -> Optional[int]:
    return array.throttle if array is not None else None


class SgeJobExecutor(sge_pe.ChoosingExecutor):
    """Runs jobs through Grid Engine; see the module docstring for how a job maps to
    ``qsub``.

    ``native_id`` is the Grid Engine job number (``JOB.TASK`` for an array element).
    Configure it with an `SgeExecutorConfig` (a plain
    `psij.batch.BatchSchedulerExecutorConfig` works too, with the default Grid Engine
    settings).
    """

    version = '0.1.0'
    scheduler = GridEngine()

    def make_scheduler(self, config: BatchSchedulerExecutorConfig) -> BatchScheduler:
        """Grid Engine with the settings of ``config`` (an `SgeExecutorConfig`, else the
        defaults), listing this user's jobs."""
        if isinstance(config, SgeExecutorConfig):
            return GridEngine(config.parallel_environment, config.memory_resource, self.user())
        return GridEngine(user=self.user())
