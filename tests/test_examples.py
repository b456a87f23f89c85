"""The examples the README points to run and do what they say."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_first_job_example_runs_a_real_job() -> None:
    result = subprocess.run([sys.executable, str(ROOT / 'examples' / 'first_job.py')],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "COMPLETED, exit code 0, output 'hello from psij'" in result.stdout


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / 'README.md').read_text().splitlines()[:8]
    commands = [line.strip('`') for line in lines if line.startswith('`')]
    assert commands[0] == 'bash .ci/setup && .venv/bin/python examples/first_job.py'
    test_command = commands[1]
    assert test_command in (ROOT / '.ci' / 'run').read_text()
