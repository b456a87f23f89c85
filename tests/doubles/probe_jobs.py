"""Jobs that run the `probe` double, and what their processes recorded."""

import json
import pathlib
import sys
from typing import Any, Dict, List, Optional, TypedDict

from psij import JobSpec

PROBE = str(pathlib.Path(__file__).parent / 'probe.py')


def probe_spec(directory: pathlib.Path, arguments: Optional[List[str]] = None,
               **fields: Any) -> JobSpec:
    """A job in ``directory`` running the probe with ``arguments``; its processes record
    into ``directory/records``. stdout/stderr go to ``directory/out`` and ``directory/err``
    unless ``fields`` says otherwise."""
    records = directory / 'records'
    records.mkdir(exist_ok=True)
    fields.setdefault('stdout_path', directory / 'out')
    fields.setdefault('stderr_path', directory / 'err')
    return JobSpec(executable=sys.executable,
                   arguments=[PROBE, str(records), *(arguments or [])],
                   directory=directory, **fields)


def probe_records(directory: pathlib.Path) -> List[Dict[str, Any]]:
    """What each probe process of the job in ``directory`` recorded, in rank order."""
    records = [json.loads(path.read_text(encoding='utf-8'))
               for path in (directory / 'records').glob('probe-*.json')]
    return sorted(records, key=lambda record: int(record['env'].get('PSIJ_RANK', '-1')))


def write_script(path: pathlib.Path, text: str) -> pathlib.Path:
    """Write a pre/post_launch script."""
    path.write_text(text)
    return path


class MarkerScripts(TypedDict):
    """The ``pre_launch`` and ``post_launch`` fields of a `JobSpec`."""

    pre_launch: pathlib.Path
    post_launch: pathlib.Path


def marker_scripts(directory: pathlib.Path) -> MarkerScripts:
    """``pre_launch``/``post_launch`` scripts (with spaces in their names) that each append a
    line to ``directory/marks``. pre_launch exports ``FROM_PRE_LAUNCH``; post_launch notes
    the job's exit code and how many processes had recorded by then."""
    pre = write_script(directory / 'pre launch.sh',
                       'export FROM_PRE_LAUNCH="set by pre $HOME"\n'
                       'echo pre >> marks\n')
    post = write_script(directory / 'post launch.sh',
                        'echo "post job-exit=$PSIJ_JOB_EXIT_CODE'
                        ' records=$(ls records | wc -l)" >> marks\n')
    return MarkerScripts(pre_launch=pre, post_launch=post)


def marks(directory: pathlib.Path) -> List[str]:
    """The lines the marker scripts wrote."""
    path = directory / 'marks'
    return path.read_text().splitlines() if path.exists() else []
