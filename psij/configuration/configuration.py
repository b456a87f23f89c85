"""The merged configuration: every file read, checked, and its profiles."""

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from psij.configuration.errors import ConfigurationError
from psij.configuration.executor_settings import config_class
from psij.configuration.files import ConfigFile, LoadedFile, default_files, key_line, read_file
from psij.configuration.merge import KeyPath, dotted, leaves, merge
from psij.configuration.profile import Profile
from psij.configuration.schema import check_tree
from psij.configuration.site import Site
from psij.exceptions import InvalidJobException
from psij.job_executor import JobExecutor
from psij.resource_spec import ResourceSpecV1

#: How a config's error names a queue's limit (see `psij.queue_limits.config_limits`).
_QUEUE_IN_MESSAGE = re.compile(r"queue_limits\['([^']*)'\]\.(\w+)")


@dataclass(frozen=True)
class Setting:
    """One value of the merged configuration: its dotted ``key``, ``value``, and the
    ``file`` and ``line`` it came from."""

    key: str
    value: Any
    file: str
    line: Optional[int]


class Configuration:
    """What the configuration files say, merged (made by `load`).

    ``files`` are the places looked at, in order, ``read`` the paths of those that exist,
    ``tree`` the merged TOML tables, ``profiles`` the profiles by name.
    """

    def __init__(self, files: Sequence[ConfigFile], loaded: Sequence[LoadedFile]) -> None:
        self.files: List[ConfigFile] = list(files)
        self.read: List[str] = [str(item.source.path) for item in loaded]
        self._texts = {str(item.source.path): item.text for item in loaded}
        self.tree, self._origins = merge([(str(item.source.path), item.data)
                                          for item in loaded])
        checked = check_tree(self.tree, self._fail)
        self.sites: Dict[str, Site] = {}
        for name, site_values in checked.sites.items():
            path = ('site', name)
            site = Site(name, site_values.executor, site_values.url, site_values.settings,
                        self._origins.get(path + ('executor',)) or self._origins.get(path))
            self._check_config(site.executor_config, site_values.settings, path)
            self.sites[name] = site
        self.profiles: Dict[str, Profile] = {}
        for name, values in checked.profiles.items():
            path = ('profile', name)
            source = self._origins.get(path + ('executor',)) or self._origins.get(path)
            profile = Profile(name, values.executor, values.url, values.launcher,
                              values.resources, values.attributes, values.settings, source)
            self._check_profile(profile, path)
            self.profiles[name] = profile

    def _check_profile(self, profile: Profile, path: KeyPath) -> None:
        """What only the whole profile can tell: resources that contradict each other, and
        settings its executor's config refuses."""
        if profile.resources:
            try:
                ResourceSpecV1(**profile.resources)
            except InvalidJobException as error:
                raise self._fail(path + ('resources',), error.message) from None
        self._check_config(profile.executor_config, profile.settings, path)

    def _check_config(self, make: Callable[[], object], settings: Mapping[str, Any],
                      path: KeyPath) -> None:
        """Make a config (``make``) to check ``settings``; an error names the key at fault
        (a queue's limit: ``site.NAME.queue.QNAME.KEY``)."""
        try:
            make()
        except ConfigurationError as error:
            key = next((key for key in settings if key in error.message), None)
            where = path + ((key,) if key else ())
            queue = _QUEUE_IN_MESSAGE.search(error.message)
            if key == 'queue_limits' and queue is not None and path[0] == 'site':
                where = path + ('queue', queue.group(1), queue.group(2))
            raise self._fail(where, error.message) from None

    def executor(self, name: str, url: Optional[str] = None, **overrides: Any) -> JobExecutor:
        """`JobExecutor.get_instance` of ``name`` at ``url``, with the settings (and queue
        limits) of the site whose executor and url these are, if one is (``overrides``,
        config fields, winning); else with the executor's default config."""
        for site in self.sites.values():
            if site.matches(name, url):
                return site.executor(**overrides)
        config = None
        if overrides:
            config = config_class(name)(**overrides)
        return JobExecutor.get_instance(name, url=url, config=config)

    def site(self, executor: str, url: Optional[str] = None) -> Optional[Site]:
        """The site of ``executor`` at ``url`` (None: this machine), or None."""
        return next((site for site in self.sites.values() if site.matches(executor, url)),
                    None)

    def origin(self, path: KeyPath) -> Optional[str]:
        """The file that gave ``path`` its value (for a key not in any file: its nearest
        table's), or None."""
        for length in range(len(path), 0, -1):
            found = self._origins.get(tuple(path[:length]))
            if found is not None:
                return found
        return None

    def _fail(self, path: KeyPath, message: str) -> ConfigurationError:
        file = self.origin(path)
        line = key_line(self._texts[file], path) if file in self._texts else None
        return ConfigurationError(message, file, key=dotted(path), line=line)

    def profile(self, name: str) -> Profile:
        """The profile called ``name``; `ConfigurationError` listing the known ones (and the
        files read) if there is none."""
        found = self.profiles.get(name)
        if found is None:
            known = ', '.join(sorted(self.profiles)) or 'none'
            where = ', '.join(self.read) or 'no configuration file found: ' + ', '.join(
                str(item.path) for item in self.files)
            raise ConfigurationError(f'no profile {name!r} (known: {known}; read: {where})',
                                     key=f'profile.{name}')
        return found

    def settings(self) -> List[Setting]:
        """Every value of the merged configuration with the file and line it came from."""
        found = []
        for path, value in leaves(self.tree):
            file = self.origin(path) or ''
            line = key_line(self._texts[file], path) if file in self._texts else None
            found.append(Setting(dotted(path), value, file, line))
        return found


def load(files: Optional[Sequence[ConfigFile]] = None,
         environment: Optional[Mapping[str, str]] = None) -> Configuration:
    """Read and merge the configuration files (default: `default_files` of ``environment``,
    itself by default this process's environment: the site's, the user's, ``PSIJ_CONFIG``'s).

    Raises `ConfigurationError` naming the file, key and line of the first problem.
    """
    places = list(files) if files is not None else default_files(
        os.environ if environment is None else environment)
    loaded = [item for item in (read_file(place) for place in places) if item is not None]
    return Configuration(places, loaded)
