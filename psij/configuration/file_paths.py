"""Template paths written in a configuration file are relative to that file's directory.

A site's admin writes ``template = "slurm-short.mustache"`` next to ``/etc/psij/config.toml``;
read relative to the working directory of whoever runs psij, that path would name a different
file for every user. So when a file is read, every relative path under a ``template`` key or in
a ``queue_templates`` table is made absolute against the file's own directory. Paths starting
with ``~`` stay as written (they are the user's home, expanded when the template is read).
"""

import pathlib
from typing import Any, Dict

#: Keys whose value is the path of a template.
TEMPLATE_KEYS = ('template',)
#: Keys whose value is a table of template paths (queue name -> path).
TEMPLATE_TABLES = ('queue_templates',)


def anchor_template_paths(data: Dict[str, Any], directory: pathlib.Path) -> Dict[str, Any]:
    """``data`` (a parsed file) with its relative template paths made absolute against
    ``directory``; other values, and values that are not strings, are kept as they are (the
    schema check reports those)."""
    anchored: Dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if key in TEMPLATE_TABLES:
                anchored[key] = {name: _anchored(path, directory)
                                 for name, path in value.items()}
            else:
                anchored[key] = anchor_template_paths(value, directory)
        elif key in TEMPLATE_KEYS:
            anchored[key] = _anchored(value, directory)
        else:
            anchored[key] = value
    return anchored


def _anchored(value: Any, directory: pathlib.Path) -> Any:
    if not isinstance(value, str) or not value or value.startswith('~'):
        return value
    path = pathlib.PurePath(value)
    return value if path.is_absolute() else str(directory / path)
