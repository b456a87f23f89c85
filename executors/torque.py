"""The Torque executor (``torque``, also ``pbs_classic``): Torque / PBS classic.

`Torque` holds everything specific to Torque as pure functions (its ``#PBS`` lines and the
two formats ``qstat`` prints); what it shares with PBS Professional (``qsub``, ``qdel``,
``qselect``, custom attributes, exit statuses) is in `executors.pbs_common`.
`TorqueJobExecutor` is the batch base class bound to it.

How the job maps to ``qsub``:

==========================================  ==============================================
``JobSpec.name`` (else the executable)      ``-N`` (unsafe characters become ``_``; starts
                                            with a letter; at most 15 characters, POSIX's
                                            limit that older Torque releases enforce)
``JobAttributes.duration``                  ``-l walltime=HH:MM:SS``
``JobAttributes.queue_name``                ``-q``
``JobAttributes.account``                   ``-A``
``JobAttributes.reservation_id``            ``-l advres=`` (a Moab/Maui reservation)
``ResourceSpecV1``                          ``-l nodes=N:ppn=M``: N nodes (1 unless given or
                                            computed from ``processes_per_node``), M =
                                            processes per node * cores per process
``ResourceSpecV1.gpu_cores_per_process``    ``:gpus=`` (per node)
``ResourceSpecV1.memory`` (whole job)       ``-l mem=`` in MiB rounded up
``ResourceSpecV1.exclusive_node_use``       ``-n`` (node-exclusive)
``JobSpec.environment``, ``directory``,     set by the script itself, so that every value
``stdin_path``/``stdout_path``/             reaches the job verbatim; without a directory
``stderr_path``                             the job starts in the submission directory
``JobSpec.inherit_environment``             not used: jobs start from the user's login
                                            environment plus ``JobSpec.environment``
``custom_attributes['torque.…']``           see `executors.pbs_common`
a `psij.JobArray` of N elements             ``-t 0-N-1``, ``%T`` with a throttle T (Torque's
                                            slot limit); ``-t 0`` for one element
``Job.depends_on``                          ``-W depend=afterok:ID:ID,afterany:ID``; a whole
                                            array: ``afterokarray:ID`` / ``afteranyarray:ID``
==========================================  ==============================================

Arrays: qsub prints the array id ``123[].server``; element i is the job ``123[i].server``
(``PBS_JOBID`` in its script, ``PBS_ARRAYID`` its index; each is a job of its own, with its
own ``exit_status``), and one ``qstat -f -t`` asks for every element of the arrays. A server
with ``max_job_array_size`` (``qstat -B -f``) takes at most that many: a longer array is split.
Arrays need a real Torque server: Slurm's Torque-compatible commands name elements otherwise.

Dependencies: a job that waits for every element of an array (or of one of its native arrays)
names it with Torque's array dependencies, ``afterokarray:123[].server`` (all elements exited
0) or ``afteranyarray:123[].server`` (all ended); a job that waits for only some elements names
those elements with ``afterok`` / ``afterany``, as each is a Torque job. Torque deletes a job
whose ``afterok`` predecessor failed (``Job deleted as result of dependency on job ...``, with
``exit_status`` 271); psij ends it FAILED naming the predecessor.

Status: ``qstat -f ID...`` (the text format; Slurm's Torque-compatible ``qstat`` has no
``-x``). The parser also reads ``qstat -x`` XML. Final state ``C``: ``exit_status`` 0 →
COMPLETED; 1-255 → FAILED with that exit code; 256 + N → FAILED, killed by signal N; -11
(or a signal once the walltime used reached the limit) → FAILED, "walltime limit of H:MM:SS
reached"; other negative values → FAILED with Torque's reason; ``C`` without an exit status
for a job that never started → CANCELED. Torque does not say who deleted a running job: one
deleted by someone else ends FAILED, killed by a signal.

Torque keeps a completed job in ``qstat`` for ``keep_completed`` seconds only, and keeps no
accounting that ``qstat`` can read: a job that leaves the queue without an exit-code marker
ends FAILED with an unknown outcome after ``outcome_timeout``.
"""

import re
import xml.etree.ElementTree as ElementTree
from typing import ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from psij.batch import (
    SCRIPT_OUTPUT,
    BatchSchedulerExecutor,
    CommandResult,
    ElementNames,
    JobScript,
    SchedulerStatus,
    ScriptInputs,
    StatusCommandError,
    SubmitCommand,
    clock_seconds,
    mebibytes,
    require_resource_spec,
    shell_quote,
)

from .pbs_common import (
    DIRECTIVES,
    JobRecord,
    PbsFamilyScheduler,
    as_int,
    check_listing_command,
    depend_value,
    status_ids,
)
from .pbs_submission import submitted_from

#: Why Torque could not run a job: negative ``exit_status`` values (Torque's "Job exit
#: status" table, JOB_EXEC_* in its sources).
TORQUE_EXIT_REASONS: Mapping[int, str] = {
    -1: 'the job could not be started (before its files were staged)',
    -2: 'the job could not be started (after its files were staged)',
    -3: 'the job could not be started; Torque retries it',
    -4: 'the job was aborted when its execution host (MOM) started',
    -5: 'the job was aborted when its execution host (MOM) started (checkpointed)',
    -6: 'the job was aborted when its execution host (MOM) started (checkpointed)',
    -7: 'the job could not be restarted from its checkpoint',
    -8: 'the job\'s command could not be executed',
    -9: 'the job\'s output or error file could not be created',
    -10: 'the job used more memory than it was given',
    -12: 'the job used more CPU time than it was given',
}

_JOB_HEADER = re.compile(r'Job Id:\s*(\S+)\s*$')
_ATTRIBUTE = re.compile(r'([ \t]+)([A-Za-z_][A-Za-z0-9_.]*) = ?(.*)$')


def parse_full_text(text: str) -> Dict[str, Dict[str, str]]:
    """The attributes of each job in ``qstat -f`` text output, by job id.

    Each job starts with ``Job Id: ID``, followed by indented ``name = value`` lines. Torque
    indents attributes with four spaces and continues a long value on lines starting with a
    tab; Slurm's Torque-compatible ``qstat`` indents attributes with a tab and never wraps. So
    the first attribute line of a job sets the indentation of its attributes, and any other
    line continues the previous value (a line that is not indented at all is a line break
    inside the value). Raises `StatusCommandError` for text before the first job.
    """
    jobs: Dict[str, Dict[str, str]] = {}
    attributes: Dict[str, str] = {}
    indent = ''
    last = ''
    for line in text.splitlines():
        if not line.strip() and not line.startswith('\t'):
            continue  # the empty line after each job
        header = _JOB_HEADER.match(line)
        if header is not None:
            attributes = jobs.setdefault(header.group(1), {})
            indent, last = '', ''
            continue
        if not jobs:
            raise StatusCommandError(f'qstat printed a line before the first "Job Id:": '
                                     f'{line.strip()[:200]!r}')
        attribute = _ATTRIBUTE.match(line)
        if attribute is not None and attribute.group(1) == (indent or attribute.group(1)):
            indent, last = attribute.group(1), attribute.group(2)
            attributes[last] = attribute.group(3)
        elif last and line.startswith('\t'):
            attributes[last] += line[1:]
        elif last:
            attributes[last] += '\n' + line
        else:
            raise StatusCommandError(f'qstat printed a line that is not an attribute of job '
                                     f'{list(jobs)[-1]}: {line.strip()[:200]!r}')
    return jobs


def parse_xml(text: str) -> Dict[str, Dict[str, str]]:
    """The attributes of each job in ``qstat -x`` XML output, by job id (nested elements such
    as ``<Resource_List><walltime>`` become ``Resource_List.walltime``)."""
    try:
        root = ElementTree.fromstring(text.strip())
    except ElementTree.ParseError as error:
        raise StatusCommandError(f'qstat printed XML that cannot be read ({error}): '
                                 f'{text.strip()[:200]!r}') from None
    if root.tag != 'Data':
        raise StatusCommandError(f'qstat printed XML without <Data>: {text.strip()[:200]!r}')
    jobs: Dict[str, Dict[str, str]] = {}
    for job in root.findall('Job'):
        attributes: Dict[str, str] = {}
        for element in job:
            children = list(element)
            if children:
                for child in children:
                    attributes[f'{element.tag}.{child.tag}'] = (child.text or '').strip()
            else:
                attributes[element.tag] = (element.text or '').strip()
        native_id = attributes.pop('Job_Id', '')
        if not native_id:
            raise StatusCommandError('qstat printed a <Job> without <Job_Id>')
        jobs[native_id] = attributes
    return jobs


def job_record(attributes: Mapping[str, str]) -> JobRecord:
    """What one job's ``qstat -f`` (or ``-x``) attributes say, in `JobRecord` terms."""
    return JobRecord(
        state=attributes.get('job_state', '').strip(),
        exit_status=as_int(attributes.get('exit_status')),
        ran=any(key in attributes for key in ('exec_host', 'start_time')),
        walltime_limit=clock_seconds(attributes.get('Resource_List.walltime')),
        walltime_used=clock_seconds(attributes.get('resources_used.walltime')),
        comment=attributes.get('comment'),
    )


class Torque(PbsFamilyScheduler):
    """Torque's scripts, commands and output formats (pure functions)."""

    name = 'torque'
    label: ClassVar[str] = 'Torque'
    custom_prefix: ClassVar[str] = 'torque'
    #: psij-python's pbs_classic executor reads ``pbs.`` keys: code written for it works.
    custom_aliases: ClassVar[Tuple[str, ...]] = ('pbs',)
    name_max_length: ClassVar[int] = 15
    exit_status_attribute: ClassVar[str] = 'exit_status'
    queue_limits_module = 'psij.executors.pbs_queues'
    internal_exit_reasons: ClassVar[Mapping[int, str]] = TORQUE_EXIT_REASONS
    walltime_exit_statuses: ClassVar[FrozenSet[int]] = frozenset({-11})
    list_states: ClassVar[str] = 'EHQRSTW'
    element_names = ElementNames('"${PBS_JOBID}"', 'PBS_ARRAYID', 0)
    array_limit_attribute: ClassVar[str] = 'max_job_array_size'

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values of ``torque.mustache``; see the module docstring for the mapping."""
        context = self.common_context(inputs)
        spec = inputs.spec
        resources = require_resource_spec(spec, self.name)
        per_node = resources.computed_processes_per_node
        nodes = f'{resources.computed_node_count}:ppn=' \
                f'{per_node * (resources.cpu_cores_per_process or 1)}'
        if resources.gpu_cores_per_process:
            nodes += f':gpus={per_node * resources.gpu_cores_per_process}'
        reservation = spec.attributes.reservation_id
        array = inputs.array
        context.update({
            'nodes': nodes,
            'array': None if array is None else '0' if array.count == 1 else
            f'0-{array.count - 1}' + (f'%{array.throttle}' if array.throttle else ''),
            'depend': depend_value(inputs.job, inputs.dependencies, array_suffix='array'),
            'memory': f'{mebibytes(resources.memory)}mb' if resources.memory else None,
            'exclusive': resources.exclusive_node_use,
            'reservation': DIRECTIVES.value(reservation, 'JobAttributes.reservation_id')
            if reservation else None,
            'process_count': resources.computed_process_count,
            'script_output': shell_quote(str(inputs.marker_directory)) +
            f'/"${{PBS_JOBID}}{SCRIPT_OUTPUT}"',
        })
        return context

    def submit_command(self, script: JobScript) -> SubmitCommand:
        """``qsub -j oe -o /dev/null SCRIPT``: the script says the same, but Slurm's
        Torque-compatible ``qsub`` reads only its command line and would otherwise write an
        output file into the current directory."""
        return SubmitCommand(['qsub', '-j', 'oe', '-o', '/dev/null', str(script.path)])

    def find_submission_command(self, user: str) -> Optional[List[str]]:
        """``qstat -f``: every job the server holds (finished ones while ``keep_completed``
        keeps them), with its ``submit_args`` (the script path is enough to tell them
        apart)."""
        return ['qstat', '-f']

    def parse_find_submission(self, result: CommandResult, script: str) -> Optional[str]:
        """The job (or array, ``123[].server``) whose ``submit_args`` end with ``script``
        (text or XML)."""
        check_listing_command(result, 'qstat')
        text = result.stdout
        jobs = parse_xml(text) if text.lstrip().startswith('<') else parse_full_text(text)
        return submitted_from(jobs, 'submit_args', script)

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """``qstat -f`` for all ``native_ids`` at once; elements of arrays are asked for by
        their array, with ``-t``."""
        return ['qstat', '-f', *status_ids(native_ids)]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``qstat`` reported (text, or XML from ``qstat -x``); a job it no longer
        knows is left out."""
        check_listing_command(result, 'qstat')
        text = result.stdout
        jobs = parse_xml(text) if text.lstrip().startswith('<') else parse_full_text(text)
        records: Dict[str, JobRecord] = {}
        for native_id, attributes in jobs.items():
            record = job_record(attributes)
            if not record.state:
                raise StatusCommandError(f'qstat printed job {native_id} without a job_state')
            records[native_id] = record
        return self.statuses_by_requested_id(records, native_ids)


class TorqueJobExecutor(BatchSchedulerExecutor):
    """Runs jobs through Torque (PBS classic); see the module docstring for how a job maps to
    ``qsub`` and how states are read.

    ``native_id`` is Torque's job id (``123.server.domain``). Configure it with a
    `psij.batch.BatchSchedulerExecutorConfig`.
    """

    version = '0.1.0'
    scheduler = Torque()
