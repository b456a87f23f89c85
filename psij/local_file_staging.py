"""Staging operations on this machine's files: the one implementation of COPY, LINK and MOVE
(`psij.staging.StagingMode`) and of a cleanup kept inside a job's directory, used by the local
executor (`psij.executors.local_staging`) and by psij's own staging after a batch job's end
(`psij.batch.stage_after_end`).

The semantics are those of the batch job body (``psij/batch/job_body.mustache``):

- COPY is ``cp -R -T``: a directory is merged into one at the target, symbolic links are
  copied as links, a file onto a directory is an error (never a copy into it);
- LINK makes the target a symbolic link to the absolute source, replacing a file or link
  there in one step (made under a temporary name, then renamed over it: no moment without
  the target), never a directory;
- MOVE is ``mv -T``: a rename (a directory onto an empty directory replaces it, onto a
  non-empty one is an error), across file systems a copy, then the source removed once the
  copy is whole.

The target's missing parent directories are made.
"""

import errno
import os
import secrets
import shutil

from psij.staging import StagingMode

__all__ = ['remove_inside', 'transfer']


def _is_directory(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def transfer(mode: StagingMode, source: str, target: str, optional: bool = False) -> None:
    """Stage ``source`` to ``target`` by ``mode``; a missing source is skipped if
    ``optional``, else `FileNotFoundError`. Raises `OSError` (`shutil.Error` for a directory
    copied in part) naming what failed."""
    if not os.path.lexists(source):
        if optional:
            return
        raise FileNotFoundError(errno.ENOENT, 'no such file or directory', source)
    os.makedirs(os.path.dirname(target) or os.curdir, exist_ok=True)
    if mode is StagingMode.LINK:
        _link(os.path.abspath(source), target)
    elif mode is StagingMode.MOVE:
        _move(source, target)
    else:
        _copy(source, target)


def _copy(source: str, target: str) -> None:
    if os.path.islink(source):
        _link(os.readlink(source), target)
    elif os.path.isdir(source):
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        # copyfile, not copy: a directory at the target is an error (cp -T), not a
        # destination to copy into.
        shutil.copyfile(source, target)
        shutil.copymode(source, target)


def _link(points_to: str, target: str) -> None:
    """Make ``target`` a symbolic link to ``points_to``, replacing a file or link there in one
    step (rename refuses to replace a directory)."""
    temporary = os.path.join(os.path.dirname(target),
                             f'.{os.path.basename(target)}.psij-{secrets.token_hex(4)}')
    os.symlink(points_to, temporary)
    try:
        if _is_directory(target):
            raise IsADirectoryError(errno.EISDIR, 'a directory is in the way', target)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def _move(source: str, target: str) -> None:
    try:
        os.rename(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        # Another file system: copy, then remove the source only once the copy is whole.
        _copy(source, target)
        if _is_directory(source):
            shutil.rmtree(source)
        else:
            os.unlink(source)


def remove_inside(directory: str, path: str) -> bool:
    """Remove ``path`` (relative: to ``directory``) if, its parent directories resolved, it
    is inside ``directory``; False (nothing done) if it is not. A path already gone is no
    error; another failure raises `OSError`."""
    full = os.path.normpath(os.path.join(directory, path))
    top = os.path.realpath(directory)
    parent = os.path.realpath(os.path.dirname(full))
    if not (parent + os.sep).startswith(top.rstrip(os.sep) + os.sep):
        return False
    victim = os.path.join(parent, os.path.basename(full))
    try:
        if _is_directory(victim):
            shutil.rmtree(victim)
        else:
            os.unlink(victim)
    except FileNotFoundError:
        pass
    return True
