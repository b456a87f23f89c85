"""Batches: several tasks of one array in one queue file.

A file per task costs the shared file system a creation, a rename and a removal per task,
and on a loaded node the creation is most of a `submit()` (benchmarks/RESULTS.md, "Pilot and
local latency again"). `PilotJobExecutor.submit_array` therefore writes the elements of an
array (all of one request) as batches of at most `BATCH_SIZE` consecutive elements, one file
each, named for the range it holds so that a listing tells which tasks it holds::

    queue/<base>.<first>-<last>~<cores>~<gpus>~<memory>~<seconds>.task
        JSON: attempt, history, submitted, tasks: [{index, spec}, ...]

The element ``i`` of the array has the task id ``<base>.<i>`` (its native id is
``<pilot>/<base>.<i>``). A batch moves exactly as a one-task file does, so the rule that keeps
a task from running twice at once holds for each element: every element is in exactly one
file a worker may run it from, and that file moves between ``queue/`` and a worker's
directory by one rename. A worker claims a batch whole, only when nothing it claimed before
waits to start (so the other workers get the other batches), starts its elements as room
allows, and removes the batch's claim once every element has an outcome.

After the allocation holding a batch ended, its elements without an outcome are queued again
as new batches (the runs of consecutive indices left), their attempt counted for the batch:
an element that had not started yet when its allocation ended counts that attempt too.

A cancel of an element leaves its cancel mark: a worker that takes the batch records it
CANCELED without starting it, one that runs it stops it. A queued batch all of whose elements
are canceled is withdrawn whole at once; one element of a queued batch is recorded CANCELED
when a worker takes the batch (or its allocation is released).
"""

import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple

if TYPE_CHECKING:
    from psij.pilot.task_queue import PilotDirectory, QueueEntry, TaskRequest

#: The most elements one batch file holds: small enough that a worker holds few elements it
#: cannot start yet, large enough that a file is shared by many tasks.
BATCH_SIZE = 16

_RANGE = re.compile(r'(?P<base>[^./~]+)\.(?P<first>\d+)-(?P<last>\d+)')


def batch_id(base: str, first: int, last: int) -> str:
    """The id part of the name of the batch holding elements ``first`` to ``last``
    (zero-padded, so that names sort in element order)."""
    return f'{base}.{first:09d}-{last:09d}'


def element_id(base: str, index: int) -> str:
    """The task id of element ``index`` of the array ``base``."""
    return f'{base}.{index}'


def batch_range(entry_id: str) -> Optional[Tuple[str, int, int]]:
    """``(base, first, last)`` of a batch's id part, None for a one-task entry."""
    match = _RANGE.fullmatch(entry_id)
    if match is None:
        return None
    return match['base'], int(match['first']), int(match['last'])


def task_ids(entry_id: str) -> List[str]:
    """The ids of the tasks a queue entry holds: its own, or a batch's elements."""
    found = batch_range(entry_id)
    if found is None:
        return [entry_id]
    base, first, last = found
    return [element_id(base, index) for index in range(first, last + 1)]


def task_count(entry_id: str) -> int:
    """How many tasks a queue entry holds."""
    found = batch_range(entry_id)
    return 1 if found is None else found[2] - found[1] + 1


def holds(entry_id: str, task_id: str) -> bool:
    """Whether the queue entry ``entry_id`` holds the task ``task_id``."""
    found = batch_range(entry_id)
    if found is None:
        return entry_id == task_id
    base, _, index = task_id.rpartition('.')
    return base == found[0] and index.isdigit() and found[1] <= int(index) <= found[2]


def runs(indices: Sequence[int]) -> List[Tuple[int, int]]:
    """The runs of consecutive numbers in sorted ``indices``, as ``(first, last)``, none
    longer than `BATCH_SIZE`."""
    found: List[Tuple[int, int]] = []
    for index in indices:
        if found and index == found[-1][1] + 1 and index - found[-1][0] < BATCH_SIZE:
            found[-1] = (found[-1][0], index)
        else:
            found.append((index, index))
    return found


def put_batches(directory: 'PilotDirectory', base: str, request: 'TaskRequest',
                elements: Sequence[Tuple[int, Dict[str, Any]]],
                header: Dict[str, Any], duration: int = 0) -> None:
    """Queue ``elements`` (``(index, spec)``, sorted by index) of the array ``base``, each
    needing ``request`` for at most ``duration`` seconds, as batches; ``header`` (attempt,
    history, submitted) goes into each."""
    specs = dict(elements)
    for first, last in runs([index for index, _ in elements]):
        document = dict(header, tasks=[{'index': index, 'spec': specs[index]}
                                       for index in range(first, last + 1)])
        directory.put(batch_id(base, first, last), request, document, duration)


def elements_of(entry: 'QueueEntry', document: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The task documents (id, attempt, spec) of a batch file's ``document``."""
    found = batch_range(entry.task_id)
    assert found is not None
    attempt = document.get('attempt', 1)
    return [{'id': element_id(found[0], int(task['index'])), 'attempt': attempt,
             'spec': task['spec']} for task in document.get('tasks', [])]


def release_batch(directory: 'PilotDirectory', allocation: str, entry: 'QueueEntry',
                  document: Dict[str, Any], finished: Set[str], canceled: Set[str],
                  max_attempts: int, reason: str) -> Tuple[List[str], List[str]]:
    """After ``allocation`` ended with the batch ``entry`` claimed: record its canceled
    elements CANCELED, and queue the other elements without an outcome again as new batches,
    or fail them once the batch had ``max_attempts`` runs. (requeued ids, failed ids)."""
    found = batch_range(entry.task_id)
    assert found is not None
    base = found[0]
    attempt = int(document.get('attempt', 1))
    history = list(document.get('history', []))
    history.append(f'attempt {attempt} on allocation {allocation}: {reason}')
    left: List[Tuple[int, Dict[str, Any]]] = []
    failed: List[str] = []
    for task in document.get('tasks', []):
        index = int(task['index'])
        task_id = element_id(base, index)
        if task_id in finished:
            continue
        if task_id in canceled:
            directory.write_result(task_id, {
                'state': 'CANCELED', 'exit_code': None, 'allocation': allocation,
                'message': f'canceled; {reason} before the cancel reached it'})
        elif attempt >= max_attempts:
            directory.write_result(task_id, {
                'state': 'FAILED', 'exit_code': None, 'attempt': attempt,
                'allocation': allocation,
                'message': f'{reason}; the task ran {attempt} of at most {max_attempts} '
                           f'times ({"; ".join(history)})'})
            failed.append(task_id)
        else:
            left.append((index, task['spec']))
    header = {'attempt': attempt + 1, 'history': history,
              'submitted': document.get('submitted')}
    put_batches(directory, base, entry.request, left, header, entry.duration)
    return [element_id(base, index) for index, _ in left], failed


def withdraw_batch(directory: 'PilotDirectory', entry: 'QueueEntry',
                   canceled: Set[str]) -> bool:
    """Take the queued batch ``entry`` out of the queue and record its elements CANCELED,
    if every one of them has a cancel mark; False if not (or a worker took it first)."""
    if not all(task_id in canceled for task_id in task_ids(entry.task_id)):
        return False
    target = directory.done / f'.{entry.file_name}.withdrawn'
    try:
        directory.queue.joinpath(entry.file_name).rename(target)
    except FileNotFoundError:
        return False
    for task_id in task_ids(entry.task_id):
        directory.write_result(task_id, {'state': 'CANCELED', 'exit_code': None,
                                         'message': 'canceled while queued'})
    target.unlink()
    return True
