"""A site: a named cluster of the configuration (``[site.NAME]``), its executor, url,
executor settings and queues (``[site.NAME.queue.QNAME]``: limits and a template).

`psij.configuration.Configuration.executor` makes the executor of the site whose executor and
url match; a profile that says ``site = "NAME"`` takes the site's executor, url and settings,
its own winning.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from psij.configuration.errors import ConfigurationError
from psij.configuration.executor_settings import config_class
from psij.job_executor import JobExecutor
from psij.job_executor_config import JobExecutorConfig


@dataclass(frozen=True)
class Site:
    """One ``[site.NAME]`` (build it with `psij.configuration.load`).

    ``settings`` are fields of the executor's config class; the queue tables are in it as
    ``queue_limits`` (queue -> limits, see `psij.queue_limits`) and ``queue_templates``
    (queue -> template path). ``source`` is the file the site's ``executor`` came from.
    """

    name: str
    executor_name: str
    url: Optional[str] = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    source: Optional[str] = None

    def matches(self, executor: str, url: Optional[str]) -> bool:
        """True if this site is the one of ``executor`` reached at ``url`` (None: this
        machine)."""
        return self.executor_name == executor and (self.url or None) == (url or None)

    def queue_limits(self) -> Dict[str, Dict[str, Any]]:
        """The limits of the site's queues, by queue name (values as the config holds them)."""
        return dict(self.settings.get('queue_limits', {}))

    def executor_config(self, **overrides: Any) -> JobExecutorConfig:
        """The config of the site's executor made of its settings, ``overrides`` winning;
        `ConfigurationError` for a value the config class refuses."""
        values = {**self.settings, **{key: value for key, value in overrides.items()
                                      if value is not None}}
        try:
            return config_class(self.executor_name)(**values)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f'site {self.name!r}: {error}', self.source,
                                     key=f'site.{self.name}') from error

    def executor(self, **overrides: Any) -> JobExecutor:
        """`JobExecutor.get_instance` of the site's executor, url and settings."""
        return JobExecutor.get_instance(self.executor_name, url=self.url,
                                        config=self.executor_config(**overrides))
