"""`psij.ssh.SshTransport` against the real test sshd (.ci/lrm/sshd-up.sh): commands and
files as the test user, one shared connection, host keys, a master the user must open, and
the far host reached only through a jump host."""

import pathlib
import subprocess
import uuid
from typing import Iterator

import pytest
from real_tools import SshHost, require_far_host, require_sshd

from psij.ssh import SshTransport, parse_ssh_url
from psij.ssh.transport import control_directory, open_master_command

WEIRD = ['a b', "it's", '"q"', '$HOME', '`touch pwned`', 'x;touch pwned', 'line\nbreak', 'é']


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> SshHost:
    found = require_sshd()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(found.config))
    return found


def connections_to_sshd() -> int:
    """Established TCP connections from this machine to the test sshd's port."""
    listing = subprocess.run(['ss', '-Htn', 'state', 'established', '( dport = :2222 )'],
                             capture_output=True, text=True, check=True).stdout
    return len(listing.splitlines())


def close_master(host: SshHost, name: str = 'psij-test') -> None:
    subprocess.run(['ssh', '-F', str(host.config), '-o',
                    f'ControlPath={control_directory()}/%C', '-O', 'exit', name],
                   capture_output=True, timeout=30)


@pytest.fixture
def transport(host: SshHost) -> Iterator[SshTransport]:
    close_master(host)
    yield SshTransport(parse_ssh_url('ssh://psij-test'))
    close_master(host)


def test_commands_run_as_the_test_user_with_words_verbatim(transport: SshTransport) -> None:
    who = transport.run(['sh', '-c', 'whoami; cd; pwd'])
    assert (who.returncode, who.stdout) == (0, 'psijssh\n/home/psijssh\n'), who
    said = transport.run(['printf', '%s\\0', *WEIRD])
    assert said.ok and said.stdout.split('\0')[:-1] == WEIRD
    assert transport.run(['ls', '/home/psijssh/pwned']).returncode != 0
    assert transport.run(['cat'], stdin='in\n$x').stdout == 'in\n$x'
    failed = transport.run(['sh', '-c', 'echo oops >&2; exit 4'])
    assert (failed.returncode, failed.stderr, list(failed.argv)[0]) == (4, 'oops\n', 'sh')


def test_files_live_on_the_remote_side(transport: SshTransport) -> None:
    directory = pathlib.Path('/home/psijssh/transport test') / str(uuid.uuid4()) / 'sub'
    transport.make_directory(directory)
    transport.write_file(directory / '7.ec', '0\nPSIJ-JOB: x\n')
    transport.write_file(directory / '8.started', '')
    assert transport.list_directory(directory) == {'7.ec', '8.started'}
    assert transport.read_files(directory, ['7.ec', '8.started', '9.ec']) == {
        '7.ec': '0\nPSIJ-JOB: x\n', '8.started': ''}
    assert transport.read_file(directory / '9.ec') is None
    owner = transport.run(['stat', '-c', '%U %a', str(directory / '7.ec'), str(directory)])
    assert owner.stdout == 'psijssh 600\npsijssh 700\n'
    transport.remove_file(directory / '7.ec')
    assert transport.list_directory(directory) == {'8.started'}
    assert transport.old_files(directory, 3600) == set()
    assert transport.list_directory(directory / 'none') == set()
    assert transport.remote_path(pathlib.Path.home() / '.psij' / 'work') == pathlib.Path(
        '/home/psijssh/.psij/work')


def test_every_command_goes_through_one_connection(transport: SshTransport) -> None:
    before = connections_to_sshd()
    for _ in range(10):
        assert transport.run(['true']).ok
    transport.list_directory(pathlib.Path('/tmp'))
    assert connections_to_sshd() == before + 1


def test_an_unknown_host_key_is_refused(host: SshHost, tmp_path: pathlib.Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / 'config'
    config.write_text(host.config.read_text().replace(
        str(host.config.parent / 'known_hosts'), str(tmp_path / 'empty_known_hosts')))
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(config))
    result = SshTransport(parse_ssh_url('ssh://psij-test')).run(['true'])
    assert result.returncode is None, result
    assert 'ssh to psij-test failed: Host key verification failed.' in result.stderr


def test_an_unreachable_host_is_a_command_that_did_not_run(host: SshHost) -> None:
    result = SshTransport(parse_ssh_url('ssh://127.0.0.1:1')).run(['sbatch', 'x'])
    assert result.returncode is None and list(result.argv) == ['sbatch', 'x']
    assert 'ssh to 127.0.0.1 failed: ssh: connect to host 127.0.0.1 port 1' in result.stderr


def test_master_existing_uses_only_a_master_the_user_opened(host: SshHost) -> None:
    close_master(host)
    url = parse_ssh_url('ssh://psij-test?master=existing')
    refused = SshTransport(url).run(['true'])
    assert refused.returncode is None
    command = open_master_command(url)
    assert f'open it with: {command}' in refused.stderr, refused.stderr
    try:
        subprocess.run(command, shell=True, check=True, timeout=60)
        assert SshTransport(url).run(['true']).ok
    finally:
        close_master(host)


def test_the_far_host_is_reached_through_the_jump_host(monkeypatch: pytest.MonkeyPatch) -> None:
    far = require_far_host()
    monkeypatch.setenv('PSIJ_SSH_CONFIG', str(far.config))
    close_master(far, 'psij-far')
    try:
        transport = SshTransport(parse_ssh_url('ssh://psij-far'))
        said = transport.run(['sh', '-c', 'whoami; ip -4 -o addr show | grep -c 10.231.0.2'])
        assert said.ok and said.stdout == 'psijssh\n1\n', said
    finally:
        close_master(far, 'psij-far')
