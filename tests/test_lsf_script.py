"""Golden batch scripts of the lsf executor, the errors for values it cannot write, and the
script's node file.

Each case renders a job script and compares it with ``tests/golden/lsf/<case>.sh``; a diff
shows exactly what a change did to what users submit. After an intended change, regenerate
with ``PSIJ_UPDATE_GOLDEN=1 pytest tests/test_lsf_script.py`` and review the diff.
"""

import os
import pathlib
import re
import subprocess
from datetime import timedelta
from typing import Callable, Dict, List

import psij.launchers
import pytest
from batch_helpers import GOLDEN_JOB_ID, check_golden, golden_job
from psij.executors.lsf import LsfJobExecutor, format_run_limit

from psij import InvalidJobException, JobAttributes, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'lsf'
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
                                 queue_name='normal', account='proj-42',
                                 reservation_id='user1#0'))


def _processes_only() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=6,
                                                             gpu_cores_per_process=2),
                   attributes=JobAttributes(duration=timedelta(days=2, seconds=30)))


def _one_node() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(node_count=1, process_count=3,
                                                             memory=1000))


def _two_nodes() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(node_count=2, process_count=6))


def _verbatim() -> JobSpec:
    return JobSpec(
        'printf', ['%s\n', 'a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü'],
        directory='/data/my run', inherit_environment=False,
        environment={'GREETING': "hello 'world' $USER", 'EMPTY': '', 'N': 3},
        stdin_path='/data/in put.txt', stdout_path='out $1.txt', stderr_path='out $1.txt')


def _custom() -> JobSpec:
    return JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'lsf.app': 'gpu app', 'lsf.B': True, 'lsf.N': False, 'lsf.sla': None,
        'lsf.R': 'select[type==X86_64]', 'lsf.alloc_flags': 'smt4', 'slurm.qos': 'ignored',
        'other': 1}))


def _multiple_launcher() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=2),
                   launcher='multiple', pre_launch='/home/u/pre.sh', post_launch='/home/u/post.sh')


CASES: Dict[str, Callable[[], JobSpec]] = {
    'minimal': _minimal, 'resources': _resources, 'processes_only': _processes_only,
    'one_node': _one_node, 'two_nodes': _two_nodes, 'verbatim': _verbatim,
    'custom_attributes': _custom, 'multiple_launcher': _multiple_launcher,
}


def render(spec: JobSpec, work: pathlib.Path = WORK) -> str:
    executor = LsfJobExecutor(config=BatchSchedulerExecutorConfig(work_directory=work))
    return executor.generate_script(_job(spec)).replace(LAUNCHERS, '<LAUNCHERS>')


def directives(script: str) -> List[str]:
    return [line[len('#BSUB '):] for line in script.splitlines() if line.startswith('#BSUB ')]


@pytest.mark.parametrize('case', sorted(CASES))
def test_golden_script(case: str) -> None:
    script = render(CASES[case]())
    path = GOLDEN / f'{case}.sh'
    check_golden(script, path, case)


def test_golden_scripts_are_valid_bash() -> None:
    for case, make in CASES.items():
        checked = subprocess.run(['bash', '-n'], input=render(make()).encode(),
                                 capture_output=True)
        assert checked.returncode == 0, (case, checked.stderr)


def test_bsub_lines_come_first() -> None:
    # bsub reads #BSUB lines only at the top of the script, before its first command.
    for case, make in CASES.items():
        lines = render(make()).splitlines()
        first_other = next(index for index, line in enumerate(lines[1:], 1)
                           if not line.startswith('#BSUB'))
        assert not any(line.startswith('#BSUB') for line in lines[first_other:]), case


def test_the_mapping() -> None:
    lines = directives(render(_resources()))
    assert lines[:5] == ['-J solver_run', f'-Jd "psij-job {GOLDEN_JOB_ID}"',
                         '-o "/shared/psij work/lsf/%J.out"',
                         '-e "/shared/psij work/lsf/%J.out"', '-W 91']
    assert {'-q normal', '-P proj-42', '-U "user1#0"', '-n 16', '-x', '-M 1536MB',
            '-gpu "num=4"', '-R "rusage[mem=1536MB] span[ptile=8]"'} <= set(lines)
    assert '-n 6' in directives(render(_processes_only()))
    assert '-gpu "num=2/task"' in directives(render(_processes_only()))
    assert '-R "rusage[mem=1MB] span[hosts=1]"' in directives(render(_one_node()))
    assert '-R "span[ptile=3]"' in directives(render(_two_nodes()))
    assert '-env none' in directives(render(_verbatim()))
    assert not any(line.startswith(('-R', '-M', '-gpu', '-x', '-env'))
                   for line in directives(render(_minimal())))


@pytest.mark.parametrize('seconds, expected', [
    (1, '1'), (60, '1'), (61, '2'), (3600, '60'), (5401, '91'), (2 * 86400 + 30, '2881'),
])
def test_run_limit_is_whole_minutes_rounded_up(seconds: float, expected: str) -> None:
    assert format_run_limit(seconds) == expected


@pytest.mark.parametrize('spec, field', [
    (JobSpec('/bin/true', environment={'BAD-NAME': 'x'}), 'JobSpec.environment'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'lsf.e': 'x'})),
     'JobSpec.stderr_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'lsf.n': 4})),
     'ResourceSpecV1.process_count'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'lsf.a b': 'x'})),
     "custom_attributes['lsf.a b']"),
    (JobSpec('/bin/true', attributes=JobAttributes(queue_name='two\nlines')),
     'JobAttributes.queue_name'),
    (JobSpec('/bin/true', attributes=JobAttributes(account='a"b')), 'JobAttributes.account'),
    (JobSpec('/bin/true', attributes=JobAttributes(reservation_id='a\\b')),
     'JobAttributes.reservation_id'),
    (JobSpec('/bin/true', resources=ResourceSpecV1(process_count=4, cpu_cores_per_process=2,
                                                   gpu_cores_per_process=1)),
     'ResourceSpecV1.gpu_cores_per_process'),
])
def test_values_that_cannot_be_written_name_their_field(spec: JobSpec, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        render(spec)
    assert field in str(raised.value)


@pytest.mark.parametrize('work', ['/tmp/100%', '/tmp/say "hi"'])
def test_work_directory_that_bsub_cannot_take_is_refused(work: str) -> None:
    with pytest.raises(InvalidJobException, match='work'):
        render(JobSpec('/bin/true'), work=pathlib.Path(work))


def _nodefile_function(script: str) -> str:
    match = re.search(r'^psij_write_nodefile\(\) \{\n.*?^\}\n', script, re.DOTALL | re.MULTILINE)
    assert match is not None, 'no psij_write_nodefile in the script'
    return match.group(0)


@pytest.mark.parametrize('cores, hosts, expected', [
    (1, 'hostA 3 hostB 1', ['hostA'] * 3 + ['hostB']),
    (2, 'hostA 8 hostB 8', ['hostA'] * 4 + ['hostB'] * 4),
    (4, 'hostA 2', ['hostA']),
    (1, '', ['fallback-host']),
])
def test_nodefile_has_a_line_per_process(cores: int, hosts: str, expected: List[str]) -> None:
    spec = JobSpec('/bin/true', resources=ResourceSpecV1(process_count=2,
                                                         cpu_cores_per_process=cores))
    function = _nodefile_function(render(spec))
    environment = {'PATH': os.environ['PATH'], 'HOSTNAME': 'fallback-host'}
    if hosts:
        environment['LSB_MCPU_HOSTS'] = hosts
    printed = subprocess.run(['bash', '-c', function + 'HOSTNAME=fallback-host\n'
                              'psij_write_nodefile'], env=environment, capture_output=True,
                             text=True, check=True).stdout
    assert printed.splitlines() == expected
