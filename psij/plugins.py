"""Finding executor and launcher plugins through entry points.

Plugins are listed by the ``psij.executors`` and ``psij.launchers`` entry-point groups, our
own exactly as third-party ones. Nothing is scanned or imported until a name is asked for;
each plugin module is imported once, so its classes stay identical for ``isinstance``.
Several entry-point names for the same object are aliases of one plugin.
"""

import re
import sys
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Dict, Generic, List, Optional, Set, Tuple, Type, TypeVar

T = TypeVar('T')

_CONSTRAINT = re.compile(r'^\s*(==|!=|>=|<=|~=|>|<)?\s*([0-9]+(?:\.[0-9]+)*)\s*$')


def parse_version(text: str) -> Tuple[int, ...]:
    """``'1.2.3'`` → ``(1, 2, 3)``; a clear error for anything else."""
    match = re.match(r'^\s*([0-9]+(?:\.[0-9]+)*)', text)
    if match is None:
        raise ValueError(f'not a version: {text!r} (expected numbers separated by dots)')
    return tuple(int(part) for part in match.group(1).split('.'))


def _padded(version: Tuple[int, ...], length: int) -> Tuple[int, ...]:
    return version + (0,) * (length - len(version))


def version_matches(version: str, constraint: Optional[str]) -> bool:
    """True if ``version`` satisfies every comma-separated clause of ``constraint``.

    Clauses: ``==1.0``, ``!=1.0``, ``>=1``, ``<=2.1``, ``>1``, ``<2``, ``~=1.4`` (>= 1.4 and
    < 2), or a bare version meaning ``==``.
    """
    if constraint is None or not constraint.strip():
        return True
    have = parse_version(version)
    for clause in constraint.split(','):
        match = _CONSTRAINT.match(clause)
        if match is None:
            raise ValueError(f'version constraint clause {clause.strip()!r} is not valid; '
                             'use ==, !=, >=, <=, >, < or ~= followed by a version, '
                             'separated by commas')
        operator, wanted_text = match.group(1) or '==', match.group(2)
        wanted = parse_version(wanted_text)
        length = max(len(have), len(wanted))
        left, right = _padded(have, length), _padded(wanted, length)
        if operator == '~=':
            prefix = wanted[:-1] if len(wanted) > 1 else wanted
            ok = left >= right and left[:len(prefix)] == prefix
        else:
            ok = {'==': left == right, '!=': left != right, '>=': left >= right,
                  '<=': left <= right, '>': left > right, '<': left < right}[operator]
        if not ok:
            return False
    return True


def _entry_points_of(group: str) -> List[EntryPoint]:
    """The installed entry points of ``group``."""
    if sys.version_info >= (3, 10):
        return list(entry_points(group=group))
    # Python 3.9's entry_points() takes no selection: a dict of every group's entry points.
    return list(entry_points().get(group, ()))


class PluginLoadError(ImportError):
    """A plugin is listed but could not be imported; the cause is chained."""


class PluginRegistry(Generic[T]):
    """The plugins of one entry-point group (``kind`` is 'executor' or 'launcher')."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._lock = threading.Lock()
        self._entry_points: Optional[Dict[str, EntryPoint]] = None
        self._loaded: Dict[str, Type[T]] = {}
        self._registered: Dict[str, Type[T]] = {}

    def _scan(self) -> Dict[str, EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                found: Dict[str, EntryPoint] = {}
                for entry_point in _entry_points_of(self.group):
                    found.setdefault(entry_point.name, entry_point)
                self._entry_points = found
            return self._entry_points

    def register(self, name: str, cls: Type[T]) -> None:
        """Make ``cls`` available as ``name`` without an entry point (tests, notebooks)."""
        with self._lock:
            self._registered[name] = cls

    def names(self) -> Set[str]:
        """Every name, aliases included."""
        return set(self._scan()) | set(self._registered)

    def entry_point(self, name: str) -> Optional[EntryPoint]:
        """The entry point behind ``name``, if it came from one."""
        return self._scan().get(name)

    def aliases(self, name: str) -> List[str]:
        """All names (``name`` included) that lead to the same plugin object."""
        target = self._scan().get(name)
        if target is None:
            return [name]
        return sorted(key for key, value in self._scan().items() if value.value == target.value)

    def load(self, name: str) -> Type[T]:
        """The plugin class called ``name``; imports its module the first time."""
        if not isinstance(name, str):
            raise TypeError(f'{self.kind} name must be str, not {type(name).__name__}')
        if name in self._registered:
            return self._registered[name]
        entry_point = self._scan().get(name)
        if entry_point is None:
            known = ', '.join(sorted(self.names())) or '(none installed)'
            raise ValueError(f'unknown {self.kind} {name!r}; known {self.kind}s: {known}')
        with self._lock:
            cached = self._loaded.get(entry_point.value)
            if cached is not None:
                return cached
            try:
                cls: Type[T] = entry_point.load()
            except Exception as error:
                raise PluginLoadError(
                    f'{self.kind} {name!r} ({entry_point.value}) failed to import: '
                    f'{type(error).__name__}: {error}') from error
            self._loaded[entry_point.value] = cls
            return cls

    def load_all(self) -> Tuple[Dict[str, Type[T]], Dict[str, BaseException]]:
        """Every plugin that loads, and the error of every one that does not."""
        loaded: Dict[str, Type[T]] = {}
        failed: Dict[str, BaseException] = {}
        for name in sorted(self.names()):
            try:
                loaded[name] = self.load(name)
            except PluginLoadError as error:
                failed[name] = error
        return loaded, failed
