"""A plugin module that cannot be imported: it needs a module that is not installed.

Its entry point is listed by the fake distribution beside it, so the registry must report the
failure as a PluginLoadError naming the plugin, and keep the other plugins working.
"""

import frobnicate  # type: ignore[import-not-found]  # noqa: F401  (deliberately missing)

from psij import JobExecutor


class BrokenExecutor(JobExecutor):  # pragma: no cover - never reached
    """Never defined: the import above fails first."""
