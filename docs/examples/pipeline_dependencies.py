"""A pipeline: three steps that each start when the one before COMPLETED, and a clean-up step
that runs however they ended. A step whose predecessor failed never runs: it ends FAILED at
once, with a message naming the predecessor and its state.

The same code works on every executor; on a batch scheduler the dependencies are the
scheduler's own (Slurm ``--dependency``, PBS ``depend=``, LSF ``-w``, Grid Engine
``-hold_jid``).
"""

import pathlib

from psij import DependencyCondition, Job, JobExecutor, JobSpec, JobState

executor = JobExecutor.get_instance('local')


def step(command: str) -> Job:
    return Job(JobSpec('/bin/sh', ['-c', command]))


fetch = step('echo raw > data.txt')
convert = step('tr a-z A-Z < data.txt > upper.txt').depends_on(fetch)
check = step('grep -q COOKED upper.txt').depends_on(convert)   # fails: the data is RAW
publish = step('cp upper.txt published.txt').depends_on(check)
clean_up = step('rm data.txt').depends_on(fetch, convert, check, publish,
                                          condition=DependencyCondition.ENDED)

for job in (fetch, convert, check, publish, clean_up):
    executor.submit(job)   # predecessors first; each returns at once
for job in (fetch, convert, check, publish, clean_up):
    job.wait()
    print(f'{job.id[:8]} {job.status.state.name}: {job.status.message or ""}')

assert pathlib.Path('upper.txt').read_text() == 'RAW\n'
assert check.status.state == JobState.FAILED and check.status.exit_code == 1
assert publish.status.state == JobState.FAILED
assert 'dependency never satisfied' in (publish.status.message or '')
assert check.id in (publish.status.message or '')
assert not pathlib.Path('published.txt').exists()             # never ran
assert clean_up.status.state == JobState.COMPLETED            # ran after the failure
assert not pathlib.Path('data.txt').exists()
