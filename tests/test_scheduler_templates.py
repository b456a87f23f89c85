"""Which job script template a `BatchScheduler` renders: its own, beside its module, else the
one of the scheduler it extends; shown with the example plugin's ``site_slurm`` (a Slurm
subclass in another distribution with a template of its own) and run on the real Slurm."""

import pathlib
import subprocess

import pytest
from psij.executors.slurm import Slurm, SlurmJobExecutor
from real_tools import IN_CI, require_slurm

from psij import Job, JobExecutor, JobSpec, JobState
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig


def site_slurm(work_directory: pathlib.Path) -> BatchSchedulerExecutor:
    """The example plugin's executor (fails under CI when the plugin is not installed)."""
    if 'site_slurm' not in JobExecutor.get_executor_names():
        message = 'the example plugin is not installed (pip install tests/third_party_plugin)'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    config = BatchSchedulerExecutorConfig(work_directory=work_directory)
    executor = JobExecutor.get_instance('site_slurm', config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    return executor


def test_a_scheduler_subclassed_in_another_package_renders_its_own_template(
        tmp_path: pathlib.Path) -> None:
    executor = site_slurm(tmp_path)
    assert type(executor.scheduler).__module__ == 'psij_detached.site_slurm'
    assert executor.name == 'site_slurm' and executor.directory == tmp_path / 'site_slurm'
    script = executor.generate_script(Job(JobSpec('/bin/true')))
    assert '#SBATCH --comment=psij-site-template\n' in script
    assert 'psij_end "$psij_exit_code"' in script  # psij's common body follows them


class QuietSlurm(Slurm):
    """A subclass in a module with no template beside it (this test module)."""

    name = 'quiet_slurm'


class QuietSlurmJobExecutor(SlurmJobExecutor):
    """An executor of it; its name comes from its scheduler."""

    scheduler = QuietSlurm()


def test_a_subclass_without_a_template_uses_the_one_of_the_scheduler_it_extends(
        tmp_path: pathlib.Path) -> None:
    executor = QuietSlurmJobExecutor(config=BatchSchedulerExecutorConfig(
        work_directory=tmp_path))
    assert executor.name == 'quiet_slurm'
    script = executor.generate_script(Job(JobSpec('/bin/true')))
    assert script.startswith('#!/bin/bash\n#SBATCH --job-name=true\n')
    assert f'#SBATCH --output={tmp_path}/quiet_slurm/%j.out\n' in script
    assert 'scontrol show hostnames' in script  # Slurm's nodefile function
    assert '#SBATCH --comment' not in script


def test_the_site_template_reaches_the_real_slurm(tmp_path: pathlib.Path) -> None:
    require_slurm()
    executor = site_slurm(tmp_path)
    job = Job(JobSpec('/bin/sleep', ['2']))
    executor.submit(job)
    shown = subprocess.run(['scontrol', 'show', 'job', str(job.native_id)], capture_output=True,
                           text=True, timeout=30).stdout
    status = job.wait(timeout=120)
    assert 'Comment=psij-site-template' in shown and 'Requeue=0' in shown, shown
    assert status is not None and status.state == JobState.COMPLETED, status
