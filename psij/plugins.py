"""Finding executor and launcher plugins: entry points, and psij-python's descriptors.

Plugins are listed by the ``psij.executors`` and ``psij.launchers`` entry-point groups, our
own exactly as third-party ones, and, as psij-python finds them, by `psij.descriptor.Descriptor`
objects in the ``__PSI_J_EXECUTORS__`` / ``__PSI_J_LAUNCHERS__`` lists of the modules of every
``psij-descriptors`` directory on ``sys.path``. An entry point wins over a descriptor of the
same name, and the first descriptor on ``sys.path`` over later ones.

Nothing is scanned or imported until a name is looked up or the names are listed; then the
descriptor modules are read once per process. Each plugin module is imported once, by its
module name, so its classes stay identical for ``isinstance``. Several names for the same
class are aliases of one plugin.
"""

import importlib.util
import os
import re
import sys
import threading
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Generic,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    TypeVar,
)

if TYPE_CHECKING:
    from psij.descriptor import Descriptor

T = TypeVar('T')

#: The directory, in a ``sys.path`` entry, that holds psij-python style descriptor modules.
DESCRIPTOR_DIRECTORY = 'psij-descriptors'

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


class PluginLoadError(ImportError, ValueError):
    """A plugin is listed but could not be imported, or a descriptor module could not be
    read; the cause is chained.

    It is also a ValueError because psij-python raises ValueError there: code written for it
    (``except ValueError`` around ``get_instance``) keeps working.
    """


@dataclass(frozen=True)
class _DescriptorModule:
    """One module of a ``psij-descriptors`` directory, as read (or the error reading it);
    ``root`` is the ``sys.path`` entry that holds the directory."""

    root: str
    path: str
    variables: Optional[Dict[str, Any]]
    error: Optional[BaseException]


def _descriptor_files(search_path: Sequence[str]) -> List[Tuple[str, str]]:
    """``(root, file)`` for the modules (``*.py``) of the ``psij-descriptors`` directories of
    ``search_path``, in its order, each directory once (by real path), files sorted by name."""
    seen: Set[str] = set()
    files: List[Tuple[str, str]] = []
    for entry in search_path:
        root = os.path.realpath(entry or os.curdir)
        directory = os.path.join(root, DESCRIPTOR_DIRECTORY)
        if directory in seen or not os.path.isdir(directory):
            continue
        seen.add(directory)
        for file_name in sorted(os.listdir(directory)):
            path = os.path.join(directory, file_name)
            if file_name.endswith('.py') and not file_name.startswith('.') \
                    and os.path.isfile(path):
                files.append((root, path))
    return files


def _read_descriptor_module(root: str, path: str) -> _DescriptorModule:
    # Executed from its file and kept out of sys.modules: descriptor modules of different
    # directories may share a file name, and they hold only data.
    module_name = f'{DESCRIPTOR_DIRECTORY}.{os.path.basename(path)[:-3]}'
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f'no loader for {path}')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as error:  # any failure of someone else's module is theirs to report
        return _DescriptorModule(root, path, None, error)
    return _DescriptorModule(root, path, vars(module), None)


_descriptor_lock = threading.RLock()
_descriptor_modules: Optional[List[_DescriptorModule]] = None


def _descriptor_modules_of_sys_path() -> List[_DescriptorModule]:
    """The descriptor modules of ``sys.path``, read the first time they are asked for."""
    global _descriptor_modules
    with _descriptor_lock:
        if _descriptor_modules is None:
            # A descriptor module that lists plugins while being read sees none (instead of
            # reading itself again, forever).
            _descriptor_modules = []
            _descriptor_modules = [_read_descriptor_module(root, path)
                                   for root, path in _descriptor_files(list(sys.path))]
        return _descriptor_modules


class PluginRegistry(Generic[T]):
    """The plugins of one entry-point group (``kind`` is 'executor' or 'launcher').

    Descriptors are read from the ``__PSI_J_<KIND>S__`` list of each descriptor module
    (``__PSI_J_EXECUTORS__`` for 'executor'), in the ``psij-descriptors`` directories of
    ``descriptor_path`` if given, else of ``sys.path`` as it is at the first look-up.
    """

    def __init__(self, group: str, kind: str,
                 descriptor_path: Optional[Sequence[str]] = None) -> None:
        self.group = group
        self.kind = kind
        self.descriptor_variable = f'__PSI_J_{kind.upper()}S__'
        self._descriptor_path = None if descriptor_path is None else list(descriptor_path)
        # Reentrant: a plugin or descriptor module may ask for plugins while it is read.
        self._lock = threading.RLock()
        self._entry_points: Optional[Dict[str, EntryPoint]] = None
        self._descriptors: Dict[str, Descriptor] = {}
        self._descriptor_roots: Dict[str, str] = {}
        self._problems: Dict[str, PluginLoadError] = {}
        self._loaded: Dict[str, Type[T]] = {}
        self._registered: Dict[str, Type[T]] = {}

    def _scan(self) -> Dict[str, EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                found: Dict[str, EntryPoint] = {}
                for entry_point in _entry_points_of(self.group):
                    found.setdefault(entry_point.name, entry_point)
                self._add_descriptors(found)
                self._entry_points = found
            return self._entry_points

    def _add_descriptors(self, found: Dict[str, EntryPoint]) -> None:
        """Add the names declared by descriptors to ``found``, which they do not override."""
        from psij.descriptor import Descriptor

        if self._descriptor_path is None:
            modules = _descriptor_modules_of_sys_path()
        else:
            modules = [_read_descriptor_module(root, path)
                       for root, path in _descriptor_files(self._descriptor_path)]
        for module in modules:
            if module.variables is None:
                problem = PluginLoadError(
                    f'descriptor module {module.path} failed to import: '
                    f'{type(module.error).__name__}: {module.error}')
                problem.__cause__ = module.error
                self._problems[module.path] = problem
                continue
            declared = module.variables.get(self.descriptor_variable)
            if declared is None:
                continue
            if not isinstance(declared, (list, tuple)):
                self._problems[module.path] = PluginLoadError(
                    f'{module.path}: {self.descriptor_variable} must be a list of '
                    f'psij.descriptor.Descriptor, not {type(declared).__name__}')
                continue
            for index, descriptor in enumerate(declared):
                if not isinstance(descriptor, Descriptor):
                    self._problems[f'{module.path}[{index}]'] = PluginLoadError(
                        f'{module.path}: {self.descriptor_variable}[{index}] must be a '
                        f'psij.descriptor.Descriptor, not {type(descriptor).__name__}')
                    continue
                descriptor.path = module.path
                entry_point = EntryPoint(name=descriptor.name, group=self.group,
                                         value=descriptor.entry_point_value)
                for name in [descriptor.name, *(descriptor.aliases or [])]:
                    if name not in found:
                        found[name] = entry_point
                        self._descriptors[name] = descriptor
                        self._descriptor_roots[name] = module.root

    def register(self, name: str, cls: Type[T]) -> None:
        """Make ``cls`` available as ``name`` without an entry point (tests, notebooks)."""
        with self._lock:
            self._registered[name] = cls

    def names(self) -> Set[str]:
        """Every name, aliases included."""
        return set(self._scan()) | set(self._registered)

    def entry_point(self, name: str) -> Optional[EntryPoint]:
        """The entry point behind ``name``, if it came from one; for a name declared by a
        descriptor, an entry point of this group made from it (``'package.module:Class'``),
        which has no distribution."""
        return self._scan().get(name)

    def descriptor(self, name: str) -> Optional['Descriptor']:
        """The descriptor that declared ``name``, if an entry point did not."""
        self._scan()
        return self._descriptors.get(name)

    def problems(self) -> Dict[str, PluginLoadError]:
        """Descriptor modules (or list items, ``path[index]``) that could not be read, by
        path; the plugins they declare, if any, are unknown."""
        self._scan()
        return dict(self._problems)

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
            descriptor = self._descriptors.get(name)
            origin = entry_point.value if descriptor is None else \
                f'{descriptor.cls}, declared in {descriptor.path}'
            # psij-python's wording: code and logs written for it look for it.
            unable = f'Unable to load {self.kind} {name!r} ({origin})'
            try:
                cls: Type[T] = entry_point.load()
            except Exception as error:
                raise PluginLoadError(
                    f'{unable}: failed to import: {type(error).__name__}: {error}') from error
            if descriptor is not None:
                self._check_descriptor_root(name, entry_point.module, unable)
                _adopt_descriptor(cls, descriptor)
            self._loaded[entry_point.value] = cls
            return cls

    def _check_descriptor_root(self, name: str, module_name: str, unable: str) -> None:
        """Refuse a descriptor's class whose module does not come from the ``sys.path`` entry
        that holds the descriptor, as psij-python does: a descriptor describes the code
        installed beside it, not another copy of that package found elsewhere."""
        root = self._descriptor_roots[name]
        module_file = getattr(sys.modules.get(module_name), '__file__', None)
        inside = module_file is not None and any(
            os.path.commonpath([root, candidate]) == root
            for candidate in (os.path.abspath(module_file), os.path.realpath(module_file)))
        if not inside:
            raise PluginLoadError(
                f'{unable}: {module_name} was imported from {module_file}, which is not in '
                f'{root}, the directory that holds its descriptor; a descriptor\'s class must '
                'be installed beside it')

    def load_all(self) -> Tuple[Dict[str, Type[T]], Dict[str, BaseException]]:
        """Every plugin that loads, and the error of every one that does not; descriptor
        modules that could not be read are among the errors, by path (see `problems`)."""
        loaded: Dict[str, Type[T]] = {}
        failed: Dict[str, BaseException] = dict(self.problems())
        for name in sorted(self.names()):
            try:
                loaded[name] = self.load(name)
            except PluginLoadError as error:
                failed[name] = error
        return loaded, failed


def _adopt_descriptor(cls: object, descriptor: 'Descriptor') -> None:
    """Give a class found through a descriptor the descriptor's name and version, unless it
    declares its own: psij-python takes them from the descriptor, psij from the class (its
    ``version`` is what ``version_constraint`` is checked against)."""
    if not isinstance(cls, type):
        return
    plugin: Any = cls  # a plugin class of any kind: the attributes are ours to set
    if 'version' not in vars(plugin):
        plugin.version = descriptor.version_text
    if 'name' not in vars(plugin):
        plugin.name = descriptor.name
