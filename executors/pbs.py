"""The PBS Professional / OpenPBS executor (``pbs``, also ``pbspro`` and ``openpbs``).

`PbsPro` holds everything specific to PBS Professional as pure functions (its ``#PBS`` lines,
``qstat -f -F json -x`` and how to read it); what it shares with Torque (``qsub``, ``qdel``,
``qselect``, custom attributes, exit statuses) is in `executors.pbs_common`.
`PbsJobExecutor` is the batch base class bound to it.

How the job maps to ``qsub``:

==========================================  ==============================================
``JobSpec.name`` (else the executable)      ``-N`` (unsafe characters become ``_``; starts
                                            with a letter; at most 64 characters)
``JobAttributes.duration``                  ``-l walltime=HH:MM:SS``
``JobAttributes.queue_name``                ``-q``
``JobAttributes.reservation_id``            ``-q`` with the reservation's queue (``R123`` of
                                            ``R123.server``): PBS runs reservations as queues
``JobAttributes.account``                   ``-A``
``ResourceSpecV1`` with ``node_count`` or   ``-l select=N:ncpus=C:mpiprocs=P`` with N nodes,
``processes_per_node``                      P processes per node, C = P * cores per process,
                                            and ``-l place=scatter`` (one chunk per node)
``ResourceSpecV1`` with ``process_count``   ``-l select=N:ncpus=C:mpiprocs=1``: one chunk per
only                                        process, placed where PBS likes
``ResourceSpecV1.gpu_cores_per_process``    ``:ngpus=`` (per chunk: P * GPUs per process)
``ResourceSpecV1.memory`` (whole job)       ``:mem=`` per chunk, in MiB rounded up
``ResourceSpecV1.exclusive_node_use``       ``-l place=scatter:excl`` (or ``place=excl``)
``JobSpec.environment``, ``directory``,     set by the script itself, so that every value
``stdin_path``/``stdout_path``/             reaches the job verbatim; without a directory
``stderr_path``                             the job starts in the submission directory
``JobSpec.inherit_environment``             not used: jobs start from the user's login
                                            environment plus ``JobSpec.environment`` (no
                                            ``-V``: see below)
``custom_attributes['pbs.…']``              see `executors.pbs_common`
a `psij.JobArray` of N elements             ``-J 0-N-1``, ``%T`` with a throttle T (PBS 2020.1
                                            and later: ``max_run_subjobs``); N = 1: a plain
                                            job, as ``-J`` takes two indices at least
``Job.depends_on``                          ``-W depend=afterok:ID:ID,afterany:ID``
==========================================  ==============================================

Arrays: qsub prints the array id ``123[].server``; element i is the subjob ``123[i].server``
(``PBS_JOBID`` in its script, ``PBS_ARRAY_INDEX`` its index), and one ``qstat -t`` asks for
every subjob of the arrays. ``-J`` takes at most the server's ``max_array_size`` subjobs
(``qstat -B -f``; 10000 when unset): a longer array is split. A subjob that has not run, or has
ended and left no job of its own, is shown by qstat with its array's attributes and a comment
``Subjob finished``, ``Subjob failed`` or ``Subjob terminated``: only its state and that comment
are its own (openpbs ``status_subjob``), so its exit code comes from its marker.

Dependencies: PBS Professional refuses a dependency on one subjob (openpbs ``depend_on_que``
answers PBSE_IVALREQ): a job that waits for every element of an array (or of one of its native
arrays) names the array, ``123[].server``, which PBS counts as ended (``afterany``) when all its
subjobs ended and as completed (``afterok``) when all exited 0; a job that waits for only some
elements is held by psij until they end. PBS deletes a job whose ``afterok`` predecessor failed
(``Job deleted as result of dependency on job ...``); psij ends it FAILED naming the
predecessor before PBS says so.

No ``-V``: it copies the whole submitting environment into the job's ``Variable_List``, which
``qstat -F json`` prints and several PBS releases escape wrongly (openpbs #2541, #2049, #1255),
making the status of every job unreadable.

Final states (``F``, with ``qstat -x``): ``Exit_status`` 0 → COMPLETED; 1-255 → FAILED with
that exit code; 256 + N → FAILED, killed by signal N; -29 (or a signal once the walltime
used reached the limit) → FAILED, "walltime limit of H:MM:SS reached"; other negative values
→ FAILED with PBS's reason; substate 91 (deleted with ``qdel``) → CANCELED. Finished jobs stay
visible only while the server keeps job history (``job_history_enable``); without it a job
that leaves the queue without an exit-code marker ends FAILED with an unknown outcome.
"""

import json
import re
from typing import ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence

from psij.batch import (
    SCRIPT_OUTPUT,
    BatchSchedulerExecutor,
    CommandResult,
    ElementNames,
    SchedulerStatus,
    ScriptInputs,
    StatusCommandError,
    clock_seconds,
    mebibytes,
    require_resource_spec,
    shell_quote,
)
from psij.exceptions import InvalidJobException
from psij.job import Job

from .pbs_common import (
    DIRECTIVES,
    JobRecord,
    PbsFamilyScheduler,
    array_id,
    as_int,
    check_listing_command,
    depend_value,
    status_ids,
    whole_arrays,
)
from .pbs_submission import submitted_from

#: PBS's substate of a job deleted with qdel (JOB_SUBSTATE_TERMINATED).
SUBSTATE_TERMINATED = 91
#: The comments of a subjob record made from its array's attributes (openpbs status_subjob).
SUBJOB_COMMENTS = ('Subjob finished', 'Subjob failed', 'Subjob terminated')

#: Why PBS could not run a job: negative ``Exit_status`` values (PBS Professional
#: Administrator's Guide, "Job Exit Status Codes"; JOB_EXEC_* in OpenPBS).
PBS_EXIT_REASONS: Mapping[int, str] = {
    -1: 'the job could not be started (before its files were staged in)',
    -2: 'the job could not be started (after its files were staged in)',
    -3: 'the job could not be started; PBS retries it',
    -4: 'the job was aborted when its execution host (MoM) started',
    -5: 'the job was aborted when its execution host (MoM) started (checkpointed)',
    -6: 'the job was aborted when its execution host (MoM) started (checkpointed)',
    -7: 'the job could not be restarted from its checkpoint',
    -10: 'the job\'s user or group is not valid on the execution host',
    -11: 'the job was rerun',
    -12: 'the job was checkpointed and killed',
    -13: 'the job failed for a bad password',
    -14: 'the job was requeued or deleted after a failure between its execution hosts',
    -15: 'the job was requeued to restart from its checkpoint',
    -16: 'a hook rejected the job; it is requeued',
    -17: 'a hook rejected the job; it is deleted',
    -18: 'a hook requeued the job',
    -19: 'a hook deleted the job',
    -20: 'the job was requeued: the server could not reach its execution host (MoM)',
    -21: 'the job failed a security check of the PBS directories',
    -22: 'a hook failed or timed out',
    -23: 'the job has no Kerberos credentials',
    -24: 'the job used more CPUs than it was given (burst)',
    -25: 'the job used more CPUs than it was given (sum)',
    -26: 'the job used more virtual memory than it was given (vmem)',
    -27: 'the job used more memory than it was given (mem)',
    -28: 'the job used more CPU time than it was given (cput)',
    -30: 'the job could not be started on all its hosts (join error)',
}


def load_qstat_json(text: str) -> Dict[str, object]:
    """The object ``qstat -F json`` printed, read leniently.

    Several PBS releases print invalid JSON for some values (a stray backslash before ``'``
    or ``,``, openpbs #2049; bare numbers with leading zeros, #1255): those are repaired the
    way later releases print them. Raises `StatusCommandError` if it still cannot be read.
    """
    if not text.strip():
        return {}
    try:
        loaded = json.loads(text, strict=False)
    except ValueError:
        repaired = re.sub(r'\\(.)', _repair_escape, text, flags=re.DOTALL)
        repaired = re.sub(r'(:\s*)(-?0\d+)(\s*[,}\]])', r'\1"\2"\3', repaired)
        try:
            loaded = json.loads(repaired, strict=False)
        except ValueError as error:
            raise StatusCommandError(f'qstat printed JSON that cannot be read ({error}): '
                                     f'{text.strip()[:200]!r}') from None
    if not isinstance(loaded, dict):
        raise StatusCommandError(f'qstat printed JSON that is not an object: {text[:200]!r}')
    return loaded


def _repair_escape(match: 're.Match[str]') -> str:
    character = match.group(1)
    return match.group(0) if character in '"\\/bfnrtu' else character


def _nested(attributes: Mapping[str, object], group: str, name: str) -> Optional[str]:
    """``attributes[group][name]`` as text (qstat -F json nests ``Resource_List``...)."""
    inner = attributes.get(group)
    if isinstance(inner, dict):
        value = inner.get(name)
        return None if value is None else str(value)
    return None


def _text(value: object) -> Optional[str]:
    return None if value is None else str(value)


def job_record(attributes: Mapping[str, object], native_id: str = '') -> JobRecord:
    """What one job's ``qstat -f -F json`` attributes say, in `JobRecord` terms; for a subjob
    record made from its array's attributes, only the state and the comment (see the module
    docstring)."""
    comment = _text(attributes.get('comment'))
    borrowed = array_id(native_id) is not None and comment in SUBJOB_COMMENTS
    return JobRecord(
        state=str(attributes.get('job_state', '')),
        exit_status=None if borrowed else as_int(attributes.get('Exit_status')),
        ran=(borrowed and comment != 'Subjob terminated') or any(
            key in attributes for key in ('exec_host', 'stime')),
        deleted=comment == 'Subjob terminated' if borrowed else
        as_int(attributes.get('substate')) == SUBSTATE_TERMINATED,
        walltime_limit=clock_seconds(_nested(attributes, 'Resource_List', 'walltime')),
        walltime_used=clock_seconds(_nested(attributes, 'resources_used', 'walltime')),
        comment=comment,
    )


def waits_whole(job: Job, predecessor: Job) -> bool:
    """False if ``predecessor`` is a subjob whose array ``job`` does not wait for whole (which
    PBS cannot wait for: see the module docstring)."""
    array = array_id(predecessor.native_id or '')
    return array is None or any(
        array in whole_arrays(job, dependency.condition) for dependency in job.dependencies
        if any(other is predecessor for other in dependency.jobs))


class PbsPro(PbsFamilyScheduler):
    """PBS Professional's scripts, commands and output formats (pure functions)."""

    name = 'pbs'
    label: ClassVar[str] = 'PBS'
    custom_prefix: ClassVar[str] = 'pbs'
    internal_exit_reasons: ClassVar[Mapping[int, str]] = PBS_EXIT_REASONS
    walltime_exit_statuses: ClassVar[FrozenSet[int]] = frozenset({-29})
    element_names = ElementNames('"${PBS_JOBID}"', 'PBS_ARRAY_INDEX', 0)
    queue_limits_module = 'psij.executors.pbs_queues'
    #: PBS_MAX_ARRAY_JOB_DFL: the limit of a server without ``max_array_size``.
    max_array_size = 10000

    def script_context(self, inputs: ScriptInputs) -> Dict[str, object]:
        """The values of ``pbs.mustache``; see the module docstring for the mapping."""
        context = self.common_context(inputs)
        spec = inputs.spec
        resources = require_resource_spec(spec, self.name)
        reservation = spec.attributes.reservation_id
        if reservation:
            queue = DIRECTIVES.value(reservation.split('.', 1)[0],
                                    'JobAttributes.reservation_id')
            if context['queue'] not in (None, queue):
                raise InvalidJobException(
                    f'JobAttributes.reservation_id {reservation!r} and JobAttributes.queue_name '
                    f'{spec.attributes.queue_name!r} disagree: PBS runs a reservation\'s jobs '
                    f'in its queue ({queue}); give only one of them')
            context['queue'] = queue
        by_node = resources.node_count is not None or resources.processes_per_node is not None
        chunks = resources.computed_node_count if by_node else resources.computed_process_count
        per_chunk = resources.computed_processes_per_node if by_node else 1
        select = (f'{chunks}:ncpus={per_chunk * (resources.cpu_cores_per_process or 1)}'
                  f':mpiprocs={per_chunk}')
        if resources.gpu_cores_per_process:
            select += f':ngpus={per_chunk * resources.gpu_cores_per_process}'
        if resources.memory:
            select += f':mem={mebibytes(resources.memory, chunks)}mb'
        place = 'scatter' if by_node else None
        if resources.exclusive_node_use:
            place = f'{place}:excl' if place else 'excl'
        array = inputs.array
        context.update({
            'select': select,
            'place': place,
            'array': None if array is None or array.count == 1 else
            f'0-{array.count - 1}' + (f'%{array.throttle}' if array.throttle else ''),
            'lone_element': array is not None and array.count == 1,
            'depend': self._depend(inputs),
            'script_output': shell_quote(str(inputs.marker_directory)) +
            f'/"${{PBS_JOBID}}{SCRIPT_OUTPUT}"',
        })
        return context

    @staticmethod
    def _depend(inputs: ScriptInputs) -> Optional[str]:
        for dependency in inputs.dependencies:
            whole = whole_arrays(inputs.job, dependency.condition)
            for native_id in dependency.native_ids:
                array = array_id(native_id)
                if array is not None and array not in whole:
                    raise InvalidJobException(
                        f'Job.dependencies: PBS cannot make a job wait for one subjob '
                        f'({native_id}), only for a whole array ({array}); submit the job '
                        'with the executor, which holds it until the subjob ends')
        return depend_value(inputs.job, inputs.dependencies)

    def find_submission_command(self, user: str) -> Optional[List[str]]:
        """``qstat -f -F json -x``: every job the server holds or keeps in its history, with
        its ``Submit_arguments`` (``qstat -f`` takes no user; the script path is enough)."""
        return ['qstat', '-f', '-F', 'json', '-x']

    def parse_find_submission(self, result: CommandResult, script: str) -> Optional[str]:
        """The job (or array, ``123[].server``) whose ``Submit_arguments`` end with
        ``script``."""
        check_listing_command(result, 'qstat')
        jobs = load_qstat_json(result.stdout).get('Jobs', {})
        if not isinstance(jobs, dict):
            raise StatusCommandError(f'qstat printed JSON whose "Jobs" is not an object: '
                                     f'{result.stdout.strip()[:200]!r}')
        return submitted_from({str(key): value for key, value in jobs.items()
                               if isinstance(value, dict)}, 'Submit_arguments', script)

    def status_command(self, native_ids: Sequence[str]) -> List[str]:
        """``qstat -f -F json -x`` for all ``native_ids`` at once, finished jobs included;
        subjobs are asked for by their array, with ``-t``."""
        return ['qstat', '-f', '-F', 'json', '-x', *status_ids(native_ids)]

    def parse_status_output(self, result: CommandResult,
                            native_ids: Sequence[str]) -> Dict[str, SchedulerStatus]:
        """The jobs ``qstat`` reported; a job it no longer knows is left out."""
        check_listing_command(result, 'qstat')
        document = load_qstat_json(result.stdout)
        jobs = document.get('Jobs', {})
        if not isinstance(jobs, dict) or not all(
                isinstance(attributes, dict) for attributes in jobs.values()):
            raise StatusCommandError(f'qstat printed JSON whose "Jobs" are not objects: '
                                     f'{result.stdout.strip()[:200]!r}')
        records = {str(native_id): job_record(attributes, str(native_id))
                   for native_id, attributes in jobs.items()}
        for native_id, record in records.items():
            if not record.state:
                raise StatusCommandError(f'qstat printed job {native_id} without a job_state')
        return self.statuses_by_requested_id(records, native_ids)


class PbsJobExecutor(BatchSchedulerExecutor):
    """Runs jobs through PBS Professional / OpenPBS; see the module docstring for how a job
    maps to ``qsub`` and how states are read.

    ``native_id`` is PBS's job id (``123.server``). Configure it with a
    `psij.batch.BatchSchedulerExecutorConfig`.
    """

    version = '0.1.0'
    scheduler = PbsPro()

    def _waits_natively_for(self, job: Job, predecessor: Job) -> bool:
        """As for every batch executor, except for a subjob whose array ``job`` does not wait
        for whole: psij holds ``job`` until it ends (PBS cannot wait for one subjob)."""
        return super()._waits_natively_for(job, predecessor) and waits_whole(job, predecessor)
