"""The PSI/J ``url`` of an executor that reaches its scheduler over SSH:
``ssh://[user@]host[:port][?option=value&...]``.

Options (the query part): ``master=auto`` (the default: the first command opens a shared
connection, which later commands reuse) or ``master=existing`` (only a master the user opened
is used: for sites where every connection asks for a second factor). The user, host and port
may also come from ``~/.ssh/config`` (``ssh://cluster`` with a ``Host cluster`` block).
"""

import re
import urllib.parse
from dataclasses import dataclass
from typing import Dict, Optional

#: The forms a url may take, for error messages.
ALLOWED = "'ssh://[user@]host[:port]' (options: ?master=auto|existing)"
MASTER_MODES = ('auto', 'existing')
# A host as ssh takes it: a name of ~/.ssh/config, a DNS name, an IPv4 or a bracketed IPv6.
_HOST = re.compile(r'[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]')
_USER = re.compile(r'[A-Za-z0-9_.][A-Za-z0-9_.-]*')


@dataclass(frozen=True)
class SshUrl:
    """Where an SSH transport connects, and how."""

    host: str
    user: Optional[str] = None
    port: Optional[int] = None
    #: ``auto`` or ``existing`` (see the module docstring).
    master: str = 'auto'

    @property
    def destination(self) -> str:
        """``[user@]host`` as the ssh command line takes it."""
        host = self.host[1:-1] if self.host.startswith('[') else self.host
        return f'{self.user}@{host}' if self.user else host

    def __str__(self) -> str:
        port = f':{self.port}' if self.port is not None else ''
        return f'ssh://{self.user + "@" if self.user else ""}{self.host}{port}'


def parse_ssh_url(url: str) -> SshUrl:
    """The `SshUrl` of ``url``; ValueError naming the url, what is wrong and the allowed
    forms."""
    def refuse(why: str) -> ValueError:
        return ValueError(f'JobExecutor url {url!r}: {why}; allowed: {ALLOWED}')

    parts = urllib.parse.urlsplit(url)
    if parts.scheme != 'ssh':
        raise refuse(f'the scheme is {parts.scheme or "missing"!r}, not ssh')
    if parts.path not in ('', '/') or parts.fragment:
        raise refuse('a path or fragment has no meaning here')
    netloc = parts.netloc
    user: Optional[str] = None
    if '@' in netloc:
        user, _, netloc = netloc.rpartition('@')
        user = urllib.parse.unquote(user)
        if not _USER.fullmatch(user):
            raise refuse(f'the user name {user!r} is not one')
    host, port = netloc, None
    match = re.fullmatch(r'(.*?)(?::([0-9]*))?', netloc)
    if match is not None and match.group(2) is not None and not netloc.endswith(']'):
        host = match.group(1)
        if not match.group(2) or not 0 < int(match.group(2)) < 65536:
            raise refuse(f'the port {match.group(2)!r} is not 1 to 65535')
        port = int(match.group(2))
    if not host or not _HOST.fullmatch(host) or host.startswith('-'):
        raise refuse(f'the host {host!r} is not a host name')
    options: Dict[str, str] = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    master = options.pop('master', 'auto')
    if master not in MASTER_MODES:
        raise refuse(f'master={master!r} is not one of {", ".join(MASTER_MODES)}')
    if options:
        raise refuse(f'unknown option(s) {", ".join(sorted(options))}')
    return SshUrl(host, user, port, master)

