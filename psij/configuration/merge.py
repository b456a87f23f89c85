"""Merging the files: a later file overrides an earlier one key by key, tables merged.

Pure: `merge` takes what each file holds and returns the merged tree and, for every key
(tables too), the file that gave it its value.
"""

import string
from typing import Any, Dict, Iterator, Mapping, Sequence, Tuple

_BARE_KEY = set(string.ascii_letters + string.digits + '-_')

#: A key's place in the tree: ``('profile', 'gpu', 'resources', 'node_count')``.
KeyPath = Tuple[str, ...]


def merge(layers: Sequence[Tuple[str, Mapping[str, Any]]]
          ) -> Tuple[Dict[str, Any], Dict[KeyPath, str]]:
    """(the merged tree, the origin of each key) of ``layers``, pairs of (file, tree), the
    first the lowest.

    A table in a later file is merged into the table of the same key, key by key; any other
    value (arrays too) replaces what was there, and a table replaces a non-table (and the
    reverse). A table's origin is the last file that wrote a key of it.
    """
    merged: Dict[str, Any] = {}
    origins: Dict[KeyPath, str] = {}
    for source, tree in layers:
        _merge_into(merged, tree, (), source, origins)
    return merged, origins


def _merge_into(target: Dict[str, Any], tree: Mapping[str, Any], prefix: KeyPath,
                source: str, origins: Dict[KeyPath, str]) -> None:
    for key, value in tree.items():
        path = prefix + (key,)
        if isinstance(value, Mapping):
            existing = target.get(key)
            if not isinstance(existing, dict):
                _forget(origins, path)
                existing = target[key] = {}
            origins[path] = source
            _merge_into(existing, value, path, source, origins)
        else:
            _forget(origins, path)
            target[key] = value
            origins[path] = source


def _forget(origins: Dict[KeyPath, str], path: KeyPath) -> None:
    """Drop the origins of what was under ``path``: it is being replaced."""
    for known in [known for known in origins if known[:len(path)] == path]:
        del origins[known]


def leaves(tree: Mapping[str, Any], prefix: KeyPath = ()) -> Iterator[Tuple[KeyPath, Any]]:
    """Every (path, value) of ``tree`` that is not a table, depth first, in file order; an
    empty table is a leaf (its value ``{}``), so that it is shown."""
    for key, value in tree.items():
        path = prefix + (key,)
        if isinstance(value, Mapping) and value:
            yield from leaves(value, path)
        else:
            yield path, value


def dotted(path: KeyPath) -> str:
    """``profile.gpu.resources.node_count``; a part that is not a bare TOML key is quoted."""
    return '.'.join(part if part and set(part) <= _BARE_KEY
                    else '"' + part.replace('\\', '\\\\').replace('"', '\\"') + '"'
                    for part in path)
