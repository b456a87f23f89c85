"""What the job body needs to stage files in and out and to clean up (`psij.staging`).

Pure: paths are resolved and quoted here, the shell functions are in ``job_body.mustache``.
Where each file is taken from and put is the job's `psij.batch.staging_plan.StagingPlan`: on
this machine the paths the user gave (a source given relative (stage-in) or a target given
relative (stage-out) is on the submitting side and is made absolute against the submitter's
working directory when the script is written; a path of the job's side stays relative, to
the job's directory); over SSH, places on the remote side that psij fills before the
submission and empties after the job's end. Messages always name the user's paths.
"""

from typing import Callable, Dict, List, Optional

from psij.batch import staging_plan
from psij.batch.remote_paths import RemotePaths
from psij.batch.staging_plan import StagingPlan, make_plan
from psij.job_spec import JobSpec
from psij.staging import URI, StageOutFlags, StagingMode, check_staging

__all__ = ['staging_context', 'submitting_side_path']

_MODES = {StagingMode.COPY: 'copy', StagingMode.LINK: 'link', StagingMode.MOVE: 'move'}


def submitting_side_path(uri: URI) -> str:
    """The absolute path named by a local ``uri`` (a plain path, or ``file://``), with no
    mapping of remote paths (the local executor's)."""
    return staging_plan.submitting_side_path(uri, RemotePaths())


def _outcomes(flags: StageOutFlags) -> str:
    """The job outcomes (words the job body tests ``$psij_outcome`` against) of ``flags``;
    the script cannot see a cancel, so ON_CANCEL adds none (psij stages those after the
    job's end: `psij.batch.stage_after_end`)."""
    words = [word for flag, word in ((StageOutFlags.ON_SUCCESS, 'success'),
                                     (StageOutFlags.ON_ERROR, 'error')) if flags & flag]
    return ' ' + ' '.join(words) + ' '


def staging_context(spec: JobSpec, quote: Callable[[str], str],
                    plan: Optional[StagingPlan] = None) -> Dict[str, object]:
    """The template values for ``spec``'s staging (``staging`` is False when it has none),
    as ``plan`` places the files (by default: on this machine, where the user named them);
    raises `InvalidJobException` as `check_staging` does."""
    if plan is None:
        plan = make_plan(spec, RemotePaths(), None)
    side = plan.job_side_spec
    check_staging(side.stage_in, side.stage_out, side.cleanup, side.directory)
    stage_in: List[Dict[str, str]] = []
    for staged in plan.stage_in:
        entry = staged.entry
        stage_in.append({
            'mode': _MODES[staged.mode], 'source': quote(staged.job_side),
            'target': quote(str(entry.target)),
            'message': quote(f'JobSpec.stage_in: cannot {_MODES[entry.mode]} {staged.local!r} '
                             f'to {str(entry.target)!r}')})
    stage_out: List[Dict[str, object]] = []
    for number, out in enumerate(plan.stage_out):
        made = out.entry
        stage_out.append({
            'when': quote(_outcomes(made.flags)), 'mode': _MODES[out.mode],
            'optional': '1' if made.flags & StageOutFlags.IF_PRESENT else '0',
            'source': quote(str(made.source)), 'target': quote(out.job_side),
            'record': {'number': str(number)} if out.fetched else None,
            'message': quote(f'JobSpec.stage_out: cannot {_MODES[made.mode]} '
                             f'{str(made.source)!r} to {out.local!r}')})
    cleanup = [{'path': quote(str(path))} for path in sorted(side.cleanup or (), key=str)]
    staging = bool(stage_in or stage_out or cleanup)
    record = plan.record_file
    return {
        'staging': staging, 'stage_in': stage_in, 'stage_out': stage_out,
        'staging_record': quote(record) if record is not None and stage_out else None,
        'cleanup': {'when': quote(_outcomes(side.cleanup_flags)), 'paths': cleanup}
        if cleanup else None,
    }
