"""The standard streams of a local job's process, opened by the process that starts it."""

import pathlib
import subprocess
from typing import IO, Any, List, Optional, Tuple

from psij.exceptions import InvalidJobException
from psij.job_spec import JobSpec


def _resolve(path: pathlib.Path, spec: JobSpec) -> pathlib.Path:
    if path.is_absolute() or spec.directory is None:
        return path
    return spec.directory / path


def open_streams(spec: JobSpec) -> Tuple[Any, Any, Any]:
    """Open the job's stdin, stdout and stderr (DEVNULL where no path is given)."""
    opened: List[IO[bytes]] = []

    def open_path(path: Optional[pathlib.Path], mode: str, field_name: str) -> Any:
        if path is None:
            return subprocess.DEVNULL
        try:
            stream = open(_resolve(path, spec), mode)
        except OSError as error:
            for other in opened:
                other.close()
            raise InvalidJobException(
                f'JobSpec.{field_name} {str(path)!r} cannot be opened: {error.strerror}'
            ) from error
        opened.append(stream)
        return stream

    stdin = open_path(spec.stdin_path, 'rb', 'stdin_path')
    stdout = open_path(spec.stdout_path, 'wb', 'stdout_path')
    if spec.stderr_path is not None and spec.stderr_path == spec.stdout_path:
        stderr = subprocess.STDOUT
    else:
        stderr = open_path(spec.stderr_path, 'wb', 'stderr_path')
    return stdin, stdout, stderr
