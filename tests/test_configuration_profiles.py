"""Profiles from Python: the spec they fill (the caller's fields win) and the executor they
build (its config class, validated)."""

import pathlib
from datetime import timedelta

import pytest

from psij import Job, JobAttributes, JobState, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig
from psij.configuration import ConfigFile, ConfigurationError, Profile, load


def _profile(tmp_path: pathlib.Path, text: str, name: str = 'p') -> Profile:
    path = tmp_path / 'config.toml'
    path.write_text(text)
    return load([ConfigFile('user', path)]).profile(name)


def test_job_spec_takes_the_profile_and_the_callers_fields_win(tmp_path: pathlib.Path) -> None:
    profile = _profile(tmp_path, '[profile.p]\nlauncher = "multiple"\n'
                       '[profile.p.resources]\nprocess_count = 4\n'
                       '[profile.p.attributes]\nduration = 3600\nqueue_name = "gpu"\n'
                       'account = "lab"\ncustom_attributes.slurm.constraint = "a100"\n'
                       'custom_attributes."slurm.qos" = "high"\n')
    spec = profile.job_spec(executable='/bin/true')
    assert spec.launcher == 'multiple'
    assert spec.resources == ResourceSpecV1(process_count=4)
    assert spec.attributes.duration == timedelta(hours=1)
    assert (spec.attributes.queue_name, spec.attributes.account) == ('gpu', 'lab')
    assert spec.attributes.custom_attributes == {'slurm.constraint': 'a100',
                                                 'slurm.qos': 'high'}
    mine = JobAttributes(duration=timedelta(minutes=2), queue_name='debug',
                         custom_attributes={'slurm.qos': 'low'})
    spec = profile.job_spec(executable='/bin/true', launcher='single',
                            resources=ResourceSpecV1(node_count=2), attributes=mine)
    assert spec.launcher == 'single'
    assert spec.resources == ResourceSpecV1(node_count=2)  # whole, never mixed
    assert spec.attributes.duration == timedelta(minutes=2)
    assert (spec.attributes.queue_name, spec.attributes.account) == ('debug', 'lab')
    assert spec.attributes.custom_attributes == {'slurm.constraint': 'a100', 'slurm.qos': 'low'}
    # The caller's attributes object is not changed (it may be shared by other specs).
    assert mine.account is None and mine.custom_attributes == {'slurm.qos': 'low'}


def test_executor_gets_its_config_class_and_the_settings(tmp_path: pathlib.Path) -> None:
    profile = _profile(tmp_path, f'[profile.p]\nexecutor = "slurm"\nurl = "ssh://nowhere"\n'
                       f'queue_polling_interval = 7\nkeep_files = true\n'
                       f'work_directory = "{tmp_path / "w"}"\n')
    config = profile.executor_config()
    assert isinstance(config, BatchSchedulerExecutorConfig)
    assert (config.queue_polling_interval, config.keep_files) == (7.0, True)
    assert config.work_directory == tmp_path / 'w'
    config = profile.executor_config(work_directory=tmp_path / 'other', command_timeout=5)
    assert isinstance(config, BatchSchedulerExecutorConfig)
    assert (config.work_directory, config.command_timeout) == (tmp_path / "other", 5.0)
    with pytest.raises(ConfigurationError, match="'max_in' is not a setting of executor "
                                                 "'slurm'.*queue_polling_interval"):
        profile.executor_config(max_in=3)
    # Another executor than the profile's must take every setting of the profile.
    with pytest.raises(ConfigurationError, match="'queue_polling_interval' is not a setting of "
                                                 "executor "
                                                 "'local'"):
        profile.executor('local')


def test_sge_profiles_take_the_grid_engine_settings(tmp_path: pathlib.Path) -> None:
    profile = _profile(tmp_path, '[profile.p]\nexecutor = "sge"\nparallel_environment = "smp"\n')
    config = profile.executor_config()
    assert type(config).__name__ == 'SgeExecutorConfig'
    assert vars(config)['parallel_environment'] == 'smp'
    with pytest.raises(ConfigurationError, match='parallel_environment'):
        _profile(tmp_path, '[profile.p]\nexecutor = "sge"\nparallel_environment = "a b"\n')


def test_a_local_profile_runs_a_job(tmp_path: pathlib.Path) -> None:
    out = tmp_path / 'out.txt'
    profile = _profile(tmp_path, f'[profile.p]\nexecutor = "local"\nmax_in_flight = 1\n'
                       f'launcher = "multiple"\nwork_directory = "{tmp_path / "work"}"\n'
                       '[profile.p.resources]\nprocess_count = 3\n')
    executor = profile.executor()
    assert executor.name == 'local'
    assert executor.config.work_directory == tmp_path / 'work'
    assert vars(executor.config)['max_in_flight'] == 1
    job = Job(profile.job_spec(executable='/bin/echo', arguments=['x'], stdout_path=out))
    executor.submit(job)
    assert job.wait(timeout=60) is not None
    assert job.status.state == JobState.COMPLETED, job.status
    assert out.read_text() == 'x\n' * 3
    assert (tmp_path / 'work' / 'local').is_dir()
