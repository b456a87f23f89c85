"""Golden batch scripts of the pbs executor, and the errors for values it cannot write.

Each case renders a job script and compares it with ``tests/golden/pbs/<case>.sh``; a diff shows
exactly what a change did to what users submit. After an intended change, regenerate with
``PSIJ_UPDATE_GOLDEN=1 pytest tests/test_pbs_script.py tests/test_torque_script.py`` and review
the diff. The cases are shared with the torque executor (tests/test_torque_script.py).
"""

import pathlib
import subprocess
from datetime import timedelta
from typing import Callable, Dict, Type

import psij.launchers
import pytest
from batch_helpers import GOLDEN_JOB_ID
from batch_helpers import check_golden as compare_with_golden_file
from psij.executors.pbs import PbsJobExecutor

from psij import InvalidJobException, Job, JobAttributes, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig

GOLDEN = pathlib.Path(__file__).parent / 'golden'
WORK = pathlib.Path('/shared/psij work')
LAUNCHERS = str(pathlib.Path(psij.launchers.__file__).parent)


def _minimal() -> JobSpec:
    return JobSpec('/bin/date')


def _resources() -> JobSpec:
    return JobSpec(
        '/opt/app/bin/solver', ['--input', 'mesh.h5'], name='solver run',
        resources=ResourceSpecV1(node_count=2, processes_per_node=4, cpu_cores_per_process=2,
                                 gpu_cores_per_process=1, exclusive_node_use=True,
                                 memory=3 * 1024 ** 3),
        attributes=JobAttributes(duration=timedelta(hours=1, minutes=30, seconds=1),
                                 queue_name='debug', account='proj-42'))


def _processes_only() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=6, memory=10 ** 9),
                   attributes=JobAttributes(duration=timedelta(days=2, seconds=30)))


def _verbatim() -> JobSpec:
    return JobSpec(
        'printf', ['%s\n', 'a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü'],
        name='9 lives', directory='/data/my run', inherit_environment=False,
        environment={'GREETING': "hello 'world' $USER", 'EMPTY': '', 'N': 3},
        stdin_path='/data/in put.txt', stdout_path='out $1.txt', stderr_path='out $1.txt')


def _custom() -> JobSpec:
    return JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'pbs.l.filesystems': 'home:eagle', 'pbs.W.depend': 'afterok:12.server',
        'pbs.m': 'abe', 'pbs.h': True, 'pbs.r': False, 'pbs.P': None,
        'torque.l.nodes': '1:ppn=2:gpus=1', 'torque.W.group_list': 'physics', 'torque.p': 10,
        'slurm.qos': 'ignored', 'other': 1}))


def _reservation() -> JobSpec:
    return JobSpec('/bin/true', attributes=JobAttributes(reservation_id='R123.pbsserver'))


def _mpirun_launcher() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=4),
                   launcher='mpirun', pre_launch='/home/u/pre.sh', post_launch='/home/u/post.sh')


CASES: Dict[str, Callable[[], JobSpec]] = {
    'minimal': _minimal, 'resources': _resources, 'processes_only': _processes_only,
    'verbatim': _verbatim, 'custom_attributes': _custom, 'reservation': _reservation,
    'mpirun_launcher': _mpirun_launcher,
}


def render(executor_class: Type[BatchSchedulerExecutor], spec: JobSpec,
           work: pathlib.Path = WORK) -> str:
    """The script ``executor_class`` would submit for ``spec`` (fixed job id and paths)."""
    executor = executor_class(config=BatchSchedulerExecutorConfig(work_directory=work))
    job = Job(spec)
    job._id = GOLDEN_JOB_ID  # file names in the script use it
    return executor.generate_script(job).replace(LAUNCHERS, '<LAUNCHERS>')


def check_golden(executor_class: Type[BatchSchedulerExecutor], case: str) -> None:
    """Compare the script of ``case`` with its golden file (or rewrite it, see above)."""
    script = render(executor_class, CASES[case]())
    path = GOLDEN / executor_class.name / f'{case}.sh'
    compare_with_golden_file(script, path, case)


def check_valid_bash(executor_class: Type[BatchSchedulerExecutor]) -> None:
    """Every case's script parses as bash."""
    for case, make in CASES.items():
        checked = subprocess.run(['bash', '-n'], input=render(executor_class, make()).encode(),
                                 capture_output=True)
        assert checked.returncode == 0, (case, checked.stderr)


@pytest.mark.parametrize('case', sorted(CASES))
def test_golden_script(case: str) -> None:
    check_golden(PbsJobExecutor, case)


def test_golden_scripts_are_valid_bash() -> None:
    check_valid_bash(PbsJobExecutor)


def test_select_statements() -> None:
    def lines(**resources: object) -> 'list[str]':
        script = render(PbsJobExecutor, JobSpec('/bin/true', resources=ResourceSpecV1(
            **resources)))  # type: ignore[arg-type]
        return [line for line in script.splitlines() if line.startswith('#PBS -l ')][1:]

    assert lines() == ['#PBS -l select=1:ncpus=1:mpiprocs=1']
    assert lines(process_count=6, node_count=2) == ['#PBS -l select=2:ncpus=3:mpiprocs=3',
                                                    '#PBS -l place=scatter']
    assert lines(process_count=3, cpu_cores_per_process=4, exclusive_node_use=True) == [
        '#PBS -l select=3:ncpus=4:mpiprocs=1', '#PBS -l place=excl']
    assert lines(processes_per_node=2, memory=1) == ['#PBS -l select=1:ncpus=2:mpiprocs=2:mem=1mb',
                                                     '#PBS -l place=scatter']


@pytest.mark.parametrize('spec, field', [
    (JobSpec('/bin/true', attributes=JobAttributes(queue_name='two words')),
     'JobAttributes.queue_name'),
    (JobSpec('/bin/true', attributes=JobAttributes(account='a#b')), 'JobAttributes.account'),
    (JobSpec('/bin/true', attributes=JobAttributes(queue_name='debug',
                                                   reservation_id='R7.server')),
     'JobAttributes.reservation_id'),
    (JobSpec('/bin/true', environment={'BAD-NAME': 'x'}), 'JobSpec.environment'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'pbs.o': 'x'})),
     'JobSpec.stdout_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'pbs.l.mem': '1 gb'})),
     "custom_attributes['pbs.l.mem']"),
])
def test_values_that_cannot_be_written_name_their_field(spec: JobSpec, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        render(PbsJobExecutor, spec)
    assert field in str(raised.value)


def test_work_directory_with_a_line_break_is_refused() -> None:
    with pytest.raises(InvalidJobException, match='work directory'):
        render(PbsJobExecutor, JobSpec('/bin/true'), work=pathlib.Path('/tmp/a\nb'))
