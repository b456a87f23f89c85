"""psij-python's way of declaring a plugin: a `Descriptor` in a ``psij-descriptors`` module.

A directory called ``psij-descriptors`` (no ``__init__.py``) in a ``sys.path`` entry holds
modules that list descriptors::

    # <site-packages or src>/psij-descriptors/my_descriptors.py
    from psij.descriptor import Descriptor

    __PSI_J_EXECUTORS__ = [Descriptor(name='mysched', version='1.0.2',
                                      cls='mypackage.executor.MySchedExecutor')]
    __PSI_J_LAUNCHERS__ = [Descriptor(name='mylauncher', version='0.3',
                                      cls='mypackage.launcher.MyLauncher')]

psij reads them, beside the ``psij.executors`` and ``psij.launchers`` entry points, the
first time a plugin name is looked up or listed (never at ``import psij``); see
`psij.plugins`. An entry point wins over a descriptor of the same name.
"""

from typing import List, Optional

from psij.plugins import parse_version


class Descriptor:
    """An executor or launcher class, named and versioned for the registry.

    :param name: the name given to `JobExecutor.get_instance` or `Launcher.get_instance`.
    :param version: a ``packaging.version.Version`` or a str such as ``'1.0.2'``; it must
        start with numbers separated by dots. The class gets it as its ``version`` unless it
        declares its own.
    :param cls: the class, as ``'package.module.ClassName'``; its module is imported the
        first time the plugin is asked for, never before.
    :param aliases: other names for the same plugin.
    :param nice_name: a name to show people (``'PBS Pro'``); ``name`` if not given.
    """

    def __init__(self, name: str, version: object, cls: str,
                 aliases: Optional[List[str]] = None, nice_name: Optional[str] = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f'Descriptor.name must be a non-empty str, not {name!r}')
        if not isinstance(cls, str) or '.' not in cls.strip('.'):
            raise ValueError(f'Descriptor(name={name!r}).cls must be "package.module.Class", '
                             f'not {cls!r}')
        if aliases is not None and (not isinstance(aliases, (list, tuple)) or not all(
                isinstance(alias, str) and alias for alias in aliases)):
            raise TypeError(f'Descriptor(name={name!r}).aliases must be a list of non-empty '
                            f'str or None, not {aliases!r}')
        try:
            parse_version(str(version))
        except ValueError as error:
            raise ValueError(f'Descriptor(name={name!r}).version: {error}') from None
        self.name = name
        # Kept as given: code written for psij-python compares it with other Version objects.
        self.version = version
        self.cls = cls
        self.aliases = None if aliases is None else list(aliases)
        self.nice_name = nice_name if nice_name is not None else name
        #: The descriptor module this came from; set when the registry reads it.
        self.path: Optional[str] = None

    @property
    def version_text(self) -> str:
        """``version`` as a str (``'1.0.2'``), as psij's registry compares versions."""
        return str(self.version)

    @property
    def entry_point_value(self) -> str:
        """``cls`` in entry-point form, ``'package.module:Class'``."""
        module, _, attribute = self.cls.rpartition('.')
        return f'{module}:{attribute}'

    def __repr__(self) -> str:
        return (f'Descriptor(name={self.name!r}, version={self.version_text!r}, '
                f'cls={self.cls!r}, path={self.path!r})')
