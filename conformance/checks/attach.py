"""Another process attaches to a job by its native id, before and after the job ended."""

import json
import subprocess
import sys
from typing import Any, Dict

from psij import Job, JobState

from ..capability import capability, require
from ..context import Context


def probe(context: Context, job: Job) -> Dict[str, Any]:
    """What a fresh Python process that attaches to ``job`` sees (see attach_probe)."""
    timeout = context.timeout(150)
    command = [sys.executable, '-m', 'psij.conformance.attach_probe', context.target.executor,
               str(job.native_id), '--timeout', str(timeout)]
    if context.target.url:
        command += ['--url', context.target.url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60)
    require(result.returncode == 0,
            f'the attaching process failed (exit {result.returncode}): '
            f'{result.stderr.strip()[-500:]}')
    seen: Dict[str, Any] = json.loads(result.stdout)
    return seen


@capability('attach-running', 'a fresh process attaches to a running job and sees it end '
            'COMPLETED')
def attach_running(context: Context) -> None:
    job = context.submit(context.spec('/bin/sleep', ['12']))
    context.wait_state(job, JobState.ACTIVE, 180)
    seen = probe(context, job)
    own = context.wait_final(job, 60)
    require(own.state == JobState.COMPLETED,
            f'the job itself ended {own.state} ({own.message})')
    require(seen['state'] == 'COMPLETED',
            f'the attached job ended {seen["state"]} ({seen["message"]}); the submitter saw '
            f'{own.state}')
    require(not JobState.from_name(seen['states'][0]).final,
            f'the job was still running, but the attached job started as {seen["states"][0]}')
    require(seen['exit_code'] in (0, None), f'attached exit code {seen["exit_code"]}')


@capability('attach-finished', 'a fresh process attaches to a job that already ended and '
            'sees its final state and exit code')
def attach_finished(context: Context) -> None:
    job = context.submit(context.spec('/bin/sh', ['-c', 'exit 4']))
    own = context.wait_final(job, 120)
    require(own.state == JobState.FAILED and own.exit_code == 4,
            f'the job itself ended {own.state} with exit code {own.exit_code}')
    seen = probe(context, job)
    require(seen['state'] == 'FAILED' and seen['exit_code'] == 4,
            f'the attached job ended {seen["state"]} with exit code {seen["exit_code"]} '
            f'({seen["message"]}); expected FAILED with exit code 4')
