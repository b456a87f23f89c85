"""The real tools tests need: Slurm, Grid Engine, mpirun, an sshd...

`require_command` is the one way a test asks for a real tool (mpirun, sbatch, qsub...): when
the tool is missing the test is skipped on a developer's machine, but FAILS when ``CI=true``,
because a skipped real-scheduler test would hide a broken install step.
"""

import dataclasses
import os
import pathlib
import shutil
import subprocess
from typing import List, NoReturn, Sequence

import pytest

IN_CI = os.environ.get('CI', '').lower() == 'true'

# Where `.ci/lrm/sshd-up.sh` keeps its state (its default; PSIJ_SSHD_DIR when it was given
# another directory).
SSHD_DIR = pathlib.Path(os.environ.get('PSIJ_SSHD_DIR', '/tmp/psij-sshd'))


def _missing(message: str) -> NoReturn:
    """Fail under CI, skip elsewhere: the one rule for a real tool that is not there."""
    if IN_CI:
        pytest.fail(message + '; under CI=true a missing real tool is a failure')
    pytest.skip(message)


def require_command(name: str) -> str:
    """The full path of ``name``; fail under CI, skip elsewhere, if it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        _missing(f'{name} is not installed (needed by this test)')
    return path


def require_slurm() -> None:
    """A working Slurm cluster (srun, sbatch, a controller that answers); fail under CI,
    skip elsewhere, if there is none. `.ci/lrm/slurm-up.sh` starts one."""
    for command in ('srun', 'sbatch', 'squeue', 'sinfo'):
        require_command(command)
    if subprocess.run(['sinfo'], capture_output=True, timeout=30).returncode != 0:
        _missing('sinfo fails: no reachable Slurm controller (run .ci/lrm/slurm-up.sh)')


def require_sge() -> None:
    """A working Grid Engine (qsub, qstat, a qmaster that answers); fail under CI, skip
    elsewhere, if there is none. `.ci/lrm/sge-up.sh` starts one."""
    for command in ('qsub', 'qstat', 'qdel', 'qacct'):
        require_command(command)
    if subprocess.run(['qstat', '-g', 'c'], capture_output=True, timeout=30).returncode != 0:
        _missing('qstat fails: no reachable Grid Engine qmaster (run .ci/lrm/sge-up.sh)')


@dataclasses.dataclass(frozen=True)
class SshHost:
    """A host of the test sshd's client config: ``ssh -F config name`` logs in as ``user``
    with a key, checking the host key against the config's own known_hosts (never accepting
    an unknown one) and never prompting (BatchMode)."""

    config: pathlib.Path
    name: str
    user: str = 'psijssh'

    def ssh(self, *remote: str, options: Sequence[str] = ()) -> List[str]:
        """The argv that runs ``remote`` there (the words joined and run by the remote user's
        shell, as ssh does), with extra ssh ``options`` (e.g. ``['-o', 'ProxyJump=none']``)."""
        return ['ssh', '-F', str(self.config), *options, self.name, *remote]


def _require_ssh_host(name: str, start: str) -> SshHost:
    require_command('ssh')
    host = SshHost(SSHD_DIR / 'client' / 'config', name)
    if not host.config.is_file():
        _missing(f'no {host.config}: no test sshd here (run {start})')
    try:
        result = subprocess.run(host.ssh('true'), capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        _missing(f'ssh {name} did not answer in 30 s (run {start})')
    if result.returncode != 0:
        _missing(f'ssh {name} fails: {result.stderr.strip()} (run {start})')
    return host


def require_sshd() -> SshHost:
    """``psij-test``: the real sshd on 127.0.0.1 (port 2222) that logs in as the test user
    ``psijssh``, who may use the local Slurm and Grid Engine; fail under CI, skip elsewhere,
    if a login fails. `.ci/lrm/sshd-up.sh` starts it (`.ci/setup` does)."""
    return _require_ssh_host('psij-test', 'SSHD_NETNS=1 .ci/lrm/sshd-up.sh')


def require_far_host() -> SshHost:
    """``psij-far``: a second host (10.231.0.2, its own network namespace and sshd, the same
    file system and users) reached only through ``psij-test`` as ProxyJump; it cannot reach
    the schedulers on 127.0.0.1. Fail under CI, skip elsewhere, if a login fails."""
    require_sshd()
    return _require_ssh_host('psij-far', 'SSHD_NETNS=1 .ci/lrm/sshd-up.sh')
