"""The ``psij`` command with ``--url ssh://...`` (or ``PSIJ_URL``): a job submitted over SSH
to the real Slurm, seen and waited for from another command, and bad urls."""

import pathlib
import uuid

import pytest
from real_tools import require_slurm, require_sshd
from test_cli_support import USAGE, assert_one_error_line, psij, psij_environment


@pytest.fixture
def work_dir() -> pathlib.Path:
    # Under this user's home: the same path under the test user's home over SSH.
    return pathlib.Path.home() / '.psij' / 'ssh-tests' / str(uuid.uuid4())


def test_submit_status_and_wait_over_ssh(work_dir: pathlib.Path) -> None:
    require_slurm()
    host = require_sshd()
    env = psij_environment(work_dir, {'PSIJ_SSH_CONFIG': str(host.config),
                                      'PSIJ_URL': 'ssh://psij-test'})
    submitted = psij(work_dir, 'submit', '-e', 'slurm', '--', '/bin/sh', '-c', 'exit 4',
                     env=env)
    assert submitted.returncode == 0, str(submitted)
    native_id = submitted.stdout.strip()
    waited = psij(work_dir, 'wait', '-e', 'slurm', native_id, env=env, timeout=180)
    assert waited.returncode == 4, str(waited)
    status = psij(work_dir, 'status', '-e', 'slurm', '--url', 'ssh://psij-test', native_id,
                  env={**env, 'PSIJ_URL': ''})
    assert 'FAILED' in status.stdout and 'exit=4' in status.stdout, str(status)


def test_a_bad_url_is_a_usage_error_naming_it(work_dir: pathlib.Path) -> None:
    result = psij(work_dir, 'list', '-e', 'slurm', '--url', 'ssh://host:0')
    assert_one_error_line(result, USAGE, "JobExecutor url 'ssh://host:0': the port '0'")
    assert '(--url)' in result.stderr


def test_a_campaign_refuses_a_url(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (tmp_path / 'jobs.map').write_text('true\n')
    result = psij(work_dir, 'campaign', 'submit', str(tmp_path / 'jobs.map'), '--logs',
                  str(tmp_path / 'logs'), '-e', 'slurm', '--url', 'ssh://psij-test')
    assert_one_error_line(result, USAGE, '--url ssh://psij-test: campaigns run only where')
