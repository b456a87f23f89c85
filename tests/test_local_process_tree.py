"""The walk of a canceled local job's process tree (`psij.executors.local_process_tree`)."""

import subprocess
import time
from typing import List

import psutil
from psij.executors.local_process_tree import descendants, terminate_tree


def _tree() -> 'subprocess.Popen[bytes]':
    """A lead with two children, one of which has a child and a grandchild of its own."""
    return subprocess.Popen(
        ['sh', '-c', 'sleep 300 & sh -c "sleep 300 & sh -c \'sleep 300 & wait\' & wait" & wait'],
        start_new_session=True)


def _settled(lead: 'subprocess.Popen[bytes]', count: int) -> List[int]:
    deadline = time.monotonic() + 10
    while True:
        found = [child.pid for child in psutil.Process(lead.pid).children(recursive=True)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_descendants_are_those_psutil_finds_by_walking_every_process() -> None:
    lead = _tree()
    try:
        expected = _settled(lead, 5)
        assert len(expected) == 5  # sleep, sh (sleep, sh (sleep))
        assert sorted(descendants(lead.pid)) == sorted(expected)
    finally:
        terminate_tree(lead.pid, 0.1)
        lead.wait(timeout=10)


def test_terminate_tree_ends_every_descendant() -> None:
    lead = _tree()
    tree = [psutil.Process(pid) for pid in _settled(lead, 5)]
    terminate_tree(lead.pid, 0.1)
    assert lead.wait(timeout=10) is not None
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == []


def test_a_process_that_has_gone_has_no_descendants() -> None:
    process = subprocess.Popen(['true'])
    process.wait()
    assert descendants(process.pid) == []
    terminate_tree(process.pid, 0.1)  # nothing to end: no error
