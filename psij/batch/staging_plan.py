"""Where each file of a job's staging is on each side, decided once when its script is written.

On this machine (a batch executor on the cluster) the job script reads stage-in sources and
writes stage-out targets where the user named them. Over SSH the user's files are on the
submitting side: each stage-in source is copied by psij, before the submission, to the
remote side (to its place under `psij.batch.remote_paths`, else to the job's staging area
``<remote work directory>/<job id>.staging/in/<n>/``), and the job script stages from there;
each stage-out goes to its mapped place, else to ``<staging area>/out/<n>/``, and psij brings
it to its target after the job's end (`psij.batch.stage_after_end`). Over SSH a LINK without a
mapped place is a COPY (a link to psij's staging area would outlive it), and a stage-out LINK
is a COPY (the target is on another machine).

The plan also holds the job's spec as the job's side sees it (`job_side_spec`: the paths of
`psij.batch.remote_paths` translated), which the job script is made from.
"""

import copy
import os
import pathlib
import posixpath
from dataclasses import dataclass
from typing import Optional, Tuple
from urllib.parse import unquote

from psij.batch.remote_paths import RemotePaths
from psij.job_spec import JobSpec
from psij.staging import URI, StageIn, StageOut, StageOutFlags, StagingMode


def submitting_side_path(uri: URI, paths: RemotePaths) -> str:
    """The absolute path on the submitting side named by a local ``uri`` (a plain path, or
    ``file://``), a remote path under a mapped prefix given as its local path."""
    path = unquote(uri.path) if uri.scheme == 'file' else uri.path
    return paths.to_local(os.path.abspath(path))


@dataclass(frozen=True)
class StagedIn:
    """One stage-in entry: ``local`` on the submitting side; the job script takes it from
    ``job_side`` with ``mode``; ``pushed``: psij copies ``local`` to ``job_side`` first."""

    entry: StageIn
    local: str
    job_side: str
    mode: StagingMode
    pushed: bool


@dataclass(frozen=True)
class StagedOut:
    """One stage-out entry: the job script puts it at ``job_side`` with ``mode``;
    ``fetched``: psij brings ``job_side`` to ``local`` after the job's end."""

    entry: StageOut
    local: str
    job_side: str
    mode: StagingMode
    fetched: bool
    #: The mapped place that is kept after the fetch (a COPY to a place under a prefix).
    kept: bool = False


@dataclass(frozen=True)
class StagingPlan:
    """See the module docstring. ``area`` is the staging area over SSH (None on this
    machine); ``directory`` the job's directory on its side, absolute, if known."""

    job_side_spec: JobSpec
    stage_in: Tuple[StagedIn, ...]
    stage_out: Tuple[StagedOut, ...]
    area: Optional[pathlib.PurePosixPath]
    directory: Optional[str]
    over_ssh: bool

    @property
    def record_file(self) -> Optional[str]:
        """Over SSH: the file the job script lists the stage-outs it made in (one index per
        line), so that psij fetches exactly those."""
        return str(self.area / 'out.list') if self.area is not None else None

    @property
    def after_end(self) -> bool:
        """True if psij has work after the job's end (a fetch, or ON_CANCEL staging)."""
        return any(out.fetched for out in self.stage_out) or self.on_cancel

    @property
    def on_cancel(self) -> bool:
        """True if something is staged out or cleaned up after a cancel."""
        return self.flagged(StageOutFlags.ON_CANCEL)

    def flagged(self, flag: StageOutFlags) -> bool:
        """True if some stage-out, or the cleanup, has ``flag`` (ON_CANCEL, ON_ERROR)."""
        spec = self.job_side_spec
        return any(out.entry.flags & flag for out in self.stage_out) or (
            bool(spec.cleanup) and bool(spec.cleanup_flags.normalized() & flag))


def _job_side(path: Optional[pathlib.Path], paths: RemotePaths) -> Optional[pathlib.Path]:
    if path is None or not paths:
        return path
    return pathlib.Path(paths.to_remote(str(path)))


def _translated_spec(spec: JobSpec, paths: RemotePaths) -> JobSpec:
    if not paths:
        return spec
    side = copy.copy(spec)
    side.directory = _job_side(spec.directory, paths)
    side.stdin_path = _job_side(spec.stdin_path, paths)
    side.stdout_path = _job_side(spec.stdout_path, paths)
    side.stderr_path = _job_side(spec.stderr_path, paths)
    if spec.stage_in:
        side.stage_in = {StageIn(entry.source, _job_side(entry.target, paths) or entry.target,
                                 entry.mode) for entry in spec.stage_in}
    if spec.stage_out:
        side.stage_out = {StageOut(_job_side(out.source, paths) or out.source, out.target,
                                   out.flags, out.mode) for out in spec.stage_out}
    if spec.cleanup:
        side.cleanup = {_job_side(pathlib.Path(path), paths) or pathlib.Path(path)
                        for path in spec.cleanup}
    return side


def make_plan(spec: JobSpec, paths: RemotePaths, area: Optional[pathlib.PurePosixPath],
              submit_directory: Optional[str] = None) -> StagingPlan:
    """The plan of ``spec``'s staging; ``area`` is the job's staging area on the remote side
    (over SSH), None on this machine; ``submit_directory`` is where the submit command runs
    (a job without an absolute ``JobSpec.directory`` runs there, or under it)."""
    side = _translated_spec(spec, paths)
    directory = str(side.directory) if side.directory is not None else None
    if submit_directory is not None and (directory is None or not directory.startswith('/')):
        directory = posixpath.normpath(posixpath.join(submit_directory, directory or '.'))
    over_ssh = area is not None
    staged_in = []
    entries = sorted(side.stage_in or (), key=lambda e: (str(e.source), str(e.target)))
    for number, entry in enumerate(entries):
        local = submitting_side_path(entry.source, paths) if entry.source.is_local \
            else str(entry.source)
        if area is None:
            staged_in.append(StagedIn(entry, local, local, entry.mode, False))
            continue
        mapped = paths.mapped_remote(local)
        job_side = mapped or str(area / 'in' / str(number) / (posixpath.basename(local) or 'x'))
        mode = entry.mode if mapped or entry.mode != StagingMode.LINK else StagingMode.COPY
        staged_in.append(StagedIn(entry, local, job_side, mode, True))
    staged_out = []
    outs = sorted(side.stage_out or (), key=lambda e: (str(e.source), str(e.target)))
    for number, out in enumerate(outs):
        local = submitting_side_path(out.target, paths) if out.target.is_local \
            else str(out.target)
        if area is None:
            staged_out.append(StagedOut(out, local, local, out.mode, False))
            continue
        mapped = paths.mapped_remote(local)
        job_side = mapped or str(area / 'out' / str(number) / (posixpath.basename(local) or 'x'))
        mode = StagingMode.MOVE if out.mode == StagingMode.MOVE else StagingMode.COPY
        staged_out.append(StagedOut(out, local, job_side, mode, True,
                                    kept=mapped is not None and out.mode != StagingMode.MOVE))
    return StagingPlan(side, tuple(staged_in), tuple(staged_out), area, directory, over_ssh)
