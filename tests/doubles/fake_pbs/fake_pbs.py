#!/usr/bin/env python3
"""fake_pbs -- a TEST DOUBLE of a PBS Professional or Torque server with its ``qsub``,
``qstat``, ``qdel`` and ``qselect``. It is not a scheduler.

``qsub``, ``qstat``, ``qdel`` and ``qselect`` in this directory are links to this file; a
test puts the directory first on PATH. Each submitted script runs at once on this machine,
in the background, in its own session (so that ``qdel`` kills all of it, as PBS does), with
a PBS-like environment (``PBS_JOBID``, ``PBS_NODEFILE``, ``PBS_O_WORKDIR``..., starting in
``$HOME``). The commands answer in the formats, with the messages and exit statuses of the
real tools, as documented and as quoted in public reports (tests/fixtures/pbs/README.md and
tests/fixtures/torque/README.md name the sources).

Environment (the tests set it; the background jobs inherit it):
  FAKE_PBS_STATE    directory holding the double's state (required; created if missing)
  FAKE_PBS_FLAVOUR  ``pbspro`` (default) or ``torque``: job ids, qstat formats (PBS: ``-f``,
                    ``-F json``, ``-x`` = with finished jobs; Torque: ``-f``, ``-x`` = XML),
                    final state F or C, substate, exit statuses for the walltime limit

Control files in FAKE_PBS_STATE, read on every call:
  qstat.fail       qstat prints its contents (or a "cannot connect" message) on stderr and
                   exits 255, as when the server cannot be reached
  keep_completed   seconds a finished job stays known (Torque's keep_completed, PBS's job
                   history); forever when missing
  queues           the queue names qsub accepts, one per line (default workq / batch)
  max_array_size   the server's max_array_size (PBS) / max_job_array_size (Torque): qsub
                   refuses a larger array, ``qstat -B -f`` prints it; no limit when missing
Every call appends its argv as a JSON line to FAKE_PBS_STATE/calls.log.

What is emulated: ``#PBS`` lines and options -N -S -j -o -e -l -q -A -h -V -v -W -m -M -P
-r (and -n for Torque); ``-h`` holds a job until it is deleted; ``-l walltime`` is enforced
(SIGTERM, then SIGKILL 2 s later; Exit_status -29 for PBS, -11 for Torque); ``qdel`` of a
running job sends SIGTERM to every process of its session (Exit_status 256 + signal; PBS
substate 91), and when a job ends nothing of its session is left running.

Arrays: ``-J X-Y[%T]`` (PBS; ``X < Y``, as PBS's chk_Jrange demands) or ``-t X[-Y][%T]``
(Torque): qsub prints ``SEQ[].SERVER``; each subjob ``SEQ[I].SERVER`` runs the script with
``PBS_JOBID`` set to its id and ``PBS_ARRAY_INDEX`` (PBS) or ``PBS_ARRAYID`` (Torque), at most T
at once. ``qstat -t ARRAY`` lists the array (PBS: state Q, B once a subjob began, F when all
ended) and every subjob; a subjob ends X (PBS) or C (Torque). As PBS does (openpbs
``status_subjob``), a PBS subjob that is queued or has ended is shown with its array's
attributes, its own state and a comment ``Subjob finished``, ``Subjob failed`` or ``Subjob
terminated``; Torque's subjobs are jobs of their own, with their own ``exit_status``. qdel
takes subjob and array ids; ``qstat -B -f`` prints the server's attributes.

Dependencies: ``-W depend=TYPE:ID[:ID...][,TYPE:...]`` with TYPE afterok or afterany (Torque
also afterokarray and afteranyarray, on array ids); an array id stands for all its subjobs
(ended: all ended; ok: all exited 0). A dependent job is held (H, system hold) until its
predecessors end; when an ``afterok`` one did not exit 0, the server deletes the job, as both
do (``Job deleted as result of dependency on job ID``: Torque gives it that comment and
exit_status 271, PBS substate 91). PBS refuses a dependency on a single subjob (PBSE_IVALREQ,
openpbs ``depend_on_que``); both refuse an unknown predecessor. Not emulated: before*,
afternotok, after (start), dependencies between servers.
"""

import contextlib
import fcntl
import json
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

Job = Dict[str, Any]

FLAVOUR = os.environ.get('FAKE_PBS_FLAVOUR', 'pbspro')
TORQUE = FLAVOUR == 'torque'
SERVER = 'fake-torque.example.org' if TORQUE else 'fake-pbs'
FINAL = 'C' if TORQUE else 'F'
#: The final state of a subjob: X (PBS's "expired"), C for Torque (a job like any other).
SUBJOB_FINAL = 'C' if TORQUE else 'X'
WALLTIME_EXIT = -11 if TORQUE else -29
KILL_DELAY = 2.0
POLL = 0.05
HOST = socket.gethostname()
LOGIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
KNOWN_RESOURCES = {'walltime', 'select', 'place', 'ncpus', 'mem', 'ngpus', 'mpiprocs',
                   'nodes', 'host', 'vnode', 'cput', 'pmem', 'naccesspolicy', 'advres',
                   'filesystems'}
OPTIONS_WITH_VALUE = set('NSjoelqAvWmMPraJt')
FLAGS = {'h', 'V'} | ({'n'} if TORQUE else set())
ARRAY_OPTION = 't' if TORQUE else 'J'
DEPENDENCY_TYPES = {'afterok', 'afterany'} | ({'afterokarray', 'afteranyarray'} if TORQUE
                                              else set())
DEPENDENCY_DELETED = 'Job deleted as result of dependency on job'
_ID = re.compile(r'(\d+)(\[\d*\])?(\..+)?')


class Refused(Exception):
    """A command refuses its request: print ``message`` on stderr and exit ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# --- state -------------------------------------------------------------------------------

def state_directory() -> str:
    directory = os.environ.get('FAKE_PBS_STATE')
    if not directory:
        raise Refused('fake_pbs: FAKE_PBS_STATE is not set (this is a test double)', 2)
    os.makedirs(os.path.join(directory, 'jobs'), exist_ok=True)
    return directory


def control_file(name: str) -> Optional[str]:
    try:
        with open(os.path.join(state_directory(), name)) as stream:
            return stream.read()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked() -> Iterator[None]:
    with open(os.path.join(state_directory(), '.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def job_path(key: str) -> str:
    """A job's record: ``SEQ.json``, an array's ``SEQ[].json``, a subjob's ``SEQ[I].json``."""
    return os.path.join(state_directory(), 'jobs', f'{key}.json')


def ended(job: Job) -> bool:
    return job['state'] in (FINAL, SUBJOB_FINAL) and job['kind'] != 'array'


def load(key: str) -> Optional[Job]:
    try:
        with open(job_path(key)) as stream:
            job: Job = json.load(stream)
    except (FileNotFoundError, ValueError):
        return None
    keep = control_file('keep_completed')
    if job['kind'] == 'array':
        members = [load(member) for member in job['members']]
        if keep is not None and all(member is None for member in members):
            return None  # purged with its last subjob
    elif ended(job) and keep is not None and time.time() > job['end'] + float(keep):
        return None  # purged: the server no longer knows the job
    return job


def save(job: Job) -> None:
    temporary = job_path(job['key']) + '.tmp'
    with open(temporary, 'w') as stream:
        json.dump(job, stream)
    os.replace(temporary, job_path(job['key']))


def all_jobs() -> List[Job]:
    """Every known job, array and subjob, in the order of their ids."""
    names = os.listdir(os.path.join(state_directory(), 'jobs'))
    keys = [name[:-5] for name in names if re.fullmatch(r'\d+(\[\d*\])?\.json', name)]

    def order(key: str) -> Tuple[int, int]:
        sequence, _, index = key.rstrip(']').partition('[')
        return int(sequence), int(index) if index else -1

    return [job for job in map(load, sorted(keys, key=order)) if job is not None]


def find(native_id: str) -> Optional[Job]:
    match = _ID.fullmatch(native_id)
    if match is None or (match.group(3) and match.group(3) != '.' + SERVER):
        return None
    return load(match.group(1) + (match.group(2) or ''))


def members(array: Job) -> List[Job]:
    return [job for job in map(load, array['members']) if job is not None]


def array_view(array: Job) -> Job:
    """The array as qstat shows it: its state from its subjobs'."""
    subjobs = members(array)
    shown = dict(array)
    if subjobs and all(ended(job) for job in subjobs):
        shown.update(state=FINAL, end=max(job['end'] for job in subjobs),
                     exit_status=2 if any(job['deleting'] for job in subjobs) else
                     int(any(job['exit_status'] != 0 for job in subjobs)))
    elif any(job['state'] not in ('Q', 'H') for job in subjobs):
        shown['state'] = 'R' if TORQUE else 'B'
    else:
        shown['state'] = 'H' if any(job['state'] == 'H' for job in subjobs) else 'Q'
    return shown


# --- qsub --------------------------------------------------------------------------------
def parse_options(words: List[str], options: Dict[str, Any], where: str) -> List[str]:
    """Read qsub options from ``words`` into ``options``; return the remaining operands."""
    index = 0
    while index < len(words) and words[index].startswith('-') and words[index] != '-':
        word = words[index]
        letter, attached = word[1:2], word[2:]
        if letter in FLAGS and not attached:
            options[letter] = True
        elif letter in OPTIONS_WITH_VALUE:
            if attached:
                value = attached
            elif index + 1 < len(words):
                index += 1
                value = words[index]
            else:
                raise Refused(f'qsub: option requires an argument -- \'{letter}\'{where}', 2)
            if letter == 'l':
                for item in (value.split(',') if TORQUE else [value]):
                    name, _, setting = item.partition('=')
                    if name not in KNOWN_RESOURCES:
                        raise Refused(f'qsub: Unknown resource Resource_List.{name}', 2)
                    options.setdefault('resources', {})[name] = setting
            elif letter == 'W':
                name, _, setting = value.partition('=')
                options.setdefault('attributes', {})[name] = setting
            else:
                options[letter] = value
        else:
            raise Refused(f'qsub: invalid option -- \'{letter}\'{where}\nusage: qsub [-a '
                          'date_time] [-A account_string] [-h] [-j oe|eo|n] [-l '
                          'resource_list] [-N name] [-o path] [-q queue] [script]', 2)
        index += 1
    return words[index:]


def directives(script: str) -> List[str]:
    """The words of the ``#PBS`` lines before the first command of the script."""
    words: List[str] = []
    with open(script, errors='replace') as stream:
        for number, line in enumerate(stream):
            stripped = line.strip()
            if number == 0 and stripped.startswith('#!'):
                continue
            if stripped.startswith('#PBS'):
                words += shlex.split(stripped[4:], comments=True)
            elif stripped and not stripped.startswith('#'):
                break
    return words


def walltime_seconds(text: str) -> int:
    match = re.fullmatch(r'(?:(?:(\d+):)?(\d+):)?(\d+)', text)
    if match is None:
        raise Refused('qsub: Illegal attribute or resource value Resource_List.walltime', 2)
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return (hours * 60 + minutes) * 60 + seconds


def slots(resources: Dict[str, str]) -> int:
    """How many node-file lines the job gets: chunks * mpiprocs, or nodes * ppn."""
    if 'select' in resources:
        chunks, _, rest = resources['select'].partition(':')
        settings = dict(item.partition('=')[::2] for item in rest.split(':') if item)
        return int(chunks or 1) * int(settings.get('mpiprocs', 1))
    if 'nodes' in resources:
        count, _, rest = resources['nodes'].partition(':')
        settings = dict(item.partition('=')[::2] for item in rest.split(':') if item)
        return int(count or 1) * int(settings.get('ppn', 1))
    return 1



def array_indices(spec: str) -> Tuple[List[int], Optional[int]]:
    """The indices and the throttle of ``-J X-Y[:Z][%T]`` (PBS) or ``-t X[-Y][%T]`` (Torque)."""
    match = re.fullmatch(r'(\d+)(?:-(\d+))?(?::(\d+))?(?:%(\d+))?', spec)
    bad = f'qsub: illegal -{ARRAY_OPTION} value' if not TORQUE else \
        'qsub: submit error (Illegal attribute or resource value MSG=array_request)'
    if match is None or (match.group(3) and TORQUE):
        raise Refused(bad, 2)
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    # PBS's chk_Jrange: X-Y with X < Y; Torque also takes a single index.
    if last < first or (not TORQUE and (match.group(2) is None or first >= last)):
        raise Refused(bad, 2)
    throttle = int(match.group(4)) if match.group(4) else None
    return list(range(first, last + 1, int(match.group(3) or 1))), throttle


def dependencies(value: str) -> List[Tuple[str, List[str]]]:
    """``depend=TYPE:ID:ID,TYPE:ID`` as (type, ids), each predecessor checked."""
    parsed: List[Tuple[str, List[str]]] = []
    for item in value.split(','):
        kind, _, rest = item.partition(':')
        ids = [native_id for native_id in rest.split(':') if native_id]
        if kind not in DEPENDENCY_TYPES or not ids:
            raise Refused('qsub: illegal -W value', 2)
        for native_id in ids:
            predecessor = find(native_id)
            if predecessor is None:
                raise Refused(f'qsub: Unknown Job Id {native_id}', 153)
            if predecessor['kind'] == 'subjob' and not TORQUE:
                raise Refused('qsub: Invalid request', 156)  # PBSE_IVALREQ, depend_on_que
            if kind.endswith('array') and predecessor['kind'] != 'array':
                raise Refused(f'qsub: Bad Job Dependency {native_id}', 153)
        parsed.append((kind, ids))
    return parsed


def qsub(arguments: List[str]) -> int:
    options: Dict[str, Any] = {}
    operands = parse_options(arguments, options, '')
    if len(operands) != 1:
        raise Refused('usage: qsub [options] script', 2)
    script = operands[0]
    if not os.path.isfile(script):
        raise Refused(f'qsub: script file:: No such file or directory ({script})', 1)
    from_script: Dict[str, Any] = {}
    parse_options(directives(script), from_script, ' (in a #PBS line)')
    resources = {**from_script.pop('resources', {}), **options.pop('resources', {})}
    job_attributes = {**from_script.pop('attributes', {}), **options.pop('attributes', {})}
    merged = {**from_script, **options, 'resources': resources}
    queues = (control_file('queues') or ('batch' if TORQUE else 'workq')).split()
    queue = merged.get('q', queues[0])
    if queue not in queues:
        if TORQUE:
            raise Refused('qsub: submit error (Unknown queue MSG=requested queue not found)', 1)
        raise Refused('qsub: Unknown queue', 170)
    if 'walltime' in resources:
        walltime_seconds(resources['walltime'])
    indices, throttle = array_indices(merged[ARRAY_OPTION]) if ARRAY_OPTION in merged \
        else ([], None)
    limit = control_file('max_array_size')
    if limit is not None and len(indices) > int(limit):
        raise Refused('qsub: Array job exceeds server or queue size limit', 2)
    depend = dependencies(job_attributes['depend']) if 'depend' in job_attributes else []
    user = pwd.getpwuid(os.getuid()).pw_name
    caller = dict(os.environ)
    submitted = {f'PBS_O_{name}': caller[name] for name in ('HOME', 'LANG', 'LOGNAME', 'PATH',
                                                             'MAIL', 'SHELL') if name in caller}
    submitted.update({'PBS_O_WORKDIR': os.getcwd(), 'PBS_O_HOST': HOST, 'PBS_O_QUEUE': queue,
                      'PBS_O_SYSTEM': 'Linux'})
    if merged.get('V'):
        submitted = {**caller, **submitted}
    for item in (merged.get('v') or '').split(','):
        if item:
            name, has_value, value = item.partition('=')
            submitted[name] = value if has_value else caller.get(name, '')
    with locked():
        counter = os.path.join(state_directory(), 'next_id')
        sequence = int(control_file('next_id') or '1')
        with open(counter, 'w') as stream:
            stream.write(str(sequence + 1))
        spool = os.path.join(state_directory(), 'jobs', f'{sequence}.script')
        with open(script, 'rb') as source, open(spool, 'wb') as copy:
            copy.write(source.read())  # PBS keeps its own copy of the script
        now = time.time()
        job: Job = {
            'sequence': sequence, 'key': str(sequence), 'id': f'{sequence}.{SERVER}',
            'kind': 'job', 'name': merged.get('N') or os.path.basename(script), 'user': user,
            'queue': queue, 'account': merged.get('A'),
            'state': 'H' if merged.get('h') or depend else 'Q',
            'hold': 'u' if merged.get('h') else 's' if depend else 'n',
            'script': spool, 'shell': merged.get('S', '/bin/bash'), 'resources': resources,
            'join': merged.get('j', 'n'), 'output': merged.get('o'), 'error': merged.get('e'),
            'workdir': os.getcwd(), 'environment': submitted, 'exclusive': bool(merged.get('n')),
            'attributes': job_attributes, 'created': now, 'modified': now,
            'arguments': ' '.join(arguments), 'deleting': False, 'exit_status': None,
            'depend': depend, 'dependency_deleted': None,
        }
        runners = [job['key']]
        if indices:
            job['range'] = merged[ARRAY_OPTION].partition('%')[0]
            runners = [f'{sequence}[{index}]' for index in indices]
            for index, key in zip(indices, runners):
                save({**job, 'key': key, 'id': f'{sequence}[{index}].{SERVER}',
                      'kind': 'subjob', 'index': index, 'parent': f'{sequence}[]'})
            job.update(key=f'{sequence}[]', id=f'{sequence}[].{SERVER}', kind='array',
                       members=runners, throttle=throttle)
        save(job)
    log = open(os.path.join(state_directory(), 'runner.log'), 'a')
    for key in runners:
        subprocess.Popen([sys.executable, os.path.abspath(__file__), '--run-job', key],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
    print(job['id'])
    return 0


# --- running a job -----------------------------------------------------------------------

def job_environment(job: Job, nodefile: str) -> Dict[str, str]:
    account = pwd.getpwnam(job['user'])
    environment = {'HOME': account.pw_dir, 'USER': job['user'], 'LOGNAME': job['user'],
                   'SHELL': account.pw_shell or '/bin/bash', 'PATH': LOGIN_PATH}
    environment.update(job['environment'])
    environment.update({'PBS_JOBID': job['id'], 'PBS_JOBNAME': job['name'],
                        'PBS_QUEUE': job['queue'], 'PBS_NODEFILE': nodefile,
                        'PBS_ENVIRONMENT': 'PBS_BATCH', 'PBS_JOBDIR': account.pw_dir})
    if job['kind'] == 'subjob' and TORQUE:
        environment['PBS_ARRAYID'] = str(job['index'])
    elif job['kind'] == 'subjob':
        environment.update(PBS_ARRAY_INDEX=str(job['index']),
                           PBS_ARRAY_ID=f'{job["parent"]}.{SERVER}')
    return environment


def stream_path(job: Job, kind: str) -> str:
    given = job['output'] if kind == 'o' else job['error']
    if given:
        return str(given.split(':', 1)[-1])  # host:path
    index = f'.{job["index"]}' if job['kind'] == 'subjob' else ''
    return os.path.join(job['workdir'], f'{job["name"]}.{kind}{job["sequence"]}{index}')


def signal_session(session: int, number: int) -> None:
    """Send ``number`` to every process of the job's session, as PBS's MoM does: a process
    that made its own process group (mpirun's ranks) is still the job's."""
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as stream:
                fields = stream.read().rpartition(')')[2].split()
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == session:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), number)


def predecessor_outcome(native_id: str) -> Optional[Tuple[bool, bool]]:
    """(ended, exited 0) of a predecessor (an array: all its subjobs); None once forgotten."""
    job = find(native_id)
    if job is None:
        return None
    jobs = members(job) if job['kind'] == 'array' else [job]
    return all(ended(one) for one in jobs), all(
        one['exit_status'] == 0 and not one['deleting'] for one in jobs)


def dependency_verdict(job: Job) -> Tuple[str, Optional[str]]:
    """('run', None), ('wait', None) or ('delete', PREDECESSOR) for a job's dependencies."""
    waiting = False
    for kind, ids in job['depend']:
        for native_id in ids:
            outcome = predecessor_outcome(native_id)
            if outcome is None:
                continue  # forgotten: it ended long ago
            done, ok = outcome
            if done and not ok and kind.startswith('afterok'):
                return 'delete', native_id
            waiting = waiting or not done
    return ('wait' if waiting else 'run'), None


def may_start(job: Job) -> bool:
    """A subjob of a throttled array starts only while fewer than T of its siblings run."""
    if job['kind'] != 'subjob':
        return True
    parent = load(job['parent'])
    throttle = parent.get('throttle') if parent else None
    return throttle is None or sum(
        sibling['state'] in ('R', 'E') for sibling in members(parent or {})) < throttle


def run_job(key: str) -> int:
    process: Optional[subprocess.Popen[bytes]] = None
    job: Job = {}
    nodefile = os.path.join(state_directory(), 'jobs', f'{key}.nodes')
    while process is None:  # queued or held until it may start, or deleted
        with locked():
            loaded = load(key)
            if loaded is None or ended(loaded):
                return 0
            job = loaded
            verdict, predecessor = dependency_verdict(job) if job['hold'] == 's' \
                else ('run', None)
            if verdict == 'delete':
                # The server deletes a job whose dependency can never be met (it never ran).
                job.update(state=SUBJOB_FINAL if job['kind'] == 'subjob' else FINAL,
                           deleting=True, end=time.time(), modified=time.time(),
                           exit_status=271 if TORQUE else None,
                           dependency_deleted=predecessor)
                save(job)
                return 0
            if verdict == 'run' and job['hold'] == 's':
                job.update(state='Q', hold='n', modified=time.time())
                save(job)
            if job['state'] == 'Q' and may_start(job):
                with open(nodefile, 'w') as stream:
                    stream.write(f'{HOST}\n' * slots(job['resources']))
                output = open(stream_path(job, 'o'), 'ab')
                error = output if job['join'] == 'oe' else open(stream_path(job, 'e'), 'ab')
                process = subprocess.Popen(
                    [job['shell'], job['script']], cwd=pwd.getpwnam(job['user']).pw_dir,
                    env=job_environment(job, nodefile), stdin=subprocess.DEVNULL,
                    stdout=output, stderr=error, start_new_session=True)
                job.update(state='R', started=time.time(), session=process.pid,
                           modified=time.time())
                save(job)
                break
        time.sleep(POLL)
    limit = job['resources'].get('walltime')
    deadline = job['started'] + walltime_seconds(limit) if limit else None
    terminated_at: Optional[float] = None
    over_time = False
    while process.poll() is None:
        time.sleep(POLL)
        now = time.time()
        current = load(key) or job
        if terminated_at is None and (current['deleting'] or (deadline and now >= deadline)):
            over_time = not current['deleting']
            terminated_at = now
            signal_session(process.pid, signal.SIGTERM)
        elif terminated_at is not None and now - terminated_at >= KILL_DELAY:
            signal_session(process.pid, signal.SIGKILL)
    signal_session(process.pid, signal.SIGKILL)  # like MoM: nothing of the job outlives it
    code = process.returncode
    exit_status = WALLTIME_EXIT if over_time else (code if code >= 0 else 256 - code)
    with locked():
        job = load(key) or job
        job.update(state=SUBJOB_FINAL if job['kind'] == 'subjob' else FINAL,
                   exit_status=exit_status, end=time.time(),
                   used=time.time() - job['started'], modified=time.time())
        save(job)
    return 0


# --- qstat -------------------------------------------------------------------------------

def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f'{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def attributes(job: Job, epoch: bool = False) -> List[Tuple[str, Any]]:
    """The job's attributes as qstat prints them, in qstat's order; nested ones (Resource_List,
    resources_used) as dicts. Times are dates, or seconds since the epoch (Torque's XML)."""
    if job['kind'] == 'array':
        return array_attributes(job, epoch)
    if job['kind'] == 'subjob' and not TORQUE and job['state'] in ('Q', 'H', SUBJOB_FINAL):
        return borrowed_attributes(job, epoch)

    def date(seconds: float) -> Any:
        return int(seconds) if epoch else time.ctime(seconds)

    resources: Dict[str, Any] = dict(job['resources'])
    if TORQUE:
        resources.setdefault('nodes', '1')
        resources['nodect'] = int(resources['nodes'].partition(':')[0] or 1)
    else:
        resources.setdefault('select', '1:ncpus=1')
        resources['nodect'] = int(resources['select'].partition(':')[0] or 1)
        resources.setdefault('place', 'pack')
    final = job['state'] in (FINAL, SUBJOB_FINAL)
    ran = 'started' in job
    result: List[Tuple[str, Any]] = [('Job_Name', job['name']),
                                     ('Job_Owner', f'{job["user"]}@{HOST}')]
    if ran:
        used = job.get('used', time.time() - job['started'])
        result.append(('resources_used', {'cput': '00:00:00', 'mem': '0kb', 'vmem': '0kb',
                                          'walltime': clock(used)}))
    result += [('job_state', job['state']), ('queue', job['queue']), ('server', SERVER)]
    if job['account']:
        result.append(('Account_Name', job['account']))
    result += [('Checkpoint', 'u'), ('ctime', date(job['created'])),
               ('Error_Path', f'{HOST}:{stream_path(job, "e")}')]
    if ran:
        result.append(('exec_host', f'{HOST}/0'))
    result += [('Hold_Types', job['hold'] if job['state'] == 'H' else 'n'),
               ('Join_Path', job['join']), ('Keep_Files', 'n'), ('Mail_Points', 'a'),
               ('mtime', date(job['modified'])),
               ('Output_Path', f'{HOST}:{stream_path(job, "o")}'), ('Priority', 0),
               ('qtime', date(job['created'])),
               ('Rerunable', 'True'), ('Resource_List', resources)]
    if ran:
        result += [('start_time' if TORQUE else 'stime', date(job['started'])),
                   ('session_id', job['session'])]
    variables = ','.join(f'{name}={value}' for name, value in job['environment'].items()
                         if name.startswith('PBS_O_'))
    result.append(('Variable_List', variables))
    if job['depend']:
        result.append(('depend', ','.join(f'{kind}:{":".join(ids)}'
                                          for kind, ids in job['depend'])))
    if TORQUE:
        result += [('euser', job['user']), ('queue_type', 'E')]
        if job['exclusive']:
            result.append(('node_exclusive', 'True'))
        if job['dependency_deleted']:
            result.append(('comment', f'{DEPENDENCY_DELETED} {job["dependency_deleted"]}'))
        if final and job['exit_status'] is not None:
            result.append(('exit_status', job['exit_status']))
        result.append(('submit_args', job['arguments']))
        if final:
            result.append(('comp_time', date(job['end'])))
        result += [('submit_host', HOST), ('init_work_dir', job['workdir'])]
        if job['kind'] == 'subjob':
            result += [('job_array_id', job['index']), ('job_array_request', job['range'])]
    else:
        result += pbs_tail(job, final)
    return result


def pbs_tail(job: Job, final: bool) -> List[Tuple[str, Any]]:
    """The last attributes of a PBS job: substate, comment, exit status, history time."""
    when = time.strftime('%a %b %d at %H:%M', time.localtime(job.get('started', 0)))
    held = 'Job held by user' if job['hold'] == 'u' else 'Job held by the server (dependency)'
    comment = {'H': held, 'Q': 'Not Running: waiting for resources'}.get(
        job['state'], f'Job run at {when} on ({HOST}:ncpus=1)')
    if final:
        comment += ' and terminated' if job['deleting'] else ' and finished'
    result: List[Tuple[str, Any]] = [
        ('substate', (91 if job['deleting'] else 92) if final else
         {'H': 20, 'Q': 10}.get(job['state'], 42)), ('comment', comment)]
    if final and job['exit_status'] is not None:
        result.append(('Exit_status', job['exit_status']))
    result.append(('Submit_arguments', job['arguments']))
    if final:
        result.append(('history_timestamp', int(job['end'])))
    result.append(('project', '_pbs_project_default'))
    return result


def array_attributes(array: Job, epoch: bool) -> List[Tuple[str, Any]]:
    """An array as qstat shows it: a job with the array's state and its subjobs' counts."""
    shown = array_view(array)
    subjobs = members(array)
    result = attributes({**shown, 'kind': 'job', 'deleting': False}, epoch)
    queued = [str(job['index']) for job in subjobs if job['state'] in ('Q', 'H')]
    counts = {state: sum(job['state'] == state for job in subjobs)
              for state in ('Q', 'R', 'E', SUBJOB_FINAL)}
    extra: List[Tuple[str, Any]] = [('array', 'True'), ('array_indices_submitted',
                                                        array['range'])]
    if not TORQUE:
        extra += [('array_indices_remaining', ','.join(queued) or '-'),
                  ('array_state_count', f'Queued:{counts["Q"]} Running:{counts["R"]} '
                                        f'Exiting:{counts["E"]} Expired:{counts["X"]} ')]
        if array['throttle']:
            extra.append(('max_run_subjobs', array['throttle']))
    return result + extra


def borrowed_attributes(subjob: Job, epoch: bool) -> List[Tuple[str, Any]]:
    """A PBS subjob that is queued or has ended: its array's attributes with its own state
    and, once ended, a comment saying how (openpbs status_subjob)."""
    array = load(subjob['parent'])
    base = [(name, value) for name, value in attributes(array, epoch) if not name.startswith(
        'array')] if array else []
    result = [(name, subjob['state'] if name == 'job_state' else value)
              for name, value in base]
    if subjob['state'] == SUBJOB_FINAL:
        how = 'terminated' if subjob['deleting'] else \
            'finished' if subjob['exit_status'] == 0 else 'failed'
        result = [(name, f'Subjob {how}' if name == 'comment' else value)
                  for name, value in result]
    return result


def full_text(job: Job) -> str:
    lines = [f'Job Id: {job["id"]}']
    for name, value in attributes(job):
        items = [(f'{name}.{key}', inner) for key, inner in value.items()] \
            if isinstance(value, dict) else [(name, value)]
        for key, inner in items:
            line = f'    {key} = {inner}'
            # qstat -f wraps long values onto lines that start with a tab
            lines.append(line[:78])
            lines += ['\t' + line[start:start + 70] for start in range(78, len(line), 70)]
    return '\n'.join(lines) + '\n\n'


def xml_element(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return f'<{name}>' + ''.join(xml_element(key, inner) for key, inner in
                                     value.items()) + f'</{name}>'
    text = str(value).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    return f'<{name}>{text}</{name}>'


def server_status() -> int:
    """``qstat -B -f``: the server's attributes."""
    limit = control_file('max_array_size')
    lines = [f'Server: {SERVER}', '    server_state = Active', f'    server_host = {HOST}',
             '    scheduling = True', '    total_jobs = ' + str(len(all_jobs())),
             # As the real servers print it (Torque 6.1.3, PBS Professional 2022.1.0).
             '    pbs_version = ' + ('6.1.3' if TORQUE else '2022.1.0')]
    if limit is not None:
        name = 'max_job_array_size' if TORQUE else 'max_array_size'
        lines.append(f'    {name} = {int(limit)}')
    print('\n'.join(lines) + '\n')
    return 0


def qstat(arguments: List[str]) -> int:
    failure = control_file('qstat.fail')
    if failure is not None:
        raise Refused(failure.rstrip('\n') or 'Communication failure.\nqstat: cannot connect '
                      f'to server {SERVER} (errno=15031)', 255)
    full = history = xml = subjobs = False
    output_format = ''
    ids: List[str] = []
    index = 0
    while index < len(arguments):
        word = arguments[index]
        if word == '-f':
            full = True
        elif word == '-x':
            xml, history = (True, True) if TORQUE else (xml, True)
        elif word == '-t':
            subjobs = True
        elif word == '-B':
            return server_status()
        elif word == '-F' and not TORQUE and index + 1 < len(arguments):
            index += 1
            output_format = arguments[index]
        elif word.startswith('-'):
            raise Refused(f'qstat: invalid option -- \'{word[1:]}\'', 2)
        else:
            ids.append(word)
        index += 1
    if output_format not in ('', 'json') or (output_format and not full):
        raise Refused('qstat: conflicting options.', 2)
    status = 0
    shown: List[Job] = []
    for native_id in ids:
        job = find(native_id)
        if job is None:
            print(f'qstat: Unknown Job Id{" Error" if TORQUE else ""} {native_id}',
                  file=sys.stderr)
            status = 153
        elif job['kind'] == 'array' and subjobs:
            # PBS lists the array, then its subjobs; Torque its subjobs only.
            shown += ([] if TORQUE else [job]) + members(job)
        elif job['kind'] != 'array' and ended(job) and not history and not TORQUE:
            print(f'qstat: {native_id} Job has finished, use -x or -H to obtain historical '
                  'job information', file=sys.stderr)
            status = 35
        else:
            shown.append(job)
    if not ids:
        shown = [job for job in all_jobs() if (job['kind'] != 'subjob' or subjobs)
                 and (history or TORQUE or not ended(job))]
    if xml:
        if shown:
            print('<Data>' + ''.join('<Job>' + xml_element('Job_Id', job['id']) + ''.join(
                xml_element(name, value) for name, value in attributes(job, epoch=True))
                + '</Job>'
                for job in shown) + '</Data>')
    elif output_format == 'json':
        document: Dict[str, Any] = {'timestamp': int(time.time()),
                                    'pbs_version': '2022.1.0', 'pbs_server': SERVER}
        if shown:
            document['Jobs'] = {job['id']: dict(attributes(job)) for job in shown}
        print(json.dumps(document, indent=4))
    elif full:
        sys.stdout.write(''.join(full_text(job) for job in shown))
    else:
        for job in shown:
            state = array_view(job)['state'] if job['kind'] == 'array' else job['state']
            print(f'{job["id"]:<17} {job["name"][:16]:<16} {job["user"][:16]:<16} '
                  f'{"00:00:00":>8} {state} {job["queue"]}')
    return status


# --- qdel and qselect --------------------------------------------------------------------

def delete(job: Job, native_id: str) -> int:
    """Delete one job or subjob (the lock is held); qdel's exit status for it."""
    if ended(job):
        if TORQUE:
            print('qdel: Request invalid for state of job MSG=invalid state for job - '
                  f'COMPLETE {native_id}', file=sys.stderr)
            return 168
        print(f'qdel: Job has finished {native_id}', file=sys.stderr)
        return 35
    if job['state'] in ('Q', 'H'):
        job.update(state=SUBJOB_FINAL if job['kind'] == 'subjob' else FINAL, deleting=True,
                   end=time.time(), modified=time.time())
        save(job)
    elif not job['deleting']:
        job.update(deleting=True, modified=time.time())
        save(job)
        signal_session(job['session'], signal.SIGTERM)
    return 0


def qdel(arguments: List[str]) -> int:
    ids = [word for word in arguments if not word.startswith('-')]
    if not ids:
        raise Refused('usage: qdel [-W force] job_identifier...', 2)
    status = 0
    for native_id in ids:
        with locked():
            job = find(native_id)
            if job is None:
                print(f'qdel: Unknown Job Id {native_id}', file=sys.stderr)
                status = 153
            elif job['kind'] == 'array':
                left = [subjob for subjob in members(job) if not ended(subjob)]
                if not left:
                    status = delete(members(job)[0], native_id) if members(job) else 153
                for subjob in left:
                    delete(subjob, subjob['id'])
            else:
                status = delete(job, native_id) or status
    return status


def qselect(arguments: List[str]) -> int:
    user: Optional[str] = None
    states = 'QHWTRESBUM' if not TORQUE else 'CEHQRSTW'
    index = 0
    while index < len(arguments):
        word = arguments[index]
        if word in ('-u', '-s') and index + 1 < len(arguments):
            index += 1
            if word == '-u':
                user = arguments[index]
            else:
                states = arguments[index]
        else:
            raise Refused(f'qselect: invalid option -- \'{word.lstrip("-")}\'', 2)
        index += 1
    for job in all_jobs():
        if job['kind'] == 'subjob':
            continue  # qselect lists arrays, not their subjobs (unless asked with -J/-t)
        state = array_view(job)['state'] if job['kind'] == 'array' else job['state']
        if (user is None or job['user'] == user) and state in states:
            print(job['id'])
    return 0


COMMANDS = {'qsub': qsub, 'qstat': qstat, 'qdel': qdel, 'qselect': qselect}


def main(argv: List[str]) -> int:
    if argv[1:2] == ['--run-job']:
        return run_job(argv[2])
    command = os.path.basename(argv[0])
    try:
        with open(os.path.join(state_directory(), 'calls.log'), 'a') as log:
            log.write(json.dumps([command, *argv[1:]]) + '\n')
        if command not in COMMANDS:
            raise Refused(f'fake_pbs: run me as one of {", ".join(COMMANDS)}', 2)
        return COMMANDS[command](argv[1:])
    except Refused as refusal:
        print(str(refusal), file=sys.stderr)
        return refusal.status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
