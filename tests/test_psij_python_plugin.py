"""An executor plugin written for psij-python's batch base runs on ours.

The plugin is ``tests/psij_python_plugin`` (``lineq_psij``: a subclass of psij-python's
``BatchSchedulerExecutor`` implementing its nine methods with a mustache template, declared by
a ``psij-descriptors`` module); its scheduler is the TEST DOUBLE of ``tests/doubles/fake_lineq``
(``lq-submit``, ``lq-status``, ``lq-cancel``, ``lq-list``, which run each job at once on this
machine). Each test runs a scenario in a fresh interpreter whose PYTHONPATH is the plugin's
directory, so that the plugin is found only through its descriptor module, and whose PATH
starts with the double. The scenario prints what it saw as one JSON object.

What is checked is psij's rules, not psij-python's: a job is settled by its exit-code file
(or by the scheduler's word), never assumed COMPLETED because the status command stopped
listing it, and all jobs are watched by the process's one status poller.
"""

import json
import os
import pathlib
import shlex
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest
from psij.executors.batch import batch_scheduler_executor as psij_python_base

from psij import (
    Job,
    JobAttributes,
    JobExecutor,
    JobExecutorConfig,
    JobSpec,
    ResourceSpecV1,
)
from psij.batch import BatchSchedulerExecutor as PsijBatchSchedulerExecutor

TESTS = pathlib.Path(__file__).resolve().parent
PLUGIN = TESTS / 'psij_python_plugin'
DOUBLE = TESTS / 'doubles' / 'fake_lineq'
#: Seconds a scenario may take before the test fails (its jobs end within seconds).
SCENARIO_TIMEOUT = 90.0
#: The executor settings of every scenario (a test may override some): quick looks at the
#: queue, and a short wait for evidence that never comes.
SETTINGS: Dict[str, float] = {'queue_polling_interval': 1.0,
                              'initial_queue_polling_delay': 0.2, 'outcome_timeout': 3.0}

# Run before each scenario's own code: the executor, and helpers to look at the double.
_PRELUDE = '''
import json, os, pathlib, signal, subprocess, sys, threading, time

# Nothing has imported the plugin yet: get_instance must find it through its descriptor.
plugin_imported_early = 'lineq_psij' in sys.modules
import psij
from psij import Job, JobExecutor, JobSpec, JobState, JobStatus
from psij.executors.batch.batch_scheduler_executor import BatchSchedulerExecutorConfig

STATE = pathlib.Path(os.environ['FAKE_LINEQ_STATE'])
SETTINGS = json.loads(os.environ['LINEQ_TEST_SETTINGS'])
WORK = SETTINGS.pop('work_directory')
report = {'plugin_imported_early': plugin_imported_early}


def make_executor():
    config = BatchSchedulerExecutorConfig(work_directory=WORK, **SETTINGS)
    return JobExecutor.get_instance('lineq', config=config)


def described(status):
    if status is None:
        return None
    return {'state': status.state.name, 'exit_code': status.exit_code,
            'message': status.message}


def final(job, timeout=60):
    return described(job.wait(timeout=timeout))


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'{what} did not happen within {timeout} s')
        time.sleep(0.05)


def double_job(native_id):
    return json.loads((STATE / 'jobs' / f'{native_id}.json').read_text())


def running_job(executor, command, started):
    """Submit a job that touches `started`, then runs `command`; return once it runs."""
    job = Job(JobSpec('/bin/sh', ['-c', f'touch "{started}"; {command}']))
    executor.submit(job)
    wait_for(pathlib.Path(started).exists, f'the start of job {job.native_id}')
    return job
'''

_EPILOGUE = '''
print(json.dumps(report))
'''


class FakeLineq:
    """The test's handle on the double: its state directory and its log of calls."""

    def __init__(self, state: pathlib.Path) -> None:
        self.state = state

    def calls(self, command: str) -> List[List[str]]:
        """The argv (without the command) of every call of ``command`` so far, in order."""
        log = self.state / 'calls.log'
        entries = [json.loads(line) for line in log.read_text().splitlines()] \
            if log.exists() else []
        return [entry['argv'] for entry in entries if entry['command'] == command]

    def forget_finished_jobs(self) -> None:
        """From now on the double's commands no longer know finished jobs."""
        (self.state / 'forget_finished').write_text('')

    def job(self, native_id: str) -> Dict[str, Any]:
        """The double's own record of a job."""
        record: Dict[str, Any] = json.loads(
            (self.state / 'jobs' / f'{native_id}.json').read_text())
        return record


@pytest.fixture
def lineq(tmp_path: pathlib.Path) -> Iterator[FakeLineq]:
    """A fresh state directory of the double; the jobs a test left running are canceled."""
    state = tmp_path / 'lineq-state'
    state.mkdir()
    double = FakeLineq(state)
    yield double
    environment = _environment(state)
    left = subprocess.run(['lq-list'], capture_output=True, text=True, env=environment)
    for native_id in left.stdout.split():
        subprocess.run(['lq-cancel', native_id], capture_output=True, env=environment)


def _environment(state: pathlib.Path,
                 settings: Optional[Mapping[str, object]] = None) -> Dict[str, str]:
    """A scenario's environment: only the plugin's directory on PYTHONPATH, the double first
    on PATH."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(('PYTHON', 'FAKE_LINEQ'))}
    environment.update({'PYTHONPATH': str(PLUGIN), 'FAKE_LINEQ_STATE': str(state),
                        'PATH': f'{DOUBLE}{os.pathsep}{os.environ["PATH"]}'})
    if settings is not None:
        environment['LINEQ_TEST_SETTINGS'] = json.dumps(dict(settings))
    return environment


def run_scenario(code: str, double: FakeLineq, tmp_path: pathlib.Path,
                 **settings: float) -> Dict[str, Any]:
    """Run ``code`` after the prelude in a new interpreter (working directory ``tmp_path``,
    work directory ``tmp_path/work``) and return its ``report``."""
    all_settings: Dict[str, object] = {**SETTINGS, **settings,
                                       'work_directory': str(tmp_path / 'work')}
    program = _PRELUDE + textwrap.dedent(code) + _EPILOGUE
    completed = subprocess.run([sys.executable, '-c', program], cwd=tmp_path,
                               env=_environment(double.state, all_settings),
                               capture_output=True, text=True, timeout=SCENARIO_TIMEOUT)
    assert completed.returncode == 0, (
        f'the scenario failed (exit {completed.returncode})\n--- stdout ---\n'
        f'{completed.stdout}\n--- stderr ---\n{completed.stderr}')
    lines = completed.stdout.strip().splitlines()
    assert lines, f'the scenario printed nothing; stderr:\n{completed.stderr}'
    report: Dict[str, Any] = json.loads(lines[-1])
    # Every scenario checks this on the way: the plugin came through its descriptor.
    assert report['plugin_imported_early'] is False
    return report


# --- the plugin is found and runs on psij's base ----------------------------------------------

def test_the_plugin_is_found_through_its_descriptor_and_runs_on_our_base(
        lineq: FakeLineq, tmp_path: pathlib.Path) -> None:
    report = run_scenario('''
        from psij.batch import BatchSchedulerExecutor as PsijBase
        from psij.batch.psij_python import PsijPythonScheduler
        from psij.job_executor import executors
        executor = make_executor()
        descriptor = executors.descriptor('lineq')
        report.update(
            cls=f'{type(executor).__module__}.{type(executor).__qualname__}',
            name=executor.name, version=str(type(executor).version),
            descriptor=os.path.basename(descriptor.path),
            ours=isinstance(executor, PsijBase),
            adapted=isinstance(executor.scheduler, PsijPythonScheduler),
            directory=str(executor.directory))
    ''', lineq, tmp_path)
    assert report['cls'] == 'lineq_psij.executor.LineqJobExecutor'
    assert (report['name'], report['version']) == ('lineq', '0.3.1')
    assert report['descriptor'] == 'lineq_descriptor.py'
    assert report['ours'] and report['adapted']
    assert report['directory'] == str(tmp_path / 'work' / 'lineq')


def test_a_job_that_exits_0_completes_with_its_output_written(
        lineq: FakeLineq, tmp_path: pathlib.Path) -> None:
    report = run_scenario('''
        executor = make_executor()
        job = Job(JobSpec('/bin/echo', ['hello', 'from lineq'], stdout_path='out.txt'))
        executor.submit(job)
        report['native_id'] = job.native_id
        report['status'] = final(job)
        report['out'] = pathlib.Path('out.txt').read_text() if os.path.exists('out.txt') \\
            else None
    ''', lineq, tmp_path)
    assert report['status'] == {'state': 'COMPLETED', 'exit_code': 0, 'message': None}
    assert report['out'] == 'hello from lineq\n'
    assert lineq.job(report['native_id'])['state'] == 'DONE'


@pytest.mark.parametrize('forgotten', [False, True], ids=['listed', 'forgotten'])
def test_a_job_that_exits_3_fails_with_exit_code_3(lineq: FakeLineq, tmp_path: pathlib.Path,
                                                   forgotten: bool) -> None:
    """Whether lq-status still lists the finished job (as DONE, which the plugin maps to
    COMPLETED, as psij-python plugins do) or has forgotten it, the .ec file decides."""
    if forgotten:
        lineq.forget_finished_jobs()
    report = run_scenario('''
        executor = make_executor()
        job = Job(JobSpec('/bin/sh', ['-c', 'exit 3']))
        executor.submit(job)
        report['native_id'] = job.native_id
        report['status'] = final(job)
    ''', lineq, tmp_path)
    assert report['status'] == {'state': 'FAILED', 'exit_code': 3, 'message': 'exit code 3'}
    asked = subprocess.run(['lq-status', report['native_id']], capture_output=True, text=True,
                           env=_environment(lineq.state))
    # The double did forget the job, or did not: "DONE 0" is the script's exit status.
    assert (asked.returncode, asked.stdout) == (
        (1, '') if forgotten else (0, f'{report["native_id"]} DONE 0\n'))


@pytest.mark.slow
def test_a_job_still_listed_as_done_is_settled_by_its_ec_file(lineq: FakeLineq,
                                                              tmp_path: pathlib.Path) -> None:
    """lq-status says DONE (exit status 0: the script's, which ends by writing the .ec file)
    for a job whose command exited 3. A plugin maps that to COMPLETED, trusting the base to
    read the .ec file. The job runs long enough for the marker looks to be far apart (slow
    marker polling) while lq-status runs every second, so lq-status sees the end first."""
    report = run_scenario('''
        executor = make_executor()
        job = Job(JobSpec('/bin/sh', ['-c', 'sleep 6; exit 3']))
        executor.submit(job)
        report['native_id'] = job.native_id
        report['status'] = final(job)
    ''', lineq, tmp_path, marker_polling_interval=30.0)
    assert lineq.job(report['native_id'])['exit_code'] == 0  # lq-status said "DONE 0"
    assert report['status'] == {'state': 'FAILED', 'exit_code': 3, 'message': 'exit code 3'}


@pytest.mark.slow
def test_a_killed_job_that_the_scheduler_forgets_has_an_unknown_outcome(
        lineq: FakeLineq, tmp_path: pathlib.Path) -> None:
    """Killed without writing its .ec file, then forgotten by lq-status: there is no evidence
    of its outcome. psij-python would report COMPLETED; psij waits ``outcome_timeout`` for
    evidence, then reports FAILED saying the outcome is unknown."""
    lineq.forget_finished_jobs()
    report = run_scenario(f'''
        executor = make_executor()
        job = running_job(executor, 'exec sleep 60', {str(tmp_path / 'started')!r})
        wait_for(lambda: double_job(job.native_id)['session'] is not None, 'the session')
        # Killed from outside (the OOM killer, a node failure): nothing runs the rest of
        # the script, so no .ec file is written.
        os.killpg(double_job(job.native_id)['session'], signal.SIGKILL)
        wait_for(lambda: double_job(job.native_id)['state'] == 'DONE', 'the end of the job')
        left_queue = time.monotonic()
        report['status'] = final(job)
        report['waited'] = time.monotonic() - left_queue
        report['ec_exists'] = os.path.exists(
            os.path.join(WORK, 'lineq', job.native_id + '.ec'))
    ''', lineq, tmp_path)
    status = report['status']
    assert status['state'] == 'FAILED', status
    assert status['message'].startswith('outcome unknown'), status
    assert status['exit_code'] is None
    assert report['ec_exists'] is False
    assert report['waited'] >= SETTINGS['outcome_timeout'] - 1.0  # it did wait for evidence


def test_cancel_of_a_running_job_ends_canceled(lineq: FakeLineq,
                                               tmp_path: pathlib.Path) -> None:
    report = run_scenario(f'''
        executor = make_executor()
        job = running_job(executor, 'exec sleep 60', {str(tmp_path / 'started')!r})
        job.wait(timeout=30, target_states=[JobState.ACTIVE])
        report['before_cancel'] = job.status.state.name
        job.cancel()
        report['status'] = final(job)
        report['native_id'] = job.native_id
        # A cancel of a job lineq has finished: lq-cancel refuses with "has already
        # finished" (exit status 3), which the plugin says with InvalidJobStateError.
        import subprocess
        from psij.batch import CommandResult
        finished = subprocess.run(['lq-cancel', job.native_id], capture_output=True,
                                  text=True)
        outcome = executor.scheduler.parse_cancel_output(
            CommandResult(['lq-cancel'], finished.returncode, finished.stdout,
                          finished.stderr), [job.native_id])
        report['stale_cancel'] = outcome[job.native_id].name
    ''', lineq, tmp_path)
    assert report['before_cancel'] == 'ACTIVE'
    assert report['status']['state'] == 'CANCELED', report['status']
    assert lineq.job(report['native_id'])['state'] == 'CANCELLED'
    assert lineq.calls('lq-cancel') == [[report['native_id']], [report['native_id']]]
    assert report['stale_cancel'] == 'ALREADY_ENDED'


_ATTACH = '''
import json, sys
from psij import Job, JobExecutor
from psij.executors.batch.batch_scheduler_executor import BatchSchedulerExecutorConfig
work_directory, native_id = sys.argv[1:3]
config = BatchSchedulerExecutorConfig(work_directory=work_directory, queue_polling_interval=1,
                                      initial_queue_polling_delay=0.2, outcome_timeout=3)
job = Job()
JobExecutor.get_instance('lineq', config=config).attach(job, native_id)
first = job.status.state.name
status = job.wait(timeout=60)
print(json.dumps({'first': first, 'state': status and status.state.name,
                  'exit_code': status and status.exit_code}))
'''


@pytest.mark.slow
def test_attach_from_another_process_sees_the_real_final_state(
        lineq: FakeLineq, tmp_path: pathlib.Path) -> None:
    report = run_scenario(f'''
        attach = {_ATTACH!r}
        def attach_elsewhere(native_id):
            done = subprocess.run([sys.executable, '-c', attach, WORK, native_id],
                                  capture_output=True, text=True, timeout=80)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)
        executor = make_executor()
        job = running_job(executor, 'sleep 2; exit 7', {str(tmp_path / 'started')!r})
        report['during'] = attach_elsewhere(job.native_id)
        report['status'] = final(job)
        report['after'] = attach_elsewhere(job.native_id)
    ''', lineq, tmp_path)
    during = report['during']
    assert during['first'] != 'FAILED', 'the job had ended before the attach'
    assert (during['state'], during['exit_code']) == ('FAILED', 7), report
    assert report['status']['exit_code'] == 7
    # After the end, the .ec file settles the attached job at once.
    assert report['after'] == {'first': 'FAILED', 'state': 'FAILED', 'exit_code': 7}


def test_list_shows_a_running_job(lineq: FakeLineq, tmp_path: pathlib.Path) -> None:
    report = run_scenario(f'''
        executor = make_executor()
        running = running_job(executor, 'exec sleep 60', {str(tmp_path / 'started')!r})
        done = Job(JobSpec('/bin/true'))
        executor.submit(done)
        final(done)
        report.update(listed=executor.list(), running=running.native_id,
                      done=done.native_id, user=executor.user())
        running.cancel()
        final(running)
    ''', lineq, tmp_path)
    assert report['running'] in report['listed']
    assert report['done'] not in report['listed']
    assert lineq.calls('lq-list') == [['--user', report['user']]]


@pytest.mark.slow
def test_many_jobs_take_few_status_commands_and_no_thread_per_executor(
        lineq: FakeLineq, tmp_path: pathlib.Path) -> None:
    """20 jobs of three executors: one tracker runs one lq-status for all of them at a time,
    on the process's one status poller thread (psij-python starts a polling thread per
    executor and runs a status command per executor per poll)."""
    go = tmp_path / 'go'
    wait_command = f'while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.1; done'
    report = run_scenario(f'''
        executors = [make_executor() for _ in range(3)]
        # The jobs run until the test lets them end, so that all 20 are in the queue together.
        jobs = [Job(JobSpec('/bin/sh', ['-c', {wait_command!r}])) for _ in range(20)]
        for index, job in enumerate(jobs):
            executors[index % 3].submit(job)
        ids = [job.native_id for job in jobs]
        wait_for(lambda: all(double_job(native_id)['state'] == 'RUNNING' for native_id in ids),
                 'the start of every job')
        time.sleep(2.5)  # at least one status look at all of them
        report['threads_while_running'] = sorted(t.name for t in threading.enumerate())
        pathlib.Path({str(go)!r}).touch()
        report['states'] = [final(job)['state'] for job in jobs]
        report['ids'] = ids
        report['threads_after'] = sorted(t.name for t in threading.enumerate())
    ''', lineq, tmp_path)
    assert report['states'] == ['COMPLETED'] * 20
    allowed = {'MainThread', 'psij-status-poller', 'psij-reaper'}
    for threads in (report['threads_while_running'], report['threads_after']):
        assert set(threads) <= allowed and threads.count('psij-status-poller') == 1, threads
    status_calls = lineq.calls('lq-status')
    assert all(set(call) <= set(report['ids']) for call in status_calls)
    assert any(sorted(call) == sorted(report['ids']) for call in status_calls), \
        'no lq-status asked for all 20 jobs at once'
    # One command per job per poll would be as many commands as job look-ups; here each
    # command covers many jobs, and there are fewer commands in all than jobs.
    lookups = sum(len(call) for call in status_calls)
    assert len(status_calls) < 20 and len(status_calls) * 5 <= lookups, status_calls


# --- psij-python's module path is psij's own base ---------------------------------------------

def test_psij_pythons_batch_base_is_ours(tmp_path: pathlib.Path) -> None:
    """Code written for psij-python checks for its batch base and calls its methods on any
    batch executor: ours are all of that base, and generate_submit_script writes our
    script."""
    assert psij_python_base.BatchSchedulerExecutor is PsijBatchSchedulerExecutor
    executor = JobExecutor.get_instance(
        'slurm', config=JobExecutorConfig(work_directory=tmp_path / 'work'))
    assert isinstance(executor, psij_python_base.BatchSchedulerExecutor)
    job = Job(JobSpec('/bin/hostname', resources=ResourceSpecV1(node_count=2)))
    context = executor._create_script_context(job)
    script = tmp_path / 'submit.sh'
    with script.open('w') as submit_file:
        executor.generate_submit_script(job, context, submit_file)
    text = script.read_text()
    assert text == executor.generate_script(job)
    assert text.startswith('#!') and '#SBATCH --nodes=2' in text.splitlines(), text
    assert '/bin/hostname' in text
    # psij-python's context: the job, its custom attributes by prefix, its environment, and
    # what psij adds for templates (launch command, script directory).
    assert context['job'] is job and context['env'] == [] and context['custom_attributes'] == {}
    psij_part = context['psij']
    assert isinstance(psij_part, dict)
    assert psij_part['script_dir'] == str(tmp_path / 'work' / 'slurm')
    assert '/bin/hostname' in psij_part['launch_command']


def test_psij_pythons_batch_module_has_the_helpers_its_plugins_import() -> None:
    """psij-python's own Slurm, PBS, LSF and Cobalt executors, which plugin authors copy,
    import ``check_status_exit_code`` (and Cobalt ``UNKNOWN_ERROR``) from the batch module."""
    missing = [name for name in ('check_status_exit_code', 'UNKNOWN_ERROR',
                                 'InvalidJobStateError') if not hasattr(psij_python_base, name)]
    assert missing == []
    # Looked up, not imported: a missing name is the assertion above, not an ImportError.
    check = getattr(psij_python_base, 'check_status_exit_code', None)
    assert callable(check)
    check('lq-status', 0, '')  # a zero exit code is fine
    with pytest.raises(RuntimeError, match='lq-status'):
        check('lq-status', 1, 'lq-status: unknown job 5')


class _MinutesExecutor(PsijBatchSchedulerExecutor):
    """A psij-python style executor for a scheduler that takes its time limit in minutes."""

    name = 'minutes'

    def _format_duration(self, duration: timedelta) -> str:
        return str(int(duration.total_seconds()) // 60)


def test_an_override_of_format_duration_formats_the_duration(tmp_path: pathlib.Path) -> None:
    """psij-python's ``formatted_job_duration`` comes from ``_format_duration``, which
    executors override for schedulers that take minutes (psij-python's LSF) or call on
    ``super()`` (its Cobalt and PBS executors)."""
    executor = _MinutesExecutor(config=JobExecutorConfig(work_directory=tmp_path / 'work'))
    job = Job(JobSpec('/bin/true', attributes=JobAttributes(duration=timedelta(minutes=90))))
    assert executor._create_script_context(job)['formatted_job_duration'] == '90'
    # Looked up, not called as an attribute: the base's own, which super() reaches.
    base_format = getattr(PsijBatchSchedulerExecutor, '_format_duration', None)
    assert base_format is not None, 'the base has no _format_duration for super() to call'
    assert base_format(executor, timedelta(hours=1, minutes=2, seconds=3)) == '1:2:3'
