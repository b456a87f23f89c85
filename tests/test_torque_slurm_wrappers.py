"""The torque executor against REAL code that speaks Torque's command line: Slurm's
Torque-compatible ``qsub``, ``qstat`` and ``qdel`` (Debian package slurm-wlm-torque: perl
scripts) over the real Slurm cluster of .ci/lrm/slurm-up.sh.

The package conflicts with gridengine-client, so it is not installed: .ci/lrm/
slurm-torque-wrappers.sh unpacks it into /opt/psij-slurm-torque (PSIJ_SLURM_TORQUE_BIN names
another bin directory). Under CI=true, missing wrappers or a missing cluster fail these tests.

The shared behaviour tests of tests/test_pbs_executor.py run here with this module's `site`,
except those that need the fake server's knobs. What the wrappers do differently from Torque
(captured in tests/fixtures/torque/slurm-wrapper-*): ``qstat -f`` never gives an exit status
(the job's marker settles a job; a job killed before writing one waits ``outcome_timeout``),
there is no ``qstat -x`` and no ``qselect``, and ``qdel`` is silent for ended jobs.
"""

import os
import pathlib
import subprocess
from typing import Iterator

import pytest
import test_batch_contract as contract
from real_tools import IN_CI, require_slurm
from test_pbs_executor import (
    Site,
    final,
    submit_running,
    test_arguments_arrive_verbatim,
    test_bad_queue_names_the_field,
    test_cancel_of_a_job_that_has_ended_is_not_an_error,
    test_environment_directory_and_streams,
    test_exit_codes_and_states,
    test_missing_directory_fails_with_a_message,
    test_multiple_launcher_starts_every_copy,
    test_without_a_directory_the_job_starts_where_it_was_submitted,
)

from psij import JobExecutor, JobState, SubmitException
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig

__all__ = [
    'test_arguments_arrive_verbatim',
    'test_attach_from_another_process_while_running_and_after',
    'test_attach_rejects_a_malformed_id', 'test_bad_queue_names_the_field',
    'test_cancel_of_a_job_that_has_ended_is_not_an_error', 'test_cancel_pending_job',
    'test_cancel_running_job', 'test_environment_directory_and_streams',
    'test_exit_codes_and_states', 'test_many_jobs_are_all_accounted_for',
    'test_missing_directory_fails_with_a_message', 'test_multiple_launcher_starts_every_copy',
    'test_script_and_markers_are_user_only',
    'test_without_a_directory_the_job_starts_where_it_was_submitted',
]

# The contract of every batch backend (tests/test_batch_contract.py), run with this module's
# `site`, under the expectations it keeps for 'torque on slurm wrappers'.
_LABEL = 'torque on slurm wrappers'
test_attach_from_another_process_while_running_and_after = contract.on_site(
    contract.test_attach_while_running_and_after, _LABEL)
test_attach_rejects_a_malformed_id = contract.on_site(
    contract.test_attach_refuses_a_malformed_id, _LABEL)
test_cancel_pending_job = contract.on_site(contract.test_cancel_queued_job, _LABEL)
test_cancel_running_job = contract.on_site(contract.test_cancel_running_job, _LABEL)
test_many_jobs_are_all_accounted_for = contract.on_site(contract.test_many_jobs_at_once, _LABEL)
test_script_and_markers_are_user_only = contract.on_site(
    contract.test_files_are_user_only_and_go_as_documented, _LABEL)

WRAPPERS = pathlib.Path(os.environ.get('PSIJ_SLURM_TORQUE_BIN', '/opt/psij-slurm-torque/bin'))
OUTCOME_TIMEOUT = 10.0


def require_wrappers() -> None:
    """Slurm's Torque-compatible commands, unpacked by .ci/lrm/slurm-torque-wrappers.sh; fail
    under CI, skip elsewhere, if they are missing."""
    require_slurm()
    if not all((WRAPPERS / name).is_file() for name in ('qsub', 'qstat', 'qdel', 'sbatch')):
        message = (f'no Slurm Torque-compatible commands in {WRAPPERS} (run '
                   '.ci/lrm/slurm-torque-wrappers.sh as root)')
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def site(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    require_wrappers()
    monkeypatch.setenv('PATH', f'{WRAPPERS}{os.pathsep}{os.environ["PATH"]}')
    submit_dir = tmp_path / 'submit'
    submit_dir.mkdir()
    monkeypatch.chdir(submit_dir)
    config = BatchSchedulerExecutorConfig(
        work_directory=tmp_path / 'work', queue_polling_interval=3.0,
        initial_queue_polling_delay=0.5, outcome_timeout=OUTCOME_TIMEOUT)
    executor = JobExecutor.get_instance('torque', config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    yield Site(executor, tmp_path / 'work', None, submit_dir)
    # Slurm's own files would land here if qsub were not told -o /dev/null.
    assert sorted(path.name for path in submit_dir.iterdir()
                  if not path.name.endswith('.txt')) == []


def test_ids_are_slurm_job_ids(site: Site, tmp_path: pathlib.Path) -> None:
    job = submit_running(site, tmp_path, 'exec sleep 60')
    assert job.native_id is not None and job.native_id.isdigit()
    shown = subprocess.run(['squeue', '-h', '-t', 'all', '-j', job.native_id, '-o', '%j|%T'],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert shown == 'sh|RUNNING'  # -N from the #PBS line, which sbatch reads
    job.cancel()
    assert final(job).state == JobState.CANCELED


def test_qdel_from_outside_leaves_the_outcome_unknown(site: Site,
                                                     tmp_path: pathlib.Path) -> None:
    """The wrappers' qstat says C and no exit status, Slurm's qdel kills at once (no marker):
    after outcome_timeout the job is FAILED, its exit code unknown -- never COMPLETED."""
    job = submit_running(site, tmp_path)
    assert job.native_id is not None
    subprocess.run(['qdel', job.native_id], check=True)
    status = final(job)
    assert (status.state, status.exit_code) == (JobState.FAILED, None), status
    assert 'exit code is unknown' in (status.message or ''), status


def test_list_needs_qselect_which_the_wrappers_lack(site: Site) -> None:
    with pytest.raises(SubmitException, match='qselect'):
        site.executor.list()
