"""LocalTransport: commands run to completion (`run`) and started without waiting (`start`)."""

import os
import pathlib
import subprocess
import time

from psij.transport import LocalTransport, command_name, wait_for_exit


def test_run_returns_status_and_both_streams() -> None:
    result = LocalTransport().run(['sh', '-c', 'cat; echo err >&2; exit 3'], stdin='in put\n')
    assert (result.returncode, result.stdout, result.stderr) == (3, 'in put\n', 'err\n')
    assert not result.ok


def test_started_command_answers_once_it_ends_with_its_output() -> None:
    command = LocalTransport().start(['sh', '-c', 'sleep 0.3; cat; echo err >&2'],
                                     stdin='from stdin\n')
    assert command.poll() is None
    result = command.poll(wait=10)
    assert result is not None and result.ok
    assert (result.stdout, result.stderr) == ('from stdin\n', 'err\n')
    assert command.poll() is result


def test_started_command_with_much_output_does_not_block() -> None:
    # more than a pipe holds (64 KiB): nobody reads while it runs
    command = LocalTransport().start(['sh', '-c', 'head -c 1000000 /dev/zero | tr "\\0" x'])
    result = command.poll(wait=10)
    assert result is not None and result.ok and len(result.stdout) == 1000000


def test_started_command_is_killed_past_its_timeout() -> None:
    began = time.monotonic()
    command = LocalTransport().start(['sleep', '30'], timeout=0.5)
    result = command.poll(wait=10)
    assert time.monotonic() - began < 5
    assert result is not None and result.returncode is None
    assert 'no answer after 0.5 s' in result.stderr


def test_canceled_command_ends() -> None:
    command = LocalTransport().start(['sleep', '30'])
    command.cancel()
    result = command.poll()
    assert result is not None and result.returncode is None and 'canceled' in result.stderr


def test_missing_command_is_a_result_not_an_exception() -> None:
    result = LocalTransport().start(['psij-no-such-command']).poll()
    assert result is not None and result.returncode is None
    assert 'not found' in result.stderr


def test_old_files_are_regular_files_past_the_age(tmp_path: pathlib.Path) -> None:
    old, new = tmp_path / 'old.ec', tmp_path / 'new.ec'
    old.write_text('0\n')
    new.write_text('0\n')
    (tmp_path / 'old-dir').mkdir()
    then = time.time() - 3600
    os.utime(old, (then, then))
    os.utime(tmp_path / 'old-dir', (then, then))
    assert LocalTransport().old_files(tmp_path, 60) == {'old.ec'}
    assert LocalTransport().old_files(tmp_path / 'missing', 60) == set()


def test_make_directory_creates_every_missing_level_user_only(tmp_path: pathlib.Path) -> None:
    previous = os.umask(0o022)  # under which mkdir(parents=True) gives parents 0755
    try:
        os.chmod(tmp_path, 0o755)
        work = tmp_path / 'home' / '.psij' / 'work'
        LocalTransport().make_directory(work / 'slurm', 0o700)
        modes = {str(level.relative_to(tmp_path)): level.stat().st_mode & 0o777
                 for level in (tmp_path / 'home', work.parent, work, work / 'slurm')}
        assert set(modes.values()) == {0o700}, modes
        assert tmp_path.stat().st_mode & 0o777 == 0o755, 'an existing parent keeps its mode'
        # an existing directory itself is set to the mode asked for; its parents are kept
        os.chmod(work, 0o750)
        os.chmod(work / 'slurm', 0o755)
        LocalTransport().make_directory(work / 'slurm', 0o700)
        assert (work.stat().st_mode & 0o777, (work / 'slurm').stat().st_mode & 0o777) == \
            (0o750, 0o700)
    finally:
        os.umask(previous)


def test_messages_name_the_program_past_env() -> None:
    assert command_name(['env', '-u', 'SBATCH_TIMELIMIT', '-u', 'X', 'sbatch', 'a.sh']) == \
        'sbatch'
    assert command_name(['env', 'A=1', '--unset=B', 'qsub']) == 'qsub'
    assert command_name(['squeue', '--me']) == 'squeue'
    assert command_name([]) == 'command'
    result = LocalTransport().run(['env', '-u', 'HOME', 'sleep', '5'], timeout=0.2)
    assert result.returncode is None and result.stderr == 'sleep: no answer after 0.2 s'


def test_wait_for_exit_says_none_while_running_and_the_status_once_ended() -> None:
    process = subprocess.Popen(['sh', '-c', 'read line; exit 3'], stdin=subprocess.PIPE)
    assert process.stdin is not None
    try:
        assert wait_for_exit(process, 0.0) is None
        assert wait_for_exit(process, 0.2) is None  # still reading: the wait ran out
        process.stdin.write(b'go\n')
        process.stdin.close()
        assert wait_for_exit(process, 30.0) == 3
        assert wait_for_exit(process, 1.0) == 3  # already reaped: the same status again
    finally:
        process.kill()
        process.wait()
