"""A descriptor module that cannot be imported: the registry reports it as a PluginLoadError
and keeps the plugins of the other modules."""

import frobnicate  # type: ignore[import-not-found]  # noqa: F401  (deliberately missing)
