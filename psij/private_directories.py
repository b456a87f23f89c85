"""Creating directories that only their owner can enter.

Executors keep job records, scripts and markers under the work directory (``~/.psij/work`` by
default). Every level of it that psij creates is made user-only, so that other users of the
machine cannot list or read what jobs leave there; ``Path.mkdir(parents=True)`` would give the
parents the umask's mode (usually 0755) instead.
"""

import os
import pathlib

#: The mode of every directory level psij creates.
PRIVATE_MODE = 0o700


def make_private_directory(path: pathlib.Path, mode: int = PRIVATE_MODE) -> None:
    """Make sure directory ``path`` exists with mode ``mode``.

    Each missing level above ``path`` is created with mode 0700, whatever the umask. Levels
    that already exist, or that another process creates at the same moment, are left as they
    are; ``path`` itself is set to ``mode`` whether or not it existed. Raises `OSError` if a
    level cannot be created (e.g. a file is in the way, or no permission).
    """
    missing = []
    level = path
    while not level.is_dir():
        missing.append(level)
        if level.parent == level:
            break
        level = level.parent
    for level in reversed(missing):
        try:
            os.mkdir(level, PRIVATE_MODE)
        except FileExistsError:
            if not level.is_dir():
                raise
            continue  # made by someone else meanwhile: not ours to change
        # mkdir's mode goes through the umask, which may take away the owner's own rights.
        os.chmod(level, PRIVATE_MODE)
    if path.stat().st_mode & 0o777 != mode:
        os.chmod(path, mode)
