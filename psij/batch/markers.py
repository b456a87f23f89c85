"""The files a batch job leaves in the executor's work directory, and how to read them.

The job script (see ``job_body.mustache``) writes, named after the scheduler's job id:

* ``<native_id>.started``: the job has started on its lead node (the time, and psij's job id;
  written under a temporary name and renamed, like the ``.ec`` marker);
* ``<native_id>.ec``: the job has ended; the first line is the exit code, any further lines
  are the launcher's own failure messages. It is written under a temporary name and renamed,
  so a reader never sees half of it;
* ``<native_id>.out``: the script's own output (not the job's), e.g. a failed ``cd``;
* ``<native_id>.nodefile``: the ``PSIJ_NODEFILE`` of the job.

Files named after the PSI/J job id are made before submission: ``<job_id>.sh`` (the script)
and ``<job_id>.launcher.log``.
"""

import re
from dataclasses import dataclass
from typing import Optional

from psij.launcher import LAUNCHER_ERROR_PREFIX

STARTED = '.started'
EXIT_CODE = '.ec'
SCRIPT_OUTPUT = '.out'
NODEFILE = '.nodefile'
SCRIPT = '.sh'
LAUNCHER_LOG = '.launcher.log'

_SAFE_FILE_STEM = re.compile(r'[A-Za-z0-9_.+\[\]-]+')


@dataclass(frozen=True)
class ExitMarker:
    """What an exit-code marker says: the exit code, the launcher's failure if any, and the
    script's own explanation if it could not start the job (directory, streams)."""

    exit_code: int
    launcher_failure: Optional[str] = None
    message: Optional[str] = None
    #: The name of the job's launcher (not in the file: the tracker fills it in for messages).
    launcher: Optional[str] = None
    #: psij's id of the job that wrote the marker (None in markers of older versions).
    job_id: Optional[str] = None


#: The line of an ``.ec`` marker naming psij's id of the job that wrote it.
JOB_ID_PREFIX = 'PSIJ-JOB: '


def marker_job_id(text: str) -> Optional[str]:
    """psij's id of the job that wrote a marker (its last ``PSIJ-JOB:`` line), or None if the
    marker does not say (markers of older versions, markers written by hand)."""
    job_ids = [line[len(JOB_ID_PREFIX):] for line in text.splitlines()
               if line.startswith(JOB_ID_PREFIX)]
    return job_ids[-1] if job_ids else None


def parse_exit_marker(text: str) -> Optional[ExitMarker]:
    """The contents of an ``.ec`` marker, or None if they are not a complete marker."""
    lines = text.splitlines()
    if not text.endswith('\n') or not lines:
        return None
    try:
        exit_code = int(lines[0])
    except ValueError:
        return None
    rest = [line for line in lines[1:] if not line.startswith(JOB_ID_PREFIX)]
    failures = [line[len(LAUNCHER_ERROR_PREFIX):] for line in rest
                if line.startswith(LAUNCHER_ERROR_PREFIX)]
    others = [line for line in rest if line and not line.startswith(LAUNCHER_ERROR_PREFIX)]
    return ExitMarker(exit_code, '; '.join(failures) or None, '; '.join(others) or None,
                      job_id=marker_job_id(text))


def is_safe_file_stem(native_id: str) -> bool:
    """True if ``native_id`` can name marker files (no path separators, no leading dot)."""
    return bool(_SAFE_FILE_STEM.fullmatch(native_id)) and not native_id.startswith('.')
