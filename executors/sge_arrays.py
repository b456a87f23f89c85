"""Grid Engine's job arrays and dependencies (pure functions; `executors.sge` uses them).

* An array is ONE ``qsub`` with ``-t 1-N`` (Grid Engine's task ids start at 1: element ``i``
  is task ``i + 1``) and ``-tc T`` for a throttle. ``qsub -terse`` prints ``123.1-50:1``;
  element ``i``'s native id is ``123.<i + 1>``, as ``qdel`` takes it and as the markers and
  the script output (``$TASK_ID`` in the ``-o`` path) are named.
* ``qstat -xml`` lists each running task on its own (``<tasks>4</tasks>``) and the pending
  tasks of an array together, as ranges (``<tasks>5-50:1</tasks>``) or a list
  (``<tasks>1,5,6</tasks>``); `TaskList` reads both.
* The most tasks one array may have is ``max_aj_tasks`` of ``qconf -sconf`` (0: no limit);
  ``max_aj_instances`` caps how many of an array's tasks run at once, whatever ``-tc`` says.
* ``-hold_jid ID,ID`` makes a job wait until whole jobs (an array: all its tasks) have
  ended, in any state. A job that must run only after its predecessors COMPLETED (afterok)
  checks their exit-code markers itself (`afterok_check`, the ``afterok`` section of
  ``sge.mustache``), so that it never runs after a failed one, even when no psij process
  is watching.
"""

import re
from dataclasses import dataclass
from typing import Collection, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from psij.batch import ArraySlice, CommandResult, ElementNames, NativeDependency, shell_quote
from psij.dependencies import DependencyCondition

#: An element's script names itself ``JOB.TASK``, and its index is ``SGE_TASK_ID - 1``.
ELEMENT_NAMES = ElementNames('"${JOB_ID}.${SGE_TASK_ID}"', 'SGE_TASK_ID', 1)
#: A job (``123``) or an array element (``123.4``).
NATIVE_ID = re.compile(r'([0-9]+)(?:\.([0-9]+))?')
#: How long (in seconds) an afterok job looks for a predecessor's missing exit-code marker
#: before it fails: a shared file system may show a file written on another node late.
MARKER_WAIT = 30
_MAX_ARRAY_TASKS = re.compile(r'^max_aj_tasks\s+([0-9]+)\s*$', re.MULTILINE)
_TASK_RANGE = re.compile(r'([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?')


def split_native_id(native_id: str) -> Tuple[str, Optional[int]]:
    """``(job number, task id)`` of an element id (``123.4``), ``(number, None)`` of a job's;
    raises ValueError for anything else."""
    match = NATIVE_ID.fullmatch(native_id)
    if match is None:
        raise ValueError(f'{native_id!r} is not a Grid Engine job id (123) or array element '
                         'id (123.4)')
    return match.group(1), int(match.group(2)) if match.group(2) is not None else None


def element_ids(native_id: str, count: int) -> List[str]:
    """``ID.1`` to ``ID.<count>``: the elements of the array ``qsub -terse`` named ``ID``."""
    return [f'{native_id}.{task}' for task in range(1, count + 1)]


def parse_max_array_tasks(result: CommandResult) -> Optional[int]:
    """``max_aj_tasks`` of ``qconf -sconf``; None if it is 0 (no limit) or not said."""
    match = _MAX_ARRAY_TASKS.search(result.stdout) if result.ok else None
    return (int(match.group(1)) or None) if match else None


# --- the job script ------------------------------------------------------------------------

def array_range(array: Optional[ArraySlice]) -> Optional[str]:
    """``-t`` of an array: tasks 1 to its count (the index offset is the script's business)."""
    return None if array is None else f'1-{array.count}'


def hold_jid(dependencies: Sequence[NativeDependency]) -> Optional[str]:
    """``-hold_jid`` of the predecessors' job numbers, once each (an element's job is its
    array: Grid Engine holds a job for whole jobs only)."""
    numbers = dict.fromkeys(split_native_id(native_id)[0] for dependency in dependencies
                            for native_id in dependency.native_ids)
    return ','.join(numbers) or None


def afterok_check(dependencies: Sequence[NativeDependency], marker_directory: str,
                  array: Optional[ArraySlice], job_id: str) -> Optional[Dict[str, object]]:
    """The ``afterok`` section of ``sge.mustache``: the exit-code markers of the predecessors
    that must have COMPLETED, and how the job writes its own marker when one did not (named
    as the common body names it, with psij's id ``job_id`` of the job, or of the array);
    None if there is nothing to check."""
    checks = [{'native_id': shell_quote(native_id), 'exit_marker': shell_quote(str(path))}
              for dependency in dependencies
              if dependency.condition == DependencyCondition.COMPLETED
              for native_id, path in dependency.exit_markers]
    if not checks:
        return None
    directory = shell_quote(marker_directory)
    if array is None:
        own_marker, psij_job_id = f'{directory}/"$JOB_ID"', shell_quote(job_id)
    else:
        # The index is not exported yet (the common body does that): the same sum as its.
        index = f'$(( SGE_TASK_ID - {ELEMENT_NAMES.first_index} + {array.offset} ))'
        own_marker = f'{directory}/{ELEMENT_NAMES.native_id}'
        psij_job_id = f'{shell_quote(job_id + "-")}"{index}"'
    return {'predecessors': checks, 'own_marker': own_marker, 'psij_job_id': psij_job_id,
            'marker_wait': MARKER_WAIT}


# --- qstat's task lists ----------------------------------------------------------------------

@dataclass(frozen=True)
class TaskList:
    """The ``<tasks>`` of a ``qstat -xml`` job entry: ``(first, last, step)`` ranges."""

    ranges: Tuple[Tuple[int, int, int], ...]

    @classmethod
    def parse(cls, text: str) -> 'TaskList':
        """``4``, ``5-50:1``, ``1,5,6`` or ``1,7-9:2``...; raises ValueError for other text."""
        ranges: List[Tuple[int, int, int]] = []
        for item in text.split(','):
            match = _TASK_RANGE.fullmatch(item.strip())
            if match is None:
                raise ValueError(f'not a list of task ids: {text!r}')
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) is not None else first
            step = int(match.group(3)) if match.group(3) is not None else 1
            if last < first or step < 1:
                raise ValueError(f'not a list of task ids: {text!r}')
            ranges.append((first, last, step))
        return cls(tuple(ranges))

    def among(self, wanted: Collection[int]) -> Iterator[int]:
        """The task ids of ``wanted`` in this list (as many steps as the smaller of a range
        and ``wanted``: a pending range of 75,000 tasks costs nothing when few are asked
        for)."""
        for first, last, step in self.ranges:
            if (last - first) // step + 1 <= len(wanted):
                yield from (task for task in range(first, last + 1, step) if task in wanted)
            else:
                yield from (task for task in wanted
                            if first <= task <= last and (task - first) % step == 0)


def wanted_tasks(native_ids: Sequence[str]) -> Dict[str, Collection[int]]:
    """The task ids asked for, by job number (only for element ids)."""
    wanted: Dict[str, Set[int]] = {}
    for native_id in native_ids:
        match = NATIVE_ID.fullmatch(native_id)
        if match is not None and match.group(2) is not None:
            wanted.setdefault(match.group(1), set()).add(int(match.group(2)))
    return dict(wanted)
