"""A budget for the local executor: 2 cores and two (made-up) GPUs shared by every psij process
of the work directory. A job that does not fit waits QUEUED, saying for what; a job larger
than the whole budget is refused at submit; each job sees only its own GPUs.
"""

import pathlib
from typing import Optional

from psij.executors.local import LocalJobExecutorConfig

from psij import InvalidJobException, Job, JobExecutor, JobSpec, JobState, ResourceSpecV1

config = LocalJobExecutorConfig(cores=2, gpus=['gpu-a', 'gpu-b'], memory='1G')
executor = JobExecutor.get_instance('local', config=config)


def job(name: str, cores: int, gpus: Optional[int] = None) -> Job:
    return Job(JobSpec('/bin/sh', ['-c', 'echo "$CUDA_VISIBLE_DEVICES"; sleep 0.5'],
                       stdout_path=pathlib.Path(f'{name}.out'),
                       resources=ResourceSpecV1(cpu_cores_per_process=cores,
                                                gpu_cores_per_process=gpus)))


wide, narrow, later = job('wide', 2, gpus=1), job('narrow', 1, gpus=1), job('later', 1)
for each in (wide, narrow, later):
    executor.submit(each)
print(narrow.status.state.name, narrow.status.message)
assert wide.status.state == JobState.ACTIVE
assert narrow.status.state == JobState.QUEUED   # 'cores: needs 1, 0 available'

try:
    executor.submit(job('huge', 4))
except InvalidJobException as error:
    print(error)                                  # names cores=2, the budget
else:
    raise AssertionError('a 4-core job on a 2-core budget must be refused')

for each in (wide, narrow, later):
    assert each.wait() is not None and each.status.state == JobState.COMPLETED
print({name: pathlib.Path(f'{name}.out').read_text().strip()
       for name in ('wide', 'narrow', 'later')})
assert pathlib.Path('wide.out').read_text().strip() in ('gpu-a', 'gpu-b')
assert pathlib.Path('later.out').read_text().strip() == ''   # asked for no GPU: sees none
