"""Starting a local job's process (`psij.executors.local_spawn`): its start time as the kernel
records it, and its environment."""

import os
import time

import pytest
from psij.executors.local_records import process_start_ticks
from psij.executors.local_spawn import job_environment, start_process, start_ticks

from psij import JobSpec


def test_the_start_time_is_the_one_proc_gives_for_every_process() -> None:
    # The journal names a job by this time; another process compares it with /proc's.
    spec = JobSpec('/bin/true')
    for _ in range(300):
        process, ticks = start_process(['/bin/true'], spec, job_environment(spec, {}))
        try:
            assert ticks == process_start_ticks(process.pid) != 0
        finally:
            process.wait()


def test_readings_in_two_ticks_read_the_start_time() -> None:
    spec = JobSpec('/bin/sleep', ['10'])
    process, _ = start_process(['/bin/sleep', '10'], spec, job_environment(spec, {}))
    try:
        now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        # Readings a second apart cannot name one tick: the time is read from /proc.
        assert start_ticks(process.pid, now - 10**9, now) == process_start_ticks(process.pid)
    finally:
        process.kill()
        process.wait()


def test_the_environment_is_this_process_s_the_spec_s_then_psij_s(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PSIJ_TEST_INHERITED', 'from the submitter')
    spec = JobSpec('/bin/true', environment={'PSIJ_TEST_SPEC': 'x', 'PSIJ_NODEFILE': 'spec'})
    env = job_environment(spec, {b'PSIJ_NODEFILE': b'/n'})
    assert env[b'PSIJ_TEST_INHERITED'] == b'from the submitter'
    assert env[b'PSIJ_TEST_SPEC'] == b'x'
    assert env[b'PSIJ_NODEFILE'] == b'/n'
    assert env[b'PATH'] == os.environb[b'PATH']
    spec.inherit_environment = False
    assert job_environment(spec, {}) == {b'PSIJ_TEST_SPEC': b'x', b'PSIJ_NODEFILE': b'spec'}
