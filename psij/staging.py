"""File staging: files copied, linked or moved into a job's directory before it runs and out
of it after it ends, and files removed afterwards (`psij.JobSpec.stage_in`, ``stage_out``,
``cleanup``, ``cleanup_flags``).

The names and their meaning are psij-python's (main branch), so code written for it runs
here. For now, only local paths and ``file://`` URIs (no host, or ``localhost``) can be
staged; `check_staging` refuses anything else when a job is submitted.
"""

import enum
import os
import pathlib
import re
from typing import AbstractSet, Iterable, Optional, Tuple, Union
from urllib.parse import urlsplit

from psij.exceptions import InvalidJobException

__all__ = ['URI', 'StageIn', 'StageOut', 'StageOutFlags', 'StagingMode', 'check_staging']

# A URI starts with a scheme and '://' (or is a 'file:' URI); anything else is a plain path,
# so that a file name holding a colon ('run:1.txt') stays a path.
_URI_START = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://|file:', re.IGNORECASE)
_LOCAL_HOSTS = (None, '', 'localhost')


class URI:
    """A parsed URI, or a plain path (a URI without a scheme).

    ``URI('file:///data/in.txt')`` has ``scheme`` ``'file'`` and ``path`` ``'/data/in.txt'``;
    ``URI('in.txt')`` has ``scheme`` ``''`` and ``path`` ``'in.txt'``. Two URIs are equal when
    their text is; they are hashable.
    """

    text: str

    def __init__(self, text: Union[str, pathlib.PurePath, 'URI']) -> None:
        if isinstance(text, URI):
            text = text.text
        elif isinstance(text, pathlib.PurePath):
            text = str(text)
        if not isinstance(text, str):
            raise TypeError(f'URI() takes a str, pathlib.Path or URI, not '
                            f'{type(text).__name__} ({text!r})')
        if not text:
            raise ValueError('URI(): the text is empty; give a path or a URI')
        self.text = text
        if _URI_START.match(text):
            parts = urlsplit(text)
            self.scheme = parts.scheme.lower()
            self.hostname: Optional[str] = parts.hostname
            self.port: Optional[int] = parts.port
            self.username: Optional[str] = parts.username
            self.password: Optional[str] = parts.password
            self.path = parts.path
            self.query = parts.query
            self.fragment = parts.fragment
        else:
            self.scheme = ''
            self.hostname = self.username = self.password = None
            self.port = None
            self.path = text
            self.query = self.fragment = ''

    @property
    def is_local(self) -> bool:
        """True for a plain path and a ``file://`` URI with no host, or ``localhost``."""
        return self.scheme == '' or (self.scheme == 'file' and self.hostname in _LOCAL_HOSTS
                                     and self.port is None and not self.query)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f'URI({self.text!r})'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URI) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)


class StagingMode(enum.Enum):
    """How a file gets to its target. An executor that cannot LINK or MOVE may COPY: the job
    sees the same content either way."""

    COPY = 1
    LINK = 2  #: a symbolic link to the (absolute) source
    MOVE = 3


class StageOutFlags(enum.Flag):
    """When a file is staged out (or cleanup happens), and whether a missing source is fine.

    A value naming none of ON_SUCCESS, ON_ERROR, ON_CANCEL means ALWAYS plus what it names:
    ``IF_PRESENT`` alone is ``IF_PRESENT | ALWAYS`` (`normalized`).
    """

    NONE = 0
    IF_PRESENT = 1  #: a missing source is not an error
    ON_SUCCESS = 2  #: the job ended with exit code 0
    ON_ERROR = 4  #: the job ended otherwise
    ON_CANCEL = 8  #: the job was canceled
    ALWAYS = ON_SUCCESS | ON_ERROR | ON_CANCEL

    def normalized(self) -> 'StageOutFlags':
        """These flags, with ALWAYS added when they name no condition."""
        if not self & StageOutFlags.ALWAYS:
            return self | StageOutFlags.ALWAYS
        return self


PathOrURI = Union[str, pathlib.PurePath, URI]


def _uri(value: object, field: str) -> URI:
    if not isinstance(value, (str, pathlib.PurePath, URI)):
        raise TypeError(f'{field} must be str, pathlib.Path or URI, not '
                        f'{type(value).__name__} ({value!r})')
    if isinstance(value, str) and not value:
        raise ValueError(f'{field} is empty; give a path or a file:// URI')
    return URI(value)


def _path(value: object, field: str) -> pathlib.Path:
    if not isinstance(value, (str, pathlib.PurePath)):
        raise TypeError(f'{field} must be str or pathlib.Path, not '
                        f'{type(value).__name__} ({value!r})')
    if isinstance(value, str) and not value:
        raise ValueError(f'{field} is empty; give a path')
    return pathlib.Path(value)


def _mode(value: object, field: str) -> StagingMode:
    if not isinstance(value, StagingMode):
        raise TypeError(f'{field} must be a StagingMode (COPY, LINK or MOVE), not '
                        f'{type(value).__name__} ({value!r})')
    return value


class StageIn:
    """A file or directory put in place before the job runs.

    :param source: on the submitting side: a path (relative: to the submitter's working
        directory) or a ``file://`` URI.
    :param target: where the job sees it: relative to the job's directory, or absolute.
        Missing parent directories are created.
    :param mode: COPY, LINK (a symbolic link to the source) or MOVE.
    """

    __slots__ = ('source', 'target', 'mode')
    source: URI
    target: pathlib.Path
    mode: StagingMode

    def __init__(self, source: PathOrURI, target: Union[str, pathlib.PurePath],
                 mode: StagingMode = StagingMode.COPY) -> None:
        object.__setattr__(self, 'source', _uri(source, 'StageIn.source'))
        object.__setattr__(self, 'target', _path(target, 'StageIn.target'))
        object.__setattr__(self, 'mode', _mode(mode, 'StageIn.mode'))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f'StageIn is immutable (it lives in sets); make a new one to '
                             f'change {name}')

    def _key(self) -> Tuple[object, ...]:
        return (self.source, self.target, self.mode)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StageIn) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f'StageIn({str(self.source)!r}, {str(self.target)!r}, {self.mode})'


class StageOut:
    """A file or directory taken out of the job's directory after the job ends.

    :param source: relative to the job's directory, or absolute.
    :param target: on the submitting side: a path (relative: to the submitter's working
        directory) or a ``file://`` URI. Missing parent directories are created.
    :param flags: when (ON_SUCCESS, ON_ERROR, ON_CANCEL; none of them: ALWAYS) and whether a
        missing source is fine (IF_PRESENT). Stored `StageOutFlags.normalized`.
    :param mode: COPY, LINK or MOVE.
    """

    __slots__ = ('source', 'target', 'flags', 'mode')
    source: pathlib.Path
    target: URI
    flags: StageOutFlags
    mode: StagingMode

    def __init__(self, source: Union[str, pathlib.PurePath], target: PathOrURI,
                 flags: StageOutFlags = StageOutFlags.ALWAYS,
                 mode: StagingMode = StagingMode.COPY) -> None:
        if not isinstance(flags, StageOutFlags):
            raise TypeError(f'StageOut.flags must be StageOutFlags, not '
                            f'{type(flags).__name__} ({flags!r})')
        object.__setattr__(self, 'source', _path(source, 'StageOut.source'))
        object.__setattr__(self, 'target', _uri(target, 'StageOut.target'))
        object.__setattr__(self, 'flags', flags.normalized())
        object.__setattr__(self, 'mode', _mode(mode, 'StageOut.mode'))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f'StageOut is immutable (it lives in sets); make a new one to '
                             f'change {name}')

    def _key(self) -> Tuple[object, ...]:
        return (self.source, self.target, self.flags, self.mode)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StageOut) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f'StageOut({str(self.source)!r}, {str(self.target)!r}, {self.flags}, '
                f'{self.mode})')


def local_path(uri: URI) -> str:
    """The path named by a local ``uri`` (see `URI.is_local`), made absolute against the
    current working directory."""
    return os.path.abspath(uri.path)


def _check_local(uri: URI, field: str) -> None:
    if not uri.is_local:
        raise InvalidJobException(
            f'{field} {str(uri)!r}: only local paths and file:// URIs (with no host, or '
            'localhost) are supported for now')


def _inside_directory(path: pathlib.Path, directory: Optional[pathlib.Path]) -> bool:
    if path.is_absolute():
        if directory is None or not directory.is_absolute():
            return False
        base = pathlib.PurePath(os.path.normpath(directory))
        path = pathlib.Path(os.path.relpath(os.path.normpath(path), base))
    normal = os.path.normpath(path)
    return normal not in ('.', '..') and not normal.startswith('..' + os.sep)


def check_staging(stage_in: Optional[AbstractSet[StageIn]],
                  stage_out: Optional[AbstractSet[StageOut]],
                  cleanup: Optional[Iterable[pathlib.Path]],
                  directory: Optional[pathlib.Path]) -> None:
    """Raise `InvalidJobException` naming the field for what cannot be staged for now: a
    source or target that is not local, and a cleanup path outside the job's ``directory``
    (relative paths that stay inside it, or absolute paths under an absolute ``directory``)."""
    for entry in stage_in or ():
        _check_local(entry.source, 'JobSpec.stage_in: source')
    for out in stage_out or ():
        _check_local(out.target, 'JobSpec.stage_out: target')
    for path in cleanup or ():
        if not _inside_directory(path, directory):
            where = repr(str(directory)) if directory is not None else 'not given'
            raise InvalidJobException(
                f"JobSpec.cleanup: {str(path)!r} is not inside the job's directory "
                f'(JobSpec.directory: {where}); only paths inside it can be cleaned up: '
                'relative paths that do not leave it, or absolute paths under it')

