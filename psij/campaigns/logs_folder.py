"""The logs folder of a campaign: everything it knows, kept so any process can take over.

Layout (``<job>`` is the job's zero-padded number, 1 for the first):

* ``campaign.json``: the campaign itself (the map's sections, the job template, the
  executor and its work directory, the directory jobs run in, ``--max-running``...),
  written once;
* ``<job>.json``: the job's record (`psij.campaigns.records`), rewritten at every change;
* ``<job>.sh``: the job's script; ``<job>.result``: what it wrote while running
  (`psij.campaigns.job_script`); ``<job>.out``, ``<job>.err``: its standard streams;
* ``.lock``: held (`filelock`, an OS lock the system drops when its process dies, even by
  ``kill -9``) by the one process that runs the campaign; ``runner.json`` says which;
* ``cancel.json``: written by ``psij campaign cancel``; the process that runs the campaign
  (now, or any later one) cancels every job and submits nothing more.

Every JSON file is written under a temporary name and renamed, so a reader (``psij
campaign info`` while the campaign runs, or a process taking over after a crash) sees each
file whole, old or new. The folder itself is made in a hidden sibling and renamed into
place once complete: a folder that exists is a whole campaign.
"""

import contextlib
import json
import os
import pathlib
import socket
import time
from typing import Any, Dict, Iterator, List, Optional

import filelock

from psij.campaigns.job_script import RunResult, parse_result
from psij.campaigns.records import JobRecord

CAMPAIGN_FILE = 'campaign.json'
LOCK_FILE = '.lock'
RUNNER_FILE = 'runner.json'
CANCEL_FILE = 'cancel.json'
#: The version of this layout, in campaign.json.
FORMAT_VERSION = 1



class FolderError(Exception):
    """A logs folder that cannot be used as asked; the message says why and what to do."""


class NotACampaign(FolderError):
    """The folder does not exist, cannot be read, or holds no campaign."""


class FolderInUse(FolderError):
    """``campaign submit`` into a folder that is not empty."""


class FolderBusy(FolderError):
    """Another process holds the folder's lock: it runs the campaign now."""


def write_json(path: pathlib.Path, document: Dict[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (temporary file, then rename)."""
    temporary = path.with_name(path.name + '.tmp')
    temporary.write_text(json.dumps(document, indent=1, sort_keys=True) + '\n',
                         encoding='utf-8')
    os.replace(temporary, path)


def read_json(path: pathlib.Path) -> Dict[str, Any]:
    """The JSON object in ``path``; OSError or ValueError if there is none."""
    document = json.loads(path.read_text(encoding='utf-8'))
    if not isinstance(document, dict):
        raise ValueError(f'{path} does not hold a JSON object')
    return document


def job_names(count: int) -> List[str]:
    """The names of ``count`` jobs: ``1``..``count``, zero-padded to one width so that they
    sort as numbers."""
    width = len(str(count))
    return [str(number).zfill(width) for number in range(1, count + 1)]


class LogsFolder:
    """An existing campaign's logs folder (`open` it, or `create` a new one)."""

    def __init__(self, path: pathlib.Path, campaign: Dict[str, Any]) -> None:
        self.path = path
        #: The contents of campaign.json.
        self.campaign = campaign

    # --- creation and opening ----------------------------------------------------------------

    @staticmethod
    def check_new(path: pathlib.Path) -> None:
        """Raise `FolderInUse` unless ``path`` is missing or an empty directory."""
        if (path / CAMPAIGN_FILE).exists():
            raise FolderInUse(f'{path} already holds a campaign; follow it with psij campaign '
                              f'reattach --logs {path}, or give another --logs folder')
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise FolderInUse(f'{path} exists and is not an empty directory; give a new '
                              '--logs folder')

    @classmethod
    def create(cls, path: pathlib.Path, campaign: Dict[str, Any], records: List[JobRecord],
               scripts: Dict[str, str]) -> 'LogsFolder':
        """Make the folder ``path`` holding ``campaign`` and its jobs' records and scripts
        (by job name), all at once (see the module docstring)."""
        cls.check_new(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.parent / f'.{path.name}.creating-{os.getpid()}'
        staging.mkdir()
        for record in records:
            write_json(staging / f'{record.id}.json', record.to_json())
            (staging / f'{record.id}.sh').write_text(scripts[record.id], encoding='utf-8')
        write_json(staging / CAMPAIGN_FILE, dict(campaign, format=FORMAT_VERSION))
        try:
            # Replaces an empty directory; fails if something appeared there meanwhile.
            os.rename(staging, path)
        except OSError as error:
            for entry in staging.iterdir():
                entry.unlink()
            staging.rmdir()
            raise FolderInUse(f'cannot make the logs folder {path}: {error.strerror}'
                              ) from error
        return cls(path, read_json(path / CAMPAIGN_FILE))

    @classmethod
    def open(cls, path: pathlib.Path) -> 'LogsFolder':
        """The campaign in ``path``; `NotACampaign` if there is none."""
        file = path / CAMPAIGN_FILE
        if not path.is_dir():
            raise NotACampaign(f'the logs folder {path} does not exist (or is not a '
                               'directory)')
        try:
            campaign = read_json(file)
        except FileNotFoundError:
            raise NotACampaign(f'{path} holds no campaign (no {CAMPAIGN_FILE}); psij '
                               'campaign submit makes one') from None
        except (OSError, ValueError) as error:
            raise NotACampaign(f'cannot read {file}: {error}') from error
        if campaign.get('format') != FORMAT_VERSION:
            raise NotACampaign(f'{file} is of format {campaign.get("format")!r}; this psij '
                               f'reads format {FORMAT_VERSION}')
        return cls(path, campaign)

    # --- the lock ------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, timeout: float, command: str) -> Iterator[None]:
        """Hold the folder's lock while the block runs (waiting up to ``timeout`` seconds
        for it); `FolderBusy` naming the holder if it cannot be had."""
        lock = filelock.FileLock(str(self.path / LOCK_FILE))
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise FolderBusy(self._busy_message(timeout)) from None
        try:
            write_json(self.path / RUNNER_FILE, {
                'pid': os.getpid(), 'host': socket.gethostname(), 'command': command,
                'since': time.time()})
            yield
        finally:
            lock.release()

    def _busy_message(self, timeout: float) -> str:
        holder = ''
        try:
            runner = read_json(self.path / RUNNER_FILE)
            since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(runner['since']))
            holder = (f' (psij campaign {runner["command"]}, pid {runner["pid"]} on '
                      f'{runner["host"]}, since {since})')
        except (OSError, ValueError, KeyError, TypeError):
            pass
        waited = f' after waiting {timeout:g} s' if timeout > 0 else ''
        return (f'the campaign in {self.path} is run by another process{holder}{waited}; '
                'only one process at a time submits its jobs')

    # --- cancel --------------------------------------------------------------------------

    def request_cancel(self) -> None:
        """Ask that every job of the campaign be canceled; the request stays, so whichever
        process runs the campaign, now or later, honours it."""
        write_json(self.path / CANCEL_FILE, {'pid': os.getpid(), 'host': socket.gethostname(),
                                             'at': time.time()})

    def cancel_requested(self) -> bool:
        """True once `request_cancel` was called."""
        return (self.path / CANCEL_FILE).exists()

    # --- jobs ----------------------------------------------------------------------------

    def job_file(self, job: str, suffix: str) -> pathlib.Path:
        """``<logs>/<job><suffix>``."""
        return self.path / f'{job}{suffix}'

    def job_names(self) -> List[str]:
        """The names of the campaign's jobs, in order."""
        return job_names(int(self.campaign['jobs']))

    def read_record(self, job: str) -> JobRecord:
        """The record of ``job``; FolderError if it is missing or damaged."""
        path = self.job_file(job, '.json')
        try:
            return JobRecord.from_json(read_json(path))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FolderError(f'the job record {path} cannot be read: {error}') from error

    def read_records(self) -> List[JobRecord]:
        """Every job's record, in order."""
        return [self.read_record(job) for job in self.job_names()]

    def read_documents(self) -> List[Dict[str, Any]]:
        """Every job's record as its JSON object, in order (what ``info`` shows)."""
        return [self.read_record(job).to_json() for job in self.job_names()]

    def write_record(self, record: JobRecord) -> None:
        """Replace the record of ``record.id``, atomically."""
        write_json(self.job_file(record.id, '.json'), record.to_json())

    def read_result(self, job: str) -> Optional[RunResult]:
        """What the job's script wrote, or None if it wrote nothing (yet)."""
        try:
            text = self.job_file(job, '.result').read_text(encoding='utf-8',
                                                           errors='replace')
        except OSError:
            return None
        return parse_result(text)
