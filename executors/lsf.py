"""The LSF executor: ``bsub`` (the script on its standard input), ``bjobs -json`` and ``bkill``.

`Lsf` holds everything LSF-specific as pure functions (the ``#BSUB`` lines, the commands, the
parsers of their output); `LsfJobExecutor` is the batch base class bound to it. The field to
option table, the custom attributes, the states and the limits are described in
``docs/executors/lsf.md``; in short:

==========================================  ==============================================
``JobSpec.name`` (else the executable)      ``-J`` (unsafe characters become ``_``)
psij's job id (the script's stem)           ``-Jd "psij-job ID"``, by which a submission whose
                                            answer was lost is found (`lsf_submission`)
``JobAttributes.duration``                  ``-W`` minutes, rounded up (at least 1)
``JobAttributes.queue_name``                ``-q``
``JobAttributes.account``                   ``-P`` (LSF project)
``JobAttributes.reservation_id``            ``-U``
``computed_process_count`` (N)              ``-n N×C``: LSF counts slots, and a process of
``cpu_cores_per_process`` (C)               C cores takes C of them
``processes_per_node`` (P)                  ``-R "span[ptile=P×C]"``
``node_count`` 1                            ``-R "span[hosts=1]"``
``node_count`` K > 1, no P                  ``-R "span[ptile=⌈N/K⌉×C]"`` (at most K hosts)
``exclusive_node_use``                      ``-x``
``memory`` (whole job)                      ``-M`` and ``-R "rusage[mem=]"`` per host, in
                                            MB (LSF's MB is 1024 KB), rounded up
``gpu_cores_per_process`` (G)               ``-gpu "num=G×P"`` per host, else ``num=G/task``
``JobSpec.inherit_environment=False``       ``-env none``
``custom_attributes['lsf.KEY']``            ``#BSUB -KEY VALUE`` (``True``: the bare flag)
a `psij.JobArray` of N elements             ``-J "NAME[1-N]%T"`` (``%T``: a throttle T)
``Job.depends_on``                          ``-w "done(ID) && ended(ID)"`` (afterok: ``done``,
                                            afterany: ``ended``)
==========================================  ==============================================

Arrays: bsub prints the array's job id ``123``; psij's element i is LSF's ``123[i+1]``
(``LSB_JOBINDEX`` counts from 1); one ``bjobs`` of the array ids shows every element (field
``jobindex``: IBM ``bjobs -o``; 0 for no array). At most ``MAX_JOB_ARRAY_SIZE`` elements
(``bparams -a``, 1000 by default; IBM ``bsub -J``): a longer array is split. A dependency names
each element it waits for (``done(123[4])``; IBM "Dependency conditions": elements are named
in the usual way). LSF leaves a job whose ``done`` can no longer hold pending ("Dependency
condition invalid or never satisfied"); psij ends it FAILED, naming the predecessor, and
kills it.
"""

import json
import logging
import math
import re
from typing import Dict, List, Optional, Sequence

from psij.batch import (
    SCRIPT_OUTPUT,
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
    custom_options,
    job_name,
    mebibytes,
    require_resource_spec,
)
from psij.batch.pieces import LINE_BREAKS
from psij.dependencies import DependencyCondition
from psij.exceptions import InvalidJobException, SubmitException
from psij.job_state import JobState
from psij.resource_spec import ResourceSpecV1

from . import lsf_submission
from .lsf_states import job_status as job_status  # (read here by callers and tests)

logger = logging.getLogger('psij.executors.lsf')

#: The fields ``bjobs -o`` prints for the status command, in this order.
STATUS_FIELDS = ('jobid', 'jobindex', 'stat', 'exit_code', 'exit_reason', 'pend_reason',
                 'runtimelimit')
#: The dependency condition of each `DependencyCondition` (``bsub -w``).
_CONDITIONS = {DependencyCondition.COMPLETED: 'done', DependencyCondition.ENDED: 'ended'}
#: The longest ``-J "NAME[INDICES]%T"`` (IBM: 255 characters).
_ARRAY_SPEC_LENGTH = 255

#: How bsub reads values from ``#BSUB`` lines: as they are when plain, else in double quotes.
#: LSF documents no way to escape a double quote, a backslash or a line break there.
DIRECTIVES = DirectiveQuoting('#BSUB', unwritable={'"': 'a double quote',
                                                   '\\': 'a backslash', **LINE_BREAKS})
_OPTION_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')
# Options the executor writes itself or maps from a field: a custom attribute cannot set them.
_RESERVED_OPTIONS = {
    'o': 'JobSpec.stdout_path', 'oo': 'JobSpec.stdout_path',
    'e': 'JobSpec.stderr_path', 'eo': 'JobSpec.stderr_path',
    'i': 'JobSpec.stdin_path', 'is': 'JobSpec.stdin_path',
    'J': 'JobSpec.name', 'W': 'JobAttributes.duration', 'q': 'JobAttributes.queue_name',
    'P': 'JobAttributes.account', 'U': 'JobAttributes.reservation_id',
    'n': 'ResourceSpecV1.process_count', 'M': 'ResourceSpecV1.memory',
    'gpu': 'ResourceSpecV1.gpu_cores_per_process', 'x': 'ResourceSpecV1.exclusive_node_use',
    'env': 'JobSpec.inherit_environment', **lsf_submission.RESERVED_OPTION,
}

_JOB_ID = re.compile(r'[0-9]+(\[[0-9]+\])?')
_ELEMENT_ID = re.compile(r'([0-9]+)\[[0-9]+\]')
_MAX_ARRAY_SIZE = re.compile(r'^\s*MAX_JOB_ARRAY_SIZE\s*=\s*([0-9]+)\s*$', re.MULTILINE)
_SUBMITTED = re.compile(r'^\s*Job <([0-9]+)> is submitted', re.MULTILINE)
_NOT_FOUND = re.compile(r'Job <([0-9]+(?:\[[0-9]+\])?)> is not found')
_ALREADY_ENDED = ('has already finished', 'is not found', 'no matching job found')
_BKILL_ID = re.compile(r'job <([0-9]+(?:\[[0-9]+\])?)>')
_CANCEL_IS_FINE = ('is being terminated', 'is being signaled', *_ALREADY_ENDED)
_NO_JOBS = 'no unfinished job found'


#: bsub's refusals that are about one field of the job (see tests/fixtures/lsf/README.md),
#: and the transient ones.
SUBMIT_ERRORS = SubmitErrors('bsub', by_field=(
    ('no such queue', 'JobAttributes.queue_name', 'LSF has no such queue (`bqueues` lists them)'),
    ('project not specified', 'JobAttributes.account',
     'this site requires an LSF project (-P) for every job'),
    ('not a member of the specified project', 'JobAttributes.account',
     'not a project this user may charge'),
    ('too many processors requested', 'JobSpec.resources',
     'more slots than the queue or its hosts allow (process_count x cpu_cores_per_process)'),
    ('error in rusage section', 'ResourceSpecV1.memory',
     'LSF does not accept the memory reservation'),
    ('resource requirement', "JobSpec.resources or custom_attributes['lsf.R']",
     'LSF does not accept the resource requirement string'),
), transient=('cannot connect to lsf', 'please wait', 'try later', 'not responding',
              'lsf is down'))


def format_run_limit(seconds: float) -> str:
    """``-W`` for a duration: whole minutes, rounded up, at least 1."""
    return str(max(math.ceil(seconds / 60), 1))


def _check_custom_option(option: str, field: str) -> None:
    if not _OPTION_NAME.fullmatch(option):
        raise InvalidJobException(
            f'{field}: {option!r} is not a bsub option name; use a letter then letters, '
            "digits or _ after 'lsf.' (e.g. 'lsf.app', 'lsf.R')")
    if option in _RESERVED_OPTIONS:
        raise InvalidJobException(
            f'{field}: the executor sets -{option} itself; use '
            f'{_RESERVED_OPTIONS[option]} instead')


def custom_directives(attributes: Optional[Dict[str, object]]) -> List[str]:
    """The ``#BSUB`` arguments for the ``lsf.``-prefixed custom attributes: ``-KEY VALUE``,
    ``-KEY`` for True, nothing for False or None."""
    directives: List[str] = []
    for option, field, value in custom_options(attributes, 'lsf', _check_custom_option):
        directives.append(f'-{option}' if value is True
                          else f'-{option} {DIRECTIVES.value(str(value), field)}')
    return directives


def _json_records(result: CommandResult, command: str) -> Optional[List[object]]:
    """The RECORDS of ``bjobs -json`` output; None if stdout holds no JSON at all. Lines
    before the JSON (LSF's "Please wait" notices) are skipped."""
    text = result.stdout
    start = re.search(r'^\s*\{', text, re.MULTILINE)
    if start is None:
        return None
    try:
        data, end = json.JSONDecoder().raw_decode(text, text.index('{', start.start()))
    except ValueError as error:
        raise StatusCommandError(f'{command} printed JSON that cannot be read: {error}') from error
    if text[end:].strip():
        raise StatusCommandError(f'{command} printed something after its JSON: '
                                 f'{text[end:].strip()[:200]!r}')
    records = data.get('RECORDS') if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise StatusCommandError(f'{command} printed JSON without a RECORDS list: '
                                 f'{text.strip()[:200]!r}')
    return records


def _only_not_found(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and all(_NOT_FOUND.search(line) for line in lines)


def _field(record: Dict[str, object], name: str) -> str:
    value = record.get(name, '')
    return value if isinstance(value, str) else '' if value is None else str(value)


def _record_id(record: Dict[str, object]) -> str:
    """The job's id, an element's as ``ID[INDEX]`` (bjobs prints the index apart, unless
    ``LSB_BJOBS_DISPLAY_ENH=Y`` puts it in the JOBID)."""
    native_id, index = _field(record, 'JOBID'), _field(record, 'JOBINDEX').strip()
    if '[' in native_id or index in ('', '0'):
        return native_id
    return f'{native_id}[{index}]'


def _job_ids(native_ids: Sequence[str]) -> List[str]:
    """``native_ids``, elements (``123[4]``) by their array (``123``, whose bjobs shows them)."""
    return list(dict.fromkeys(
        match.group(1) if (match := _ELEMENT_ID.fullmatch(native_id)) else native_id
        for native_id in native_ids))


def array_name(name: str, array: ArraySlice) -> str:
    """``-J`` of an array: ``"NAME[1-N]%T"`` (an array's name takes letters, digits, ``.``,
    ``-`` and ``_`` only: IBM "Job arrays")."""
    indices = f'[1-{array.count}]' + (f'%{array.throttle}' if array.throttle else '')
    name = re.sub(r'[^A-Za-z0-9._-]', '_', name)[:_ARRAY_SPEC_LENGTH - len(indices)]
    return f'"{name}{indices}"'


def dependency_expression(dependencies: Sequence[NativeDependency]) -> Optional[str]:
    """``-w``: every predecessor's condition, all of them (``done(1) && ended(2[3])``)."""
    conditions = [f'{_CONDITIONS[dependency.condition]}({native_id})'
                  for dependency in dependencies for native_id in dependency.native_ids]
    return DIRECTIVES.value(' && '.join(conditions), 'Job.dependencies') if conditions else None


class Lsf(BatchScheduler):
    """LSF's scripts, commands and output formats (pure functions)."""

    name = 'lsf'
    job_id_variable = 'LSB_JOBID'
    native_id_pattern = re.compile(r'[0-9]+(\[[0-9]+\])?')
    element_names = ElementNames('"${LSB_JOBID}[${LSB_JOBINDEX}]"', 'LSB_JOBINDEX', 1)
    #: LSF's default MAX_JOB_ARRAY_SIZE (lsb.params).
    max_array_size = 1000
    queue_limits_module = 'psij.executors.lsf_queues'
    supports_dependencies = True

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values of ``lsf.mustache``; see the module docstring for the mapping."""
        spec = inputs.spec
        attributes = spec.attributes
        resources = require_resource_spec(spec, self.name)
        DIRECTIVES.refuse_in_path(str(inputs.marker_directory), '%',
                                  'bsub reads as a file name pattern')
        cores = resources.cpu_cores_per_process or 1
        requirement = []
        memory: Optional[str] = None
        if resources.memory:
            memory = f'{mebibytes(resources.memory, resources.computed_node_count)}MB'
            requirement.append(f'rusage[mem={memory}]')
        requirement += self._span(resources, cores)

        optional = DIRECTIVES.optional
        # An element's files are named ID[INDEX], as its markers: %J and %I (IBM bsub -o).
        pattern = '%J[%I]' if inputs.array is not None else '%J'
        return {
            'job_name': job_name(spec) if inputs.array is None else
            array_name(job_name(spec), inputs.array),
            'job_description': DIRECTIVES.value(
                lsf_submission.description(inputs.script_stem), 'Job.id'),
            'script_output': DIRECTIVES.value(
                str(inputs.marker_directory / f'{pattern}{SCRIPT_OUTPUT}'), 'the work directory'),
            'dependency': dependency_expression(inputs.dependencies),
            'run_limit': format_run_limit(attributes.duration.total_seconds()),
            'queue': optional(attributes.queue_name, 'JobAttributes.queue_name'),
            'project': optional(attributes.account, 'JobAttributes.account'),
            'reservation': optional(attributes.reservation_id, 'JobAttributes.reservation_id'),
            'slots': resources.computed_process_count * cores,
            'resource_requirement': (DIRECTIVES.value(' '.join(requirement), 'JobSpec.resources')
                                     if requirement else None),
            'exclusive': resources.exclusive_node_use,
            'memory_limit': memory,
            'gpus': self._gpus(resources, cores),
            'inherit_environment': spec.inherit_environment,
            'cores_per_process': cores,
            'custom_directives': custom_directives(attributes.custom_attributes),
        }

    @staticmethod
    def _span(resources: ResourceSpecV1, cores: int) -> List[str]:
        if resources.processes_per_node is not None:
            return [f'span[ptile={resources.processes_per_node * cores}]']
        if resources.node_count == 1:
            return ['span[hosts=1]']
        if resources.node_count is not None:
            # LSF cannot ask for exactly N hosts; this many slots per host uses at most N.
            return [f'span[ptile={resources.computed_processes_per_node * cores}]']
        return []

    @staticmethod
    def _gpus(resources: ResourceSpecV1, cores: int) -> Optional[str]:
        gpus = resources.gpu_cores_per_process
        if gpus is None:
            return None
        if resources.processes_per_node is not None or resources.node_count is not None:
            # LSF counts GPUs per host by default.
            return f'"num={gpus * resources.computed_processes_per_node}"'
        if cores == 1:
            return f'"num={gpus}/task"'
        raise InvalidJobException(
            'ResourceSpecV1.gpu_cores_per_process: with cpu_cores_per_process > 1, give '
            'processes_per_node or node_count too; LSF counts GPUs per host or per slot, and '
            'a process holds several slots')

    # --- commands and their output ---------------------------------------------------------

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """``bsub`` with the script on its standard input: bsub reads the job script,
        ``#BSUB`` lines included, from there."""
        return SubmitCommand(['bsub'], stdin=script.text)

    find_submission_command = staticmethod(lsf_submission.find_submission_command)
    parse_find_submission = staticmethod(lsf_submission.parse_find_submission)

    def parse_submit_output(self, result: CommandResult) -> str:
        """The job id in ``Job <ID> is submitted to [default ]queue <QUEUE>.``, also after
        LSF's "Please wait" notices."""
        match = _SUBMITTED.search(result.stdout)
        if match is not None:
            return match.group(1)
        said = ' '.join(line.strip() for line in (result.stderr + '\n' + result.stdout)
                        .splitlines() if line.strip()) or result.describe()
        raise SUBMIT_ERRORS.refusal(result, said)

    def element_ids(self, native_id: str, count: int) -> List[str]:
        """``ID[1]`` to ``ID[count]``."""
        return [f'{native_id}[{index}]' for index in range(1, count + 1)]

    def array_limit_command(self) -> Optional[List[str]]:
        """``bparams -a``: every lsb.params setting."""
        return ['bparams', '-a']

    def parse_array_limit(self, result: CommandResult) -> Optional[int]:
        """``MAX_JOB_ARRAY_SIZE = 1000`` (the highest index, and so the most elements)."""
        match = _MAX_ARRAY_SIZE.search(result.stdout) if result.ok else None
        return int(match.group(1)) if match else None

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """ONE ``bjobs -json`` for all ``native_ids``; ``-a`` keeps recently finished jobs;
        elements are asked for by their array."""
        return ['bjobs', '-json', '-o', ' '.join(STATUS_FIELDS), '-a', *_job_ids(native_ids)]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``bjobs`` shows; a job it reports as not found is left out."""
        if result.returncode is None:
            raise StatusCommandError(result.describe())
        records = _json_records(result, 'bjobs')
        if records is None:
            if _only_not_found(result.stderr) and not result.stdout.strip():
                return {}  # none of the jobs is known any more
            raise StatusCommandError(result.describe() if result.stderr.strip() else
                                     f'bjobs printed no JSON: {result.stdout.strip()[:200]!r}')
        statuses: Dict[str, SchedulerStatus] = {}
        for record in records:
            if not isinstance(record, dict):
                raise StatusCommandError(f'bjobs printed a record that is not an object: '
                                         f'{record!r:.200}')
            error = record.get('ERROR')
            if error is not None:
                if _NOT_FOUND.search(str(error)):
                    continue
                raise StatusCommandError(f'bjobs: {error}')
            native_id = _record_id(record)
            stat = record.get('STAT')
            if not _JOB_ID.fullmatch(native_id) or not isinstance(stat, str):
                raise StatusCommandError(f'bjobs printed a record that is not a job status: '
                                         f'{record!r:.200}')
            status = job_status(stat, _field(record, 'EXIT_CODE'), _field(record, 'EXIT_REASON'),
                                _field(record, 'PEND_REASON'), _field(record, 'RUNTIMELIMIT'))
            if status is None:
                logger.debug('bjobs: state %r of job %s is not known here; ignored', stat,
                             native_id)
                status = SchedulerStatus(JobState.NEW, stat)
            statuses[native_id] = status
        return statuses

    def cancel_command(self, native_ids: Sequence[str]) -> List[str]:
        """``bkill ID ID...``."""
        return ['bkill', *native_ids]

    def parse_cancel_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, CancelOutcome]:
        """For each job, REQUESTED if it is being killed, ALREADY_ENDED if it had finished or
        LSF no longer knows it (bkill says ``Job <ID>...`` per job)."""
        lines = [line.strip().lower() for line in
                 (result.stdout + '\n' + result.stderr).splitlines() if line.strip()]
        outcomes = {native_id: CancelOutcome.REQUESTED for native_id in native_ids}
        if result.returncode is not None and all(
                any(fine in line for fine in _CANCEL_IS_FINE) for line in lines):
            for line in lines:
                if any(ended in line for ended in _ALREADY_ENDED):
                    named = _BKILL_ID.search(line)
                    for native_id in native_ids:
                        if len(native_ids) == 1 or (
                                named is not None and named.group(1) == native_id.lower()):
                            outcomes[native_id] = CancelOutcome.ALREADY_ENDED
            if result.ok or lines:
                return outcomes
        said = ' '.join(line.strip() for line in
                        (result.stdout + '\n' + result.stderr).splitlines() if line.strip())
        raise SubmitException(
            f'bkill of {" ".join(native_ids)} failed: {result.describe()}'
            + (f'; bkill said: {said[:300]}' if said else ''),
            transient=result.returncode is None or any(
                needle in said.lower() for needle in SUBMIT_ERRORS.transient))

    def list_command(self, user: str) -> List[str]:
        """``bjobs`` listing ``user``'s unfinished jobs (an array's elements each)."""
        return ['bjobs', '-json', '-o', 'jobid jobindex stat', '-u', user]

    def parse_list_output(self, result: CommandResult) -> List[str]:
        """The job ids; none when LSF says "No unfinished job found"."""
        if result.returncode is None:
            raise StatusCommandError(result.describe())
        records = _json_records(result, 'bjobs')
        if records is None:
            if _NO_JOBS in result.stderr.lower() or (result.ok and not result.stderr.strip()):
                return []
            raise StatusCommandError(result.describe())
        ids: List[str] = []
        for record in records:
            if not isinstance(record, dict) or record.get('ERROR') is not None:
                continue
            native_id = _record_id(record)
            if not _JOB_ID.fullmatch(native_id):
                raise StatusCommandError(f'bjobs printed a record that is not a job: '
                                         f'{record!r:.200}')
            ids.append(native_id)
        return ids


class LsfJobExecutor(BatchSchedulerExecutor):
    """Runs jobs through IBM Spectrum LSF; see ``docs/executors/lsf.md``.

    ``native_id`` is the LSF job id. Configure it with a
    `psij.batch.BatchSchedulerExecutorConfig`.
    """

    version = '0.1.0'
    scheduler = Lsf()
