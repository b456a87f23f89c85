"""The ``ssh://`` url of an executor, and which transport a url gives (no ssh runs here)."""

import pytest
from psij.executors.slurm import SlurmJobExecutor

from psij.ssh import SshTransport, SshUrl, parse_ssh_url
from psij.transport import LocalTransport, transport_for_url


@pytest.mark.parametrize('url, expected', [
    ('ssh://cluster', SshUrl('cluster')),
    ('ssh://me@login.example.org', SshUrl('login.example.org', 'me')),
    ('ssh://me@10.0.0.1:2222', SshUrl('10.0.0.1', 'me', 2222)),
    ('ssh://[::1]:22', SshUrl('[::1]', None, 22)),
    ('ssh://cluster/?master=existing', SshUrl('cluster', master='existing')),
])
def test_good_urls(url: str, expected: SshUrl) -> None:
    assert parse_ssh_url(url) == expected


def test_the_destination_is_what_ssh_takes() -> None:
    assert parse_ssh_url('ssh://me@[::1]:22').destination == 'me@::1'
    assert str(parse_ssh_url('ssh://me@host:2222?master=existing')) == 'ssh://me@host:2222'


@pytest.mark.parametrize('url, why', [
    ('sftp://host', "the scheme is 'sftp'"),
    ('ssh://', "the host '' is not a host name"),
    ('ssh://-oProxyCommand=x', 'is not a host name'),
    ('ssh://host:0', "the port '0' is not 1 to 65535"),
    ('ssh://host:99999', 'is not 1 to 65535'),
    ('ssh://host/home/me', 'a path or fragment has no meaning here'),
    ('ssh://a b@host', "the user name 'a b' is not one"),
    ('ssh://host?master=sometimes', "master='sometimes' is not one of auto, existing"),
    ('ssh://host?colour=blue', 'unknown option(s) colour'),
])
def test_bad_urls_name_the_url_and_the_allowed_forms(url: str, why: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_ssh_url(url)
    message = str(raised.value)
    assert message.startswith(f'JobExecutor url {url!r}: ') and why in message, message
    assert "allowed: 'ssh://[user@]host[:port]'" in message


def test_the_url_chooses_the_transport() -> None:
    assert isinstance(transport_for_url(None), LocalTransport)
    assert isinstance(transport_for_url('local://'), LocalTransport)
    remote = transport_for_url('ssh://me@cluster')
    assert isinstance(remote, SshTransport) and remote.key == 'ssh://me@cluster'
    assert remote == transport_for_url('ssh://me@cluster?master=auto')
    assert remote != transport_for_url('ssh://other@cluster')
    with pytest.raises(ValueError, match=r"JobExecutor url 'http://x' is not one psij knows; "
                                         r"allowed: None or 'local://'"):
        transport_for_url('http://x')


def test_an_executor_with_a_bad_url_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"JobExecutor url 'ssh://h:0': the port"):
        SlurmJobExecutor(url='ssh://h:0')
