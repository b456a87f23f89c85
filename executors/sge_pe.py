"""Grid Engine's parallel environment (PE) of a job of more than one slot, chosen for it.

Grid Engine gives a job more than one slot only through a PE, and the PE's
``allocation_rule`` decides where the slots go: ``$pe_slots`` keeps them all on one host,
``$fill_up`` fills one host then the next, ``$round_robin`` deals them out host by host, a
number N puts exactly N on each host. The PE of a job is, first found:

1. the one it names, ``custom_attributes['sge.pe']``;
2. from `SgeExecutorConfig`: ``single_node_pe`` for a single-node job (``node_count`` 1, or
   one process), ``multi_node_pe`` for a multi-node one (``node_count`` > 1, or more processes
   than ``processes_per_node``), then ``parallel_environment`` for any job; a job that says
   neither (several processes, no node count) takes ``parallel_environment``, then
   ``multi_node_pe``, then ``single_node_pe``;
3. from the scheduler, read once per executor (`discovery_command`, `parse_discovery`): the
   PEs of ``qconf -spl`` (each ``qconf -sp PE``) attached to the job's queue (``pe_list`` of
   ``qconf -sq``; with no queue named, to any queue) with at least the job's slots, best
   first: for a single-node job ``$pe_slots``, else a number equal to its slots; for a
   multi-node one a number equal to its slots per node, then ``$fill_up``, then
   ``$round_robin``, then a number dividing its slots; for a job that says neither, a
   spreading PE first (``$fill_up`` also keeps a small job on one host), then ``$pe_slots``.

The choice and why are in the job's QUEUED status (`JobStatus.metadata`:
``parallel_environment``, ``parallel_environment_reason``; and its message). When no PE fits,
the job is refused (`InvalidJobException`) naming ``sge.pe``, the settings and the PEs found.
User lists (``user_lists``) and host-specific ``pe_list`` entries are not weighed: a PE
attached to a queue for some hosts counts as attached.

The commands and parsers are pure; `ChoosingExecutor` runs them through its transport.
"""

import math
import re
import threading
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

from psij.batch import BatchSchedulerExecutor, CommandResult, ScriptInputs
from psij.exceptions import InvalidJobException, SubmitException
from psij.job_status import JobStatus
from psij.resource_spec import ResourceSpecV1

#: A name Grid Engine accepts for a PE (and a queue).
OBJECT_NAME = re.compile(r'[A-Za-z_.+-][A-Za-z0-9_.+-]*')
SINGLE, MULTI, EITHER = 'single-node', 'multi-node', 'either'
_JOB = {SINGLE: 'a single-node job', MULTI: 'a multi-node job',
        EITHER: 'a job that names no node count'}
_FIELD = "JobAttributes.custom_attributes['sge.pe']"


def setting(field: str, value: Optional[str]) -> Optional[str]:
    """``value`` of `SgeExecutorConfig` ``field``, checked to be a PE name (or None)."""
    if value is not None and not (isinstance(value, str) and OBJECT_NAME.fullmatch(value)):
        raise ValueError(f'SgeExecutorConfig.{field} must be the name of a parallel '
                         f'environment (`qconf -spl` lists them), not {value!r}')
    return value


def named_by_job(attributes: Optional[Dict[str, object]]) -> Optional[str]:
    """The PE a job names itself (``sge.pe``), or None; `InvalidJobException` for a value that
    is not a PE name."""
    value = (attributes or {}).get('sge.pe')
    if value is None or value is False:
        return None
    if not isinstance(value, str) or not OBJECT_NAME.fullmatch(value):
        raise InvalidJobException(
            f'{_FIELD} must be the name of a parallel environment (`qconf -spl` lists them), '
            f'not {value!r}')
    return value


@dataclass(frozen=True)
class ParallelEnvironment:
    """One PE as ``qconf -sp`` shows it."""

    name: str
    slots: int
    allocation_rule: str

    @property
    def per_host(self) -> Optional[int]:
        """N for an allocation rule of exactly N slots per host, else None."""
        return int(self.allocation_rule) if self.allocation_rule.isdigit() else None


@dataclass(frozen=True)
class SitePes:
    """What the scheduler said: its PEs, and per queue the PEs attached to it."""

    environments: Tuple[ParallelEnvironment, ...]
    queues: Dict[str, FrozenSet[str]]

    def describe(self) -> str:
        """The PEs, for an error message."""
        return ', '.join(f'{pe.name} ({pe.allocation_rule}, {pe.slots} slots)'
                         for pe in self.environments) or 'none'


@dataclass(frozen=True)
class Choice:
    """The PE of a job and why (for its metadata)."""

    name: str
    reason: str
    named_by_job: bool = False


def discovery_command() -> List[str]:
    """One argv printing every PE (``qconf -sp`` of each of ``qconf -spl``) then every queue
    (``qconf -sq`` of each of ``qconf -sql``); none defined is an empty list, not an error."""
    script = (
        'pes=$(qconf -spl 2>&1) || case $pes in *"no parallel environment"*) pes= ;; '
        '*) printf "%s\\n" "$pes" >&2; exit 1 ;; esac\n'
        'for pe in $pes; do qconf -sp "$pe" || exit 1; done\n'
        'queues=$(qconf -sql 2>&1) || case $queues in *"no cqueue"*) queues= ;; '
        '*) printf "%s\\n" "$queues" >&2; exit 1 ;; esac\n'
        'for q in $queues; do qconf -sq "$q" || exit 1; done\n')
    return ['sh', '-c', script]


def _records(text: str) -> List[Dict[str, str]]:
    """``key value`` lines as records, a new one at each ``pe_name`` or ``qname``; a line
    ending with a backslash goes on on the next one."""
    records: List[Dict[str, str]] = []
    joined = re.sub(r'\\\n\s*', ' ', text)
    for line in joined.splitlines():
        key, _, value = line.strip().partition(' ')
        if not key:
            continue
        if key in ('pe_name', 'qname'):
            records.append({})
        if records:
            records[-1][key] = value.strip()
    return records


def _pe_list(value: str) -> FrozenSet[str]:
    """The PEs of a ``pe_list`` value: ``a b``, ``a,b``, with ``[host=c d]`` entries."""
    words = re.split(r'[\s,\[\]]+', re.sub(r'[^\s,\[\]]+=', ' ', value))
    return frozenset(word for word in words if word and word != 'NONE')


def parse_discovery(result: CommandResult) -> SitePes:
    """The PEs and queues `discovery_command` printed; `SubmitException` (transient) if it
    failed."""
    if not result.ok:
        raise SubmitException(f'cannot list the parallel environments (qconf -spl, -sp, -sq): '
                              f'{result.describe()}', transient=True)
    environments: List[ParallelEnvironment] = []
    queues: Dict[str, FrozenSet[str]] = {}
    for record in _records(result.stdout):
        if 'pe_name' in record:
            slots = record.get('slots', '0')
            environments.append(ParallelEnvironment(
                record['pe_name'], int(slots) if slots.isdigit() else 0,
                record.get('allocation_rule', '')))
        elif 'qname' in record:
            queues[record['qname']] = _pe_list(record.get('pe_list', 'NONE'))
    return SitePes(tuple(environments), queues)


def shape(resources: ResourceSpecV1) -> str:
    """`SINGLE`, `MULTI` or `EITHER` (the job says nothing of nodes)."""
    if resources.node_count is not None:
        return SINGLE if resources.node_count == 1 else MULTI
    if resources.computed_process_count == 1:
        return SINGLE  # one process: its cores are on one host
    if resources.processes_per_node is not None:
        return SINGLE if resources.computed_node_count == 1 else MULTI
    return EITHER


def _rank(pe: ParallelEnvironment, kind: str, slots: int, per_node: int) -> Optional[int]:
    """How well ``pe`` suits a job of ``kind`` (lower is better; module docstring), None if
    it does not."""
    rule, per_host = pe.allocation_rule, pe.per_host
    if kind == SINGLE:
        if rule == '$pe_slots':
            return 0
        return 1 if per_host == slots else None
    if per_host is not None:
        if kind == MULTI and per_host == per_node:
            return 0
        return 4 if slots % per_host == 0 else None
    spreading = {'$fill_up': 1, '$round_robin': 2}.get(rule)
    if spreading is not None:
        return spreading
    return 3 if kind == EITHER and rule == '$pe_slots' else None


def from_config(kind: str, single: Optional[str], multi: Optional[str],
                default: Optional[str]) -> Optional[Choice]:
    """The configured PE of a job of ``kind`` (module docstring, rule 2), or None."""
    fields = {SINGLE: (('single_node_pe', single), ('parallel_environment', default)),
              MULTI: (('multi_node_pe', multi), ('parallel_environment', default)),
              EITHER: (('parallel_environment', default), ('multi_node_pe', multi),
                       ('single_node_pe', single))}[kind]
    for field, value in fields:
        if value is not None:
            return Choice(value, f'SgeExecutorConfig.{field}, for {_JOB[kind]}')
    return None


def from_site(site: SitePes, kind: str, slots: int, per_node: int,
              queue: Optional[str]) -> Choice:
    """The best PE the scheduler has for the job (module docstring, rule 3);
    `InvalidJobException` naming ``sge.pe`` and the PEs found if none fits."""
    if queue is not None:
        queue = queue.split('@')[0]  # all.q@host: the queue all.q
        attached = site.queues.get(queue, frozenset())
    else:
        attached = frozenset().union(*site.queues.values()) if site.queues else frozenset()
    ranked: List[Tuple[int, int, ParallelEnvironment]] = []
    for position, pe in enumerate(site.environments):
        rank = _rank(pe, kind, slots, per_node)
        if rank is not None and pe.slots >= slots and pe.name in attached:
            ranked.append((rank, position, pe))
    if not ranked:
        where = f'queue {queue}' if queue is not None else 'any queue'
        raise InvalidJobException(
            f'JobSpec.resources asks for {slots} slots ({_JOB[kind]}); Grid Engine gives a job '
            f'more than one slot only through a parallel environment, and none of those found '
            f'fits (attached to {where}, at least {slots} slots, an allocation rule for '
            f'{_JOB[kind]}): {site.describe()}. Set {_FIELD} or SgeExecutorConfig('
            'single_node_pe=..., multi_node_pe=..., parallel_environment=...)')
    pe = min(ranked, key=lambda item: item[:2])[2]
    on = f'attached to {queue}' if queue is not None else 'attached to a queue'
    return Choice(pe.name, f'from qconf: allocation_rule {pe.allocation_rule} suits '
                           f'{_JOB[kind]} of {slots} slots; {pe.slots} slots, {on}')


def slots_of(resources: ResourceSpecV1) -> Tuple[int, int]:
    """The job's slots in all and per node (processes x cpu_cores_per_process)."""
    cores = resources.cpu_cores_per_process or 1
    slots = resources.computed_process_count * cores
    return slots, math.ceil(resources.computed_process_count
                            / resources.computed_node_count) * cores


class ChoosingExecutor(BatchSchedulerExecutor):
    """A batch executor that gives each Grid Engine job its PE (module docstring): the base
    of `SgeJobExecutor`."""

    _site_pes: Optional[SitePes] = None
    _site_lock = threading.Lock()

    def parallel_environment_for(self, inputs: ScriptInputs) -> Optional[Choice]:
        """The PE of the job of ``inputs`` and why; None for a job of one slot."""
        spec = inputs.spec
        resources = spec.resources
        named = named_by_job(spec.attributes.custom_attributes)
        if named is not None:
            return Choice(named, _FIELD, named_by_job=True)
        if not isinstance(resources, ResourceSpecV1):
            return None  # the scheduler refuses it, naming the field
        slots, per_node = slots_of(resources)
        if slots <= 1:
            return None
        kind = shape(resources)
        config = self.batch_config
        configured = from_config(kind, getattr(config, 'single_node_pe', None),
                                 getattr(config, 'multi_node_pe', None),
                                 getattr(config, 'parallel_environment', None))
        if configured is not None:
            return configured
        return from_site(self._site(), kind, slots, per_node, spec.attributes.queue_name)

    def _site(self) -> SitePes:
        """The scheduler's PEs, read once per executor."""
        with self._site_lock:
            if self._site_pes is None:
                result = self.transport.run(discovery_command(),
                                            timeout=self.batch_config.command_timeout)
                self._site_pes = parse_discovery(result)
            return self._site_pes

    def job_script(self, inputs: ScriptInputs) -> str:
        """The script, with the PE chosen for the job."""
        from .sge import GridEngine  # the scheduler's module imports this one
        choice = self.parallel_environment_for(inputs)
        scheduler = self.scheduler
        if choice is not None and not choice.named_by_job and isinstance(scheduler, GridEngine):
            scheduler = GridEngine(choice.name, scheduler.memory_resource, scheduler.user)
        return self.templates.render(scheduler, inputs)

    def queued_status(self, inputs: ScriptInputs) -> JobStatus:
        """QUEUED, with the PE and why in its metadata and message."""
        status = super().queued_status(inputs)
        choice = self.parallel_environment_for(inputs)
        if choice is not None:
            status.metadata = {'parallel_environment': choice.name,
                               'parallel_environment_reason': choice.reason}
            status.message = f'parallel environment {choice.name} ({choice.reason})'
        return status

