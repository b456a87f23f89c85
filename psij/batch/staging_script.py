"""What the job body needs to stage files in and out and to clean up (`psij.staging`).

Pure: paths are resolved and quoted here, the shell functions are in ``job_body.mustache``.
A source given relative (stage-in) or a target given relative (stage-out) is on the
submitting side and is made absolute against the submitter's working directory when the
script is written; a path of the job's side stays relative, to the job's directory.
"""

import os
from typing import Callable, Dict, List
from urllib.parse import unquote

from psij.job_spec import JobSpec
from psij.staging import URI, StageOutFlags, StagingMode, check_staging

_MODES = {StagingMode.COPY: 'copy', StagingMode.LINK: 'link', StagingMode.MOVE: 'move'}


def submitting_side_path(uri: URI) -> str:
    """The absolute path named by a local ``uri`` (a plain path, or ``file://``)."""
    path = unquote(uri.path) if uri.scheme == 'file' else uri.path
    return os.path.abspath(path)


def _outcomes(flags: StageOutFlags) -> str:
    """The job outcomes (words the job body tests ``$psij_outcome`` against) of ``flags``;
    the script cannot see a cancel (see docs/remote.md), so ON_CANCEL adds none."""
    words = [word for flag, word in ((StageOutFlags.ON_SUCCESS, 'success'),
                                     (StageOutFlags.ON_ERROR, 'error')) if flags & flag]
    return ' ' + ' '.join(words) + ' '


def staging_context(spec: JobSpec, quote: Callable[[str], str]) -> Dict[str, object]:
    """The template values for ``spec``'s staging (``staging`` is False when it has none);
    raises `InvalidJobException` as `check_staging` does."""
    check_staging(spec.stage_in, spec.stage_out, spec.cleanup, spec.directory)
    stage_in: List[Dict[str, str]] = []
    for entry in sorted(spec.stage_in or (), key=lambda e: (str(e.source), str(e.target))):
        source = submitting_side_path(entry.source)
        stage_in.append({
            'mode': _MODES[entry.mode], 'source': quote(source),
            'target': quote(str(entry.target)),
            'message': quote(f'JobSpec.stage_in: cannot {_MODES[entry.mode]} {source!r} to '
                             f'{str(entry.target)!r}')})
    stage_out: List[Dict[str, str]] = []
    for out in sorted(spec.stage_out or (), key=lambda e: (str(e.source), str(e.target))):
        target = submitting_side_path(out.target)
        stage_out.append({
            'when': quote(_outcomes(out.flags)), 'mode': _MODES[out.mode],
            'optional': '1' if out.flags & StageOutFlags.IF_PRESENT else '0',
            'source': quote(str(out.source)), 'target': quote(target),
            'message': quote(f'JobSpec.stage_out: cannot {_MODES[out.mode]} '
                             f'{str(out.source)!r} to {target!r}')})
    cleanup = [{'path': quote(str(path))} for path in sorted(spec.cleanup or (), key=str)]
    staging = bool(stage_in or stage_out or cleanup)
    return {
        'staging': staging, 'stage_in': stage_in, 'stage_out': stage_out,
        'cleanup': {'when': quote(_outcomes(spec.cleanup_flags)), 'paths': cleanup}
        if cleanup else None,
    }

