"""User templates (`psij.batch.user_templates`): checked at load with the file and line of
any problem, chosen per queue, documented from the schedulers' own contexts, and rendering
real jobs that COMPLETE on the real Slurm and Grid Engine of this machine (and over SSH)."""

import pathlib
import re
import subprocess
import uuid
from typing import Any, Dict, List, Optional

import pytest
from batch_helpers import final_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psij.executors.lsf import LsfJobExecutor
from psij.executors.pbs import PbsJobExecutor
from psij.executors.sge import SgeExecutorConfig, SgeJobExecutor
from psij.executors.slurm import SlurmJobExecutor
from psij.executors.torque import TorqueJobExecutor
from real_tools import require_sge, require_slurm, require_sshd

from psij import Job, JobAttributes, JobExecutor, JobSpec, JobState
from psij.batch import BatchScheduler, BatchSchedulerExecutor, BatchSchedulerExecutorConfig
from psij.batch.user_templates import (
    TemplateError,
    builtin_directives,
    load_template,
    render_with,
    template_variables,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEDULERS: Dict[str, BatchScheduler] = {
    cls.scheduler.name: cls.scheduler for cls in (
        SlurmJobExecutor, SgeJobExecutor, PbsJobExecutor, TorqueJobExecutor, LsfJobExecutor)}
MARK = 'from-user-template'


def _file(tmp_path: pathlib.Path, text: str, name: str = 'site.mustache') -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _slurm(tmp_path: pathlib.Path, **fields: Any) -> SlurmJobExecutor:
    config = BatchSchedulerExecutorConfig(work_directory=tmp_path / 'work',
                                          queue_polling_interval=5.0, **fields)
    return SlurmJobExecutor(config=config)


# --- checked at load -------------------------------------------------------------------------

@pytest.mark.parametrize('text, line, said', [
    ('#!/bin/bash\n#SBATCH --time={{{time_limit}}}\n#SBATCH --qos={{{qos}}}\n', 3,
     "unknown variable 'qos'"),
    ('#SBATCH -J x\n{{#partition}}\n#SBATCH -p {{{partitoin}}}\n{{/partition}}\n', 3,
     "unknown variable 'partitoin'"),
    ('#SBATCH -J x\n{{#nodes}}\n#SBATCH -N {{{nodes}}}\n', 2, 'never closed'),
    ('#SBATCH -J x\n{{/nodes}}\n', 2, 'closes no open section'),
    ('#SBATCH -J {{{job_name}}}\n\n{{{job_body}}}\n', 3, 'the library appends the job body'),
    ('#SBATCH -J x\nmodule load gcc\n', 2, 'not a directive or comment line'),
    ('#SBATCH -J x\n{{{job_name}}}\n', 2, 'not a directive or comment line'),
    ('#!/bin/sh\n#SBATCH -J x\n', 1, 'needs bash'),
    ('#SBATCH -J x\n{{> other}}\n', 2, 'partials'),
    ('#SBATCH -J x\n{{=<% %>=}}\n', 2, 'delimiter changes'),
    ('#SBATCH {{{.}}}\n', 1, "unknown variable '.'"),
])
def test_a_bad_template_is_refused_when_the_executor_is_made(
        tmp_path: pathlib.Path, text: str, line: int, said: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(TemplateError) as raised:
        _slurm(tmp_path, template=str(path))
    message = str(raised.value)
    assert f'BatchSchedulerExecutorConfig.template: {path}:{line}: ' in message, message
    assert said in message, message


def test_an_unknown_variable_lists_the_allowed_ones(tmp_path: pathlib.Path) -> None:
    path = _file(tmp_path, '#SBATCH --comment={{{comment}}}\n')
    with pytest.raises(ValueError) as raised:
        _slurm(tmp_path, queue_templates={'debug': path})
    message = str(raised.value)
    assert f"queue_templates['debug']: {path}:1: unknown variable 'comment'" in message
    allowed = message.split('allowed: ')[1].split(', ')
    assert allowed == sorted(template_variables(SCHEDULERS['slurm']).names)
    assert 'partition' in allowed and 'job_body' not in allowed


def test_a_missing_file_names_the_field(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TemplateError, match=r"queue_templates\['gpu'\]: cannot read"):
        _slurm(tmp_path, queue_templates={'gpu': tmp_path / 'nowhere.mustache'})


def test_item_keys_are_allowed_only_inside_their_section(tmp_path: pathlib.Path) -> None:
    good = _file(tmp_path, '#$ -S /bin/bash\n{{#afterok}}\n{{#predecessors}}\n'
                           '# after {{{native_id}}}\n{{/predecessors}}\n{{/afterok}}\n')
    SgeJobExecutor(config=SgeExecutorConfig(work_directory=tmp_path, template=good))
    bad = _file(tmp_path, '#$ -S /bin/bash\n# after {{{native_id}}}\n', 'bad.mustache')
    with pytest.raises(TemplateError, match=r":2: unknown variable 'native_id'"):
        SgeJobExecutor(config=SgeExecutorConfig(work_directory=tmp_path, template=bad))


@pytest.mark.parametrize('name', sorted(SCHEDULERS))
def test_the_built_in_directives_are_a_valid_template_and_end_at_the_first_blank_line(
        tmp_path: pathlib.Path, name: str) -> None:
    scheduler = SCHEDULERS[name]
    directives = builtin_directives(scheduler)
    lines = directives.splitlines()
    assert lines[0] == '#!/bin/bash' and all(line.startswith(('#', '{{')) for line in lines)
    rest = scheduler.template()[len(directives):]
    assert '{{{job_body}}}' in rest and '{{{job_body}}}' not in directives
    path = _file(tmp_path, directives)
    executor = JobExecutor.get_instance(name, config=BatchSchedulerExecutorConfig(
        work_directory=tmp_path, template=path))
    assert isinstance(executor, BatchSchedulerExecutor)
    assert executor.templates.default is not None
    # The built-in directives as a user template: the very script of the built-in one.
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name='q1')))
    builtin = JobExecutor.get_instance(name, config=BatchSchedulerExecutorConfig(
        work_directory=tmp_path))
    assert isinstance(builtin, BatchSchedulerExecutor)
    assert executor.generate_script(job) == builtin.generate_script(job)


def test_the_template_is_chosen_per_queue(tmp_path: pathlib.Path) -> None:
    site = _file(tmp_path, '#SBATCH --comment=site\n#SBATCH --time={{{time_limit}}}\n',
                 'site.mustache')
    gpu = _file(tmp_path, '#!/usr/bin/env bash\n#SBATCH --comment=gpu\n\n'
                          '{{#partition}}\n#SBATCH -p {{{partition}}}\n{{/partition}}\n',
                'gpu.mustache')
    executor = _slurm(tmp_path, template=f'{site}', queue_templates={'gpu': gpu})

    def directives(queue: Optional[str]) -> List[str]:
        job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name=queue)))
        return executor.generate_script(job).partition('\n\n')[0].splitlines()

    assert directives('gpu') == ['#!/usr/bin/env bash', '#SBATCH --comment=gpu',
                                 '#SBATCH -p gpu']  # the blank line dropped
    assert directives('debug') == ['#!/bin/bash', '#SBATCH --comment=site',
                                   '#SBATCH --time=0-00:10:00']
    assert directives(None) == directives('debug')
    job = Job(JobSpec('/bin/true'))
    plain = _slurm(tmp_path).generate_script(job)
    body = executor.generate_script(job).partition('\n\n')[2]
    assert body == plain.partition('\n\n')[2]  # the library's body, unchanged


def test_a_home_relative_path_is_expanded(tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HOME', str(tmp_path))
    _file(tmp_path, '#SBATCH --comment=home\n')
    executor = _slurm(tmp_path, template='~/site.mustache')
    assert executor.templates.default is not None
    assert executor.templates.default.path == tmp_path / 'site.mustache'


SLURM_NAMES = sorted(template_variables(SCHEDULERS['slurm']).names)


@st.composite
def _templates(draw: st.DrawFn) -> str:
    """Directive lines using Slurm's variables, some inside (inverted) sections."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(SLURM_NAMES))
        line = f'#SBATCH --{draw(st.sampled_from(["x", "y-z"]))}={{{{{{{name}}}}}}}'
        section = draw(st.sampled_from([None, '#', '^']))
        if section is None:
            lines.append(line)
        else:
            lines += [f'{{{{{section}{name}}}}}', line, f'{{{{/{name}}}}}']
    return '\n'.join(lines) + '\n'


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_templates())
def test_any_template_of_known_variables_loads_and_renders_directives_only(
        tmp_path: pathlib.Path, text: str) -> None:
    scheduler = SCHEDULERS['slurm']
    template = load_template(_file(tmp_path, text), scheduler)
    executor = _slurm(tmp_path)
    inputs = executor.script_inputs(Job(JobSpec('/bin/true', attributes=JobAttributes(
        queue_name='debug'))))
    script = render_with(template, scheduler, inputs, frozenset(SLURM_NAMES))
    head, _, body = script.partition('\n\n')
    assert all(line.startswith('#') for line in head.splitlines())
    assert body == scheduler.render_script(inputs).partition('\n\n')[2]


# --- documented ------------------------------------------------------------------------------

def test_the_configuration_page_lists_every_variable_of_every_scheduler() -> None:
    page = (ROOT / 'docs' / 'configuration.md').read_text()
    for name, scheduler in SCHEDULERS.items():
        found = re.search(rf'^- `{name}`: (.*)$', page, re.M)
        assert found, f'docs/configuration.md lists no template variables of {name}'
        listed = re.findall(r'`([^`]+)`', found.group(1))
        assert listed == template_variables(scheduler).documented(), name


def test_the_module_prints_the_built_in_directives_and_variables() -> None:
    result = subprocess.run([str(ROOT / '.venv' / 'bin' / 'python'), '-m',
                             'psij.batch.user_templates', 'sge'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(builtin_directives(SCHEDULERS['sge']))
    assert 'parallel_environment, project' in result.stdout


# --- real jobs -------------------------------------------------------------------------------

def _directives_plus(scheduler: BatchScheduler, extra: str, tmp_path: pathlib.Path
                     ) -> pathlib.Path:
    return _file(tmp_path, builtin_directives(scheduler) + extra + '\n', 'real.mustache')


def _scontrol_comment(native_id: str) -> str:
    shown = subprocess.run(['scontrol', 'show', 'job', native_id], capture_output=True,
                           text=True, timeout=30).stdout
    found = re.search(r'Comment=(\S+)', shown)
    return found.group(1) if found else f'no Comment in: {shown}'


def test_a_user_template_runs_a_real_slurm_job(tmp_path: pathlib.Path) -> None:
    require_slurm()
    template = _directives_plus(SCHEDULERS['slurm'], f'#SBATCH --comment={MARK}', tmp_path)
    executor = _slurm(tmp_path, template=template)
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/echo', ['ran'], stdout_path=out))
    executor.submit(job)
    status = final_status(job, timeout=120)
    assert status.state == JobState.COMPLETED and status.exit_code == 0, status
    assert out.read_text() == 'ran\n'
    assert job.native_id is not None and _scontrol_comment(job.native_id) == MARK


def test_a_user_template_runs_a_real_grid_engine_job(tmp_path: pathlib.Path) -> None:
    require_sge()
    # -v: a variable Grid Engine sets for the job, which the job prints.
    template = _directives_plus(SCHEDULERS['sge'], f'#$ -v PSIJ_TEMPLATE_MARK={MARK}',
                                tmp_path)
    executor = SgeJobExecutor(config=SgeExecutorConfig(
        work_directory=tmp_path / 'work', queue_polling_interval=5.0, template=template))
    out = tmp_path / 'out.txt'
    job = Job(JobSpec('/bin/sh', ['-c', 'echo "$PSIJ_TEMPLATE_MARK"'], stdout_path=out,
                      inherit_environment=False))
    executor.submit(job)
    status = final_status(job, timeout=120)
    assert status.state == JobState.COMPLETED and status.exit_code == 0, status
    assert out.read_text() == f'{MARK}\n'


def test_a_user_template_over_ssh(tmp_path: pathlib.Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    require_slurm()
    host = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(host.config))
    # The template is read here, on the submitting side; the script is written there.
    template = _directives_plus(SCHEDULERS['slurm'], f'#SBATCH --comment={MARK}-ssh',
                                tmp_path)
    work = pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())
    executor = JobExecutor.get_instance('slurm', url='ssh://psij-test', config=(
        BatchSchedulerExecutorConfig(work_directory=work, initial_queue_polling_delay=0.2,
                                     queue_polling_interval=2.0, marker_polling_interval=0.5,
                                     queue_templates={'debug': template})))
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(queue_name='debug')))
    executor.submit(job)
    status = final_status(job, timeout=120)
    assert status.state == JobState.COMPLETED and status.exit_code == 0, status
    assert job.native_id is not None and _scontrol_comment(job.native_id) == f'{MARK}-ssh'
