"""Golden batch scripts of the slurm executor, and the errors for values it cannot write.

Each case renders a job script and compares it with ``tests/golden/slurm/<case>.sh``; a diff
shows exactly what a change did to what users submit. After an intended change, regenerate
with ``PSIJ_UPDATE_GOLDEN=1 pytest tests/test_slurm_script.py`` and review the diff.
"""

import pathlib
from datetime import timedelta
from typing import Callable, Dict, List

import psij.launchers
import pytest
from batch_helpers import GOLDEN_JOB_ID, check_golden, golden_job, job_script
from psij.executors.slurm import Slurm, SlurmJobExecutor, format_time_limit
from psij.executors.slurm_input_environment import directive_options, overriding_variables

from psij import (
    DependencyCondition,
    InvalidJobException,
    Job,
    JobArray,
    JobAttributes,
    JobSpec,
    JobState,
    JobStatus,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutorConfig
from psij.job_array import INDEX_TOKEN

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'slurm'
WORK = pathlib.Path('/shared/psij work')
LAUNCHERS = str(pathlib.Path(psij.launchers.__file__).parent)


_job = golden_job


def _minimal() -> JobSpec:
    return JobSpec('/bin/date')


def _resources() -> JobSpec:
    return JobSpec(
        '/opt/app/bin/solver', ['--input', 'mesh.h5'], name='solver run',
        resources=ResourceSpecV1(node_count=2, processes_per_node=4, cpu_cores_per_process=2,
                                 gpu_cores_per_process=1, exclusive_node_use=True,
                                 memory=3 * 1024 ** 3),
        attributes=JobAttributes(duration=timedelta(hours=1, minutes=30, seconds=1),
                                 queue_name='debug', account='proj-42',
                                 reservation_id='maint_window'))


def _processes_only() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=6),
                   attributes=JobAttributes(duration=timedelta(days=2, seconds=30)))


def _verbatim() -> JobSpec:
    return JobSpec(
        'printf', ['%s\n', 'a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü'],
        directory='/data/my run', inherit_environment=False,
        environment={'GREETING': "hello 'world' $USER", 'EMPTY': '', 'N': 3},
        stdin_path='/data/in put.txt', stdout_path='out $1.txt', stderr_path='out $1.txt')


def _custom() -> JobSpec:
    return JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'slurm.constraint': 'haswell&ib', 'slurm.hold': True, 'slurm.requeue': False,
        'slurm.qos': None, 'slurm.comment': 'nightly "build" #3 \\o/', 'slurm.C': 'gpu',
        'slurm.mail-type': 'END,FAIL', 'pbs.l': 'ignored', 'other': 1}))


def _srun_launcher() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=2),
                   launcher='srun', pre_launch='/home/u/pre.sh', post_launch='/home/u/post.sh')


CASES: Dict[str, Callable[[], JobSpec]] = {
    'minimal': _minimal, 'resources': _resources, 'processes_only': _processes_only,
    'verbatim': _verbatim, 'custom_attributes': _custom, 'srun_launcher': _srun_launcher,
}


def render(spec: JobSpec, work: pathlib.Path = WORK) -> str:
    executor = SlurmJobExecutor(config=BatchSchedulerExecutorConfig(work_directory=work))
    return executor.generate_script(_job(spec)).replace(LAUNCHERS, '<LAUNCHERS>')


@pytest.mark.parametrize('case', sorted(CASES))
def test_golden_script(case: str) -> None:
    script = render(CASES[case]())
    path = GOLDEN / f'{case}.sh'
    check_golden(script, path, case)


def _array_after_others() -> str:
    """An array of 50 (at most 5 at once) after one job completed and another ended."""
    array = JobArray(JobSpec('/bin/echo', ['part', INDEX_TOKEN],
                             stdout_path=f'/data/out.{INDEX_TOKEN}'), 50, throttle=5)
    array.id = GOLDEN_JOB_ID
    first, second = Job(JobSpec('/bin/true')), Job(JobSpec('/bin/true'))
    for predecessor, native_id in ((first, '7'), (second, '8_1')):
        predecessor.native_id = native_id  # as if submitted, and still queued
        predecessor._set_status(JobStatus(JobState.QUEUED))
    array.depends_on(first).depends_on(second, condition=DependencyCondition.ENDED)
    executor = SlurmJobExecutor(config=BatchSchedulerExecutorConfig(work_directory=WORK))
    return executor.generate_script(array.jobs[0]).replace(LAUNCHERS, '<LAUNCHERS>')


def test_golden_script_of_an_array_with_dependencies() -> None:
    script = _array_after_others()
    check_golden(script, GOLDEN / 'array_with_dependencies.sh', 'array_with_dependencies')
    assert '#SBATCH --array=0-49%5\n' in script
    assert '#SBATCH --dependency=afterok:7,afterany:8_1\n' in script


def test_golden_scripts_are_valid_bash() -> None:
    import subprocess
    scripts = {case: render(make()) for case, make in CASES.items()}
    scripts['array_with_dependencies'] = _array_after_others()
    for case, script in scripts.items():
        checked = subprocess.run(['bash', '-n'], input=script.encode(), capture_output=True)
        assert checked.returncode == 0, (case, checked.stderr)


@pytest.mark.parametrize('seconds, expected', [
    (1, '0-00:01:00'), (60, '0-00:01:00'), (61, '0-00:01:01'), (3600.5, '0-01:00:01'),
    (86400 + 3661, '1-01:01:01'),
])
def test_time_limit_format(seconds: float, expected: str) -> None:
    assert format_time_limit(seconds) == expected


@pytest.mark.parametrize('spec, field', [
    (JobSpec('/bin/true', environment={'BAD-NAME': 'x'}), 'JobSpec.environment'),
    (JobSpec('/bin/true', environment={'1X': 'x'}), 'JobSpec.environment'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'slurm.output': 'x'})),
     'JobSpec.stdout_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'slurm.e': 'x'})),
     'JobSpec.stderr_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'slurm.a b': 'x'})),
     "custom_attributes['slurm.a b']"),
    (JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes={'slurm.comment': 'two\nlines'})),
     "custom_attributes['slurm.comment']"),
    (JobSpec('/bin/true', attributes=JobAttributes(
        custom_attributes={'slurm.comment': ['a', 'b']})),
     "custom_attributes['slurm.comment']"),
    (JobSpec('/bin/true', attributes=JobAttributes(queue_name='two\nlines')),
     'JobAttributes.queue_name'),
    (JobSpec('/bin/true', attributes=JobAttributes(account='a\x00b')), 'JobAttributes.account'),
    # squeue answers for an array only under its tasks' ids: one PSI/J job cannot follow it.
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'slurm.array': '0-3'})),
     "custom_attributes['slurm.array']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'slurm.a': '0-3'})),
     "custom_attributes['slurm.a']"),
])
def test_values_that_cannot_be_written_name_their_field(spec: JobSpec, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        render(spec)
    assert field in str(raised.value)


def test_work_directory_with_percent_is_refused() -> None:
    with pytest.raises(InvalidJobException, match='work_directory'):
        render(JobSpec('/bin/true'), work=pathlib.Path('/tmp/100%'))


# --- the SBATCH_* input variables that would override the script ---------------------------

def _submit_argv(spec: JobSpec) -> List[str]:
    return submit_argv('/w/job.sh', render(spec))


def submit_argv(path: str, text: str) -> List[str]:
    """The argv Slurm submits the script ``text`` at ``path`` with."""
    command = Slurm().submit_command(job_script(path, text))
    assert command.stdin is None
    return command.argv


def test_submit_unsets_the_input_variables_of_the_options_the_script_sets() -> None:
    argv = _submit_argv(CASES['resources']())
    assert argv[0] == 'env' and argv[-4:] == ['--', 'sbatch', '--parsable', '/w/job.sh']
    unset = {argv[i + 1] for i, word in enumerate(argv[:-4]) if word == '-u'}
    # --mem excludes --mem-per-cpu and --mem-per-gpu, so their variables go too
    assert unset == {'SBATCH_JOB_NAME', 'SBATCH_OUTPUT', 'SBATCH_ERROR', 'SBATCH_TIMELIMIT',
                     'SBATCH_PARTITION', 'SBATCH_ACCOUNT', 'SBATCH_RESERVATION',
                     'SBATCH_GPUS_PER_TASK', 'SBATCH_EXCLUSIVE', 'SBATCH_MEM_PER_NODE',
                     'SBATCH_MEM_PER_CPU', 'SBATCH_MEM_PER_GPU'}


def test_submit_keeps_the_input_variables_of_options_the_script_leaves_to_the_site() -> None:
    unset = overriding_variables(render(CASES['minimal']()))
    assert 'SBATCH_ACCOUNT' not in unset and 'SBATCH_PARTITION' not in unset
    assert 'SBATCH_QOS' not in unset and 'SBATCH_EXPORT' not in unset
    assert 'SBATCH_TIMELIMIT' in unset


def test_custom_attributes_unset_their_input_variables_also_by_one_letter_name() -> None:
    unset = overriding_variables(render(CASES['custom_attributes']()))
    assert 'SBATCH_CONSTRAINT' in unset  # slurm.constraint and slurm.C
    assert 'SBATCH_REQUEUE' not in unset  # slurm.requeue=False writes no line
    assert 'SBATCH_QOS' not in unset  # slurm.qos=None writes no line
    assert 'SBATCH_EXPORT' in overriding_variables(render(CASES['verbatim']()))


def test_only_the_directive_block_counts() -> None:
    script = ('#!/bin/bash\n#SBATCH --time=1\n\n# a comment\n#SBATCH -p debug\n'
              'echo hi\n#SBATCH --account=late\n')
    assert directive_options(script) == ['time', 'partition']
    assert submit_argv('/s', '#!/bin/bash\necho\n') == ['sbatch', '--parsable', '/s']
