"""The torque executor's behaviour, through the Torque flavour of the fake PBS server of
``tests/doubles/fake_pbs`` (a test double). The behaviour both schedulers share is tested by
the functions imported from tests/test_pbs_executor.py, run here with this module's `site`;
attach, cancel (a qdel from outside too), many jobs and the work directory's files by
tests/test_batch_contract.py."""

import pathlib
import re
from typing import Iterator

import pytest
from batch_backends import fake_pbs_backend
from test_pbs_executor import (
    Site,
    final,
    test_arguments_arrive_verbatim,
    test_bad_queue_names_the_field,
    test_cancel_of_a_job_that_has_ended_is_not_an_error,
    test_environment_directory_and_streams,
    test_exit_codes_and_states,
    test_failing_status_command_changes_no_job,
    test_job_that_vanishes_without_a_marker_has_an_unknown_outcome,
    test_list_shows_the_jobs_still_in_the_queue,
    test_missing_directory_fails_with_a_message,
    test_multiple_launcher_starts_every_copy,
    test_submitter_environment_is_not_copied,
    test_unknown_resource_names_the_custom_attribute,
    test_walltime_limit_ends_the_job_as_failed_naming_it,
    test_without_a_directory_the_job_starts_where_it_was_submitted,
)

from psij import Job, JobAttributes, JobSpec, JobState, ResourceSpecV1

__all__ = [
    'test_arguments_arrive_verbatim', 'test_bad_queue_names_the_field',
    'test_cancel_of_a_job_that_has_ended_is_not_an_error',
    'test_environment_directory_and_streams', 'test_exit_codes_and_states',
    'test_failing_status_command_changes_no_job',
    'test_job_that_vanishes_without_a_marker_has_an_unknown_outcome',
    'test_list_shows_the_jobs_still_in_the_queue',
    'test_missing_directory_fails_with_a_message', 'test_multiple_launcher_starts_every_copy',
    'test_submitter_environment_is_not_copied',
    'test_unknown_resource_names_the_custom_attribute',
    'test_walltime_limit_ends_the_job_as_failed_naming_it',
    'test_without_a_directory_the_job_starts_where_it_was_submitted',
]


@pytest.fixture
def site(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from fake_pbs_backend(tmp_path, monkeypatch, 'torque', 'torque')


def test_status_is_one_qstat_f_for_all_jobs(site: Site) -> None:
    jobs = [Job(JobSpec('/bin/sleep', ['3'])) for _ in range(3)]
    for job in jobs:
        site.executor.submit(job)
    for job in jobs:
        assert final(job).state == JobState.COMPLETED
    status_calls = site.calls('qstat')
    assert status_calls, 'no status command ran'
    for call in status_calls:
        assert call[0] == '-f'
        assert all(re.fullmatch(r'\d+\.fake-torque\.example\.org', native_id)
                   for native_id in call[1:])
    assert any(len(call) == 4 for call in status_calls)  # all three in one command
    assert site.calls('qsub')[0][:4] == ['-j', 'oe', '-o', '/dev/null']


def test_nodes_reach_the_scheduler(site: Site) -> None:
    job = Job(JobSpec('/bin/sh', ['-c', 'wc -l < "$PBS_NODEFILE"'], stdout_path='n.txt',
                      resources=ResourceSpecV1(node_count=2, processes_per_node=3,
                                               exclusive_node_use=True),
                      attributes=JobAttributes(custom_attributes={'torque.l.pmem': '100mb'})))
    site.executor.submit(job)
    assert final(job).state == JobState.COMPLETED
    assert job.native_id is not None
    record = site.double_job(job.native_id)
    assert record['resources'] == {'walltime': '00:10:00', 'nodes': '2:ppn=3',
                                   'pmem': '100mb'}
    assert record['exclusive'] is True
    assert (site.submit_dir / 'n.txt').read_text().strip() == '6'
