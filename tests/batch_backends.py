"""Where the batch executors' tests send their jobs: the five backends, set up one way for
every test module.

Real Slurm and Grid Engine (the clusters `.ci/lrm/` starts; under ``CI=true`` a missing one
fails the test, see `real_tools`), and the test doubles of PBS Professional and Torque
(``tests/doubles/fake_pbs``) and of LSF (``tests/doubles/fake_lsf``), put first on PATH with a
private state directory. Each setup takes a directory and a `pytest.MonkeyPatch` that live as
long as the fixture using it (a test, or a module: ``pytest.MonkeyPatch.context()``); the
doubles set PATH and their state variables through it, so that everything the executor runs,
and any process a test starts (`batch_helpers.attach_elsewhere`), reaches the same double.
"""

import copy
import itertools
import json
import os
import pathlib
import subprocess
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

import pytest
from psij.executors.sge import SgeExecutorConfig
from real_tools import require_sge, require_slurm

from psij import JobExecutor
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig

DOUBLES = pathlib.Path(__file__).resolve().parent / 'doubles'
FAKE_PBS = DOUBLES / 'fake_pbs'
FAKE_LSF = DOUBLES / 'fake_lsf'
#: The fake LSF's controls (environment variables read by its ``bsub``); cleared at setup so
#: that a test starts from the double's defaults.
FAKE_LSF_CONTROLS = ('PSIJ_FAKE_LSF_HOLD', 'PSIJ_FAKE_LSF_PEND_SECONDS', 'PSIJ_FAKE_LSF_ADMIN',
                     'PSIJ_FAKE_LSF_SECONDS_PER_MINUTE', 'PSIJ_FAKE_LSF_QUEUES',
                     'PSIJ_FAKE_LSF_CLEAN_PERIOD', 'PSIJ_FAKE_LSF_TERMINATE_INTERVAL')
#: The custom attributes that keep a job waiting in the queue, by executor.
HOLD = {'slurm': {'slurm.hold': True}, 'sge': {'sge.h': True}, 'pbs': {'pbs.h': True},
        'torque': {'torque.h': True}, 'lsf': {'lsf.H': True}}
#: Every fake PBS server starts numbering jobs elsewhere, so that a job an earlier setup left
#: behind in the process's one tracker never shares an id with a job of a later one.
_FIRST_PBS_IDS = itertools.count(1000, 1000)


@dataclass
class Backend:
    """Where a test's jobs go: an executor, its work directory and, for a double, the double's
    state directory."""

    executor: BatchSchedulerExecutor
    work_dir: pathlib.Path
    #: The double's state directory; None when the commands are real ones.
    state: Optional[pathlib.Path]
    #: The directory the test submits from.
    submit_dir: pathlib.Path
    #: Which of its kind the backend is, where the executor's name does not tell (Torque's
    #: commands over Slurm); '' otherwise.
    label: str = ''

    @property
    def name(self) -> str:
        """The executor's name (``slurm``, ``sge``, ``pbs``, ``torque``, ``lsf``)."""
        return self.executor.name

    @property
    def prefix(self) -> str:
        """The executor's custom-attribute prefix (its name)."""
        return str(getattr(self.executor.scheduler, 'custom_prefix', self.name))

    def hold(self) -> Dict[str, object]:
        """Custom attributes that keep a job queued until it is canceled."""
        return dict(HOLD[self.name])

    def with_settings(self, work_dir: pathlib.Path, **settings: Any) -> BatchSchedulerExecutor:
        """Another executor of this backend, with the same config except the work directory
        and ``settings`` (e.g. ``keep_files=True``)."""
        config = copy.copy(self.executor.batch_config)
        config.work_directory = work_dir
        for name, value in settings.items():
            assert hasattr(config, name), name
            setattr(config, name, value)
        return type(self.executor)(config=config)

    # --- the double ----------------------------------------------------------------------

    def double(self) -> pathlib.Path:
        """The double's state directory (the test needs a double)."""
        assert self.state is not None, f'this test needs the {self.name} test double'
        return self.state

    def calls(self, command: str) -> List[List[str]]:
        """The argv (without the command) of every call of ``command`` the double received,
        in order."""
        log = self.double() / 'calls.log'
        entries = [json.loads(line) for line in log.read_text().splitlines()] \
            if log.exists() else []
        return [entry[1:] for entry in entries if entry[0] == command]

    def double_job(self, native_id: str) -> Dict[str, Any]:
        """The double's own record of a job (its state file)."""
        sequence = native_id.split('.')[0]
        record: Dict[str, Any] = json.loads(
            (self.double() / 'jobs' / f'{sequence}.json').read_text())
        return record

    def fail(self, command: str, text: str) -> None:
        """From now on the double's ``command`` fails, printing ``text``, as when the server
        cannot be reached."""
        self.double().mkdir(parents=True, exist_ok=True)
        (self.double() / f'{command}.fail').write_text(text + '\n')

    def heal(self, command: str) -> None:
        """``command`` works again."""
        (self.double() / f'{command}.fail').unlink()

    def run(self, *argv: str) -> 'subprocess.CompletedProcess[str]':
        """Run a command (of the double, when it is first on PATH), as a person at a terminal
        would."""
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)


# --- real clusters ---------------------------------------------------------------------------

def real_backend(name: str, work_dir: pathlib.Path) -> Backend:
    """The real ``slurm`` or ``sge`` (parallel environment ``smp``) with the tests' polling
    settings; fails under CI=true, skips elsewhere, if the cluster does not answer."""
    config: BatchSchedulerExecutorConfig
    if name == 'slurm':
        require_slurm()
        config = BatchSchedulerExecutorConfig(work_directory=work_dir,
                                              queue_polling_interval=5.0)
    elif name == 'sge':
        require_sge()
        config = SgeExecutorConfig(work_directory=work_dir, queue_polling_interval=5.0,
                                   parallel_environment='smp')
    else:
        raise ValueError(f'no real {name} here')
    executor = JobExecutor.get_instance(name, config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    return Backend(executor, work_dir, None, pathlib.Path.cwd())


# --- doubles ---------------------------------------------------------------------------------

def fake_pbs_backend(directory: pathlib.Path, monkeypatch: pytest.MonkeyPatch, flavour: str,
                     executor_name: str) -> Iterator[Backend]:
    """A `Backend` whose commands are the fake PBS server of ``flavour`` (``pbspro``,
    ``torque``), submitting from ``directory/submit dir`` (the current directory meanwhile);
    deletes the jobs still queued or running when it ends."""
    state = directory / 'fake-pbs-state'
    state.mkdir()
    (state / 'next_id').write_text(str(next(_FIRST_PBS_IDS)))
    monkeypatch.setenv('FAKE_PBS_STATE', str(state))
    monkeypatch.setenv('FAKE_PBS_FLAVOUR', flavour)
    monkeypatch.setenv('PATH', f'{FAKE_PBS}{os.pathsep}{os.environ["PATH"]}')
    submit_dir = directory / 'submit dir'
    submit_dir.mkdir()
    monkeypatch.chdir(submit_dir)
    config = BatchSchedulerExecutorConfig(
        work_directory=directory / 'work', queue_polling_interval=2.0,
        initial_queue_polling_delay=0.2, outcome_timeout=8.0)
    executor = JobExecutor.get_instance(executor_name, config=config)
    assert isinstance(executor, BatchSchedulerExecutor)
    yield Backend(executor, directory / 'work', state, submit_dir)
    left = subprocess.run(['qselect'], capture_output=True, text=True).stdout.split()
    if left:
        subprocess.run(['qdel', *left], capture_output=True)


def fake_lsf_backend(directory: pathlib.Path,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A `Backend` whose commands are the fake LSF, with the double's default controls; kills
    the jobs still pending or running when it ends."""
    state = directory / 'fake-lsf'
    monkeypatch.setenv('PSIJ_FAKE_LSF_DIR', str(state))
    monkeypatch.setenv('PATH', f'{FAKE_LSF}{os.pathsep}{os.environ["PATH"]}')
    for name in FAKE_LSF_CONTROLS:
        monkeypatch.delenv(name, raising=False)
    work_dir = directory / 'psij-work'
    executor = JobExecutor.get_instance('lsf', config=fake_lsf_config(work_dir))
    assert isinstance(executor, BatchSchedulerExecutor)
    backend = Backend(executor, work_dir, state, pathlib.Path.cwd())
    yield backend
    # A test that failed half-way may leave jobs running (or a command failing): end them.
    if (state / 'jobs').exists():
        for name in ('bjobs', 'bkill'):
            (state / f'{name}.fail').unlink(missing_ok=True)
        left = [path.stem for path in (state / 'jobs').glob('*.json')
                if backend.double_job(path.stem)['state'] not in ('DONE', 'EXIT')]
        if left:
            backend.run('bkill', *left)


def fake_lsf_config(work_dir: pathlib.Path) -> BatchSchedulerExecutorConfig:
    """The config of the executors that use the fake LSF (it answers at once: poll often)."""
    return BatchSchedulerExecutorConfig(work_directory=work_dir, queue_polling_interval=2.0,
                                        initial_queue_polling_delay=0.2, outcome_timeout=30.0)
