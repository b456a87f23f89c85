"""One budget per work directory: an executor whose budget differs from the one another live
psij process of the same work directory uses is refused, naming both; the same budget is
taken; once the other process is gone, a new budget replaces the old."""

import pathlib
import subprocess
import sys
import textwrap

import pytest
from psij.executors.local import LocalJobExecutorConfig
from psij.executors.local_ledger import Ledger

from psij import JobExecutor

# argv: work directory, cores. Makes a budgeted local executor, says "ready", waits for stdin.
HOLDER = textwrap.dedent('''
    import sys
    from psij import JobExecutor
    from psij.executors.local import LocalJobExecutorConfig
    JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=sys.argv[1], cores=int(sys.argv[2])))
    print('ready', flush=True)
    sys.stdin.read()
''')


def _executor(work: pathlib.Path, cores: int) -> JobExecutor:
    return JobExecutor.get_instance('local', config=LocalJobExecutorConfig(
        work_directory=work, cores=cores))


def test_another_budget_is_refused_while_a_process_of_the_first_lives(
        tmp_path: pathlib.Path) -> None:
    work = tmp_path / 'work'
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(work), '2'],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == 'ready'
        _executor(work, 2)  # the same budget: taken
        with pytest.raises(ValueError) as refused:
            _executor(work, 4)
        message = str(refused.value)
        assert 'cores=4' in message and 'cores=2' in message, message
        assert f'process {holder.pid}' in message and 'work_directory' in message, message
        _executor(tmp_path / 'other', 4)  # another work directory has its own budget
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    # The other process is gone: the next budget replaces its one.
    _executor(work, 4)
    state = Ledger(work / 'local').read()
    assert state.budget is not None and state.budget[0] == 4, state.budget


def test_the_budget_and_its_users_survive_the_ledger_s_round_trip(
        tmp_path: pathlib.Path) -> None:
    ledger = Ledger(tmp_path)

    def describe(cores: int, devices: 'tuple[str, ...]', memory: int) -> str:
        return f'cores={cores}'
    ledger.agree(3, ('gpu0', 'gpu1'), 1024, describe)
    state = Ledger(tmp_path).read()
    assert state.budget == (3, ('gpu0', 'gpu1'), 1024)
    assert len(state.users) == 1 and state.users[0].pid > 0
