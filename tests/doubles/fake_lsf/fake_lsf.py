#!/usr/bin/env python3
"""TEST DOUBLE of IBM Spectrum LSF's ``bsub``, ``bjobs``, ``bkill`` and ``bparams`` -- not
LSF.

LSF cannot be installed on the test machine, so the lsf executor's behaviour tests put this
directory first on PATH. ``bsub``, ``bjobs``, ``bkill`` and ``bparams`` here are links to this
script, which acts according to the name it was called by. It runs every job at once on this
machine and answers in LSF's formats (see tests/fixtures/lsf/README.md for where each format
comes from); it does not schedule, place, limit memory or count slots.

State lives in the directory named by ``PSIJ_FAKE_LSF_DIR`` (required): ``jobs/<id>.json``
(one record per job, ``jobs/<id>[<index>].json`` per element of an array),
``jobs/<id>.script`` (the script bsub read), ``calls.log`` (every call, one JSON line) and
``next_id``. Writes hold an flock on ``lock``.

``bsub``: reads the job script on stdin, with its ``#BSUB`` lines (the command line wins over
them), prints ``Job <ID> is submitted to [default ]queue <Q>.`` and starts the job in the
background in a session of its own (so that ``bkill`` kills its process group), in the
directory bsub ran in, with bsub's environment (none but HOME, USER, LOGNAME, SHELL and a
default PATH with ``-env none``) plus ``LSB_JOBID``, ``LSB_JOBNAME``, ``LSB_QUEUE``,
``LSB_MCPU_HOSTS`` and ``LSB_HOSTS`` (all slots on this host). Its output goes to the ``-o``
file (``%J`` is the job id), stderr to ``-e`` or else to the ``-o`` file.
Options it knows: -J -q -P -U -n -R -W -M -gpu -o -e -env -app -G -m -sla -Jd -w with a value,
-x -B -N -H as flags (-H: held, PSUSP, until killed); anything else is refused.

``bjobs [-json] [-a] [-noheader] -o "FIELDS [delimiter='C']" [-u USER|all] [ID...]``: fields
jobid, jobindex, stat, exit_code, exit_reason, pend_reason, runtimelimit, job_name,
job_description (bsub's ``-Jd``), queue, user. Without ``-json`` the values of a job are on
one line, joined by the delimiter (a space by default), ``-`` for an empty one. Without ``-a``
finished jobs are not shown; with it, for ``PSIJ_FAKE_LSF_CLEAN_PERIOD`` seconds (3600). A job
it does not show is a record ``{"JOBID": ID, "ERROR": "Job <ID> is not found"}`` with
``-json``, else that sentence on stderr; either way bjobs exits 255. With no ID and no job to
show it prints ``No unfinished job found`` (with ``-a``: ``No job found``) on stderr.

``bkill ID...``: a pending job ends at once; every process of a running job gets SIGINT and
SIGTERM, then SIGKILL ``PSIJ_FAKE_LSF_TERMINATE_INTERVAL`` seconds (2) later. It ends EXIT with
reason TERM_OWNER (TERM_ADMIN if ``PSIJ_FAKE_LSF_ADMIN=1`` in bkill's environment). "Every
process" is the job's process group plus whatever left it: the background process that runs the
job is their subreaper, as LSF tracks all processes of a job. The same happens to what a job
leaves behind when it ends.
A finished job gets ``Job <ID>: Job has already finished``, an unknown id ``Job <ID>: No
matching job found``, on stderr, and bkill exits 255.

Controls, read by bsub when the job is submitted:

- ``PSIJ_FAKE_LSF_HOLD=1``: the job stays PEND until it is killed;
- ``PSIJ_FAKE_LSF_PEND_SECONDS``: it stays PEND this long first (0);
- ``PSIJ_FAKE_LSF_SECONDS_PER_MINUTE``: how long one minute of ``-W`` lasts (60). At the run
  limit the job's group gets SIGUSR2, then SIGKILL after the terminate interval, and the job
  ends EXIT with reason TERM_RUNLIMIT;
- ``PSIJ_FAKE_LSF_QUEUES``: the queues that exist, the first is the default (normal,short).

A file ``<command>.fail`` in the state directory makes that command print the file's text on
stderr and exit 255 without doing anything, as LSF's commands do when mbatchd cannot be
reached.

Arrays: ``-J "NAME[1-N]%T"`` (also ``[I]``, ``[I-J]``, ``[I-J:STEP]``; IBM "Job arrays") makes
one job id with an element per index, each run with ``LSB_JOBID`` (the array's id) and
``LSB_JOBINDEX`` (0 for a job of no array, as LSF sets it), at most T running at once; ``%I``
in ``-o``/``-e`` is the index. ``bjobs ID`` shows every element of the array ``ID`` (its
``jobindex`` field apart from ``jobid``, as LSF does unless ``LSB_BJOBS_DISPLAY_ENH=Y``),
``bjobs "ID[I]"`` and ``bkill "ID[I]"`` one element, ``bkill ID`` all of them. ``bparams -a``
prints ``MAX_JOB_ARRAY_SIZE = N`` (``PSIJ_FAKE_LSF_MAX_ARRAY_SIZE`` at bparams and bsub time,
1000 by default); bsub refuses a larger array.

Dependencies: ``-w "COND(ID) && COND(ID)..."`` with COND ``done`` (DONE) or ``ended`` (DONE or
EXIT) and ID a job, an array (all its elements) or an element ``ID[I]``; an unknown job makes
bsub refuse the job. The job stays PEND ("Job dependency condition not satisfied") until the
expression holds; once it can never hold (a ``done`` predecessor ended EXIT) LSF leaves it
PEND, "Dependency condition invalid or never satisfied", as LSF does by default (no
``-ti``, no orphan-job termination), until it is killed. Not emulated: ``||``, ``!``,
``exit()``, ``numdone()``..., job names in conditions.
"""

import ctypes
import fcntl
import json
import os
import pathlib
import pwd
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

Record = Dict[str, Any]
PR_SET_CHILD_SUBREAPER = 36

WITH_VALUE = {'-J', '-q', '-P', '-U', '-n', '-R', '-W', '-M', '-gpu', '-o', '-e', '-env',
              '-app', '-G', '-m', '-sla', '-Jd', '-w'}
FLAGS = {'-x', '-B', '-N', '-H'}
FIELDS = {'jobid': 'JOBID', 'jobindex': 'JOBINDEX', 'stat': 'STAT', 'exit_code': 'EXIT_CODE',
          'exit_reason': 'EXIT_REASON', 'pend_reason': 'PEND_REASON',
          'runtimelimit': 'RUNTIMELIMIT', 'job_name': 'JOB_NAME',
          'job_description': 'JOB_DESCRIPTION', 'queue': 'QUEUE', 'user': 'USER'}
DELIMITER = re.compile(r"\s*delimiter='(.)'\s*")
REASONS = {'TERM_OWNER': 'job killed by owner', 'TERM_ADMIN': 'job killed by root or LSF '
           'administrator', 'TERM_RUNLIMIT': 'job killed after reaching LSF run time limit'}
FINISHED = ('DONE', 'EXIT')
PENDING_REASON = 'New job is waiting for scheduling;'
HELD_REASON = 'Job was suspended by user while pending;'
PENDING = ('PEND', 'PSUSP')
DEPENDENCY_REASON = 'Job dependency condition not satisfied;'
NEVER_SATISFIED_REASON = 'Dependency condition invalid or never satisfied;'
ARRAY_NAME = re.compile(r'([^\[]*)\[(\d+)(?:-(\d+)(?::(\d+))?)?\](?:%(\d+))?')
JOB_ID = re.compile(r'\d+(\[\d+\])?')
CONDITION = re.compile(r'\s*(done|ended)\(\s*(\d+(?:\[\d+\])?)\s*\)\s*')


class Refused(Exception):
    """A command refused its input; the text goes to stderr, the command exits 255."""


# --- state ------------------------------------------------------------------------------

def state_directory() -> pathlib.Path:
    directory = os.environ.get('PSIJ_FAKE_LSF_DIR')
    if not directory:
        raise Refused('fake LSF: PSIJ_FAKE_LSF_DIR is not set (this is a test double)')
    path = pathlib.Path(directory)
    (path / 'jobs').mkdir(parents=True, exist_ok=True)
    return path


class Locked:
    """The state directory's flock, held by every writer."""

    def __init__(self, state: pathlib.Path) -> None:
        self.stream = open(state / 'lock', 'a')

    def __enter__(self) -> None:
        fcntl.flock(self.stream, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self.stream, fcntl.LOCK_UN)
        self.stream.close()


def load(state: pathlib.Path, job_id: str) -> Optional[Record]:
    try:
        record: Record = json.loads((state / 'jobs' / f'{job_id}.json').read_text())
        return record
    except (FileNotFoundError, ValueError):
        return None


def save(state: pathlib.Path, record: Record) -> None:
    """A job's record is ``jobs/ID.json``, an element's ``jobs/ID[I].json``."""
    path = state / 'jobs' / f'{record["key"]}.json'
    temporary = path.with_name(path.name + '.tmp')
    temporary.write_text(json.dumps(record))
    os.replace(temporary, path)


def all_records(state: pathlib.Path) -> List[Record]:
    records = [load(state, path.stem) for path in (state / 'jobs').glob('*.json')]
    return sorted((record for record in records if record),
                  key=lambda record: (int(record['id']), record['index']))


def job_records(state: pathlib.Path, job_id: str) -> List[Record]:
    """The records a job id names: the job, an element (``ID[I]``), or every element of the
    array ``ID``."""
    record = load(state, job_id)
    if record is not None or '[' in job_id:
        return [record] if record is not None else []
    return [record for record in all_records(state) if record['id'] == job_id]


def new_id(state: pathlib.Path) -> str:
    counter = state / 'next_id'
    # Each state directory starts at a random id, so that ids of different tests differ.
    number = int(counter.read_text()) if counter.exists() else random.randint(1000, 899999)
    counter.write_text(str(number + 1))
    return str(number)


def user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


# --- bsub -------------------------------------------------------------------------------

def parse_options(words: List[str], options: Dict[str, str]) -> List[str]:
    """Put ``-opt value`` pairs into ``options``; returns the words left after them."""
    index = 0
    while index < len(words) and words[index].startswith('-'):
        word = words[index]
        if word in FLAGS:
            options[word] = ''
            index += 1
        elif word in WITH_VALUE and index + 1 < len(words):
            options[word] = words[index + 1]
            index += 2
        else:
            raise Refused(f'bsub: illegal option -- {word.lstrip("-")}\n'
                          'Usage: bsub [options] command [arguments] (test double)')
    return words[index:]


def directives(script: str) -> Dict[str, str]:
    """The options of the ``#BSUB`` lines at the top of the script."""
    options: Dict[str, str] = {}
    for line in script.splitlines()[1:] if script.startswith('#!') else script.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith('#'):
            break
        if stripped.startswith('#BSUB'):
            rest = parse_options(shlex.split(stripped[len('#BSUB'):]), options)
            if rest:
                raise Refused(f'{stripped}: unexpected {rest[0]!r}. Job not submitted.')
    return options


def array_indices(name: str) -> Tuple[str, List[int], Optional[int]]:
    """The name, indices and job slot limit of ``-J "NAME[INDICES]%T"``; no indices for a
    plain name."""
    match = ARRAY_NAME.fullmatch(name)
    if match is None:
        if '[' in name:
            raise Refused(f'Bad job name <{name}>. Job not submitted.')
        return name, [], None
    first = int(match.group(2))
    last = int(match.group(3) or first)
    if first < 1 or last < first:
        raise Refused(f'Bad job array index list <{name}>. Job not submitted.')
    limit = int(os.environ.get('PSIJ_FAKE_LSF_MAX_ARRAY_SIZE', '1000'))
    if last > limit:
        raise Refused('Job Array index too large. Job not submitted.')
    return (match.group(1), list(range(first, last + 1, int(match.group(4) or 1))),
            int(match.group(5)) if match.group(5) else None)


def conditions(state: pathlib.Path, expression: str) -> List[Tuple[str, str]]:
    """The (condition, job id) pairs of a ``-w`` expression of ``&&``-joined conditions."""
    parsed: List[Tuple[str, str]] = []
    for part in expression.split('&&'):
        match = CONDITION.fullmatch(part)
        if match is None:
            raise Refused(f'{expression}: Syntax error in dependency condition. Job not '
                          'submitted. (test double)')
        if not job_records(state, match.group(2)):
            raise Refused(f'{match.group(2)}: No matching job found. Job not submitted.')
        parsed.append((match.group(1), match.group(2)))
    return parsed


def dependency_verdict(state: pathlib.Path, record: Record) -> str:
    """'run', 'wait' or 'never' for a job's ``-w`` conditions (each on all the records its id
    names: an array's elements)."""
    verdict = 'run'
    for condition, job_id in record['depend']:
        states = [other['state'] for other in job_records(state, job_id)]
        if condition == 'done' and 'EXIT' in states:
            return 'never'
        if not all(stat in FINISHED for stat in states):
            verdict = 'wait'
    return verdict


def check(options: Dict[str, str], queues: List[str]) -> None:
    queue = options.get('-q')
    if queue is not None and queue not in queues:
        raise Refused(f'{queue}: No such queue. Job not submitted.')
    slots = options.get('-n', '1')
    if not slots.isdigit() or int(slots) < 1:
        raise Refused(f'Bad argument for option -n <{slots}>. Job not submitted.')
    limit = options.get('-W')
    if limit is not None and run_limit_minutes(limit) is None:
        raise Refused(f'Bad RUNLIMIT specification <{limit}>. Job not submitted.')


def run_limit_minutes(text: str) -> Optional[float]:
    parts = text.split(':')
    if len(parts) > 2 or not all(part.isdigit() for part in parts):
        return None
    return float(int(parts[0]) * 60 + int(parts[1])) if len(parts) == 2 else float(parts[0])


def job_environment(options: Dict[str, str]) -> Dict[str, str]:
    if options.get('-env', '').lower() != 'none':
        return dict(os.environ)
    entry = pwd.getpwuid(os.getuid())
    return {'HOME': entry.pw_dir, 'USER': entry.pw_name, 'LOGNAME': entry.pw_name,
            'SHELL': entry.pw_shell, 'PATH': '/usr/local/bin:/usr/bin:/bin'}


def bsub(arguments: List[str]) -> int:
    state = state_directory()
    options: Dict[str, str] = {}
    if parse_options(arguments, options):
        raise Refused('bsub: this test double only takes the job script on stdin')
    script = sys.stdin.read()
    merged = {**directives(script), **options}
    queues = os.environ.get('PSIJ_FAKE_LSF_QUEUES', 'normal,short').split(',')
    check(merged, queues)
    queue = merged.get('-q', queues[0])
    name, indices, slot_limit = array_indices(merged.get('-J', 'NONAME'))
    with Locked(state):
        depend = conditions(state, merged['-w']) if '-w' in merged else []
        job_id = new_id(state)
        (state / 'jobs' / f'{job_id}.script').write_text(script)
        (state / 'jobs' / f'{job_id}.script').chmod(0o700)
        limit = merged.get('-W')
        record = {
            'id': job_id, 'key': job_id, 'index': 0, 'slot_limit': slot_limit,
            'depend': depend, 'name': name, 'description': merged.get('-Jd', ''),
            'queue': queue, 'user': user(),
            'state': 'PSUSP' if '-H' in merged else 'PEND', 'submitted': time.time(),
            'finished': None, 'exit_code': '', 'exit_reason': '', 'pid': None, 'runner': None,
            'kill_reason': None, 'limit_hit': False,
            'slots': int(merged.get('-n', '1')), 'cwd': os.getcwd(),
            'run_limit': run_limit_minutes(limit) if limit else None,
            'output': merged.get('-o'), 'error': merged.get('-e'),
            'environment': job_environment(merged),
            'hold': os.environ.get('PSIJ_FAKE_LSF_HOLD') == '1',
            'pend_seconds': float(os.environ.get('PSIJ_FAKE_LSF_PEND_SECONDS', '0')),
            'seconds_per_minute': float(os.environ.get('PSIJ_FAKE_LSF_SECONDS_PER_MINUTE',
                                                       '60')),
            'terminate_interval': float(os.environ.get('PSIJ_FAKE_LSF_TERMINATE_INTERVAL',
                                                       '2')),
        }
        keys = [f'{job_id}[{index}]' for index in indices] or [job_id]
        for index, key in zip(indices or [0], keys):
            save(state, {**record, 'key': key, 'index': index})
    for key in keys:
        subprocess.Popen([sys.executable, os.path.realpath(__file__), '--run-job', str(state),
                          key], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    where = f'queue <{queue}>' if '-q' in merged else f'default queue <{queue}>'
    print(f'Job <{job_id}> is submitted to {where}.')
    return 0


# --- the job, in the background -----------------------------------------------------------

def stream_path(pattern: Optional[str], record: Record) -> Optional[str]:
    return pattern.replace('%J', record['id']).replace('%I', str(record['index'])) \
        if pattern else None


def start(state: pathlib.Path, record: Record) -> 'subprocess.Popen[bytes]':
    job_id = record['id']
    host = socket.gethostname()
    environment = dict(record['environment'])
    name = f'{record["name"]}[{record["index"]}]' if record['index'] else record['name']
    environment.update({'LSB_JOBID': job_id, 'LSB_JOBINDEX': str(record['index']),
                        'LSB_JOBNAME': name,
                        'LSB_QUEUE': record['queue'],
                        'LSB_MCPU_HOSTS': f'{host} {record["slots"]}',
                        'LSB_HOSTS': ' '.join([host] * record['slots'])})
    output = stream_path(record['output'], record)
    error = stream_path(record['error'], record)
    out = open(output, 'ab') if output else subprocess.DEVNULL
    err = open(error, 'ab') if error else subprocess.STDOUT if output else subprocess.DEVNULL
    script = str(state / 'jobs' / f'{job_id}.script')
    command = [script] if pathlib.Path(script).read_text().startswith('#!') else ['/bin/sh',
                                                                                   script]
    return subprocess.Popen(command, cwd=record['cwd'], env=environment,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True)


def descendants(pid: int) -> List[int]:
    """Every process below ``pid``, from /proc."""
    children: Dict[int, List[int]] = {}
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{entry}/stat') as stream:
                parent = int(stream.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found: List[int] = []
    waiting = [pid]
    while waiting:
        for child in children.get(waiting.pop(), []):
            found.append(child)
            waiting.append(child)
    return found


def signal_job(record: Record, number: int) -> None:
    """Signal every process of the job, as LSF does: its process group and, since the runner
    is their subreaper, whatever left it (mpirun's daemons...)."""
    targets = descendants(record['runner']) if record.get('runner') else []
    try:
        os.killpg(record['pid'], number)
    except ProcessLookupError:
        pass
    for pid in targets:
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass


def reap_orphans(job_pid: int) -> None:
    """Collect the exit status of orphans the runner adopted (never the job's own)."""
    for pid in descendants(os.getpid()):
        if pid != job_pid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def wait_to_start(state: pathlib.Path,
                  job_id: str) -> Optional[Tuple[Record, 'subprocess.Popen[bytes]']]:
    """Keep the job pending as long as it should be; start it, or None if it was killed."""
    while True:
        with Locked(state):
            record = load(state, job_id)
            if record is None or record['state'] not in PENDING:
                return None
            due = record['submitted'] + record['pend_seconds']
            verdict = dependency_verdict(state, record) if record['depend'] else 'run'
            reason = {'wait': DEPENDENCY_REASON, 'never': NEVER_SATISFIED_REASON}.get(verdict)
            if record.get('pend_reason') != reason:
                record['pend_reason'] = reason
                save(state, record)
            if record['state'] == 'PEND' and not record['hold'] and time.time() >= due \
                    and verdict == 'run' and below_slot_limit(state, record):
                process = start(state, record)
                record.update(state='RUN', pid=process.pid, runner=os.getpid(),
                              started=time.time())
                save(state, record)
                return record, process
        time.sleep(0.05)


def below_slot_limit(state: pathlib.Path, record: Record) -> bool:
    """An element of an array with a job slot limit T starts while fewer than T others run."""
    if record['slot_limit'] is None:
        return True
    running = [other for other in job_records(state, record['id'])
               if other['state'] in ('RUN', 'USUSP', 'SSUSP')]
    return len(running) < int(record['slot_limit'])


def run_job(state: pathlib.Path, job_id: str) -> int:
    # Orphans of the job (daemons of mpirun...) come to this process, so that bkill and the
    # end of the job reach them as LSF's process tracking does.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    started = wait_to_start(state, job_id)
    if started is None:
        return 0
    record, process = started
    limit_at = (record['started'] + record['run_limit'] * record['seconds_per_minute']
                if record['run_limit'] else None)
    terminating_since: Optional[float] = None
    while process.poll() is None:
        now = time.time()
        current = load(state, job_id) or record
        if limit_at is not None and now >= limit_at and terminating_since is None:
            with Locked(state):
                current = load(state, job_id) or record
                current['limit_hit'] = True
                save(state, current)
            signal_job(record, signal.SIGUSR2)
            terminating_since = now
        if current.get('kill_reason') and terminating_since is None:
            terminating_since = now
        if terminating_since is not None and \
                now - terminating_since >= record['terminate_interval']:
            signal_job(record, signal.SIGKILL)
        reap_orphans(process.pid)
        time.sleep(0.05)
    signal_job(record, signal.SIGKILL)  # what the job left behind
    reap_orphans(process.pid)
    code = process.returncode if process.returncode >= 0 else 128 - process.returncode
    with Locked(state):
        record = load(state, job_id) or record
        reason = record.get('kill_reason') or ('TERM_RUNLIMIT' if record['limit_hit'] else None)
        if reason is None and code == 0:
            record.update(state='DONE', exit_code='')
        else:
            record.update(state='EXIT', exit_code=str(code))
        record['exit_reason'] = f'{reason}: {REASONS[reason]}' if reason else ''
        record['finished'] = time.time()
        save(state, record)
    return 0


# --- bkill ------------------------------------------------------------------------------

def bkill(arguments: List[str]) -> int:
    state = state_directory()
    if not arguments or any(not JOB_ID.fullmatch(argument) for argument in arguments):
        raise Refused('bkill: this test double only takes job ids (ID or "ID[INDEX]")')
    reason = 'TERM_ADMIN' if os.environ.get('PSIJ_FAKE_LSF_ADMIN') == '1' else 'TERM_OWNER'
    failed = False
    for given in arguments:
        with Locked(state):
            records = job_records(state, given)
            if not records:
                print(f'Job <{given}>: No matching job found', file=sys.stderr)
                failed = True
            if len(records) > 1 and all(record['state'] in FINISHED for record in records):
                print(f'Job <{given}>: Job has already finished', file=sys.stderr)
                failed = True
            failed = any([kill(state, record, given, reason, len(records) > 1)
                          for record in records]) or failed
    return 255 if failed else 0


def kill(state: pathlib.Path, record: Record, given: str, reason: str, of_array: bool) -> bool:
    """Kill one job or element (the lock is held); True if bkill says it could not. Killing
    an array kills the elements that have not finished, silently skipping the others."""
    job_id = f'{record["id"]}[{record["index"]}]' if record['index'] else given
    if record['state'] in FINISHED and of_array:
        return False
    if record['state'] in FINISHED:
        print(f'Job <{job_id}>: Job has already finished', file=sys.stderr)
        return True
    if record['state'] in PENDING:
        record.update(state='EXIT', exit_code='', finished=time.time(),
                      exit_reason=f'{reason}: {REASONS[reason]}')
        save(state, record)
    else:
        record['kill_reason'] = record.get('kill_reason') or reason
        save(state, record)
        signal_job(record, signal.SIGINT)
        signal_job(record, signal.SIGTERM)
    print(f'Job <{job_id}> is being terminated')
    return False


# --- bjobs ------------------------------------------------------------------------------

def bjobs(arguments: List[str]) -> int:
    state = state_directory()
    as_json = show_all = no_header = False
    fields = ['jobid', 'stat']
    delimiter = ' '
    who: Optional[str] = None
    ids: List[str] = []
    words = list(arguments)
    while words:
        word = words.pop(0)
        if word == '-json':
            as_json = True
        elif word == '-a':
            show_all = True
        elif word == '-noheader':
            no_header = True
        elif word in ('-o', '-u') and words:
            given = words.pop(0)
            if word == '-o':
                found = DELIMITER.search(given)
                delimiter = found.group(1) if found else delimiter
                fields = DELIMITER.sub(' ', given).split()
            else:
                who = given
        elif JOB_ID.fullmatch(word):
            ids.append(word)
        else:
            raise Refused(f'bjobs: illegal option -- {word.lstrip("-")} (test double)')
    for name in fields:
        if name not in FIELDS:
            raise Refused(f'{name}: Illegal field name. (test double)')
    clean_period = float(os.environ.get('PSIJ_FAKE_LSF_CLEAN_PERIOD', '3600'))

    def visible(record: Record) -> bool:
        if record['state'] not in FINISHED:
            return True
        return show_all and time.time() - record['finished'] < clean_period

    rows: List[Tuple[str, Optional[Record]]] = []
    if ids:
        for job_id in ids:
            listed = [record for record in job_records(state, job_id) if visible(record)]
            rows += [(job_id, record) for record in listed] or [(job_id, None)]
    else:
        name = who or user()
        rows = [(record['id'], record) for record in all_records(state)
                if visible(record) and name in ('all', record['user'])]
        if not rows:
            print('No job found' if show_all else 'No unfinished job found', file=sys.stderr)
            return 0
    values: List[Tuple[str, Optional[Dict[str, Any]]]] = [
        (job_id, None if record is None else
         {FIELDS[name]: field_value(record, name) for name in fields})
        for job_id, record in rows]
    missing = [job_id for job_id, shown in values if shown is None]
    if as_json:
        records = [shown if shown is not None else
                   {'JOBID': job_id, 'ERROR': f'Job <{job_id}> is not found'}
                   for job_id, shown in values]
        print(json.dumps({'COMMAND': 'bjobs', 'JOBS': len(records), 'RECORDS': records},
                         indent=2, separators=(',', ':')))
    else:
        if not no_header:
            print(delimiter.join(FIELDS[name] for name in fields))
        for _, shown in values:
            if shown is not None:
                print(delimiter.join(str(text) or '-' for text in shown.values()))
        for job_id in missing:
            print(f'Job <{job_id}> is not found', file=sys.stderr)
    return 255 if missing else 0


def field_value(record: Record, name: str) -> str:
    if name == 'jobid':
        return str(record['id'])
    if name == 'stat':
        return str(record['state'])
    if name == 'pend_reason':
        return {'PEND': record.get('pend_reason') or PENDING_REASON,
                'PSUSP': HELD_REASON}.get(record['state'], '')
    if name == 'jobindex':
        return str(record['index'])
    if name == 'runtimelimit':
        return f'{record["run_limit"]:.1f}' if record['run_limit'] else ''
    if name == 'job_name':
        return str(record['name'])
    if name == 'job_description':
        return str(record.get('description', ''))
    return str(record[name])


# --- entry point --------------------------------------------------------------------------

def bparams(arguments: List[str]) -> int:
    """``bparams -a``: lsb.params settings, ``NAME = VALUE`` lines."""
    if arguments != ['-a']:
        raise Refused('bparams: this test double only takes -a')
    limit = int(os.environ.get('PSIJ_FAKE_LSF_MAX_ARRAY_SIZE', '1000'))
    print('System default queue: normal\nMBD_SLEEP_TIME = 10\nSBD_SLEEP_TIME = 7\n'
          f'JOB_ACCEPT_INTERVAL = 0\nMAX_JOB_ARRAY_SIZE = {limit}\nCLEAN_PERIOD = 3600')
    return 0


COMMANDS = {'bsub': bsub, 'bjobs': bjobs, 'bkill': bkill, 'bparams': bparams}


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == '--run-job':
        return run_job(pathlib.Path(sys.argv[2]), sys.argv[3])
    command = os.path.basename(sys.argv[0])
    if command not in COMMANDS:
        print(f'fake LSF: call me as bsub, bjobs, bkill or bparams, not {command}',
              file=sys.stderr)
        return 2
    try:
        state = state_directory()
        with open(state / 'calls.log', 'a') as log:
            log.write(json.dumps([command, *sys.argv[1:]]) + '\n')
        failure = state / f'{command}.fail'
        if failure.exists():
            raise Refused(failure.read_text().rstrip('\n'))
        return COMMANDS[command](sys.argv[1:])
    except Refused as refusal:
        print(str(refusal), file=sys.stderr)
        return 255


if __name__ == '__main__':
    sys.exit(main())
