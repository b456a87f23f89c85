"""Which executor settings a profile may hold: the parameters of its executor's config class.

An executor's config class is found by convention: the most derived `JobExecutorConfig`
subclass defined in the executor's own module (`LocalJobExecutorConfig`, `SgeExecutorConfig`),
else `BatchSchedulerExecutorConfig` for a batch-scheduler executor, else `JobExecutorConfig`.
A profile with no executor, or with ``auto`` (local or a batch scheduler, known only when the
executor is made), may hold the settings every one of those accepts.
"""

import inspect
import pathlib
import sys
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig

#: Checks a TOML value against a parameter's type: (accepts it?, what is allowed).
TypeCheck = Tuple[Callable[[Any], bool], str]

#: Settings that exist in psij's signatures only for psij-python's sake.
_IGNORED = {'launcher_log_file'}


def config_class(executor: Optional[str]) -> Type[JobExecutorConfig]:
    """The config class of the executor called ``executor`` (None or ``auto``: the
    `BatchSchedulerExecutorConfig`, which every built-in executor takes).

    Raises ValueError naming the known executors for an unknown name, and
    `psij.plugins.PluginLoadError` for a plugin that fails to import.
    """
    from psij.batch.executor import BatchSchedulerExecutor, BatchSchedulerExecutorConfig
    if executor is None or executor == 'auto':
        return BatchSchedulerExecutorConfig
    cls = _executor_class(executor)
    module = sys.modules.get(cls.__module__)
    own = [value for value in vars(module).values()
           if isinstance(value, type) and issubclass(value, JobExecutorConfig)
           and value.__module__ == cls.__module__] if module is not None else []
    if own:
        return max(own, key=lambda value: len(value.__mro__))
    if issubclass(cls, BatchSchedulerExecutor):
        return BatchSchedulerExecutorConfig
    return JobExecutorConfig


def _executor_class(name: str) -> Type[JobExecutor]:
    from psij.job_executor import executors
    cls: Type[JobExecutor] = executors.load(name)
    return cls


def settings(executor: Optional[str]) -> Dict[str, TypeCheck]:
    """The settings a profile for ``executor`` may hold, with the check of each value."""
    if executor is None or executor == 'auto':
        from psij.batch.executor import BatchSchedulerExecutorConfig
        local = _parameters(config_class('local'))
        batch = _parameters(BatchSchedulerExecutorConfig)
        return {name: check for name, check in batch.items() if name in local}
    return _parameters(config_class(executor))


def _parameters(cls: Type[JobExecutorConfig]) -> Dict[str, TypeCheck]:
    """The keyword parameters of ``cls`` and its bases (a subclass taking ``**settings``
    passes them on), each with the check of its annotated type."""
    found: Dict[str, TypeCheck] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None or klass is object:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # an annotation that cannot be evaluated: check nothing of it
            hints = {}
        for name, parameter in inspect.signature(init).parameters.items():
            if (name == 'self' or name in _IGNORED or name in found or parameter.kind in
                    (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)):
                continue
            found[name] = type_check(hints.get(name, Any))
    return dict(sorted(found.items()))


def type_check(annotation: Any) -> TypeCheck:
    """The check of a TOML value for a parameter annotated ``annotation``."""
    options = [option for option in _union_members(annotation) if option is not type(None)]
    checks: List[TypeCheck] = [_one_check(option) for option in options]
    if not checks:
        return (lambda value: True), 'any value'
    names = ' or '.join(dict.fromkeys(name for _, name in checks))
    return (lambda value: any(check(value) for check, _ in checks)), names


def _union_members(annotation: Any) -> List[Any]:
    if typing.get_origin(annotation) is typing.Union:
        return [member for argument in typing.get_args(annotation)
                for member in _union_members(argument)]
    return [annotation]


def _one_check(annotation: Any) -> TypeCheck:
    origin = typing.get_origin(annotation) or annotation
    if annotation is bool:
        return (lambda value: isinstance(value, bool)), 'true or false'
    if annotation is int:
        return (lambda value: isinstance(value, int) and not isinstance(value, bool)), \
            'an integer'
    if annotation is float:
        return (lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
                ), 'a number'
    if annotation in (str, pathlib.Path) or (isinstance(origin, type) and issubclass(
            origin, pathlib.PurePath)):
        return (lambda value: isinstance(value, str)), 'a string'
    if isinstance(origin, type) and issubclass(origin, typing.Mapping):
        return (lambda value: isinstance(value, dict)), 'a table'
    if isinstance(origin, type) and issubclass(origin, (list, tuple, typing.Sequence)):
        return (lambda value: isinstance(value, list)), 'an array'
    return (lambda value: True), 'any value'
