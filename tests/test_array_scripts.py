"""Golden job scripts of an array with dependencies for PBS Pro, Torque and LSF (Slurm's and
Grid Engine's are in their own script tests).

Each case renders the first element's script of an array of 50 (at most 5 at once) that runs
after one job COMPLETED and after one element of another array ENDED, and compares it with
``tests/golden/<executor>/array_with_dependencies.sh``. After an intended change, regenerate
with ``PSIJ_UPDATE_GOLDEN=1 pytest tests/test_array_scripts.py`` and review the diff.
"""

import pathlib
import subprocess
from typing import Callable, Dict, Tuple

import psij.launchers
import pytest
from batch_helpers import GOLDEN_JOB_ID, check_golden, queued_job
from psij.executors.lsf import LsfJobExecutor
from psij.executors.pbs import PbsJobExecutor
from psij.executors.torque import TorqueJobExecutor

from psij import (
    DependencyCondition,
    InvalidJobException,
    Job,
    JobArray,
    JobSpec,
)
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.job_array import INDEX_TOKEN

GOLDEN = pathlib.Path(__file__).parent / 'golden'
WORK = pathlib.Path('/shared/psij work')
LAUNCHERS = str(pathlib.Path(psij.launchers.__file__).parent)

#: The executor, and the native ids of the predecessors: a job and an element of an array
#: (PBS Pro cannot wait for one subjob natively: the executor holds such a job itself, see
#: `test_pbs_refuses_to_write_a_wait_for_one_subjob`; its case waits for a second job).
BACKENDS: Dict[str, Tuple[Callable[..., BatchSchedulerExecutor], str, str]] = {
    'pbs': (PbsJobExecutor, '7.server', '8.server'),
    'torque': (TorqueJobExecutor, '7.server', '8[2].server'),
    'lsf': (LsfJobExecutor, '7', '8[3]'),
}


def render(name: str, count: int = 50, throttle: int = 5) -> str:
    make, job_id, element_id = BACKENDS[name]
    executor = make(config=BatchSchedulerExecutorConfig(work_directory=WORK))
    array = JobArray(JobSpec('/bin/echo', ['part', INDEX_TOKEN],
                             stdout_path=f'/data/out.{INDEX_TOKEN}'), count, throttle=throttle)
    array.id = GOLDEN_JOB_ID
    first, element = queued_job(executor, job_id), queued_job(executor, element_id)
    array.depends_on(first).depends_on(element, condition=DependencyCondition.ENDED)
    return executor.generate_script(array.jobs[0]).replace(LAUNCHERS, '<LAUNCHERS>')


@pytest.mark.parametrize('name', sorted(BACKENDS))
def test_golden_script_of_an_array_with_dependencies(name: str) -> None:
    script = render(name)
    check_golden(script, GOLDEN / name / 'array_with_dependencies.sh', name)
    checked = subprocess.run(['bash', '-n'], input=script.encode(), capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_pbs_array_is_one_range_with_its_throttle_and_both_conditions() -> None:
    script = render('pbs')
    assert '#PBS -J 0-49%5\n' in script
    assert '#PBS -W depend=afterok:7.server,afterany:8.server\n' in script


def test_pbs_refuses_to_write_a_wait_for_one_subjob() -> None:
    executor = PbsJobExecutor(config=BatchSchedulerExecutorConfig(work_directory=WORK))
    job = Job(JobSpec('/bin/true')).depends_on(queued_job(executor, '8[2].server'))
    with pytest.raises(InvalidJobException, match=r'Job.dependencies: PBS cannot .*8\[\]'):
        executor.generate_script(job)


def test_torque_array_is_one_range_with_its_throttle_and_both_conditions() -> None:
    script = render('torque')
    assert '#PBS -t 0-49%5\n' in script
    assert '#PBS -W depend=afterok:7.server,afterany:8[2].server\n' in script


def test_lsf_array_is_one_name_with_indices_and_both_conditions() -> None:
    script = render('lsf')
    assert '#BSUB -J "echo[1-50]%5"\n' in script
    assert '#BSUB -w "done(7) && ended(8[3])"\n' in script


@pytest.mark.parametrize('name', sorted(BACKENDS))
def test_the_element_index_reaches_the_job(name: str) -> None:
    exported = {'pbs': 'export PSIJ_ARRAY_INDEX=$PBS_ARRAY_INDEX\n',
                'torque': 'export PSIJ_ARRAY_INDEX=$PBS_ARRAYID\n',
                'lsf': 'export PSIJ_ARRAY_INDEX=$(( LSB_JOBINDEX - 1 + 0 ))\n'}
    assert exported[name] in render(name)
