"""Standard streams go to and come from the files the spec names; the job runs in its
directory."""

import os

from psij import JobState

from ..capability import capability, require
from ..context import Context


def _completed(context: Context, status_state: JobState, what: str) -> None:
    require(status_state == JobState.COMPLETED, f'the {what} job ended {status_state}')


@capability('stdout', 'stdout_path receives the job\'s standard output')
def stdout(context: Context) -> None:
    token = context.token()
    output = context.path('stdout.txt')
    job = context.submit(context.spec('/bin/echo', [token], stdout_path=output))
    _completed(context, context.wait_final(job, 120).state, 'echo')
    text = output.read_text() if output.exists() else None
    require(text is not None and token in text,
            f'{output} should contain {token!r}; it holds {text!r}')


@capability('stderr', 'stderr_path receives the job\'s standard error')
def stderr(context: Context) -> None:
    token = context.token()
    output, error = context.path('stdout.txt'), context.path('stderr.txt')
    job = context.submit(context.spec('/bin/sh', ['-c', f'echo {token} >&2'],
                                      stdout_path=output, stderr_path=error))
    _completed(context, context.wait_final(job, 120).state, 'sh')
    text = error.read_text() if error.exists() else None
    require(text is not None and token in text,
            f'{error} should contain {token!r}; it holds {text!r}')
    require(not output.exists() or token not in output.read_text(),
            'the standard error text also reached stdout_path')


@capability('stdin', 'stdin_path feeds the job\'s standard input')
def stdin(context: Context) -> None:
    token = context.token()
    source, output = context.path('stdin.txt'), context.path('stdout.txt')
    source.write_text(f'{token}\nsecond line\n')
    job = context.submit(context.spec('/bin/cat', stdin_path=source, stdout_path=output))
    _completed(context, context.wait_final(job, 120).state, 'cat')
    text = output.read_text() if output.exists() else None
    require(text is not None and f'{token}\nsecond line\n' in text,
            f'cat should copy {source} to {output}; the output is {text!r}')


@capability('working-directory', 'the job runs in the spec\'s directory')
def working_directory(context: Context) -> None:
    directory = context.path(f'cwd {context.token()}')
    directory.mkdir()
    output = context.path('stdout.txt')
    job = context.submit(context.spec('/bin/sh', ['-c', 'pwd -P'], directory=directory,
                                      stdout_path=output))
    _completed(context, context.wait_final(job, 120).state, 'pwd')
    printed = output.read_text().strip().splitlines() if output.exists() else []
    wanted = os.path.realpath(directory)
    require(bool(printed) and all(line == wanted for line in printed),
            f'the job should run in {wanted!r}; it printed {printed!r}')
