"""The parsers of the queues' limits, on output captured from the real Slurm and Grid Engine
and on PBS, Torque and LSF outputs in their documented formats (tests/fixtures/queue_limits/
README.md says where each came from)."""

import pathlib
from datetime import timedelta

import pytest
from psij.executors.lsf import Lsf
from psij.executors.pbs import PbsPro
from psij.executors.sge import GridEngine
from psij.executors.slurm import Slurm
from psij.executors.torque import Torque

from psij.batch import BatchScheduler
from psij.batch.scheduler import StatusCommandError
from psij.queue_limits import QueueLimits
from psij.transport import CommandResult

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'queue_limits'


def captured(scheduler: BatchScheduler, name: str) -> CommandResult:
    command = scheduler.queue_limits_command()
    assert command is not None
    return CommandResult(command, 0, (FIXTURES / f'{name}.txt').read_text(), '')


def test_slurm_partitions_captured_from_the_ci_cluster() -> None:
    queues = Slurm().parse_queue_limits(captured(Slurm(), 'slurm-partitions'))
    assert queues.default_queue == 'debug'
    assert queues.limits == {
        'debug': QueueLimits(),
        'short': QueueLimits(max_nodes=1, max_duration=timedelta(minutes=5))}


def test_slurm_per_node_limits_are_times_the_most_nodes() -> None:
    line = ('PartitionName=big Default=NO MaxNodes=4 MinNodes=2 MaxTime=1-00:00:00 '
            'MaxCPUsPerNode=32 MaxMemPerNode=1024 TotalNodes=10 State=UP\n'
            'PartitionName=wide MaxNodes=UNLIMITED MinNodes=1 MaxTime=INFINITE '
            'MaxCPUsPerNode=8 TotalNodes=3\n')
    queues = Slurm().parse_queue_limits(CommandResult(['scontrol'], 0, line, ''))
    assert queues.default_queue is None
    assert queues.limits['big'] == QueueLimits(
        min_nodes=2, max_nodes=4, max_cores=128, max_memory=4 * 1024 ** 3,
        max_duration=timedelta(days=1))
    assert queues.limits['wide'] == QueueLimits(max_cores=24)


def test_sge_queues_captured_from_the_ci_grid_engine() -> None:
    queues = GridEngine().parse_queue_limits(captured(GridEngine(), 'sge-queues'))
    assert queues.default_queue is None
    assert queues.limits == {'all.q': QueueLimits(),
                             'short.q': QueueLimits(max_duration=timedelta(minutes=5))}


def test_sge_host_overrides_take_the_longest_and_infinity_is_none() -> None:
    text = ('qname a.q\nh_rt 00:05:00,[vm=1:00:00],\\\n   [@big=2:00:00]\nslots 1\n'
            'qname b.q\nh_rt 600,[vm=INFINITY]\n')
    queues = GridEngine().parse_queue_limits(CommandResult(['qconf'], 0, text, ''))
    assert queues.limits['a.q'].max_duration == timedelta(hours=2)
    assert queues.limits['b.q'].max_duration is None


def test_pbs_pro_queues() -> None:
    queues = PbsPro().parse_queue_limits(captured(PbsPro(), 'pbs-qstat-Qf'))
    assert queues.limits == {
        'workq': QueueLimits(max_nodes=4, max_cores=128, max_memory=512 * 1024 ** 3,
                             max_duration=timedelta(hours=24)),
        'gpu': QueueLimits(min_nodes=2, max_gpus=8, min_duration=timedelta(minutes=10),
                           max_duration=timedelta(hours=336)),
        'routing': QueueLimits()}


def test_torque_queues() -> None:
    queues = Torque().parse_queue_limits(captured(Torque(), 'torque-qstat-Qf'))
    assert queues.limits == {'batch': QueueLimits(max_nodes=2, max_cores=16,
                                                  max_duration=timedelta(hours=4))}


def test_lsf_queues_maximum_limits_and_side_by_side_columns() -> None:
    queues = Lsf().parse_queue_limits(captured(Lsf(), 'lsf-bqueues-l'))
    assert queues.limits == {
        # DEFAULT LIMITS' 60 minutes are what a job gets, not a limit.
        'normal': QueueLimits(max_cores=16, max_memory=64 * 1024 ** 3,
                              max_duration=timedelta(minutes=720)),
        'short': QueueLimits(max_cores=8, max_memory=8 * 1024 ** 3,
                             max_duration=timedelta(minutes=15)),
        'nolimits': QueueLimits()}


@pytest.mark.parametrize('scheduler', [Slurm(), GridEngine(), PbsPro(), Torque(), Lsf()],
                         ids=lambda scheduler: scheduler.name)
def test_a_failed_or_garbled_command_is_a_status_command_error(
        scheduler: BatchScheduler) -> None:
    command = scheduler.queue_limits_command()
    assert command is not None
    with pytest.raises(StatusCommandError, match='Unable to contact'):
        scheduler.parse_queue_limits(CommandResult(
            command, 1, '', 'error: Unable to contact the controller\n'))
    with pytest.raises(StatusCommandError, match='not a'):
        scheduler.parse_queue_limits(CommandResult(command, 0, 'garbage=1 x\n', ''))


def test_slurms_torque_wrapper_lists_the_partitions_without_limits() -> None:
    # Torque's executor over Slurm's qstat wrapper (tests/test_torque_slurm_wrappers.py):
    # tab-indented attributes, no resources_max: both partitions, nothing to refuse.
    queues = Torque().parse_queue_limits(captured(Torque(), 'slurm-torque-wrapper-qstat-Qf'))
    assert queues.limits == {'debug': QueueLimits(), 'short': QueueLimits()}
