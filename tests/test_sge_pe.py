"""Grid Engine's parallel environment chosen for a job (`executors.sge_pe`): the parsers on
captured ``qconf`` output (tests/fixtures/sge/README.md), the choice as pure functions, and
real jobs on the Grid Engine of .ci/lrm/sge-up.sh (PEs ``smp``: ``$pe_slots``, ``mpi``:
``$fill_up``, both attached to ``all.q``) that get their PE from the scheduler and COMPLETE."""

import pathlib
import subprocess
from typing import List, Optional, Sequence

import pytest
from batch_helpers import final_status, wait_until
from psij.executors import sge_pe
from psij.executors.sge import SgeExecutorConfig, SgeJobExecutor
from psij.executors.sge_pe import EITHER, MULTI, SINGLE, ParallelEnvironment, SitePes
from real_tools import require_sge

from psij import (
    InvalidJobException,
    Job,
    JobAttributes,
    JobSpec,
    JobState,
    JobStatus,
    ResourceSpecV1,
)
from psij.exceptions import SubmitException
from psij.transport import CommandResult, LocalTransport

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'sge'


def captured(name: str) -> CommandResult:
    return CommandResult(['sh'], 0, (FIXTURES / f'{name}.txt').read_text(), '')


SITE = sge_pe.parse_discovery(captured('qconf-pe-discovery'))


# --- parsers -------------------------------------------------------------------------------

def test_the_captured_pes_and_queues() -> None:
    assert SITE.environments == (ParallelEnvironment('mpi', 999, '$fill_up'),
                                 ParallelEnvironment('smp', 999, '$pe_slots'))
    assert SITE.queues == {'all.q': frozenset({'smp', 'mpi'}),
                           'short.q': frozenset({'smp', 'mpi'})}


def test_a_failed_discovery_is_transient() -> None:
    with pytest.raises(SubmitException) as raised:
        sge_pe.parse_discovery(CommandResult(['sh'], 1, '', 'error: commlib error'))
    assert raised.value.transient and 'commlib' in str(raised.value)


def test_continued_lines_and_host_specific_pe_lists() -> None:
    # qconf's format: long values go on after a trailing backslash; pe_list entries may be
    # per host or host group ([host=pe pe]).
    text = ('qname  long.q\npe_list  make,[vm1=smp mpi],\\\n     [@gpu=gpupe]\n'
            'qname  none.q\npe_list  NONE\n')
    site = sge_pe.parse_discovery(CommandResult(['sh'], 0, text, ''))
    assert site.queues == {'long.q': frozenset({'make', 'smp', 'mpi', 'gpupe'}),
                           'none.q': frozenset()}


# --- the choice ----------------------------------------------------------------------------

@pytest.mark.parametrize('resources, kind', [
    (ResourceSpecV1(node_count=1, process_count=4), SINGLE),
    (ResourceSpecV1(cpu_cores_per_process=4), SINGLE),
    (ResourceSpecV1(process_count=4, processes_per_node=4), SINGLE),
    (ResourceSpecV1(node_count=2), MULTI),
    (ResourceSpecV1(process_count=4, processes_per_node=2), MULTI),
    (ResourceSpecV1(process_count=4), EITHER),
])
def test_the_shape_of_a_job(resources: ResourceSpecV1, kind: str) -> None:
    assert sge_pe.shape(resources) == kind


def test_the_config_comes_before_the_scheduler_specific_before_general() -> None:
    assert sge_pe.from_config(SINGLE, 'one', 'many', 'any') == sge_pe.Choice(
        'one', 'SgeExecutorConfig.single_node_pe, for a single-node job')
    assert sge_pe.from_config(MULTI, 'one', 'many', 'any').name == 'many'  # type: ignore
    assert sge_pe.from_config(MULTI, 'one', None, 'any').name == 'any'  # type: ignore
    assert sge_pe.from_config(EITHER, 'one', 'many', None).name == 'many'  # type: ignore
    assert sge_pe.from_config(EITHER, 'one', 'many', 'any').name == 'any'  # type: ignore
    assert sge_pe.from_config(SINGLE, None, 'many', None) is None


def test_the_scheduler_pe_that_suits_the_job() -> None:
    assert sge_pe.from_site(SITE, SINGLE, 4, 4, None).name == 'smp'
    assert sge_pe.from_site(SITE, MULTI, 4, 2, None).name == 'mpi'
    assert sge_pe.from_site(SITE, EITHER, 4, 4, 'all.q@vm').name == 'mpi'
    reason = sge_pe.from_site(SITE, SINGLE, 4, 4, 'all.q').reason
    assert '$pe_slots' in reason and 'all.q' in reason


def test_a_pe_of_exactly_the_slots_per_node_wins_for_a_multi_node_job() -> None:
    site = SitePes((ParallelEnvironment('fill', 99, '$fill_up'),
                    ParallelEnvironment('two', 99, '2'), ParallelEnvironment('four', 99, '4'),
                    ParallelEnvironment('rr', 99, '$round_robin')),
                   {'q': frozenset({'fill', 'two', 'four', 'rr'})})
    assert sge_pe.from_site(site, MULTI, 8, 4, None).name == 'four'
    assert sge_pe.from_site(site, MULTI, 9, 3, None).name == 'fill'
    assert sge_pe.from_site(site, SINGLE, 2, 2, None).name == 'two'
    with pytest.raises(InvalidJobException):
        sge_pe.from_site(site, SINGLE, 3, 3, None)  # no $pe_slots, no rule of 3


@pytest.mark.parametrize('kind, slots, queue', [
    (SINGLE, 1000, None),  # more slots than any PE has
    (SINGLE, 4, 'other.q'),  # no PE attached to the queue
])
def test_no_pe_fits_names_sge_pe_and_the_pes_found(kind: str, slots: int,
                                                   queue: Optional[str]) -> None:
    with pytest.raises(InvalidJobException) as raised:
        sge_pe.from_site(SITE, kind, slots, slots, queue)
    message = str(raised.value)
    assert "custom_attributes['sge.pe']" in message and 'single_node_pe' in message
    assert 'mpi ($fill_up, 999 slots), smp ($pe_slots, 999 slots)' in message
    assert f'{slots} slots' in message


@pytest.mark.parametrize('field', ['single_node_pe', 'multi_node_pe', 'parallel_environment'])
def test_a_bad_pe_setting_names_its_field(field: str) -> None:
    with pytest.raises(ValueError, match=f'SgeExecutorConfig.{field} must be the name'):
        SgeExecutorConfig(**{field: 'two words'})


def test_configured_pes_are_used_without_asking_the_scheduler(tmp_path: pathlib.Path) -> None:
    transport = _CountingTransport()
    executor = SgeJobExecutor(config=SgeExecutorConfig(
        work_directory=tmp_path, single_node_pe='smp', multi_node_pe='mpi'),
        transport=transport)
    single = executor.generate_script(Job(JobSpec('/bin/true', resources=ResourceSpecV1(
        node_count=1, process_count=3))))
    multi = executor.generate_script(Job(JobSpec('/bin/true', resources=ResourceSpecV1(
        node_count=2, process_count=4))))
    assert '#$ -pe smp 3\n' in single and '#$ -pe mpi 4\n' in multi
    assert transport.discoveries == 0


# --- real Grid Engine ----------------------------------------------------------------------

class _CountingTransport(LocalTransport):
    """This machine's commands, counting the PE discoveries among them."""

    def __init__(self) -> None:
        super().__init__()
        self.discoveries = 0

    def run(self, argv: Sequence[str], stdin: Optional[str] = None,
            timeout: float = 60.0) -> CommandResult:
        if list(argv) == sge_pe.discovery_command():
            self.discoveries += 1
        return super().run(argv, stdin, timeout)


def _granted_pe(native_id: str) -> str:
    def said() -> str:
        result = subprocess.run(['qacct', '-j', native_id], capture_output=True, text=True,
                                timeout=30)
        lines = [line.split() for line in result.stdout.splitlines()]
        return next((words[1] for words in lines if words[:1] == ['granted_pe']), '')
    wait_until(lambda: bool(said()), f'accounting of job {native_id}')
    return said()


def test_real_jobs_get_the_pe_the_scheduler_suits_and_complete(tmp_path: pathlib.Path) -> None:
    require_sge()
    transport = _CountingTransport()
    executor = SgeJobExecutor(config=SgeExecutorConfig(
        work_directory=tmp_path / 'work', queue_polling_interval=5.0), transport=transport)
    jobs = {'smp': Job(JobSpec('/bin/true', resources=ResourceSpecV1(
                node_count=1, process_count=2))),
            'mpi': Job(JobSpec('/bin/true', resources=ResourceSpecV1(
                process_count=4, processes_per_node=2)))}
    queued: List[JobStatus] = []
    for job in jobs.values():
        job.set_job_status_callback(
            lambda _job, status: queued.append(status) if status.state == JobState.QUEUED
            else None)
        executor.submit(job)
    for pe, job in jobs.items():
        status = final_status(job, timeout=120)
        assert status.state == JobState.COMPLETED and status.exit_code == 0, status
        assert job.native_id is not None and _granted_pe(job.native_id) == pe
    assert [(status.metadata or {}).get('parallel_environment') for status in queued] == [
        'smp', 'mpi']
    reason = str((queued[0].metadata or {})['parallel_environment_reason'])
    assert '$pe_slots' in reason and 'single-node' in reason
    assert transport.discoveries == 1  # read once per executor


def test_a_real_job_no_pe_fits_is_refused_naming_them(tmp_path: pathlib.Path) -> None:
    require_sge()
    executor = SgeJobExecutor(config=SgeExecutorConfig(work_directory=tmp_path))
    job = Job(JobSpec('/bin/true', resources=ResourceSpecV1(process_count=1000),
                      attributes=JobAttributes(queue_name='all.q')))
    with pytest.raises(InvalidJobException) as raised:
        executor.submit(job)
    message = str(raised.value)
    assert "custom_attributes['sge.pe']" in message
    assert 'mpi ($fill_up, 999 slots)' in message and 'smp ($pe_slots, 999 slots)' in message
