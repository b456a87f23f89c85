"""The jobs map file of a campaign: sections, settings and command lines (no expansion).

A map is UTF-8 text, read line by line (docs/many-jobs.md, "Campaigns", has the reference)::

    # A comment: a line whose first non-blank character is #. Blank lines are ignored.
    [pre]
    module load python
    [post]
    echo "job $PSIJ_CAMPAIGN_JOB done"
    [resources]
    cpu_cores_per_process = 2
    [attributes]
    duration = 10:00
    slurm.constraint = haswell
    [environment]
    OMP_NUM_THREADS = 2
    [jobs]
    python simulate.py --seed {{1,2,3}}

Lines before the first section header are commands too, so a plain list of commands is a
map. A line ending in an odd number of backslashes goes on with the next line (the
backslash and the line break are removed, as a shell does); the joined line keeps the
number of its first line. Every problem is a `MapError` naming the file and the line.

This module only splits the file; `psij.campaigns.expansion` expands the commands and
`psij.campaigns.job_defaults` reads the settings.
"""

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

#: The sections a map may have, in the order `render_header` writes them.
LINE_SECTIONS = ('pre', 'post')
SETTING_SECTIONS = ('resources', 'attributes', 'environment')
JOBS_SECTION = 'jobs'
SECTIONS = LINE_SECTIONS + SETTING_SECTIONS + (JOBS_SECTION,)

_HEADER = re.compile(r'\s*\[([A-Za-z_-]*)\]\s*')
_SETTING = re.compile(r'\s*([^=\s][^=]*?)\s*=\s*(.*?)\s*')


class MapError(Exception):
    """A map (or a file it names) that cannot be used; ``str()`` is ``PATH:LINE: message``."""

    def __init__(self, path: str, line: Optional[int], message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f'{path}:{line}: {message}' if line is not None else
                         f'{path}: {message}')


class MapReadError(MapError):
    """The map, or a file a ``{{file:...}}`` group names, cannot be read."""


@dataclass(frozen=True)
class MapLine:
    """One logical line of a map: its text (without surrounding blanks) and the number of
    its first physical line (1 is the first line of the file)."""

    number: int
    text: str


@dataclass(frozen=True)
class Setting:
    """``key = value`` in a settings section, the value as written."""

    key: str
    value: str
    line: int


@dataclass
class JobsMap:
    """A map file split into its parts; commands are not expanded yet."""

    path: str
    pre: List[MapLine] = field(default_factory=list)
    post: List[MapLine] = field(default_factory=list)
    #: Section name ('resources', 'attributes', 'environment') → its settings, in order.
    settings: Dict[str, List[Setting]] = field(default_factory=dict)
    commands: List[MapLine] = field(default_factory=list)


def read_map(path: str) -> JobsMap:
    """Read and split the map file ``path``.

    Raises `MapReadError` if it cannot be read (or is not UTF-8), `MapError` for a line that
    does not fit the format.
    """
    try:
        with open(path, 'rb') as stream:
            data = stream.read()
    except OSError as error:
        raise MapReadError(path, None, f'cannot read the map: {error.strerror}') from error
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b'\n') + 1
        raise MapReadError(path, line, f'not UTF-8 text ({error.reason} at byte '
                                       f'{error.start})') from error
    return parse_map(text, path)


def logical_lines(text: str, path: str) -> List[MapLine]:
    """The non-blank, non-comment lines of ``text``, continuations joined."""
    lines: List[MapLine] = []
    pending: Optional[MapLine] = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if pending is None:
            stripped = raw.strip()
            if not stripped or stripped.startswith('#'):
                continue
            pending = MapLine(number, raw)
        else:
            pending = MapLine(pending.number, pending.text + raw)
        trailing = len(pending.text) - len(pending.text.rstrip('\\'))
        if trailing % 2 == 1:
            # An odd number of backslashes: the last one escapes the line break.
            pending = MapLine(pending.number, pending.text[:-1])
            continue
        lines.append(MapLine(pending.number, pending.text.strip()))
        pending = None
    if pending is not None:
        raise MapError(path, pending.number,
                       'the line ends with a backslash (a continuation) but no line follows')
    return lines


def parse_map(text: str, path: str) -> JobsMap:
    """Split the text of a map (see the module docstring); ``path`` names it in errors."""
    jobs_map = JobsMap(path)
    section = JOBS_SECTION
    seen: Dict[str, int] = {}
    implicit_commands: Optional[int] = None
    for line in logical_lines(text, path):
        header = _HEADER.fullmatch(line.text)
        if header is not None:
            section = _section_name(header.group(1), line, path)
            if section in seen:
                raise MapError(path, line.number, f'section [{section}] appears twice (first '
                                                  f'at line {seen[section]})')
            seen[section] = line.number
            if section == JOBS_SECTION and implicit_commands is not None:
                raise MapError(path, implicit_commands,
                               'a command before the first section, and a [jobs] section at '
                               f'line {line.number}: put every command under [jobs]')
            continue
        if section == JOBS_SECTION:
            if not seen:
                implicit_commands = implicit_commands or line.number
            jobs_map.commands.append(line)
        elif section in LINE_SECTIONS:
            getattr(jobs_map, section).append(line)
        else:
            _add_setting(jobs_map, section, line, path)
    if not jobs_map.commands:
        raise MapError(path, None, 'the map has no command: write one command per line, '
                                   'under [jobs] or before the first section')
    return jobs_map


def _section_name(name: str, line: MapLine, path: str) -> str:
    lowered = name.lower()
    if lowered not in SECTIONS:
        allowed = ', '.join(f'[{section}]' for section in SECTIONS)
        raise MapError(path, line.number, f'unknown section [{name}]; allowed: {allowed}')
    return lowered


def _add_setting(jobs_map: JobsMap, section: str, line: MapLine, path: str) -> None:
    match = _SETTING.fullmatch(line.text)
    if match is None:
        raise MapError(path, line.number,
                       f'[{section}]: expected KEY = VALUE, not {line.text!r}')
    key, value = match.group(1), match.group(2)
    settings = jobs_map.settings.setdefault(section, [])
    for earlier in settings:
        if earlier.key == key:
            raise MapError(path, line.number, f'[{section}]: {key} is set twice (first at '
                                              f'line {earlier.line})')
    settings.append(Setting(key, value, line.number))


def render_header(pre: List[str], post: List[str],
                  settings: Dict[str, List[Setting]]) -> List[str]:
    """The lines of a map's sections other than [jobs], as `parse_map` reads them back: what
    ``psij campaign info`` prints before the commands, so that its output is a map."""
    lines: List[str] = []
    for name, entries in (('pre', pre), ('post', post)):
        if entries:
            lines.append(f'[{name}]')
            lines.extend(entries)
    for name in SETTING_SECTIONS:
        if settings.get(name):
            lines.append(f'[{name}]')
            lines.extend(f'{setting.key} = {setting.value}' for setting in settings[name])
    return lines
