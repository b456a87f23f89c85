"""The pilot's GPUs (`psij.pilot.gpus`) on a local pilot with fake device names: each task
gets its own devices in CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES,
no device is held by two tasks at once, a task without GPUs sees none, and bad settings are
refused naming the field. About 10 s."""

import pathlib
import shlex
from typing import Dict, List, Tuple

import pytest
from pilot_checks import wait_all

from psij import Job, JobExecutor, JobSpec, ResourceSpecV1
from psij.job_state import JobState
from psij.pilot import PilotExecutorConfig, PilotJobExecutor

DEVICES = ['fake-gpu-a', 'fake-gpu-b']


def gpu_task(log: pathlib.Path, gpus: int, seconds: float) -> Job:
    """A task that logs its three device variables at its start and end."""
    line = ('"$PSIJ_PILOT_TASK_ID %s [$CUDA_VISIBLE_DEVICES] [$ROCR_VISIBLE_DEVICES] '
            f'[$HIP_VISIBLE_DEVICES]" >> {shlex.quote(str(log))}')
    script = f'echo {line % "start"}; sleep {seconds}; echo {line % "end"}'
    return Job(JobSpec('/bin/sh', ['-c', script], resources=ResourceSpecV1(
        process_count=1, cpu_cores_per_process=1, gpu_cores_per_process=gpus or None)))


def test_each_task_gets_its_own_devices(work_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    executor = JobExecutor.get_instance('pilot', config=PilotExecutorConfig(
        executor='local', name='gpus', cores_per_node=4, gpus_per_node=DEVICES,
        idle_timeout=3, max_allocations=1, poll_interval=0.1, work_directory=work_dir))
    assert isinstance(executor, PilotJobExecutor)
    log = tmp_path / 'devices.log'
    try:
        jobs = [gpu_task(log, 1, 1.0) for _ in range(4)] + [gpu_task(log, 2, 0.5),
                                                             gpu_task(log, 0, 0.5)]
        for job in jobs:
            executor.submit(job)
        wait_all(jobs, 60)
    finally:
        executor.pilot.allocations.cancel_all()
    assert [job.status.state for job in jobs] == [JobState.COMPLETED] * len(jobs)
    seen: Dict[str, str] = {}
    holders: Dict[str, str] = {}  # device -> task that holds it now
    events: List[Tuple[str, str, str]] = []
    for text in log.read_text().splitlines():
        task, what, cuda, rocr, hip = text.split(' ')
        assert cuda == rocr == hip, text  # the three variables name the same devices
        events.append((task, what, cuda.strip('[]')))
    for task, what, devices in events:
        seen[task] = devices
        for device in filter(None, devices.split(',')):
            assert device in DEVICES, devices
            if what == 'start':
                assert device not in holders, f'{device} held by {holders.get(device)} ' \
                                              f'and {task} at once'
                holders[device] = task
            else:
                assert holders.pop(device) == task
    by_task = {job.native_id.split('/', 1)[1]: job for job in jobs if job.native_id}
    counts = {task_id: len(list(filter(None, devices.split(','))))
              for task_id, devices in seen.items()}
    assert len(counts) == len(jobs)
    for task_id, job in by_task.items():
        resources = job.spec.resources if job.spec is not None else None
        wanted = getattr(resources, 'gpu_cores_per_process', None) or 0
        assert counts[task_id] == wanted, (task_id, seen[task_id])
    assert sorted(seen[task] for task in seen if counts[task] == 2) == \
        ['fake-gpu-a,fake-gpu-b']


def test_bad_gpu_settings_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match='PilotExecutorConfig.gpus_per_node'):
        PilotExecutorConfig(gpus_per_node=-1)
    with pytest.raises(ValueError, match='PilotExecutorConfig.gpus_per_node'):
        PilotExecutorConfig(gpus_per_node=['a', 'a'])
    with pytest.raises(ValueError, match='PilotExecutorConfig.gpus_per_node'):
        PilotExecutorConfig(gpus_per_node=['bad name'])
    assert PilotExecutorConfig(gpus_per_node=2).gpus_per_node == 2
