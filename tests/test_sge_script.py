"""Golden batch scripts of the sge executor, and the errors for values it cannot write.

Each case renders a job script and compares it with ``tests/golden/sge/<case>.sh``; a diff
shows exactly what a change did to what users submit. After an intended change, regenerate
with ``PSIJ_UPDATE_GOLDEN=1 pytest tests/test_sge_script.py`` and review the diff.
"""

import pathlib
import subprocess
from datetime import timedelta
from typing import Callable, Dict, List, Optional

import psij.launchers
import pytest
from batch_helpers import check_golden, golden_job
from hypothesis import given
from hypothesis import strategies as st
from psij.executors.sge import (
    DIRECTIVES,
    SgeExecutorConfig,
    SgeJobExecutor,
    _without_directive_lines,
    format_time_limit,
    sge_job_name,
)

from psij import InvalidJobException, JobAttributes, JobExecutor, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig
from psij.batch.script import shell_quote

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'sge'
WORK = pathlib.Path('/shared/psij work')
LAUNCHERS = str(pathlib.Path(psij.launchers.__file__).parent)


_job = golden_job


def _minimal() -> JobSpec:
    return JobSpec('/bin/date')


def _resources() -> JobSpec:
    return JobSpec(
        '/opt/app/bin/solver', ['--input', 'mesh.h5'], name='solver run',
        resources=ResourceSpecV1(node_count=2, processes_per_node=4, cpu_cores_per_process=2,
                                 exclusive_node_use=True, memory=3 * 1024 ** 3),
        attributes=JobAttributes(duration=timedelta(hours=30, minutes=30, seconds=0.5),
                                 queue_name='long.q', account='proj-42', reservation_id='17'))


def _processes_only() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=6),
                   launcher='multiple',
                   attributes=JobAttributes(duration=timedelta(days=2, seconds=30),
                                            custom_attributes={'sge.pe': 'smp'}))


def _verbatim() -> JobSpec:
    return JobSpec(
        'printf', ['%s\n', 'a b', "it's", '"q"', '$HOME', '`date`', 'line\nbreak', 'é ü',
                   'not a\n#$ -N directive'],
        directory='/data/my run', inherit_environment=False, name='3d render',
        environment={'GREETING': "hello 'world' $USER", 'EMPTY': '', 'N': 3,
                     'SCRIPT': "#!/bin/sh\n#$ -l h_rt=1\n#$-q x\necho 'hi'\n"},
        stdin_path='/data/in put.txt', stdout_path='out $1.txt', stderr_path='out $1.txt')


def _custom() -> JobSpec:
    return JobSpec('/bin/true', name='none', attributes=JobAttributes(custom_attributes={
        'sge.l': 'h_vmem=2G,scratch=10G', 'sge.hold_jid': 1234, 'sge.notify': True,
        'sge.R': 'y', 'sge.now': False, 'sge.M': None, 'sge.ac': 'tag=nightly build',
        'sge.pe': 'mpi', 'slurm.constraint': 'ignored', 'other': 1}))


def _mpirun_launcher() -> JobSpec:
    return JobSpec('/bin/hostname', resources=ResourceSpecV1(process_count=2),
                   launcher='mpirun', pre_launch='/home/u/pre.sh', post_launch='/home/u/post.sh')


CASES: Dict[str, Callable[[], JobSpec]] = {
    'minimal': _minimal, 'resources': _resources, 'processes_only': _processes_only,
    'verbatim': _verbatim, 'custom_attributes': _custom, 'mpirun_launcher': _mpirun_launcher,
}
# The executor's settings for each case (the default otherwise).
CONFIGS: Dict[str, Dict[str, object]] = {
    'resources': {'parallel_environment': 'mpi', 'memory_resource': 'mem_free'},
    'mpirun_launcher': {'parallel_environment': 'mpi'},
}


def render(spec: JobSpec, work: pathlib.Path = WORK,
           settings: Optional[Dict[str, object]] = None) -> str:
    config = SgeExecutorConfig(work_directory=work, **(settings or {}))  # type: ignore[arg-type]
    executor = SgeJobExecutor(config=config)
    return executor.generate_script(_job(spec)).replace(LAUNCHERS, '<LAUNCHERS>')


@pytest.mark.parametrize('case', sorted(CASES))
def test_golden_script(case: str) -> None:
    script = render(CASES[case](), settings=CONFIGS.get(case))
    path = GOLDEN / f'{case}.sh'
    check_golden(script, path, case)


def test_golden_scripts_are_valid_bash() -> None:
    for case, make in CASES.items():
        checked = subprocess.run(['bash', '-n'], input=render(make(), settings=CONFIGS.get(
            case)).encode(), capture_output=True)
        assert checked.returncode == 0, (case, checked.stderr)


def test_every_alias_is_the_same_executor() -> None:
    for name in ('sge', 'gridengine', 'uge'):
        assert type(JobExecutor.get_instance(name)) is SgeJobExecutor


def test_a_plain_batch_config_gives_the_default_settings() -> None:
    executor = SgeJobExecutor(config=BatchSchedulerExecutorConfig(work_directory=WORK))
    script = executor.generate_script(_job(JobSpec('/bin/true', resources=ResourceSpecV1(
        memory=1024 ** 3), attributes=JobAttributes(custom_attributes={'sge.pe': 'smp'}))))
    assert '#$ -l h_vmem=1024M\n' in script
    assert '#$ -pe smp 1\n' in script  # named by the job: used even for one slot


def test_one_slot_needs_no_parallel_environment() -> None:
    script = render(JobSpec('/bin/true', resources=ResourceSpecV1(process_count=1)),
                    settings={'parallel_environment': 'smp'})
    assert '-pe' not in script


def test_memory_is_asked_per_slot_rounded_up() -> None:
    script = render(JobSpec('/bin/true', resources=ResourceSpecV1(
        process_count=3, memory=1000 * 1024 ** 2 + 1)), settings={'parallel_environment': 'smp'})
    assert '#$ -pe smp 3\n#$ -l h_vmem=334M\n' in script


@pytest.mark.parametrize('seconds, expected', [
    (0.2, '0:00:01'), (1, '0:00:01'), (59.5, '0:01:00'), (3600, '1:00:00'),
    (86400 * 2 + 61, '48:01:01'),
])
def test_time_limit_format(seconds: float, expected: str) -> None:
    assert format_time_limit(seconds) == expected


@pytest.mark.parametrize('name, expected', [
    ('job', 'job'), ('3d', '_3d'), ('none', '_none'), ('ALL', '_ALL'), ('Template', '_Template'),
    ('nonex', 'nonex'), ('-x', '-x'),
])
def test_job_names_grid_engine_accepts(name: str, expected: str) -> None:
    assert sge_job_name(name) == expected


@pytest.mark.parametrize('spec, field', [
    (JobSpec('/bin/true', environment={'BAD-NAME': 'x'}), 'JobSpec.environment'),
    (JobSpec('/bin/true', resources=ResourceSpecV1(process_count=2)), "'sge.pe'"),
    (JobSpec('/bin/true', resources=ResourceSpecV1(cpu_cores_per_process=4)), '4 slots'),
    (JobSpec('/bin/true', resources=ResourceSpecV1(gpu_cores_per_process=1)),
     'ResourceSpecV1.gpu_cores_per_process'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.o': 'x'})),
     'JobSpec.stdout_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.e': 'x'})),
     'JobSpec.stderr_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.t': '1-4'})),
     'array jobs'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.S': '/bin/sh'})),
     '/bin/bash'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.a b': 'x'})),
     "custom_attributes['sge.a b']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.-l': 'x'})),
     "custom_attributes['sge.-l']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.ac': 'a#b'})),
     "custom_attributes['sge.ac']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.ac': 'say "hi"'})),
     "custom_attributes['sge.ac']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.ac': ''})),
     "custom_attributes['sge.ac']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.l': ['a', 'b']})),
     "custom_attributes['sge.l']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.pe': 'a b'})),
     "custom_attributes['sge.pe']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.pe': True})),
     "custom_attributes['sge.pe']"),
    (JobSpec('/bin/true', attributes=JobAttributes(queue_name='two\nlines')),
     'JobAttributes.queue_name'),
    (JobSpec('/bin/true', attributes=JobAttributes(account="it's")), 'JobAttributes.account'),
])
def test_values_that_cannot_be_written_name_their_field(spec: JobSpec, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        render(spec)
    assert field in str(raised.value)


@pytest.mark.parametrize('directory', ['/tmp/a:b', '/tmp/a,b', '/tmp/$x', '/tmp/a#b',
                                       "/tmp/it's", '/tmp/"q"'])
def test_work_directory_qsub_cannot_write_is_refused(directory: str) -> None:
    with pytest.raises(InvalidJobException, match='work_directory'):
        render(JobSpec('/bin/true'), work=pathlib.Path(directory))


@pytest.mark.parametrize('settings', [{'parallel_environment': 'a b'},
                                      {'parallel_environment': ''},
                                      {'memory_resource': 'h-vmem'}, {'memory_resource': ''}])
def test_bad_settings_are_refused(settings: Dict[str, object]) -> None:
    with pytest.raises(ValueError, match='SgeExecutorConfig'):
        SgeExecutorConfig(**settings)  # type: ignore[arg-type]


def _qsub_reads(line: str) -> List[str]:
    """How qsub 8.1.9 splits the arguments of a '#$' line (see tests/fixtures/sge/README.md):
    blanks outside quotes separate, quote characters are dropped, # ends the line."""
    words: List[str] = []
    word, quote, started = '', '', False
    for character in line:
        if character == '#':
            break
        if quote:
            if character == quote:
                quote = ''
            else:
                word += character
        elif character in '"\'':
            quote, started = character, True
        elif character in ' \t':
            if word or started:
                words.append(word)
            word, started = '', False
        else:
            word += character
    if word or started:
        words.append(word)
    return words


@given(st.text(alphabet=st.characters(exclude_characters='#"\'\n\r\x00',
                                      exclude_categories=['Cs']), min_size=1))
def test_directive_values_come_back_verbatim(value: str) -> None:
    assert _qsub_reads(f'-ac {DIRECTIVES.value(value, "field")}') == ['-ac', value]


@given(st.text(), st.sampled_from('#"\'\n\r\x00'), st.text())
def test_directive_values_qsub_cannot_read_are_refused(before: str, bad: str,
                                                       after: str) -> None:
    with pytest.raises(InvalidJobException, match='field'):
        DIRECTIVES.value(before + bad + after, 'field')


@given(st.text(alphabet=st.sampled_from(['\n', '#', '$', "'", '"', 'a', ' ', '\\']),
               max_size=24))
def test_line_breaks_before_the_directive_prefix_keep_their_value(value: str) -> None:
    word = _without_directive_lines(shell_quote(value))
    assert not any(line.startswith('#$') for line in word.splitlines())
    printed = subprocess.run(['bash', '-c', f'printf %s {word}'], capture_output=True)
    assert printed.stdout == value.encode()


def test_the_executors_other_names_are_prefixes_too() -> None:
    # JobExecutor.get_instance('uge') is this executor: 'uge.' keys mean 'sge.' keys.
    spec = JobSpec('/bin/true', resources=ResourceSpecV1(process_count=2),
                   attributes=JobAttributes(custom_attributes={'uge.l': 'gpu=1',
                                                               'gridengine.pe': 'smp'}))
    script = render(spec)
    assert '#$ -l gpu=1\n' in script and '#$ -pe smp 2\n' in script
    clash = JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'sge.l': 'gpu=1', 'uge.l': 'gpu=2'}))
    with pytest.raises(InvalidJobException, match=r"'sge.l' and 'uge.l' name the same"):
        render(clash)
