"""The psij configuration files and their profiles.

`load` reads, in order, the site's file (``/etc/psij/config.toml``, or ``$PSIJ_SITE_CONFIG``),
the user's (``$XDG_CONFIG_HOME/psij/config.toml``, by default ``~/.config/psij/config.toml``)
and the one named by ``PSIJ_CONFIG``; a later file overrides an earlier one key by key. A
profile (``[profile.NAME]``) builds specs and executors::

    from psij.configuration import load

    profile = load().profile('gpu-debug')
    job = psij.Job(profile.job_spec(executable='/bin/hostname'))
    profile.executor().submit(job)

A site (``[site.NAME]``: an executor, url, settings and queue limits) gives its settings to
the executor of the same name and url: ``load().executor('slurm')``.

Every problem is a `ConfigurationError` naming the file, the key and its line. The keys are
in `psij.configuration.schema` and docs/configuration.md.
"""

from psij.configuration.configuration import Configuration, Setting, load
from psij.configuration.errors import ConfigurationError
from psij.configuration.files import ConfigFile, default_files
from psij.configuration.profile import Profile
from psij.configuration.site import Site

__all__ = ['ConfigFile', 'Configuration', 'ConfigurationError', 'Profile', 'Setting', 'Site',
           'default_files', 'load']
