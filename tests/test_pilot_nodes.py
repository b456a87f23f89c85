"""Pilot allocations of more than one worker: one worker per node, started by a launcher.

This machine has one node, so a pilot of two nodes is tried with the ``local`` provider:
the allocation is one local job of two processes of Open MPI's mpirun, each a worker with
its own cores (``cores_per_node``), as each node of a batch allocation would have (and the
same with MPICH's mpirun). Then the
one part of the Slurm path that a one-node cluster allows: a worker started by ``srun`` as
a job step (what every node of a multi-node Slurm allocation runs), with a task that is an
``srun`` step of its own inside it. About 20 s in all.
"""

import json
import pathlib
import shlex
import subprocess
import uuid
from typing import Any, Dict, Iterator, List

import pytest
from pilot_checks import task_id, wait_all, wait_for
from pilot_load import load_logging_task, never_oversubscribed, starts
from real_tools import require_command, require_slurm

from psij import Job, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig
from psij.exceptions import InvalidJobException
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor
from psij.pilot.allocations import allocation_spec
from psij.pilot.task_queue import PilotDirectory


def make_pilot(work_dir: pathlib.Path, name: str, **settings: Any) -> PilotJobExecutor:
    values: Dict[str, Any] = dict(executor='local', name=name, nodes=2, cores_per_node=2,
                                  worker_launcher='mpirun', idle_timeout=3,
                                  max_allocations=1, poll_interval=0.1,
                                  work_directory=work_dir)
    values.update(settings)
    return PilotJobExecutor(config=PilotExecutorConfig(**values))


def worker_records(pilot: PilotJobExecutor, key: str) -> List[Dict[str, Any]]:
    directory = pilot.pilot.directory.root / 'workers' / key
    return [json.loads(path.read_text()) for path in sorted(directory.glob('*.json'))]


def worker_of(job: Job) -> str:
    assert job.status.metadata is not None, job.status
    return str(job.status.metadata['worker'])


@pytest.fixture
def logs(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path


@pytest.mark.mpi
@pytest.mark.parametrize('mpirun, task_launcher', [
    # Open MPI's mpirun under Open MPI's: the worker forgets its own rank's runtime
    # (psij.pilot.worker_command.forget_open_mpi_runtime), or the task's refuses to run.
    ('mpirun.openmpi', 'mpirun'), ('mpirun.openmpi', 'multiple'), ('mpirun.mpich', 'mpirun')])
def test_two_workers_of_one_allocation_each_run_tasks_within_their_own_cores(
        work_dir: pathlib.Path, logs: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
        mpirun: str, task_launcher: str) -> None:
    monkeypatch.setenv('PSIJ_MPIRUN', require_command(mpirun))
    pilot = make_pilot(work_dir, 'two')
    root = shlex.quote(str(pilot.pilot.directory.root))
    # The worker's name, from the node file its tasks get (inside its own directory).
    worker = f'${{PSIJ_NODEFILE#{root}/workers/*/}}; w=${{w%%/*}}'
    jobs = [load_logging_task(logs, worker, 2 if index % 3 == 0 else 1, 0.2)
            for index in range(12)]
    # Two processes with a launcher: both within one worker, holding its 2 cores.
    ranks = Job(JobSpec('/bin/sh', ['-c', f'echo "$PSIJ_RANK $PSIJ_NODEFILE" >> {logs}/ranks'],
                        launcher=task_launcher, resources=ResourceSpecV1(process_count=2)))
    for job in [*jobs[:6], ranks, *jobs[6:]]:
        pilot.submit(job)
    wait_all([*jobs, ranks], 40)
    assert all(job.status.state == JobState.COMPLETED for job in jobs)
    assert ranks.status.state == JobState.COMPLETED, ranks.status

    records = pilot.pilot.allocations.records()
    assert len(records) == 1
    key = next(iter(records))
    workers = worker_records(pilot, key)
    assert len(workers) == 2, workers
    assert sorted(str(record['worker']).split('.')[-2] for record in workers) == ['0', '1']
    assert all(record['cores'] == 2 for record in workers)
    names = {str(record['worker']) for record in workers}

    # Each task ran once, on the worker that reported it, and never beyond that
    # worker's 2 cores; both workers ran some.
    logged = {start.task_id: start.worker for start in starts(logs)}
    assert len(starts(logs)) == len(jobs)
    assert {task_id(job): worker_of(job) for job in jobs} == logged
    per_worker = never_oversubscribed(logs, 2)
    assert set(per_worker) == names, per_worker

    # The two-process task: both ranks ran in the one worker that held it.
    lines = sorted((logs / 'ranks').read_text().splitlines())
    assert [line.split()[0] for line in lines] == ['0', '1'], lines
    assert all(f'/workers/{key}/{worker_of(ranks)}/' in line for line in lines), lines

    # The allocation ends once both workers have been idle: its job ends COMPLETED.
    wait_for('the allocation ended', lambda: all(
        record['ended'] is not None for record in pilot.pilot.allocations.records().values()),
        20)
    ended = pilot.pilot.allocations.records()[key]['ended']
    assert ended['state'] == 'COMPLETED', ended
    assert all((pilot.pilot.directory.root / 'workers' / key / f'{name}.exited').exists()
               for name in names)


def test_a_task_is_never_split_across_the_workers_of_an_allocation(
        work_dir: pathlib.Path) -> None:
    # Two workers of 1 core make 2 cores per allocation, but no node has 2.
    pilot = make_pilot(work_dir, 'split', cores_per_node=1)
    with pytest.raises(InvalidJobException, match='cores_per_node'):
        pilot.submit(Job(JobSpec('/bin/true', resources=ResourceSpecV1(
            process_count=1, cpu_cores_per_process=2))))
    assert not pilot.pilot.allocations.records()


def test_the_allocation_spec_of_each_provider_and_launcher(work_dir: pathlib.Path) -> None:
    def spec_for(**settings: Any) -> JobSpec:
        config = PilotExecutorConfig(work_directory=work_dir, **settings)
        return allocation_spec(config, PilotDirectory(config.pilot_directory), 'key')

    local = spec_for(executor='local', nodes=3)
    assert local.launcher == 'mpirun' and local.resources == ResourceSpecV1(process_count=3)
    assert spec_for(executor='local').launcher == 'single'
    one = spec_for(executor='slurm', cores_per_node=2)
    assert one.launcher == 'single' and one.environment is None
    assert one.resources == ResourceSpecV1(node_count=1, processes_per_node=1,
                                           cpu_cores_per_process=2)
    many = spec_for(executor='slurm', nodes=4)
    assert many.launcher == 'srun' and many.environment == {'SLURM_OVERLAP': '1'}
    assert many.resources == ResourceSpecV1(node_count=4, processes_per_node=1,
                                            exclusive_node_use=True)
    assert spec_for(executor='sge', nodes=2).launcher == 'mpirun'
    assert spec_for(executor='slurm', worker_launcher='srun').launcher == 'srun'
    with pytest.raises(ValueError, match=r'worker_launcher must be None or an installed '
                                         r'launcher \(.*mpirun.*srun.*\), not .mpiexec.'):
        PilotExecutorConfig(worker_launcher='mpiexec')


@pytest.fixture
def slurm_name() -> Iterator[str]:
    require_slurm()
    value = f'pn{uuid.uuid4().hex[:8]}'
    yield value
    subprocess.run(['scancel', f'--name=pilot-{value}'], capture_output=True, timeout=30)


def test_on_slurm_the_worker_runs_as_an_srun_step_and_its_srun_tasks_get_steps(
        work_dir: pathlib.Path, slurm_name: str, logs: pathlib.Path) -> None:
    provider = BatchSchedulerExecutorConfig(work_directory=work_dir,
                                            queue_polling_interval=3.0)
    pilot = PilotJobExecutor(config=PilotExecutorConfig(
        executor='slurm', name=slurm_name, nodes=1, worker_launcher='srun', cores_per_node=2,
        idle_timeout=3, max_allocations=1, duration=120, poll_interval=0.1,
        provider_config=provider, work_directory=work_dir))
    line = 'echo "$SLURM_JOB_ID $SLURM_STEP_ID $SLURM_PROCID"'
    direct = Job(JobSpec('/bin/sh', ['-c', f'{line} >> {logs}/direct']))
    # An srun step of two processes inside the worker's step, which holds the allocation's
    # 2 cores: it starts only because the worker's step overlaps (SLURM_OVERLAP).
    stepped = Job(JobSpec('/bin/sh', ['-c', f'{line} >> {logs}/stepped'], launcher='srun',
                          resources=ResourceSpecV1(process_count=2)))
    for job in (direct, stepped):
        pilot.submit(job)
    wait_all([direct, stepped], 60)
    assert direct.status.state == JobState.COMPLETED, direct.status
    assert stepped.status.state == JobState.COMPLETED, stepped.status

    records = pilot.pilot.allocations.records()
    assert len(records) == 1
    key, record = next(iter(records.items()))
    (worker,) = worker_records(pilot, key)
    assert str(worker['worker']).split('.')[-2] == '0'  # its rank, from SLURM_PROCID
    assert worker['job_id'] == record['native_id']
    # The direct task inherits the worker's step: step 0 of the allocation, rank 0.
    assert (logs / 'direct').read_text().split() == [str(record['native_id']), '0', '0']
    ranks = sorted(line.split() for line in (logs / 'stepped').read_text().splitlines())
    assert [rank[0] for rank in ranks] == [str(record['native_id'])] * 2
    assert [rank[2] for rank in ranks] == ['0', '1']
    assert ranks[0][1] == ranks[1][1] != '0'  # a step of its own, beside the worker's
