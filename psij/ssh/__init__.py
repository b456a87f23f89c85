"""Batch schedulers reached over SSH: the ``ssh://`` url of an executor, and the transport
that runs its commands and handles its files on the remote side (docs/remote.md)."""

from psij.ssh.transport import SshTransport
from psij.ssh.url import SshUrl, parse_ssh_url

__all__ = ['SshTransport', 'SshUrl', 'parse_ssh_url']
