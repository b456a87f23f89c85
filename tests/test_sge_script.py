"""Golden batch scripts of the sge executor, and the errors for values it cannot write.

Each case renders a job script and compares it with ``tests/golden/sge/<case>.sh``; a diff
shows exactly what a change did to what users submit. After an intended change, regenerate
with ``PSIJ_UPDATE_GOLDEN=1 pytest tests/test_sge_script.py`` and review the diff.
"""

import os
import pathlib
import subprocess
from datetime import timedelta
from typing import Callable, Dict, List, Optional, Tuple

import psij.launchers
import pytest
from batch_helpers import GOLDEN_JOB_ID, check_golden, golden_job, queued_job
from hypothesis import given
from hypothesis import strategies as st
from psij.executors import sge_arrays
from psij.executors.sge import (
    DIRECTIVES,
    SgeExecutorConfig,
    SgeJobExecutor,
    _without_directive_lines,
    format_time_limit,
    sge_job_name,
)

from psij import (
    InvalidJobException,
    Job,
    JobArray,
    JobAttributes,
    JobExecutor,
    JobSpec,
    JobState,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutorConfig
from psij.batch.evidence import status_from_evidence
from psij.batch.markers import ExitMarker, parse_exit_marker
from psij.batch.script import shell_quote
from psij.dependencies import DependencyCondition
from psij.job_array import INDEX_TOKEN

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
    (JobSpec('/bin/true', resources=ResourceSpecV1(gpu_cores_per_process=1)),
     'ResourceSpecV1.gpu_cores_per_process'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.o': 'x'})),
     'JobSpec.stdout_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.e': 'x'})),
     'JobSpec.stderr_path'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'sge.t': '1-4'})),
     'psij.JobArray'),
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


# --- arrays and dependencies -----------------------------------------------------------------

def _array_after_others() -> str:
    """An array of 50 (at most 5 at once) after a job completed and an element ended."""
    executor = SgeJobExecutor(config=SgeExecutorConfig(work_directory=WORK))
    array = JobArray(JobSpec('/bin/echo', ['part', INDEX_TOKEN],
                             stdout_path=f'/data/out.{INDEX_TOKEN}'), 50, throttle=5)
    array.id = GOLDEN_JOB_ID
    first, element = queued_job(executor, '7'), queued_job(executor, '8.2')
    array.depends_on(first).depends_on(element, condition=DependencyCondition.ENDED)
    return executor.generate_script(array.jobs[0]).replace(LAUNCHERS, '<LAUNCHERS>')


def _job_after_others() -> str:
    """One job after a job and an array element completed."""
    executor = SgeJobExecutor(config=SgeExecutorConfig(work_directory=WORK))
    job = _job(JobSpec('/bin/date'))
    job.depends_on(queued_job(executor, '7'), queued_job(executor, '8.2'))
    return executor.generate_script(job).replace(LAUNCHERS, '<LAUNCHERS>')


def test_golden_script_of_an_array_with_dependencies() -> None:
    script = _array_after_others()
    check_golden(script, GOLDEN / 'array_with_dependencies.sh', 'array_with_dependencies')
    assert '#$ -t 1-50\n#$ -tc 5\n#$ -hold_jid 7,8\n' in script
    assert '#$ -o "/shared/psij work/sge/$JOB_ID.$TASK_ID.out"\n' in script
    # Only the afterok predecessor is checked; the afterany element just has to end.
    assert "\npsij_after_completed 7 '/shared/psij work/sge/7.ec'\n" in script
    assert 'psij_after_completed 8.2' not in script
    assert 'export PSIJ_ARRAY_INDEX=$(( SGE_TASK_ID - 1 + 0 ))\n' in script


def test_golden_script_of_a_job_after_others() -> None:
    script = _job_after_others()
    check_golden(script, GOLDEN / 'job_after_others.sh', 'job_after_others')
    assert '#$ -hold_jid 7,8\n' in script and '-t ' not in script
    assert "\npsij_after_completed 8.2 '/shared/psij work/sge/8.2.ec'\n" in script


def test_dependency_scripts_are_valid_bash() -> None:
    for script in (_array_after_others(), _job_after_others()):
        checked = subprocess.run(['bash', '-n'], input=script.encode(), capture_output=True)
        assert checked.returncode == 0, checked.stderr


def test_a_job_without_dependencies_checks_nothing() -> None:
    assert 'psij_after_completed' not in render(JobSpec('/bin/true'))
    assert '-hold_jid' not in render(JobSpec('/bin/true'))


def test_hold_jid_of_a_job_with_dependencies_is_refused() -> None:
    executor = SgeJobExecutor(config=SgeExecutorConfig(work_directory=WORK))
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'sge.hold_jid': '12'}))).depends_on(queued_job(executor, '7'))
    with pytest.raises(InvalidJobException, match=r"custom_attributes\['sge.hold_jid'\]"):
        executor.generate_script(job)


def _run_after(tmp_path: pathlib.Path, marker: Optional[str],
               array: bool = False) -> Tuple[int, Optional[ExitMarker], bool, str]:
    """Run, with bash and no Grid Engine, the script of a job (or of the element with task id
    3 of an array) that runs after job 7 completed, whose exit-code marker says ``marker``
    (None: there is none); the script's exit status, its own exit-code marker, whether the
    job's command ran, and psij's id the marker must name."""
    work = tmp_path / 'work'
    executor = SgeJobExecutor(config=SgeExecutorConfig(work_directory=work))
    (work / 'sge').mkdir(parents=True)
    if marker is not None:
        (work / 'sge' / '7.ec').write_text(marker)
    ran = tmp_path / 'ran'
    spec = JobSpec('/bin/touch', [str(ran)])
    job = JobArray(spec, 4).jobs[2] if array else Job(spec)
    job.depends_on(queued_job(executor, '7'))
    environment = {'PATH': os.environ['PATH'], 'JOB_ID': '42', 'SGE_TASK_ID': '3'}
    completed = subprocess.run(['bash', '-c', executor.generate_script(job)], env=environment,
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    own = work / 'sge' / ('42.3.ec' if array else '42.ec')
    text = own.read_text() if own.exists() else None
    return (completed.returncode, parse_exit_marker(text) if text is not None else None,
            ran.exists(), job.id)


def test_a_job_runs_after_its_predecessor_completed(tmp_path: pathlib.Path) -> None:
    code, marker, ran, job_id = _run_after(tmp_path, '0\nPSIJ-JOB: someone\n')
    assert (code, ran) == (0, True)
    assert marker is not None and marker.exit_code == 0 and marker.job_id == job_id


@pytest.mark.parametrize('predecessor, said', [
    ('3\nPSIJ-JOB: someone\n', 'predecessor job 7 ended with exit code 3'),
    ('0\nPSIJ-LAUNCHER-ERROR: no mpirun\nPSIJ-JOB: someone\n',
     'predecessor job 7 did not complete: its exit-code marker'),
    (None, 'predecessor job 7 left no exit-code marker'),
])
def test_a_job_never_runs_after_its_predecessor_failed(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, predecessor: Optional[str],
        said: str) -> None:
    monkeypatch.setattr(sge_arrays, 'MARKER_WAIT', 1)  # how long a missing marker is awaited
    code, marker, ran, job_id = _run_after(tmp_path, predecessor)
    assert code != 0 and not ran
    assert marker is not None and marker.exit_code != 0 and marker.job_id == job_id
    assert marker.message is not None and marker.message.startswith(
        f'dependency never satisfied: {said}'), marker
    status = status_from_evidence(marker, None)
    assert status is not None and status.state == JobState.FAILED
    assert status.message == marker.message


def test_an_array_element_writes_its_own_marker_when_its_predecessor_failed(
        tmp_path: pathlib.Path) -> None:
    code, marker, ran, job_id = _run_after(tmp_path, '2\n', array=True)
    assert code != 0 and not ran
    # Task 3 is element 2: its marker is 42.3.ec and names the element's psij id.
    assert marker is not None and marker.job_id == job_id and job_id.endswith('-2')
    assert marker.message == 'dependency never satisfied: predecessor job 7 ended with exit code 2'
