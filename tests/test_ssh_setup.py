"""The SSH test infrastructure itself (.ci/lrm/sshd-up.sh, run by .ci/setup with SSHD_NETNS=1):
a real sshd that logs in as the test user ``psijssh`` with a key only, checks host keys
strictly, and lets that user use the real Slurm and Grid Engine; and a far host reached only
through it. The SSH transport's own tests build on these; when one of these fails, look here
first. Under CI=true a missing sshd fails (see `real_tools.require_sshd`).
"""

import subprocess
import time
from typing import List

from real_tools import SshHost, require_far_host, require_sge, require_slurm, require_sshd

TIMEOUT = 120.0  # seconds for one ssh command; a job here runs `true`, unless the cluster is busy


def _run(argv: List[str], timeout: float = TIMEOUT) -> 'subprocess.CompletedProcess[str]':
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def _output(host: SshHost, remote: str) -> str:
    result = _run(host.ssh(remote))
    assert result.returncode == 0, (remote, result.returncode, result.stderr)
    return result.stdout.strip()


def test_logs_in_as_the_test_user() -> None:
    host = require_sshd()
    assert _output(host, 'whoami; echo "$HOME"; echo "$SHELL"').split() == [
        'psijssh', '/home/psijssh', '/bin/bash']


def test_an_unknown_host_key_is_refused() -> None:
    host = require_sshd()
    result = _run(host.ssh('true', options=['-o', 'UserKnownHostsFile=/dev/null']), timeout=30)
    assert result.returncode == 255
    assert 'Host key verification failed' in result.stderr


def test_only_keys_get_in() -> None:
    host = require_sshd()
    no_key = ['-o', 'PubkeyAuthentication=no', '-o', 'PasswordAuthentication=yes']
    result = _run(host.ssh('true', options=no_key), timeout=30)
    assert result.returncode == 255
    assert 'Permission denied (publickey)' in result.stderr


def test_sbatch_over_ssh_runs_a_job_to_completed() -> None:
    require_slurm()
    host = require_sshd()
    job_id = _output(host, 'sbatch --parsable --wait -J psij-ssh-setup -o /dev/null --wrap true')
    # sacct lags the controller by up to ~0.25 s (.ci/lrm/README.md): poll it.
    deadline = time.monotonic() + 30
    sacct = f'sacct -X -n -P -j {job_id} -o User,State,ExitCode'
    record = _output(host, sacct)
    while (record.split('|') + [''])[1] in ('', 'PENDING', 'RUNNING') \
            and time.monotonic() < deadline:
        time.sleep(0.5)
        record = _output(host, sacct)
    assert record == 'psijssh|COMPLETED|0:0'


def test_qsub_over_ssh_runs_a_job_as_the_test_user() -> None:
    require_sge()
    host = require_sshd()
    job_id = _output(host, 'qsub -sync y -terse -b y -N psij-ssh-setup -o /dev/null -e /dev/null'
                           ' true')
    deadline = time.monotonic() + 30
    while True:
        accounting = _run(host.ssh(f'qacct -j {job_id}'))
        if accounting.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    fields = dict(line.split(None, 1) for line in accounting.stdout.splitlines()
                  if len(line.split(None, 1)) == 2)
    assert (fields.get('owner', '').strip(), fields.get('exit_status', '').strip()) == (
        'psijssh', '0'), accounting.stdout


def test_the_far_host_is_another_network_host() -> None:
    far = require_far_host()
    # Its own addresses; the near sshd (and so slurmctld) on 127.0.0.1 is not its loopback.
    assert _output(far, 'whoami; ip -o -4 addr show | grep -c 10.231.0.2') == 'psijssh\n1'
    result = _run(far.ssh('exec 3<>/dev/tcp/127.0.0.1/2222'), timeout=30)
    assert result.returncode != 0 and 'Connection refused' in result.stderr


def test_the_far_host_is_reached_only_through_the_jump() -> None:
    far = require_far_host()
    # Only psijssh's processes (the psij-test sshd forwarding the jump) have a route to it.
    started = time.monotonic()
    direct = ['-o', 'ProxyJump=none', '-o', 'ConnectTimeout=10']
    result = _run(far.ssh('true', options=direct), timeout=30)
    assert result.returncode == 255
    assert 'No route to host' in result.stderr
    assert time.monotonic() - started < 5  # refused at once, not a timeout
