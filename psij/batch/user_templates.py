"""User templates (pysqa's idea): a site's or a user's directive lines in place of a scheduler's
built-in ones, per executor and per queue.

A user template is a mustache file of the job script's DIRECTIVES only (``#SBATCH ...``,
``#$ ...``): the library still writes everything after them (the scheduler's shell functions,
the markers, environment, launcher and staging of `psij.batch.script.render_job_body`), so the
final states stay as trustworthy as with the built-in template. The library appends that body:
a template must not name ``job_body``.

The script of a job is the built-in script (`BatchScheduler.render_script`, so a scheduler's
own rewriting, Grid Engine's for ``#$`` in the body, still applies) with its directive lines
(those before its first blank line) replaced by the template's lines, rendered with the
scheduler's `script_context`. Blank lines of the rendered template are dropped (a blank line
ends the directives); a first line ``#!...`` must start bash (the body is bash), else the
built-in ``#!/bin/bash`` is kept.

Checked when the executor is made (`UserTemplates.for_executor`), for ``template`` and for
every ``queue_templates`` entry alike, so a bad file is an error before any job is sent
(`TemplateError`, a `ValueError`, naming the file, line and what is wrong): every variable and
section must be one the scheduler's context provides (`template_variables`), sections must
be closed, partials and delimiter changes are refused, and every line must be a comment or
directive (start with ``#``, after any section tags). Per job, the template is
``queue_templates[queue_name]``, else ``template``, else the built-in one.
"""

import pathlib
import re
import sys
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Mapping, Optional, Set, Tuple

from psij.batch.remote_paths import PathLike
from psij.batch.scheduler import BatchScheduler
from psij.batch.script import ScriptInputs, render_template
from psij.exceptions import InvalidJobException
from psij.job import Job
from psij.job_spec import JobSpec
from psij.resource_spec import ResourceSpecV1

FIELD = 'BatchSchedulerExecutorConfig.template'
#: The body the library appends; a template naming it would write the body twice.
BODY = 'job_body'
_TAG = re.compile(r'\{\{\{\s*(?P<triple>.*?)\s*\}\}\}'
                  r'|\{\{(?P<kind>[#^/!>=&]?)\s*(?P<name>.*?)\s*\}\}', re.S)
_SECTION_KINDS = '#^/!'
_BASH = re.compile(r'#!\s*(/\S*/)?(env\s+)?bash(\s.*)?')


class TemplateError(ValueError):
    """A user template that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class _Tag:
    kind: str  # '' (a variable), '#', '^', '/', '!', '>', '=', '&'
    name: str
    line: int
    sections: Tuple[str, ...]  # the sections it is inside, outermost first


def _tags(text: str, where: str) -> Iterator[_Tag]:
    """The tags of ``text`` with their line and enclosing sections; `TemplateError` for an
    unbalanced section (``where`` names the file)."""
    stack: List[Tuple[str, int]] = []
    for match in _TAG.finditer(text):
        line = text.count('\n', 0, match.start()) + 1
        kind = '' if match.group('triple') is not None else match.group('kind')
        name = match.group('triple') if match.group('triple') is not None \
            else match.group('name')
        if kind == '/':
            if not stack or stack[-1][0] != name:
                opened = f'{{{{#{stack[-1][0]}}}}} of line {stack[-1][1]}' if stack else 'none'
                raise TemplateError(f'{where}:{line}: {{{{/{name}}}}} closes no open section '
                                    f'(open: {opened})')
            stack.pop()
        yield _Tag(kind, name, line, tuple(section for section, _ in stack))
        if kind in '#^' and kind:
            stack.append((name, line))
    if stack:
        name, line = stack[-1]
        raise TemplateError(f'{where}:{line}: section {{{{#{name}}}}} is never closed '
                            f'(add {{{{/{name}}}}})')


@dataclass(frozen=True)
class TemplateVariables:
    """What a template of one scheduler may use: the keys of its `script_context`
    (``names``), and inside a section over a list or table, the keys of its items
    (``items``, per section, as the built-in template uses them; ``.`` is the item itself)."""

    names: FrozenSet[str]
    items: Mapping[str, FrozenSet[str]]

    def documented(self) -> List[str]:
        """Every name, sorted; an item key as ``section.key``."""
        return sorted(self.names) + sorted(f'{section}.{key}' for section, keys
                                           in self.items.items() for key in keys)

    def allowed(self, sections: Tuple[str, ...]) -> FrozenSet[str]:
        """The names a tag inside ``sections`` may use."""
        names = set(self.names)
        for section in sections:
            names |= self.items.get(section, frozenset())
        return frozenset(names | ({'.'} if sections else set()))


def _sample_inputs() -> ScriptInputs:
    directory = pathlib.Path('/psij-work')
    return ScriptInputs(Job(JobSpec('/bin/true', resources=ResourceSpecV1())), directory,
                        ['/bin/true'], directory / 'launcher.log')


def template_variables(scheduler: BatchScheduler) -> TemplateVariables:
    """The variables a template of ``scheduler`` may use (see `TemplateVariables`): the keys
    of its context for a plain job, and the item keys its built-in template uses inside a
    section. `TemplateError` if the scheduler has no context to give (a psij-python plugin)."""
    try:
        context = scheduler.script_context(_sample_inputs())
        builtin = scheduler.template()
    except (NotImplementedError, FileNotFoundError, InvalidJobException) as error:
        raise TemplateError(f'{FIELD}: {scheduler.name or type(scheduler).__name__} takes no '
                            f'user template ({error})') from error
    names = frozenset(context)
    items: Dict[str, Set[str]] = {}
    for tag in _tags(builtin, f'the built-in template of {scheduler.name}'):
        root = tag.name.split('.')[0] or '.'
        if tag.sections and tag.kind in ('', '&', '#', '^') and root not in names \
                and root != '.' and root != BODY:
            items.setdefault(tag.sections[-1], set()).add(root)
    return TemplateVariables(names, {key: frozenset(value) for key, value in items.items()})


def _check_lines(text: str, where: str) -> None:
    """Every line is a comment or directive once section and comment tags are removed."""
    def blank(match: 're.Match[str]') -> str:
        kind = match.group('kind') if match.group('triple') is None else ''
        return '\n' * match.group(0).count('\n') if kind and kind in _SECTION_KINDS \
            else match.group(0)
    for number, line in enumerate(_TAG.sub(blank, text).splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith('#'):
            raise TemplateError(
                f'{where}:{number}: {stripped[:60]!r} is not a directive or comment line; a '
                'template gives directive lines only (each starting with #): the library '
                'writes the job body after them')
        if number == 1 and stripped.startswith('#!') and not _BASH.fullmatch(stripped):
            raise TemplateError(f'{where}:1: {stripped!r}: the job body needs bash; start '
                                'with #!/bin/bash or leave the #! line out')


@dataclass(frozen=True)
class UserTemplate:
    """A checked template: where it was read from and its text."""

    path: pathlib.Path
    text: str


def load_template(path: PathLike, scheduler: BatchScheduler, field: str = FIELD,
                  variables: Optional[TemplateVariables] = None) -> UserTemplate:
    """Read and check the template at ``path`` (``~`` expanded) for ``scheduler``; raises
    `TemplateError` naming ``field``, the file and line for any problem (module docstring)."""
    if not isinstance(path, (str, pathlib.PurePath)) or not str(path):
        raise TemplateError(f'{field} must be the path of a mustache file, not {path!r}')
    file = pathlib.Path(path).expanduser()
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(f'{field}: cannot read the template {file}: {error}') from error
    variables = variables or template_variables(scheduler)
    where = f'{field}: {file}'
    for tag in _tags(text, where):
        if tag.kind in ('!', '/'):
            continue
        if tag.kind in ('>', '='):
            what = 'partials' if tag.kind == '>' else 'delimiter changes'
            raise TemplateError(f'{where}:{tag.line}: {what} ({{{{{tag.kind}{tag.name}}}}}) '
                                'are not allowed in a template')
        root = tag.name.split('.')[0] or '.'
        if root == BODY:
            raise TemplateError(f'{where}:{tag.line}: {{{{{BODY}}}}}: a template gives the '
                                'directives only; the library appends the job body itself')
        allowed = variables.allowed(tag.sections)
        if root not in allowed:
            raise TemplateError(
                f'{where}:{tag.line}: unknown variable {tag.name!r} (the {scheduler.name} '
                f'script context has no such key); allowed: {", ".join(sorted(allowed))}')
    _check_lines(text, where)
    return UserTemplate(file, text)


def render_with(template: UserTemplate, scheduler: BatchScheduler, inputs: ScriptInputs,
                names: FrozenSet[str] = frozenset()) -> str:
    """The job script of ``inputs``: the built-in one, its directives replaced by
    ``template``'s (module docstring); ``names``: the variables of `template_variables`."""
    script = scheduler.render_script(inputs)
    head, _, body = script.partition('\n\n')
    # A key a scheduler leaves out for some jobs is empty rather than an error.
    context: Dict[str, object] = dict.fromkeys(names)
    context.update(scheduler.script_context(inputs))
    lines = [line for line in render_template(template.text, context).splitlines()
             if line.strip()]
    wrong = [line for line in lines if not line.startswith('#')]
    if wrong:
        raise InvalidJobException(f'{FIELD}: the template {template.path} wrote {wrong[0]!r}, '
                                  'which is not a directive line, for this job')
    if not lines or not lines[0].startswith('#!'):
        lines.insert(0, head.splitlines()[0])
    return '\n'.join(lines) + '\n\n' + body


def builtin_directives(scheduler: BatchScheduler) -> str:
    """The directive lines of ``scheduler``'s built-in template (a template to start from)."""
    return scheduler.template().partition('\n\n')[0] + '\n'


class UserTemplates:
    """The templates of one executor, checked when it is made (see the module docstring)."""

    def __init__(self, default: Optional[UserTemplate] = None,
                 by_queue: Optional[Mapping[str, UserTemplate]] = None,
                 names: FrozenSet[str] = frozenset()) -> None:
        self.default = default
        self.by_queue = dict(by_queue or {})
        self.names = names

    @classmethod
    def for_executor(cls, template: Optional[PathLike],
                     queue_templates: Mapping[str, PathLike],
                     scheduler: BatchScheduler) -> 'UserTemplates':
        """Load ``template`` and ``queue_templates`` (the config's fields) for ``scheduler``."""
        if not isinstance(queue_templates, Mapping):
            raise TemplateError('BatchSchedulerExecutorConfig.queue_templates must be a dict of '
                                f'queue name -> path, not {queue_templates!r}')
        if template is None and not queue_templates:
            return cls()
        variables = template_variables(scheduler)
        default = load_template(template, scheduler, FIELD, variables) \
            if template is not None else None
        by_queue = {queue: load_template(
            path, scheduler, f'BatchSchedulerExecutorConfig.queue_templates[{queue!r}]',
            variables) for queue, path in queue_templates.items()}
        return cls(default, by_queue, variables.names)

    def choose(self, queue: Optional[str]) -> Optional[UserTemplate]:
        """The template of a job sent to ``queue``; None: the built-in one."""
        if queue is not None and queue in self.by_queue:
            return self.by_queue[queue]
        return self.default

    def render(self, scheduler: BatchScheduler, inputs: ScriptInputs) -> str:
        """The script of ``inputs``, with the template its queue chooses."""
        template = self.choose(inputs.spec.attributes.queue_name)
        if template is None:
            return scheduler.render_script(inputs)
        return render_with(template, scheduler, inputs, self.names)


def _main(arguments: List[str]) -> int:
    """``python -m psij.batch.user_templates EXECUTOR``: the built-in directives and the
    variables a template of EXECUTOR may use."""
    from psij.job_executor import JobExecutor
    if len(arguments) != 1:
        print('usage: python -m psij.batch.user_templates EXECUTOR', file=sys.stderr)
        return 2
    executor = JobExecutor.get_instance(arguments[0])
    scheduler = getattr(executor, 'scheduler', None)
    if not isinstance(scheduler, BatchScheduler):
        print(f'{arguments[0]} is not a batch executor', file=sys.stderr)
        return 2
    print(builtin_directives(scheduler), end='')
    print('\n# variables: ' + ', '.join(template_variables(scheduler).documented()))
    return 0


if __name__ == '__main__':
    sys.exit(_main(sys.argv[1:]))
