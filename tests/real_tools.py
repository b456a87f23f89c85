"""The real tools tests need: Slurm, Grid Engine, mpirun...

`require_command` is the one way a test asks for a real tool (mpirun, sbatch, qsub...): when
the tool is missing the test is skipped on a developer's machine, but FAILS when ``CI=true``,
because a skipped real-scheduler test would hide a broken install step.
"""

import os
import shutil
import subprocess

import pytest

IN_CI = os.environ.get('CI', '').lower() == 'true'


def require_command(name: str) -> str:
    """The full path of ``name``; fail under CI, skip elsewhere, if it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        message = f'{name} is not installed (needed by this test)'
        if IN_CI:
            pytest.fail(message + '; under CI=true a missing real tool is a failure')
        pytest.skip(message)
    return path


def require_slurm() -> None:
    """A working Slurm cluster (srun, sbatch, a controller that answers); fail under CI,
    skip elsewhere, if there is none. `.ci/lrm/slurm-up.sh` starts one."""
    for command in ('srun', 'sbatch', 'squeue', 'sinfo'):
        require_command(command)
    if subprocess.run(['sinfo'], capture_output=True, timeout=30).returncode != 0:
        message = 'sinfo fails: no reachable Slurm controller (run .ci/lrm/slurm-up.sh)'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def require_sge() -> None:
    """A working Grid Engine (qsub, qstat, a qmaster that answers); fail under CI, skip
    elsewhere, if there is none. `.ci/lrm/sge-up.sh` starts one."""
    for command in ('qsub', 'qstat', 'qdel', 'qacct'):
        require_command(command)
    if subprocess.run(['qstat', '-g', 'c'], capture_output=True, timeout=30).returncode != 0:
        message = 'qstat fails: no reachable Grid Engine qmaster (run .ci/lrm/sge-up.sh)'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
