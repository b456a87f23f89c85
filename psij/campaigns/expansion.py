"""Expanding the command lines of a map into commands.

A command line may hold groups in double braces; the line stands for every combination of
their values (the first group varies slowest, as nested loops written left to right):

* ``{{a,b,c}}``: the comma-separated items (blanks around an item are dropped; an item may
  be empty: ``run{{,-v}}``);
* ``{{file:PATH}}``: each non-blank line of the file (without its surrounding blanks);
* ``{{glob:PATTERN}}``: the paths matching the pattern (Python's `glob`, ``**`` included),
  sorted; a pattern matching nothing is an error, not an empty campaign;
* ``{{?NAME:...}}``: any of the above, named; ``{{?=NAME}}`` elsewhere in the same line is
  the value the named group has in that combination (it adds no combinations).

``\\{{`` is a literal ``{{``. Relative paths are relative to ``base`` (the directory psij
runs in, which is also the jobs' working directory). Values are put in verbatim: quote
them in the command if they may hold blanks (``"{{glob:data/*.csv}}"``).
"""

import glob
import itertools
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from psij.campaigns.map_format import MapError, MapLine, MapReadError

#: At most this many commands from one map: a typo such as ``{{glob:**}}`` in two groups
#: should be an error, not a campaign of millions of jobs.
MAX_COMMANDS = 1_000_000

_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_ESCAPED_OPEN = '\\{{'


@dataclass(frozen=True)
class Group:
    """One ``{{...}}`` of a line. ``kind`` is ``list``, ``file``, ``glob`` or ``ref`` (a
    ``{{?=NAME}}``); ``argument`` is the items, the path, the pattern or the name."""

    kind: str
    argument: str
    name: Optional[str]
    #: 1-based column of the opening braces, for messages.
    column: int
    #: The group as written, for messages.
    text: str


Part = Union[str, Group]


@dataclass(frozen=True)
class Command:
    """One command of a campaign and the map line it comes from."""

    line: int
    text: str


class _Context:
    """Where the files and patterns of a map are looked up, each read once."""

    def __init__(self, base: str, path: str) -> None:
        self.base = base
        self.path = path
        self._cache: Dict[Tuple[str, str], List[str]] = {}

    def values(self, group: Group, line: int) -> List[str]:
        key = (group.kind, group.argument)
        if key not in self._cache:
            self._cache[key] = self._read(group, line)
        return self._cache[key]

    def _read(self, group: Group, line: int) -> List[str]:
        if group.kind == 'list':
            return [item.strip() for item in group.argument.split(',')]
        if group.kind == 'file':
            return self._file_lines(group, line)
        return self._glob(group, line)

    def _resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.base, path)

    def _file_lines(self, group: Group, line: int) -> List[str]:
        target = self._resolve(group.argument)
        try:
            with open(target, encoding='utf-8') as stream:
                text = stream.read()
        except OSError as error:
            raise MapReadError(self.path, line, f'{group.text}: cannot read '
                                                f'{target!r}: {error.strerror}') from error
        except UnicodeDecodeError as error:
            raise MapReadError(self.path, line,
                               f'{group.text}: {target!r} is not UTF-8 text') from error
        values = [item.strip() for item in text.splitlines() if item.strip()]
        if not values:
            raise MapError(self.path, line, f'{group.text}: {target!r} has no non-blank line')
        return values

    def _glob(self, group: Group, line: int) -> List[str]:
        pattern = group.argument
        if os.path.isabs(pattern):
            return _matches(sorted(glob.glob(pattern, recursive=True)), group, self.path, line)
        # glob.glob's root_dir is Python 3.10+: join, then cut the base off again, so that
        # the values keep the pattern's own spelling (``./data/a.csv`` for ``./data/*``).
        prefix = os.path.join(self.base, '')
        found = glob.glob(glob.escape(prefix) + pattern, recursive=True)
        return _matches(sorted(path[len(prefix):] for path in found), group, self.path, line)


def _matches(paths: List[str], group: Group, path: str, line: int) -> List[str]:
    if not paths:
        raise MapError(path, line, f'{group.text}: no file matches the pattern')
    return paths


def parse_line(line: MapLine, path: str) -> List[Part]:
    """The literal text and groups of one command line, in order."""
    parts: List[Part] = []
    text = line.text
    literal = ''
    position = 0
    while True:
        start = text.find('{{', position)
        if start < 0:
            literal += text[position:]
            break
        if start > 0 and text[start - 1] == '\\':
            literal += text[position:start - 1] + '{{'
            position = start + 2
            continue
        literal += text[position:start]
        end = text.find('}}', start + 2)
        if end < 0:
            raise MapError(path, line.number, f"'{{{{' at column {start + 1} has no closing "
                                              "'}}' (write \\{{ for a literal '{{')")
        inner = text[start + 2:end]
        if '{{' in inner:
            raise MapError(path, line.number, f"'{{{{' at column {start + 1}: groups cannot "
                                              'be nested')
        if literal:
            parts.append(literal)
            literal = ''
        parts.append(_group(inner, start + 1, text[start:end + 2], line, path))
        position = end + 2
    if literal:
        parts.append(literal)
    return parts


def _group(inner: str, column: int, written: str, line: MapLine, path: str) -> Group:
    name: Optional[str] = None
    body = inner
    if inner.startswith('?='):
        reference = inner[2:].strip()
        _check_name(reference, written, line, path)
        return Group('ref', reference, None, column, written)
    if inner.startswith('?'):
        head, colon, body = inner[1:].partition(':')
        name = head.strip()
        _check_name(name, written, line, path)
        if not colon:
            raise MapError(path, line.number, f'{written}: a named group needs its values '
                                              f'after a colon, e.g. {{{{?{name}:a,b}}}}')
    for kind in ('file', 'glob'):
        if body.startswith(kind + ':'):
            argument = body[len(kind) + 1:].strip()
            if not argument:
                raise MapError(path, line.number, f'{written}: {kind}: needs a '
                                                  f'{"path" if kind == "file" else "pattern"}')
            return Group(kind, argument, name, column, written)
    if not body.strip():
        raise MapError(path, line.number, f'{written}: an empty group; write items '
                                          'separated by commas ({{a,b}}), {{file:PATH}} or '
                                          '{{glob:PATTERN}}')
    return Group('list', body, name, column, written)


def _check_name(name: str, written: str, line: MapLine, path: str) -> None:
    if not _NAME.fullmatch(name):
        raise MapError(path, line.number, f'{written}: {name!r} is not a group name (letters, '
                                          'digits and _, not starting with a digit)')


def expand_line(line: MapLine, path: str, base: str,
                context: Optional[_Context] = None) -> List[Command]:
    """Every command ``line`` stands for, in order (see the module docstring)."""
    context = context if context is not None else _Context(base, path)
    parts = parse_line(line, path)
    dimensions = [part for part in parts if isinstance(part, Group) and part.kind != 'ref']
    named: Dict[str, int] = {}
    for index, group in enumerate(dimensions):
        if group.name is not None:
            if group.name in named:
                raise MapError(path, line.number, f'{group.text}: the name {group.name!r} '
                                                  'is given to two groups of this line')
            named[group.name] = index
    for part in parts:
        if isinstance(part, Group) and part.kind == 'ref' and part.argument not in named:
            known = ', '.join(sorted(named)) or 'none'
            raise MapError(path, line.number, f'{part.text}: no group named '
                                              f'{part.argument!r} in this line (named groups '
                                              f'here: {known})')
    values = [context.values(group, line.number) for group in dimensions]
    count = 1
    for choices in values:
        count *= len(choices)
    if count > MAX_COMMANDS:
        raise MapError(path, line.number, f'the line stands for {count} commands; at most '
                                          f'{MAX_COMMANDS} are allowed')
    commands = []
    for combination in itertools.product(*values):
        text = _fill(parts, combination, dimensions, named).strip()
        if not text:
            raise MapError(path, line.number, 'a combination of its groups is an empty '
                                              'command')
        commands.append(Command(line.number, text))
    return commands


def _fill(parts: Sequence[Part], combination: Sequence[str], dimensions: List[Group],
          named: Dict[str, int]) -> str:
    pieces: List[str] = []
    positions = {id(group): index for index, group in enumerate(dimensions)}
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
        elif part.kind == 'ref':
            pieces.append(combination[named[part.argument]])
        else:
            pieces.append(combination[positions[id(part)]])
    return ''.join(pieces)


def expand_commands(lines: Sequence[MapLine], path: str, base: str) -> List[Command]:
    """The commands of all ``lines`` of a map, in order; `MapError` for the first line that
    does not expand."""
    context = _Context(base, path)
    commands: List[Command] = []
    for line in lines:
        commands.extend(expand_line(line, path, base, context))
        if len(commands) > MAX_COMMANDS:
            raise MapError(path, line.number, f'the map stands for more than {MAX_COMMANDS} '
                                              'commands')
    return commands


def escape_command(text: str) -> str:
    """``text`` written so that a map line reads back as exactly ``text`` (its ``{{``
    escaped): how ``psij campaign info`` prints commands as a new map."""
    return text.replace('{{', _ESCAPED_OPEN)
