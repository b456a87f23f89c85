"""Launchers start the right number of processes; pre_launch and post_launch run once."""

from typing import Optional

from psij import JobState

from ..capability import capability, require
from ..context import Context
from ..target import Target

PROCESSES = 2


def _multi_process(target: Target) -> Optional[str]:
    if target.launcher == 'single':
        return 'the single launcher starts one process whatever the process count'
    return None


@capability('multi-process', f'a job of {PROCESSES} processes runs {PROCESSES} copies through '
            'the launcher', applies=_multi_process)
def multi_process(context: Context) -> None:
    token = context.token()
    output = context.path('stdout.txt')
    job = context.submit(context.spec('/bin/echo', [token], process_count=PROCESSES,
                                      stdout_path=output))
    status = context.wait_final(job, 180)
    require(status.state == JobState.COMPLETED,
            f'the job ended {status.state} ({status.message})')
    lines = output.read_text().splitlines() if output.exists() else []
    copies = sum(1 for line in lines if line == token)
    require(copies == PROCESSES,
            f'{PROCESSES} copies should each print {token!r}; the output is {lines!r}')


@capability('pre-post-launch', 'pre_launch runs once before the launch, its exports reach the '
            'job; post_launch runs once after')
def pre_post_launch(context: Context) -> None:
    processes = 1 if context.target.launcher == 'single' else PROCESSES
    pre_log, post_log = context.path('pre.log'), context.path('post.log')
    pre, post = context.path('pre.sh'), context.path('post.sh')
    pre.write_text(f'echo pre >> "{pre_log}"\nexport PSIJ_CONF_FROM_PRE=exported\n')
    post.write_text(f'echo post >> "{post_log}"\n')
    output = context.path('stdout.txt')
    job = context.submit(context.spec(
        '/bin/sh', ['-c', 'echo "from-pre=$PSIJ_CONF_FROM_PRE"'], process_count=processes,
        stdout_path=output, pre_launch=pre, post_launch=post))
    status = context.wait_final(job, 180)
    require(status.state == JobState.COMPLETED,
            f'the job ended {status.state} ({status.message})')
    pre_runs = pre_log.read_text().splitlines() if pre_log.exists() else []
    post_runs = post_log.read_text().splitlines() if post_log.exists() else []
    require(pre_runs == ['pre'], f'pre_launch should run once; it ran {len(pre_runs)} times')
    require(post_runs == ['post'],
            f'post_launch should run once; it ran {len(post_runs)} times')
    lines = output.read_text().splitlines() if output.exists() else []
    require(lines.count('from-pre=exported') == processes,
            f'each of the {processes} processes should see PSIJ_CONF_FROM_PRE; the output is '
            f'{lines!r}')
