"""On-disk records of detached local jobs that the watcher holds before they start.

A job started at once is known by its pid, recorded in the watcher's journal
(`psij.executors.local_records`). A job that the watcher holds (``max_in_flight``) has no pid
yet, so it is known by its psij job id (`Job.id`, a UUID), which is its native id, and the
watcher keeps one file per such job, ``held.<job id>.json``, replaced whole (written under a
temporary name, then renamed) at each change, so that a reader sees the old or the new record,
never half of one:

- ``QUEUED`` when the watcher takes the job (with the watcher's pid and start ticks, so that a
  reader knows whether anyone still holds it);
- ``STARTED`` with the pid once its process exists (the journal then has the rest);
- a final state (``CANCELED``, ``FAILED``) when the job ended without ever having a process:
  canceled while held, or refused when its turn came (a stage-in that failed...).

A record is kept after the job has ended (a process may attach by the held id later), and
removed with the journals, 30 days after its last change (`RecordStore.prune`).
"""

import json
import os
import pathlib
import re
import tempfile
from dataclasses import asdict, dataclass
from typing import Optional

#: A native id of a held detached job: a psij job id.
HELD_ID = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


@dataclass
class HeldRecord:
    """What the watcher says about a job it holds or held."""

    job_id: str
    #: ``QUEUED``, ``STARTED`` or the final state of a job that never had a process.
    state: str
    watcher_pid: int
    watcher_start_ticks: int
    pid: Optional[int] = None
    message: Optional[str] = None
    time: float = 0.0


class HeldRecords:
    """The held-job records of one local work directory (``<work_directory>/local``)."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory

    def _path(self, job_id: str) -> pathlib.Path:
        if not HELD_ID.fullmatch(job_id):
            raise ValueError(f'held job id {job_id!r} is not a psij job id')
        return self.directory / f'held.{job_id}.json'

    def write(self, record: HeldRecord) -> None:
        """Replace the record of ``record.job_id`` (atomically)."""
        path = self._path(record.job_id)
        descriptor, temporary = tempfile.mkstemp(prefix=path.name, suffix='.tmp',
                                                 dir=self.directory)
        try:
            with os.fdopen(descriptor, 'w') as stream:
                json.dump(asdict(record), stream)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise

    def read(self, job_id: str) -> Optional[HeldRecord]:
        """The record of ``job_id``, or None if there is none."""
        try:
            text = self._path(job_id).read_text()
        except FileNotFoundError:
            return None
        return HeldRecord(**json.loads(text))
