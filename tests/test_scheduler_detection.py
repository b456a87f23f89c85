"""The executor name ``auto`` (`psij.scheduler_detection`): which scheduler answers here."""

import json
import os
import pathlib
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import pytest
from batch_backends import FAKE_LSF, FAKE_PBS
from real_tools import SshHost, require_sge, require_slurm, require_sshd

from psij import JobExecutor
from psij.scheduler_detection import PROBES, detect, verdict
from psij.transport import CommandResult

DETECT = ('import json; from psij.scheduler_detection import detect; d = detect(); '
          'print(json.dumps({"name": d.name, "reason": d.reason}))')


def answer(stdout: str, returncode: Optional[int] = 0) -> CommandResult:
    return CommandResult(['probe'], returncode, stdout, '')


MISSING = CommandResult(['probe'], None, '', 'command not found on PATH')


def test_slurm_answers_only_when_its_controller_is_up() -> None:
    up = answer('Slurmctld(primary) at vm is UP\n')
    assert verdict('slurm', [up]) == ('slurm', 'scontrol ping: Slurmctld(primary) at vm is UP')
    assert verdict('slurm', [answer('Slurmctld(primary) at vm is DOWN\n', 1)]) is None
    assert verdict('slurm', [MISSING]) is None


@pytest.mark.parametrize('banner', ['SGE 8.1.9', 'UGE 8.6.7', 'OGS/GE 2011.11p1',
                                    'Altair Grid Engine 2023.1.0', 'GE 6.2u5'])
def test_every_grid_engine_names_itself_in_qstat_help(banner: str) -> None:
    found = verdict('sge', [answer(f'{banner}\nusage: qstat [options]\n'), answer('vm\n')])
    assert found is not None and found[0] == 'sge' and banner in found[1]


def test_a_qstat_that_is_not_grid_engines_is_not_taken_for_it() -> None:
    assert verdict('sge', [answer('usage: qstat [-f [-1]] [-W site_specific]\n'),
                           answer('vm\n')]) is None
    assert verdict('sge', [answer('SGE 8.1.9\n')]) is None  # the qmaster did not answer


@pytest.mark.parametrize('version, name', [('2022.1.0', 'pbs'), ('19.1.3', 'pbs'),
                                           ('14.1.2', 'pbs'), ('6.1.3', 'torque'),
                                           ('4.2.10', 'torque')])
def test_pbs_version_tells_pbs_pro_from_torque(version: str, name: str) -> None:
    server = f'Server: head\n    server_state = Active\n    pbs_version = {version}\n'
    found = verdict('pbs', [answer(server)])
    assert found is not None and found[0] == name


def test_probes_stop_at_the_first_scheduler_that_answers() -> None:
    answers: Dict[str, CommandResult] = {
        'scontrol ping': MISSING, 'bparams -a': MISSING,
        'qstat -help': answer('SGE 8.1.9\nusage: qstat\n'), 'qconf -sss': answer('vm\n')}
    asked: List[str] = []

    def run(argv: Sequence[str]) -> CommandResult:
        asked.append(' '.join(argv))
        return answers[' '.join(argv)]

    found = detect(run=run)
    assert (found.name, asked) == ('sge', ['scontrol ping', 'bparams -a', 'qstat -help',
                                           'qconf -sss'])
    assert [command for command, _ in found.probes] == asked


def test_nothing_answering_is_local_and_says_what_was_tried() -> None:
    found = detect(run=lambda argv: MISSING)
    assert found.name == 'local'
    assert [command for command, _ in found.probes] == [
        ' '.join(commands[0]) for _, commands in PROBES]


def _detect_with_path(path: Sequence[pathlib.Path], **env: str) -> Dict[str, str]:
    environment = dict(os.environ, PATH=os.pathsep.join(str(p) for p in path), **env)
    done = subprocess.run([sys.executable, '-c', DETECT], env=environment,
                          capture_output=True, text=True, timeout=120, check=True)
    result: Dict[str, str] = json.loads(done.stdout)
    return result


def test_auto_finds_the_real_slurm_here() -> None:
    require_slurm()
    assert _detect_with_path([pathlib.Path(p) for p in os.environ['PATH'].split(os.pathsep)]
                             )['name'] == 'slurm'
    executor = JobExecutor.get_instance('auto')
    assert executor.name == 'slurm'


def test_auto_over_ssh_asks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    require_slurm()
    host: SshHost = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(host.config))
    executor = JobExecutor.get_instance('auto', url='ssh://psij-test')
    assert (executor.name, executor.url) == ('slurm', 'ssh://psij-test')


def test_auto_finds_the_real_grid_engine_when_slurm_is_down(tmp_path: pathlib.Path) -> None:
    require_sge()
    # A test double of an installed Slurm whose controller does not answer, first on PATH.
    down = tmp_path / 'slurm-down'
    down.mkdir()
    scontrol = down / 'scontrol'
    scontrol.write_text('#!/bin/sh\necho "slurm_load_ctl_conf error: Unable to contact slurm '
                        'controller (connect failure)" >&2\nexit 1\n')
    scontrol.chmod(0o755)
    found = _detect_with_path([down] + [pathlib.Path(p)
                                        for p in os.environ['PATH'].split(os.pathsep)])
    assert found['name'] == 'sge', found
    assert 'SGE' in found['reason']


def test_auto_is_local_where_no_scheduler_is_installed(tmp_path: pathlib.Path) -> None:
    assert _detect_with_path([tmp_path]) == {
        'name': 'local',
        'reason': 'no batch scheduler answers here (Slurm, LSF, Grid Engine, PBS Pro, Torque)'}


@pytest.mark.parametrize('flavour', ['pbspro', 'torque'])
def test_auto_finds_the_pbs_test_double(tmp_path: pathlib.Path, flavour: str) -> None:
    python_bin = pathlib.Path(sys.executable).parent
    found = _detect_with_path([FAKE_PBS, python_bin], FAKE_PBS_STATE=str(tmp_path),
                              FAKE_PBS_FLAVOUR=flavour)
    assert found['name'] == ('pbs' if flavour == 'pbspro' else 'torque'), found


def test_auto_finds_the_lsf_test_double(tmp_path: pathlib.Path) -> None:
    python_bin = pathlib.Path(sys.executable).parent
    found = _detect_with_path([FAKE_LSF, python_bin], PSIJ_FAKE_LSF_DIR=str(tmp_path))
    assert found['name'] == 'lsf', found
