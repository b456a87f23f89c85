"""A profile: a named set of executor, url, launcher, resources, attributes and executor
settings, from ``[profile.NAME]`` of the configuration.

The profile fills what a spec leaves unset, and what the caller gives wins: see
`Profile.fill`, `Profile.job_spec` and `Profile.executor`.
"""

import inspect
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Dict, Mapping, Optional

from psij.configuration.errors import ConfigurationError
from psij.configuration.executor_settings import config_class, settings
from psij.job_attributes import JobAttributes
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig
from psij.job_spec import JobSpec
from psij.resource_spec import ResourceSpecV1

#: The executor of a profile that names none (as for ``psij`` without ``-e``).
DEFAULT_EXECUTOR = 'local'

#: The duration a `JobAttributes` has when none is given: a spec holding it "has none".
_DEFAULT_DURATION: timedelta = inspect.signature(JobAttributes).parameters['duration'].default


@dataclass(frozen=True)
class Profile:
    """One ``[profile.NAME]`` of the configuration (build it with `psij.configuration.load`).

    ``resources`` holds `ResourceSpecV1` fields, ``attributes`` `JobAttributes` fields
    (``duration`` a timedelta, ``project_name`` given as ``account``, ``custom_attributes`` a
    flat dict), ``settings`` the fields of the executor's config class
    (``work_directory``, ``max_in_flight``, ``queue_polling_interval``...). ``source`` is the
    file the profile's ``executor`` came from (else the last that wrote a key of it).
    """

    name: str
    executor_name: Optional[str] = None
    url: Optional[str] = None
    launcher: Optional[str] = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    source: Optional[str] = None

    def fill(self, spec: JobSpec) -> JobSpec:
        """Give ``spec`` what the profile holds where ``spec`` has nothing, and return it.

        "Nothing" is: ``launcher`` None; resources equal to an empty `ResourceSpecV1`
        (the profile's resources are taken whole, never mixed field by field with the spec's,
        which could contradict each other); an attribute None, the duration the default 10
        minutes, a custom attribute absent. The spec's attributes object is replaced by a new
        one, so a `JobAttributes` the caller shares with other specs is left as it was.
        """
        if spec.launcher is None and self.launcher is not None:
            spec.launcher = self.launcher
        if self.resources and spec.resources == ResourceSpecV1():
            spec.resources = ResourceSpecV1(**self.resources)
        if self.attributes:
            spec.attributes = self._filled_attributes(spec.attributes)
        return spec

    def _filled_attributes(self, given: JobAttributes) -> JobAttributes:
        wanted = dict(self.attributes)
        custom: Dict[str, object] = dict(wanted.pop('custom_attributes', {}))
        custom.update(given.custom_attributes or {})
        values: Dict[str, Any] = {name: getattr(given, name) for name in
                                  ('queue_name', 'account', 'reservation_id')}
        for name, value in values.items():
            if value is None:
                values[name] = wanted.get(name)
        duration = given.duration
        if duration == _DEFAULT_DURATION:
            duration = wanted.get('duration', duration)
        return JobAttributes(duration=duration, custom_attributes=custom or None, **values)

    def job_spec(self, **fields: Any) -> JobSpec:
        """A new `JobSpec` of ``fields`` (`JobSpec`'s parameters: ``executable=...``), the
        profile filling the rest (see `fill`): a field the caller gives wins."""
        return self.fill(JobSpec(**fields))

    def executor_config(self, executor: Optional[str] = None,
                        **overrides: Any) -> JobExecutorConfig:
        """The config of ``executor`` (default: the profile's) made of the profile's
        settings, ``overrides`` winning over them.

        Raises `ConfigurationError` for a setting the executor's config class does not have
        or a value it refuses.
        """
        name = executor or self.executor_name
        values = {**self.settings, **{key: value for key, value in overrides.items()
                                      if value is not None}}
        allowed = settings(name)
        for key in values:
            if key not in allowed:
                raise ConfigurationError(
                    f'profile {self.name!r}: {key!r} is not a setting of executor '
                    f'{name or DEFAULT_EXECUTOR!r} (allowed: {", ".join(allowed)})',
                    self.source, key=f'profile.{self.name}.{key}')
        cls = config_class(name)
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f'profile {self.name!r}: {error}', self.source) from error

    def executor(self, name: Optional[str] = None, url: Optional[str] = None,
                 **overrides: Any) -> JobExecutor:
        """The executor of the profile: `JobExecutor.get_instance` with the profile's
        executor (``local`` if it names none), url and settings; ``name``, ``url`` and
        ``overrides`` (config fields: ``work_directory=...``) win over them."""
        executor = name or self.executor_name or DEFAULT_EXECUTOR
        config = self.executor_config(executor, **overrides)
        return JobExecutor.get_instance(executor, url=url if url is not None else self.url,
                                        config=config)

    def summary(self) -> str:
        """One line: the resources, attributes and settings the profile sets."""
        parts = [f'{key}={value}' for key, value in self.resources.items()]
        for key, value in self.attributes.items():
            if key == 'custom_attributes':
                parts.extend(f'{inner}={item}' for inner, item in value.items())
            elif isinstance(value, timedelta):
                parts.append(f'{key}={_clock(value)}')
            else:
                parts.append(f'{key}={value}')
        if self.launcher is not None:
            parts.insert(0, f'launcher={self.launcher}')
        parts.extend(f'{key}={value}' for key, value in self.settings.items())
        return ' '.join(parts) or '(nothing set)'

    def to_dict(self) -> Dict[str, Any]:
        """The profile as JSON-ready values (a duration in seconds)."""
        attributes = {key: (value.total_seconds() if isinstance(value, timedelta) else value)
                      for key, value in self.attributes.items()}
        return {'name': self.name, 'executor': self.executor_name, 'url': self.url,
                'launcher': self.launcher, 'resources': dict(self.resources),
                'attributes': attributes, 'settings': dict(self.settings),
                'source': self.source}


def _clock(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'
