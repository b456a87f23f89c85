"""A mapping of the submitting side's file system into the cluster's (pysqa's idea):
``BatchSchedulerExecutorConfig(remote_paths={'/home/me/proj': '/scratch/me/proj'})``.

Each entry maps a local prefix to the remote prefix where the same files are (or are to be
kept) on the cluster. A path of the job's side given as a local path under a local prefix
(``JobSpec.directory``, the stream paths, a stage-in target, a stage-out source, a cleanup
path) is used under the remote prefix; a path of the submitting side given as a remote path
under a remote prefix (a stage-in source, a stage-out target) is used under the local prefix.
The longest matching prefix wins; prefixes match whole path components (``/home/me/proj``
does not match ``/home/me/project``). Executable arguments are never translated.
"""

import pathlib
import posixpath
from typing import Dict, List, Mapping, Optional, Tuple, Union

FIELD = 'BatchSchedulerExecutorConfig.remote_paths'

PathLike = Union[str, pathlib.PurePath]


def _prefix(value: object, side: str) -> str:
    if not isinstance(value, (str, pathlib.PurePath)) or not str(value):
        raise ValueError(f'{FIELD}: a {side} prefix must be a non-empty str or pathlib.Path, '
                         f'not {value!r}')
    text = str(value)
    if not text.startswith('/'):
        raise ValueError(f'{FIELD}: the {side} prefix {text!r} is not an absolute path; '
                         'allowed: absolute paths (/...)')
    return posixpath.normpath(text).replace('//', '/')


def _under(path: str, prefix: str) -> Optional[str]:
    """The rest of ``path`` below ``prefix`` ('' for the prefix itself), or None."""
    if prefix == '/':
        return path.lstrip('/')
    if path == prefix:
        return ''
    if path.startswith(prefix + '/'):
        return path[len(prefix) + 1:]
    return None


class RemotePaths:
    """The mapping of one executor (see the module docstring); empty: nothing is translated.
    ValueError naming the field for a mapping that is not a dict of absolute paths, or whose
    remote prefixes repeat (a remote path must map back to one local path)."""

    def __init__(self, mapping: Optional[Mapping[PathLike, PathLike]] = None) -> None:
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ValueError(f'{FIELD} must be a dict of local prefix -> remote prefix '
                             f'(absolute paths), not {type(mapping).__name__} ({mapping!r})')
        pairs: List[Tuple[str, str]] = []
        remote_seen: Dict[str, str] = {}
        for local, remote in mapping.items():
            local_prefix, remote_prefix = _prefix(local, 'local'), _prefix(remote, 'remote')
            if remote_prefix in remote_seen:
                raise ValueError(f'{FIELD}: the remote prefix {remote_prefix!r} is given for '
                                 f'{remote_seen[remote_prefix]!r} and {local_prefix!r}; each '
                                 'remote prefix may be given once')
            remote_seen[remote_prefix] = local_prefix
            pairs.append((local_prefix, remote_prefix))
        self._to_remote = sorted(pairs, key=lambda pair: -len(pair[0]))
        self._to_local = sorted(((r, lo) for lo, r in pairs), key=lambda pair: -len(pair[0]))

    def __bool__(self) -> bool:
        return bool(self._to_remote)

    def __repr__(self) -> str:
        return f'RemotePaths({dict(self._to_remote)!r})'

    @staticmethod
    def _translate(path: str, table: List[Tuple[str, str]]) -> Optional[str]:
        if not path.startswith('/'):
            return None
        normal = posixpath.normpath(path)
        for source, target in table:
            rest = _under(normal, source)
            if rest is not None:
                return posixpath.join(target, rest) if rest else target
        return None

    def to_remote(self, path: str) -> str:
        """``path`` on the job's side: under its remote prefix if it is under a local one."""
        translated = self._translate(path, self._to_remote)
        return translated if translated is not None else path

    def mapped_remote(self, path: str) -> Optional[str]:
        """Where the local ``path`` is kept on the cluster, if a prefix maps it; else None."""
        return self._translate(path, self._to_remote)

    def to_local(self, path: str) -> str:
        """``path`` on the submitting side: under its local prefix if it is under a remote
        one."""
        translated = self._translate(path, self._to_local)
        return translated if translated is not None else path
