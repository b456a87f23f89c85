"""Where the configuration files are and how one is read.

Three files, read in this order, each optional: the site's (`SITE_FILE`, or the path in
``PSIJ_SITE_CONFIG``), the user's (``$XDG_CONFIG_HOME/psij/config.toml``, by default
``~/.config/psij/config.toml``), and the one named by ``PSIJ_CONFIG`` (which must exist: it
was named on purpose). A later file overrides an earlier one key by key.
"""

import os
import pathlib
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from psij.configuration.errors import ConfigurationError
from psij.configuration.file_paths import anchor_template_paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the oldest Pythons
    import tomli as tomllib

#: The site-wide file, written by the administrators.
SITE_FILE = pathlib.Path('/etc/psij/config.toml')
#: Names another site file (tests, or a site that keeps it elsewhere).
SITE_VARIABLE = 'PSIJ_SITE_CONFIG'
#: Names one more file, read last.
EXTRA_VARIABLE = 'PSIJ_CONFIG'


@dataclass(frozen=True)
class ConfigFile:
    """One place a configuration may come from: ``kind`` is ``site``, ``user`` or ``extra``
    (``PSIJ_CONFIG``); ``required``: a missing file is an error."""

    kind: str
    path: pathlib.Path
    required: bool = False


def user_file(environment: Mapping[str, str]) -> pathlib.Path:
    """``$XDG_CONFIG_HOME/psij/config.toml`` (``~/.config`` when unset or not absolute, as
    the XDG base directory specification says)."""
    base = environment.get('XDG_CONFIG_HOME', '')
    if not os.path.isabs(base):
        home = environment.get('HOME') or os.path.expanduser('~')
        base = os.path.join(home, '.config')
    return pathlib.Path(base) / 'psij' / 'config.toml'


def default_files(environment: Optional[Mapping[str, str]] = None) -> List[ConfigFile]:
    """The files `psij.configuration.load` reads, in order, for ``environment`` (default:
    this process's)."""
    env = os.environ if environment is None else environment
    files = [ConfigFile('site', pathlib.Path(env.get(SITE_VARIABLE) or SITE_FILE)),
             ConfigFile('user', user_file(env))]
    extra = env.get(EXTRA_VARIABLE)
    if extra:
        files.append(ConfigFile('extra', pathlib.Path(extra).expanduser(), required=True))
    return files


@dataclass(frozen=True)
class LoadedFile:
    """A file that was read: its place, its text and what it holds."""

    source: ConfigFile
    text: str
    data: Dict[str, Any]


def read_file(source: ConfigFile) -> Optional[LoadedFile]:
    """``source`` parsed, or None if it does not exist and is not required.

    Raises `ConfigurationError` naming the file for one that cannot be read, and the line and
    column (TOML's own message) for one that does not parse.
    """
    path = str(source.path)
    try:
        text = source.path.read_text(encoding='utf-8')
    except FileNotFoundError:
        if not source.required:
            return None
        raise ConfigurationError(f'no such file (named by ${EXTRA_VARIABLE})', path) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else f'not UTF-8 ({error})'
        raise ConfigurationError(f'cannot read the configuration file: {reason}',
                                 path) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends "(at line L, column C)"; only Python 3.14 has .lineno.
        found = _ERROR_LINE.search(str(error))
        raise ConfigurationError(f'not valid TOML: {error}', path,
                                 line=int(found.group(1)) if found else None) from error
    return LoadedFile(source, text, anchor_template_paths(data, source.path.parent))


_ERROR_LINE = re.compile(r'at line ([0-9]+)')
_HEADER = re.compile(r'^\s*\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$')
_ASSIGNMENT = re.compile(r'^\s*((?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
                         r'(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\'))*)\s*=')
_KEY_PART = re.compile(r'\s*([A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')\s*(?:\.|$)')


def _key_parts(text: str) -> Tuple[str, ...]:
    parts = []
    for match in _KEY_PART.finditer(text):
        part = match.group(1)
        if part[:1] == '"':
            part = part[1:-1].encode('utf-8').decode('unicode_escape')
        elif part[:1] == "'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def key_line(text: str, path: Sequence[str]) -> Optional[int]:
    """The line (1-based) of ``text`` where the key ``path`` (or, failing that, the closest
    table holding it) is written, found by reading the table headers and assignments; None
    if nothing of it is found."""
    wanted = tuple(path)
    table: Tuple[str, ...] = ()
    best: Optional[int] = None
    best_length = 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None and '=' not in line.split(']')[0]:
            table = _key_parts(header.group(1))
            full = table
        else:
            assignment = _ASSIGNMENT.match(line)
            if assignment is None:
                continue
            full = table + _key_parts(assignment.group(1))
        length = _common_prefix(full, wanted)
        if length == len(wanted) and len(full) >= len(wanted):
            return number
        if length == len(full) and length > best_length:
            best, best_length = number, length
    return best


def _common_prefix(first: Tuple[str, ...], second: Tuple[str, ...]) -> int:
    length = 0
    for left, right in zip(first, second):
        if left != right:
            break
        length += 1
    return length
