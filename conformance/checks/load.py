"""Many jobs at once: every one ends, with exactly one final callback; nothing is lost."""

import threading
from collections import Counter
from typing import Dict

from psij import Job, JobState, JobStatus

from ..capability import capability, require
from ..context import Context


@capability('many-jobs', 'many jobs submitted at once (200 by default) all end COMPLETED, '
            'each with one final callback', timeout=1200)
def many_jobs(context: Context) -> None:
    count = context.target.many_jobs
    executor = context.executor()
    finals: Counter[str] = Counter()
    lock = threading.Lock()
    done = threading.Event()
    jobs: Dict[str, Job] = {}

    def count_final(job: Job, status: JobStatus) -> None:
        if status.state.final:
            with lock:
                finals[job.id] += 1
                if len(finals) == count:
                    done.set()

    for _ in range(count):
        job = Job(context.spec('/bin/true'))
        job.set_job_status_callback(count_final)
        jobs[job.id] = job
        executor.submit(job)
    done.wait(context.timeout(900))
    for job in jobs.values():
        context.wait_final(job, 60)
    states = Counter(job.status.state for job in jobs.values())
    require(states[JobState.COMPLETED] == count,
            f'of {count} jobs: ' + ', '.join(f'{n} {s}' for s, n in sorted(
                states.items(), key=lambda item: str(item[0]))))
    twice = [job_id for job_id, n in finals.items() if n != 1]
    require(not twice and len(finals) == count,
            f'{len(finals)} of {count} jobs got a final callback; {len(twice)} got more '
            'than one')
