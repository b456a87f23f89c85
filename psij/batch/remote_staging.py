"""File staging of a batch executor over SSH: the transfers through the host's master
(`psij.ssh.file_transfer`) around the job script's own staging (`psij.batch.staging_plan`).

Before the submission `push_stage_in` copies the stage-in sources to the remote side; once
the scheduler took the job, `remove_moved_sources` removes the local sources of MOVE entries
(their copy is on the remote side, where the job script moves it into place). After the
job's end (`psij.batch.stage_after_end`) `fetch_recorded` brings the stage-outs the job script
made, `on_cancel` the ON_CANCEL ones from the job's directory, and `empty_area` removes the
job's staging area.
"""

import logging
import os
import pathlib
import shlex
import shutil
from typing import List, Sequence

from psij.batch.stage_after_end import job_side_source, pairs_of, retried
from psij.batch.staging_plan import StagedOut, StagingPlan
from psij.exceptions import SubmitException
from psij.ssh.file_transfer import NOT_THERE, clean_remote, fetch, push, remove_remote
from psij.ssh.transport import SshTransport
from psij.staging import StageOutFlags, StagingMode
from psij.transport import Transport

logger = logging.getLogger('psij.batch.staging')


def _ssh(transport: Transport) -> SshTransport:
    if not isinstance(transport, SshTransport):
        raise TypeError(f'staging through a master needs an SshTransport, not {transport!r}')
    return transport


def push_stage_in(transport: Transport, plan: StagingPlan) -> None:
    """Copy the stage-in sources of ``plan`` to their places on the remote side (a missing
    source is left out: the job script fails the job naming it). `SubmitException` if the
    copy fails (transient if the connection did)."""
    files = [(staged.local, staged.job_side) for staged in plan.stage_in if staged.pushed]
    if not files:
        return
    try:
        push(_ssh(transport), files)
    except OSError as error:
        raise SubmitException(f'JobSpec.stage_in: {error}',
                              transient=isinstance(error, ConnectionError)) from error


def remove_moved_sources(plan: StagingPlan) -> None:
    """Remove the local sources of the pushed MOVE entries (called once the scheduler has
    the job: their copies on the remote side are then the job's)."""
    for staged in plan.stage_in:
        if not staged.pushed or staged.entry.mode != StagingMode.MOVE:
            continue
        try:
            if os.path.isdir(staged.local) and not os.path.islink(staged.local):
                shutil.rmtree(staged.local)
            elif os.path.lexists(staged.local):
                os.unlink(staged.local)
        except OSError as error:
            logger.warning('JobSpec.stage_in: cannot remove the moved source %r: %s',
                           staged.local, error)


def _problem(out: StagedOut, remote: str, destination: str, why: str, kept: bool) -> str:
    where = f'; it stays at {remote!r} on {destination}' if kept else ''
    return (f'JobSpec.stage_out: cannot bring {str(out.entry.source)!r} to {out.local!r} from '
            f'{destination}: {why}{where}')


def fetch_recorded(transport: Transport, plan: StagingPlan) -> List[str]:
    """Bring the stage-outs the job script made (its record file lists them) to their
    local targets; the problems, each naming its file."""
    ssh = _ssh(transport)
    record = plan.record_file
    if record is None or not any(out.fetched for out in plan.stage_out):
        return []
    text = retried(lambda: ssh.read_file(pathlib.Path(record)))
    if not text:
        return []
    numbers = sorted({int(line) for line in text.split() if line.isdigit()})
    made = [plan.stage_out[number] for number in numbers if number < len(plan.stage_out)]
    pairs = pairs_of([(out.job_side, out.local) for out in made])
    failed = retried(lambda: fetch(ssh, pairs))
    problems = []
    for out in made:
        why = failed.get((out.job_side, out.local))
        if why == NOT_THERE and out.entry.flags & StageOutFlags.IF_PRESENT:
            continue  # the job script skipped it
        if why is not None:
            problems.append(_problem(out, out.job_side, ssh.url.destination,
                                     why, kept=True))
    moved = [out.job_side for out in made
             if (out.job_side, out.local) not in failed and not out.kept
             and plan.area is not None and not out.job_side.startswith(f'{plan.area}/')]
    if moved:
        retried(lambda: remove_remote(ssh, moved))
    return problems


def on_cancel(transport: Transport, plan: StagingPlan, entries: Sequence[StagedOut],
              cleanup: Sequence[str], started: bool, label: str = 'ON_CANCEL') -> List[str]:
    """Bring the ``entries`` psij stages itself (``label``: ON_CANCEL, or ON_ERROR after a
    killed script) from the job's directory (a MOVE: then removed there) and remove
    ``cleanup`` inside it; the problems, each naming its file."""
    ssh = _ssh(transport)
    sources = {out: job_side_source(plan, out) for out in entries}
    failed = retried(lambda: fetch(ssh, pairs_of([(sources[out], out.local)
                                                  for out in entries])))
    problems = []
    for out in entries:
        why = failed.get((sources[out], out.local))
        if why is None:
            continue
        if why == NOT_THERE and (out.entry.flags & StageOutFlags.IF_PRESENT or not started):
            continue
        problems.append(_problem(out, sources[out], ssh.url.destination, why, kept=False)
                        .replace('JobSpec.stage_out:', f'JobSpec.stage_out ({label}):'))
    moved = [sources[out] for out in entries
             if out.entry.mode == StagingMode.MOVE and (sources[out], out.local) not in failed]
    if moved:
        retried(lambda: remove_remote(ssh, moved))
    if cleanup and plan.directory is not None:
        directory = plan.directory
        for line in retried(lambda: clean_remote(ssh, directory, cleanup)):
            logger.info('%s', line)
    return problems


def empty_area(transport: Transport, plan: StagingPlan, keep_outputs: bool) -> List[str]:
    """Remove the job's staging area, except the copies of moved stage-in sources the job
    did not take (their only copy: the message names them) and, with ``keep_outputs`` (a
    fetch failed), its stage-outs."""
    ssh = _ssh(transport)
    if plan.area is None:
        return []
    moved = [staged.job_side for staged in plan.stage_in
             if staged.pushed and staged.entry.mode == StagingMode.MOVE
             and staged.job_side.startswith(f'{plan.area}/')]
    remove = [str(plan.area / 'in' / str(number)) for number, staged in
              enumerate(plan.stage_in) if staged.job_side not in moved]
    if not keep_outputs:
        remove += [str(plan.area / 'out'), str(plan.area / 'out.list')]
    script = ['rm -rf -- ' + ' '.join(shlex.quote(path) for path in remove)]
    script += [f'[ -e {shlex.quote(path)} ] && printf "%s\\n" {shlex.quote(path)}'
               for path in moved]
    area = shlex.quote(str(plan.area))
    script.append(f'rmdir -- {area}/in/* {area}/in {area} 2>/dev/null; exit 0')
    try:
        result = retried(lambda: ssh.run_script('\n'.join(script) + '\n',
                                                ['rm', str(plan.area)], 60.0))
    except OSError as error:
        logger.warning('cannot empty the staging area %s: %s', plan.area, error)
        return []
    left = [line for line in result.stdout.splitlines() if line]
    return [f'JobSpec.stage_in: the moved {path!r} was not taken by the job; it stays on '
            f'{ssh.url.destination}' for path in left]
