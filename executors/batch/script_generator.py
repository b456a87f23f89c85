"""psij-python's ``psij.executors.batch.script_generator``: job scripts from a mustache
template, for plugins written for psij-python (psij's own executors render through
`psij.batch.BatchScheduler`)."""

import pathlib
import shlex
from typing import IO, Callable, Dict

import pystache

from psij.job import Job
from psij.job_executor_config import JobExecutorConfig


def bash_escape(value: object) -> str:
    """``value`` as one bash word: numbers as they are, paths made absolute, anything else
    single-quoted as needed."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, pathlib.Path):
        value = value.absolute()
    return shlex.quote(str(value))


class SubmitScriptGenerator:
    """Writes the submit script of a job (psij-python's base of script generators)."""

    def __init__(self, config: JobExecutorConfig) -> None:
        self.config = config

    def generate_submit_script(self, job: Job, context: Dict[str, object], out: IO[str]) -> None:
        """Write the script of ``job`` to ``out``; ``context`` is the executor's
        ``_create_script_context(job)``."""
        raise NotImplementedError


class TemplatedScriptGenerator(SubmitScriptGenerator):
    """A `SubmitScriptGenerator` rendering the mustache template at ``template_path``, every
    value escaped with ``escape``."""

    def __init__(self, config: JobExecutorConfig, template_path: pathlib.Path,
                 escape: Callable[[object], str] = bash_escape) -> None:
        super().__init__(config)
        self.template = pystache.parse(pathlib.Path(template_path).read_text())
        self.renderer = pystache.Renderer(escape=escape)

    def generate_submit_script(self, job: Job, context: Dict[str, object], out: IO[str]) -> None:
        """Render the template with ``context`` into ``out``."""
        out.write(str(self.renderer.render(self.template, context)))
