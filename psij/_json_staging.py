"""The file staging fields of a `JobSpec` (``stage_in``, ``stage_out``, ``cleanup``,
``cleanup_flags``) as JSON values, and back, with errors that name the field.

Shared by the two job spec formats (`psij.serialize`, `psij.psij_python_json`), which write
these four fields the same way:

- ``stage_in``: a list of ``{"source": <path or URI>, "target": <path>, "mode": <mode>}``;
- ``stage_out``: a list of ``{"source": <path>, "target": <path or URI>, "flags": [<flag>...],
  "mode": <mode>}``;
- ``cleanup``: a list of paths;
- ``cleanup_flags``: a list of flag names.

A mode is ``"COPY"``, ``"LINK"`` or ``"MOVE"``. Flags are written as the names of what is set,
``IF_PRESENT`` first, with ``"ALWAYS"`` for the three conditions together (``["IF_PRESENT",
"ALWAYS"]``, ``["ON_SUCCESS"]``); the reader also takes ``"NONE"`` and repeated names, and, as
`StageOutFlags` does, a list naming no condition means ALWAYS as well. The sets are written as
lists sorted by their JSON text, so equal specs give the same text; a repeated entry read back
is one entry of the set.
"""

import json
from typing import Any, Callable, Dict, List, Optional, Set, TypeVar

from psij._json_fields import (
    SpecFormatError,
    read_object,
    wrong_type,
)
from psij.staging import StageIn, StageOut, StageOutFlags, StagingMode

__all__ = ['FLAG_NAMES', 'MODE_NAMES', 'STAGE_IN_FIELDS', 'STAGE_OUT_FIELDS', 'STAGING_FIELDS',
           'staging_from_document', 'staging_to_document']

STAGING_FIELDS = ('stage_in', 'stage_out', 'cleanup', 'cleanup_flags')
STAGE_IN_FIELDS = ('source', 'target', 'mode')
STAGE_OUT_FIELDS = ('source', 'target', 'flags', 'mode')
MODE_NAMES = ('COPY', 'LINK', 'MOVE')
#: The names the reader takes; the writer uses all but NONE, ON_* only when not all three.
FLAG_NAMES = ('NONE', 'IF_PRESENT', 'ON_SUCCESS', 'ON_ERROR', 'ON_CANCEL', 'ALWAYS')
_CONDITIONS = ('ON_SUCCESS', 'ON_ERROR', 'ON_CANCEL')

_Entry = TypeVar('_Entry')


# --- writing -----------------------------------------------------------------------------


def flags_to_names(flags: StageOutFlags) -> List[str]:
    """The names written for ``flags`` (normalized first): ``['IF_PRESENT', 'ALWAYS']``."""
    flags = flags.normalized()
    names = ['IF_PRESENT'] if flags & StageOutFlags.IF_PRESENT else []
    if flags & StageOutFlags.ALWAYS == StageOutFlags.ALWAYS:
        return names + ['ALWAYS']
    return names + [name for name in _CONDITIONS if flags & StageOutFlags[name]]


def _stage_in_to_dict(entry: StageIn) -> Dict[str, Any]:
    return {'source': str(entry.source), 'target': str(entry.target), 'mode': entry.mode.name}


def _stage_out_to_dict(entry: StageOut) -> Dict[str, Any]:
    return {'source': str(entry.source), 'target': str(entry.target),
            'flags': flags_to_names(entry.flags), 'mode': entry.mode.name}


def _sorted_list(items: Any, to_json: Callable[[Any], Any]) -> Optional[List[Any]]:
    if items is None:
        return None
    return sorted((to_json(item) for item in items),
                  key=lambda value: json.dumps(value, sort_keys=True))


def staging_to_document(spec: Any) -> Dict[str, Any]:
    """The four staging fields of the `JobSpec` ``spec``, JSON-ready: None for an unset set,
    ``cleanup_flags`` always (see the module docstring for the form)."""
    return {
        'stage_in': _sorted_list(spec.stage_in, _stage_in_to_dict),
        'stage_out': _sorted_list(spec.stage_out, _stage_out_to_dict),
        'cleanup': _sorted_list(spec.cleanup, str),
        'cleanup_flags': flags_to_names(spec.cleanup_flags),
    }


# --- reading -----------------------------------------------------------------------------


def _read_text(value: object, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise wrong_type(value, path, what)
    if not value:
        raise SpecFormatError(path, f'is empty; it must be {what}')
    return value


def _read_mode(fields: Dict[str, Any], path: str) -> StagingMode:
    if 'mode' not in fields:
        return StagingMode.COPY
    value = fields['mode']
    allowed = ', '.join(MODE_NAMES)
    if not isinstance(value, str):
        raise wrong_type(value, f'{path}.mode', f'one of the strings {allowed}')
    if value not in MODE_NAMES:
        raise SpecFormatError(f'{path}.mode', f'{value!r} is not a staging mode; use one of '
                                              f'{allowed}')
    return StagingMode[value]


def read_flags(value: object, path: str) -> StageOutFlags:
    """The `StageOutFlags` named by the list of names ``value`` (normalized)."""
    allowed = ', '.join(FLAG_NAMES)
    if not isinstance(value, list):
        raise wrong_type(value, path, f'a list of flag names ({allowed})')
    flags = StageOutFlags.NONE
    for index, name in enumerate(value):
        if not isinstance(name, str):
            raise wrong_type(name, f'{path}[{index}]', f'one of the strings {allowed}')
        if name not in FLAG_NAMES:
            raise SpecFormatError(f'{path}[{index}]',
                                  f'{name!r} is not a stage-out flag; use {allowed}')
        flags |= StageOutFlags[name]
    return flags.normalized()


def _read_set(value: object, path: str, read_entry: Callable[[object, str], _Entry]
              ) -> Optional[Set[_Entry]]:
    if value is None:
        return None
    if not isinstance(value, list):
        raise wrong_type(value, path, 'a list or null')
    return {read_entry(item, f'{path}[{index}]') for index, item in enumerate(value)}


def _make(path: str, build: Callable[[], _Entry]) -> _Entry:
    """``build()``, its ValueError (a URI that does not parse) as `SpecFormatError`."""
    try:
        return build()
    except ValueError as error:
        raise SpecFormatError(path, str(error)) from error


def _read_stage_in(value: object, path: str) -> StageIn:
    fields = read_object(value, path, STAGE_IN_FIELDS)
    for key in ('source', 'target'):
        if key not in fields:
            raise SpecFormatError(f'{path}.{key}', 'is missing; it is required')
    source = _read_text(fields['source'], f'{path}.source', 'a path or a URI')
    target = _read_text(fields['target'], f'{path}.target', 'a path')
    mode = _read_mode(fields, path)
    return _make(f'{path}.source', lambda: StageIn(source, target, mode))


def _read_stage_out(value: object, path: str) -> StageOut:
    fields = read_object(value, path, STAGE_OUT_FIELDS)
    for key in ('source', 'target'):
        if key not in fields:
            raise SpecFormatError(f'{path}.{key}', 'is missing; it is required')
    source = _read_text(fields['source'], f'{path}.source', 'a path')
    target = _read_text(fields['target'], f'{path}.target', 'a path or a URI')
    flags = read_flags(fields['flags'], f'{path}.flags') if 'flags' in fields \
        else StageOutFlags.ALWAYS
    mode = _read_mode(fields, path)
    return _make(f'{path}.target', lambda: StageOut(source, target, flags, mode))


def _read_cleanup_path(value: object, path: str) -> str:
    return _read_text(value, path, "a path inside the job's directory")


def staging_from_document(document: Dict[str, Any]) -> Dict[str, Any]:
    """The `JobSpec` keyword arguments for the staging fields of ``document``: left out, a
    field takes the constructor's default; `SpecFormatError` naming the field otherwise."""
    cleanup_flags = StageOutFlags.ALWAYS
    if 'cleanup_flags' in document:
        cleanup_flags = read_flags(document['cleanup_flags'], 'cleanup_flags')
    return {
        'stage_in': _read_set(document.get('stage_in'), 'stage_in', _read_stage_in),
        'stage_out': _read_set(document.get('stage_out'), 'stage_out', _read_stage_out),
        'cleanup': _read_set(document.get('cleanup'), 'cleanup', _read_cleanup_path),
        'cleanup_flags': cleanup_flags,
    }
