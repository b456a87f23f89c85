"""The documentation in docs/: it builds without a warning, its examples run, and it matches the
code it describes.

* The Sphinx build is exactly the documented one (``.venv/bin/sphinx-build -W --keep-going -b
  html docs OUT``), into a temporary directory; any warning fails it.
* Every ``docs/examples/*.py`` is run as a script, in a fresh directory, with ``HOME`` pointing
  to a fresh directory (so executors' work directories are private to the test), and must exit
  with 0; each example checks its own output with ``assert``. An example that needs a real tool
  says so in its module docstring with a line ``Requires: slurm`` (or ``sge``, or a command name
  such as ``mpirun``); it then fails under ``CI=true`` when the tool is missing (see real_tools).
* No page may hold Python code that is not included from ``docs/examples/``: every code block
  must name its language, and that language must not be Python.
* ``docs/job-spec.schema.json`` accepts what ``psij.serialize`` writes and refuses what its
  reader refuses, except for the rules JSON Schema cannot express (listed in
  docs/serialization.md and tested here as such).
"""

import ast
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_tools import IN_CI, require_command, require_sge, require_slurm, require_sshd

import psij
import psij.batch
from psij import JobAttributes, JobExecutorConfig, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig
from psij.serialize import (
    ATTRIBUTE_FIELDS,
    RESOURCE_FIELDS,
    SPEC_FIELDS,
    SpecFormatError,
    dumps,
    loads,
    spec_to_dict,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
EXAMPLES = DOCS / 'examples'
SCHEMA_PATH = DOCS / 'job-spec.schema.json'
EXAMPLE_FILES = sorted(EXAMPLES.glob('*.py'))
PAGES = sorted(path for path in DOCS.rglob('*.md') if '_build' not in path.parts)

# --- the build -----------------------------------------------------------------------------


def _docs_tool(name: str) -> pathlib.Path:
    """A tool of the docs extra, next to the interpreter running the tests (.venv/bin)."""
    path = pathlib.Path(sys.executable).parent / name
    if not path.exists():
        message = f'{path} is missing: install the docs extra (bash .ci/setup does)'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope='module')
def built_docs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The HTML documentation, built as README.md says, with warnings as errors."""
    output = tmp_path_factory.mktemp('docs') / 'html'
    sphinx_build = _docs_tool('sphinx-build')
    result = subprocess.run(
        [str(sphinx_build), '-W', '--keep-going', '-b', 'html', 'docs', str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    problems = [line for line in result.stderr.splitlines()
                if 'WARNING' in line or 'ERROR' in line]
    assert result.returncode == 0 and not problems, (
        f'sphinx-build exited with {result.returncode}:\n{result.stderr}')
    return output


def test_docs_build_without_warnings(built_docs: pathlib.Path) -> None:
    for page in PAGES:
        if EXAMPLES in page.parents:
            continue
        html = built_docs / page.relative_to(DOCS).with_suffix('.html')
        assert html.is_file(), f'{page} was not built'


def test_executor_toctree_lists_every_executor_page(built_docs: pathlib.Path) -> None:
    index = (built_docs / 'executors' / 'index.html').read_text()
    pages = [path.stem for path in (DOCS / 'executors').glob('*.md') if path.stem != 'index']
    assert {'local', 'slurm'} <= set(pages)
    for stem in pages:
        assert f'href="{stem}.html"' in index, f'executors/{stem}.md is not in the toctree'


def test_api_reference_documents_every_public_name(built_docs: pathlib.Path) -> None:
    api = (built_docs / 'api.html').read_text()
    names = [f'psij.{name}' for name in psij.__all__]
    names += [f'psij.batch.{name}' for name in psij.batch.__all__]
    names += ['psij.transport.Transport', 'psij.serialize.dumps', 'psij.serialize.loads']
    missing = [name for name in names if f'id="{name}"' not in api]
    assert not missing, f'not in docs/api.md: {missing}'


# --- code blocks ---------------------------------------------------------------------------

PYTHON_LANGUAGES = {'python', 'python3', 'py', 'py3', 'pycon', 'ipython', 'ipython3',
                    'default', 'pyi', 'sage'}
CODE_DIRECTIVES = {'code-block', 'code', 'sourcecode', 'code-cell'}
_DIRECTIVE = re.compile(r'\{([\w:-]+)\}\s*(.*)')
_RST_CODE = re.compile(r'^\s*\.\.\s+(code-block|code|sourcecode|highlight)::\s*(\S*)', re.M)
_RST_INCLUDE = re.compile(r'^\s*\.\.\s+(literalinclude|include)::\s*(\S+)', re.M)


def _strip_options(content: str) -> Tuple[Dict[str, str], str]:
    """The ``:key: value`` options (or a ``---`` YAML block) at the top of a directive's
    content, and the rest."""
    lines = content.splitlines()
    options: Dict[str, str] = {}
    if lines and lines[0].strip() == '---':
        end = next((index for index, line in enumerate(lines[1:], 1) if line.strip() == '---'),
                   len(lines) - 1)
        for line in lines[1:end]:
            key, _, value = line.partition(':')
            options[key.strip()] = value.strip()
        return options, '\n'.join(lines[end + 1:])
    index = 0
    while index < len(lines) and re.match(r'^:[\w-]+:', lines[index]):
        key, _, value = lines[index][1:].partition(':')
        options[key] = value.strip()
        index += 1
    return options, '\n'.join(lines[index:])


# Python a page may include: the example scripts, and the project's own code (which the tests
# import and run), to show a real class with :pyobject:.
TESTED_PYTHON_DIRECTORIES = [EXAMPLES] + [ROOT / name for name in (
    'psij', 'executors', 'launchers', 'conformance', 'tests')]


def _is_tested_python(path: pathlib.Path) -> bool:
    return path.suffix == '.py' and any(
        directory == path.parent or directory in path.parents
        for directory in TESTED_PYTHON_DIRECTORIES)


def _check_include(target: str, base: pathlib.Path, language: str, where: str,
                   problems: List[str], page_text: Callable[[pathlib.Path], None]) -> None:
    path = (DOCS / target.lstrip('/')) if target.startswith('/') else (base / target)
    path = path.resolve()
    is_python = path.suffix == '.py' or language.lower() in PYTHON_LANGUAGES
    if is_python and not _is_tested_python(path):
        problems.append(f'{where}: includes Python from {target}, which is neither a '
                        'docs/examples/*.py script nor the project\'s own code')
    elif is_python and not path.is_file():
        problems.append(f'{where}: includes {target}, which does not exist')
    elif path.suffix == '.md' and path.is_file():
        page_text(path)


def untested_python_blocks(text: str, base: pathlib.Path, name: str) -> List[str]:
    """Problems of one Markdown page: code blocks without a language, Python code blocks, and
    includes of Python that is not a docs/examples script. ``base`` is the page's directory."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    parser = create_md_parser(
        MdParserConfig(enable_extensions={'colon_fence', 'deflist'}), RendererHTML)
    problems: List[str] = []

    def included_page(path: pathlib.Path) -> None:
        problems.extend(untested_python_blocks(path.read_text(), path.parent, str(path)))

    def check_rst(content: str, where: str) -> None:
        for match in _RST_CODE.finditer(content):
            language = match.group(2)
            if not language or language.lower() in PYTHON_LANGUAGES:
                problems.append(f'{where}: reST {match.group(1)} block in '
                                f'{language or "the default language"}')
        for match in _RST_INCLUDE.finditer(content):
            _check_include(match.group(2), base, '', where, problems, included_page)
        if re.search(r'^\s*>>>', content, re.M):
            problems.append(f'{where}: doctest (>>>) in a reST block')
        for line in content.splitlines():
            if line.rstrip().endswith('::') and not line.lstrip().startswith('..'):
                problems.append(f'{where}: reST literal block ({line.strip()}), highlighted '
                                'as Python')

    def check(content: str, line_offset: int) -> None:
        for token in parser.parse(content):
            where = f'{name}:{line_offset + (token.map[0] + 1 if token.map else 0)}'
            if token.type == 'code_block':
                problems.append(f'{where}: indented code block; use a fenced block that names '
                                'its language')
                continue
            if token.type not in ('fence', 'colon_fence'):
                continue
            info = token.info.strip()
            directive = _DIRECTIVE.match(info)
            body_offset = line_offset + (token.map[0] + 1 if token.map else 0)
            if directive is None:
                language = info.split()[0] if info else ''
                if not language or language.lower() in PYTHON_LANGUAGES:
                    problems.append(f'{where}: code block in {language or "no language"}; '
                                    'Python goes in docs/examples/ and is included with '
                                    '{literalinclude}')
                continue
            directive_name, argument = directive.group(1), directive.group(2).strip()
            options, body = _strip_options(token.content)
            if directive_name in CODE_DIRECTIVES:
                language = argument.split()[0] if argument else ''
                if not language or language.lower() in PYTHON_LANGUAGES:
                    problems.append(
                        f'{where}: {{{directive_name}}} in {language or "no language"}')
            elif directive_name == 'literalinclude':
                _check_include(argument, base, options.get('language', ''), where, problems,
                               included_page)
            elif directive_name == 'include':
                _check_include(argument, base, '', where, problems, included_page)
            elif directive_name == 'eval-rst':
                check_rst(body, where)
            else:  # an admonition, a toctree...: its content is Markdown again
                check(body, body_offset)

    check(text, 0)
    return problems


def test_no_page_holds_untested_python_code() -> None:
    problems: List[str] = []
    for page in PAGES:
        if EXAMPLES in page.parents:
            continue
        problems += untested_python_blocks(page.read_text(), page.parent,
                                           str(page.relative_to(ROOT)))
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('page', [
    '```python\nprint(1)\n```\n',
    '```py\nprint(1)\n```\n',
    '```\nprint(1)\n```\n',
    '~~~python\nprint(1)\n~~~\n',
    ':::{code-block} python\nprint(1)\n:::\n',
    '```{code-block} python\n:linenos:\nprint(1)\n```\n',
    '```{code} python\nprint(1)\n```\n',
    '````{note}\nSee:\n\n```python\nprint(1)\n```\n````\n',
    '````{note}\n```{code-block} pycon\n>>> 1\n```\n````\n',
    'Text:\n\n    print(1)\n',
    '```{eval-rst}\n.. code-block:: python\n\n   print(1)\n```\n',
    '```{eval-rst}\nExample::\n\n   print(1)\n```\n',
    '```{literalinclude} ../../outside.py\n```\n',
    '```{literalinclude} ../psij/no_such_module.py\n```\n',
    '```{literalinclude} elsewhere.txt\n:language: python\n```\n',
    '```{literalinclude} examples/no_such_example.py\n```\n',
    '```{include} ../README.md\n```\n',
])
def test_the_code_block_check_finds_untested_python(page: str) -> None:
    assert untested_python_blocks(page, DOCS, 'page.md'), page


def test_the_code_block_check_accepts_included_examples_and_shell() -> None:
    page = ('```{literalinclude} examples/first_local_job.py\n:language: python\n```\n\n'
            '```{literalinclude} ../psij/job.py\n:pyobject: Job.wait\n```\n\n'
            '```bash\nbash .ci/setup\n```\n\n```json\n{"version": 1}\n```\n\n'
            '```{eval-rst}\n.. autoclass:: psij.Job\n   :members:\n\n.. toctree::\n```\n')
    assert untested_python_blocks(page, DOCS, 'page.md') == []


def test_every_example_is_shown_on_a_page() -> None:
    shown = set()
    for page in PAGES:
        for match in re.finditer(r'\{literalinclude\}\s+(\S+)', page.read_text()):
            shown.add((page.parent / match.group(1)).resolve())
    unused = [path.name for path in EXAMPLE_FILES if path.resolve() not in shown]
    assert not unused, f'examples no page includes: {unused}'


# --- examples ------------------------------------------------------------------------------

_REQUIREMENT = re.compile(r'^Requires:\s*(.+)$', re.M)


def example_requirements(path: pathlib.Path) -> List[str]:
    """The tools named on ``Requires:`` lines of an example's module docstring."""
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ''
    return [name.strip() for line in _REQUIREMENT.findall(docstring)
            for name in line.split(',') if name.strip()]


def _require(name: str, environment: Dict[str, str]) -> None:
    if name == 'slurm':
        require_slurm()
    elif name == 'sge':
        require_sge()
    elif name == 'sshd':
        host = require_sshd()
        environment.update(PSIJ_SSH_CONFIG=str(host.config), PSIJ_EXAMPLE_HOST=host.name)
    else:
        require_command(name)


def test_examples_exist_and_declare_known_requirements() -> None:
    names = [path.name for path in EXAMPLE_FILES]
    assert 'first_local_job.py' in names and 'first_slurm_job.py' in names
    assert example_requirements(EXAMPLES / 'first_slurm_job.py') == ['slurm']
    assert example_requirements(EXAMPLES / 'first_local_job.py') == []


@pytest.mark.parametrize('example', EXAMPLE_FILES, ids=[path.name for path in EXAMPLE_FILES])
def test_example_runs(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    home, run = tmp_path / 'home', tmp_path / 'run'
    home.mkdir()
    run.mkdir()
    environment = dict(os.environ, HOME=str(home))
    for name in example_requirements(example):
        _require(name, environment)
    result = subprocess.run([sys.executable, str(example)], cwd=run, env=environment,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f'{example.name} exited with {result.returncode}\n--- stdout\n{result.stdout}'
        f'\n--- stderr\n{result.stderr}')


# --- pages against the code ----------------------------------------------------------------


def _mentioned(page: str, names: List[str]) -> List[str]:
    text = (DOCS / page).read_text()
    return [name for name in names if f'`{name}`' not in text]


def test_configuration_page_covers_every_config_field() -> None:
    names = [name for name in inspect.signature(BatchSchedulerExecutorConfig).parameters]
    names += [name for name in inspect.signature(JobExecutorConfig).parameters]
    assert 'outcome_timeout' in names
    assert not _mentioned('configuration.md', names)


def test_slurm_page_covers_every_sbatch_option() -> None:
    template = (ROOT / 'executors' / 'slurm.mustache').read_text()
    options = sorted(set(re.findall(r'^#SBATCH (--[a-z-]+)', template, re.M)))
    assert '--ntasks' in options and '--time' in options
    text = (DOCS / 'executors' / 'slurm.md').read_text()
    missing = [option for option in options if f'`{option}' not in text]
    assert not missing, f'sbatch options of slurm.mustache not in slurm.md: {missing}'


def test_serialization_page_covers_every_field() -> None:
    names = sorted(set(SPEC_FIELDS) | set(RESOURCE_FIELDS) | set(ATTRIBUTE_FIELDS))
    assert not _mentioned('serialization.md', names)


# --- the JSON Schema -----------------------------------------------------------------------


@pytest.fixture(scope='module')
def validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _schema_accepts(validator: Any, document: Any) -> bool:
    return bool(validator.is_valid(document))


def _reader_accepts(document: Any) -> bool:
    try:
        loads(json.dumps(document))
    except SpecFormatError:
        return False
    return True


def test_schema_declares_draft_2020_12_and_exactly_the_serialized_fields() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema['$schema'] == 'https://json-schema.org/draft/2020-12/schema'
    assert set(schema['properties']) == set(SPEC_FIELDS)
    assert set(schema['$defs']['resources']['properties']) == set(RESOURCE_FIELDS)
    assert set(schema['$defs']['attributes']['properties']) == set(ATTRIBUTE_FIELDS)
    assert schema['required'] == ['version']


LONGEST_WHOLE_SECONDS = timedelta.max.days * 86400 + timedelta.max.seconds

SPEC_VARIANTS: List[JobSpec] = [
    JobSpec(),
    JobSpec('/bin/true'),
    JobSpec('hostname', ['-f', '', 'a b', "it's", '$HOME', 'é\nü'], directory='/scratch/run 1',
            name='run 1', inherit_environment=False,
            environment={'OMP_NUM_THREADS': 2, 'EMPTY': '', 'PATH': '/usr/bin'},
            stdin_path='in.txt', stdout_path=pathlib.Path('out.txt'), stderr_path='out.txt',
            resources=ResourceSpecV1(node_count=2, process_count=8, processes_per_node=4,
                                     cpu_cores_per_process=2, gpu_cores_per_process=1,
                                     exclusive_node_use=True, memory=2**34),
            attributes=JobAttributes(duration=timedelta(hours=2), queue_name='debug',
                                     account='proj', reservation_id='resv',
                                     custom_attributes={'slurm.qos': 'high',
                                                        'slurm.requeue': True,
                                                        'pbs.l': ['a', 1, 2.5, None, {}]}),
            pre_launch='setup.sh', post_launch=pathlib.Path('/tmp/done.sh'), launcher='mpirun'),
    JobSpec('/bin/true', environment={}, arguments=[]),
    JobSpec('/bin/true', resources=ResourceSpecV1(memory=0)),
    JobSpec('/bin/true', resources=ResourceSpecV1(process_count=10**12)),
    JobSpec('/bin/true', resources=ResourceSpecV1(node_count=3, process_count=6)),
    JobSpec('/bin/true', attributes=JobAttributes(duration=timedelta(microseconds=1))),
    JobSpec('/bin/true', attributes=JobAttributes(duration=timedelta(seconds=300,
                                                                     microseconds=1))),
    JobSpec('/bin/true', attributes=JobAttributes(
        duration=timedelta(seconds=LONGEST_WHOLE_SECONDS))),
    JobSpec('/bin/true', attributes=JobAttributes(project_name='old-name',
                                                  custom_attributes={})),
]


@pytest.mark.parametrize('spec', SPEC_VARIANTS, ids=[f'variant{index}' for index, _ in
                                                     enumerate(SPEC_VARIANTS)])
def test_schema_accepts_what_psij_writes(validator: Any, spec: JobSpec) -> None:
    for text in (dumps(spec), dumps(spec, indent=2)):
        document = json.loads(text)
        errors = [error.message for error in validator.iter_errors(document)]
        assert not errors, errors
        assert loads(text) == spec


def test_schema_accepts_short_documents(validator: Any) -> None:
    documents = [{'version': 1},
                 {'version': 1, 'resources': None, 'attributes': None},
                 {'version': 1, 'resources': {'version': 1}, 'attributes': {'duration': 0.5}},
                 {'version': 1, 'arguments': None, 'environment': {}}]
    for document in documents:
        assert _schema_accepts(validator, document), document
        assert _reader_accepts(document), document


# Text strategies: any unicode but NUL (which no path or argument can hold).
TEXT = st.text(st.characters(exclude_characters='\x00', exclude_categories=()), max_size=12)
OPTIONAL_TEXT = st.none() | TEXT
COUNTS = st.none() | st.integers(min_value=1, max_value=10**9)
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | TEXT
                | st.floats(allow_nan=False, allow_infinity=False))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children,
                                                                       max_size=3),
    max_leaves=8)
DURATIONS = (st.integers(min_value=1, max_value=LONGEST_WHOLE_SECONDS).map(
    lambda seconds: timedelta(seconds=seconds))
    | st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(seconds=10**9)))


@st.composite
def resource_specs(draw: st.DrawFn) -> ResourceSpecV1:
    nodes, per_node = draw(COUNTS), draw(COUNTS)
    if nodes is not None and per_node is not None:
        total = draw(st.none() | st.just(nodes * per_node))
    elif nodes is not None or per_node is not None:
        unit = nodes or per_node or 1  # a whole multiple: the same processes on every node
        total = draw(st.none() | st.integers(min_value=1, max_value=100).map(
            lambda multiple: multiple * unit))
    else:
        total = draw(COUNTS)
    return ResourceSpecV1(node_count=nodes, process_count=total, processes_per_node=per_node,
                          cpu_cores_per_process=draw(COUNTS),
                          gpu_cores_per_process=draw(COUNTS),
                          exclusive_node_use=draw(st.booleans()),
                          memory=draw(st.none() | st.integers(min_value=0, max_value=2**70)))


SPECS = st.builds(
    JobSpec, executable=OPTIONAL_TEXT, arguments=st.none() | st.lists(TEXT, max_size=4),
    directory=OPTIONAL_TEXT, name=OPTIONAL_TEXT, inherit_environment=st.booleans(),
    environment=st.none() | st.dictionaries(TEXT, TEXT | st.integers(), max_size=3),
    stdin_path=OPTIONAL_TEXT, stdout_path=OPTIONAL_TEXT | TEXT.map(pathlib.Path),
    stderr_path=OPTIONAL_TEXT, resources=st.none() | resource_specs(),
    attributes=st.none() | st.builds(
        JobAttributes, duration=DURATIONS, queue_name=OPTIONAL_TEXT, account=OPTIONAL_TEXT,
        reservation_id=OPTIONAL_TEXT,
        custom_attributes=st.none() | st.dictionaries(TEXT, JSON_VALUES, max_size=3)),
    pre_launch=OPTIONAL_TEXT, post_launch=OPTIONAL_TEXT, launcher=OPTIONAL_TEXT)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=SPECS)
def test_schema_accepts_every_generated_spec(validator: Any, spec: JobSpec) -> None:
    document = json.loads(dumps(spec))
    errors = [error.message for error in validator.iter_errors(document)]
    assert not errors, errors


# Documents the reader refuses; the schema must refuse them too. (A label, then the document.)
INVALID_DOCUMENTS: List[Tuple[str, Any]] = [
    ('a list', []),
    ('a string', 'job'),
    ('null', None),
    ('no version', {}),
    ('version 2', {'version': 2}),
    ('version as text', {'version': '1'}),
    ('version true', {'version': True}),
    ('unknown field', {'version': 1, 'executables': '/bin/true'}),
    ('executable a number', {'version': 1, 'executable': 5}),
    ('arguments a string', {'version': 1, 'arguments': '-l'}),
    ('an argument a number', {'version': 1, 'arguments': ['-n', 4]}),
    ('inherit_environment null', {'version': 1, 'inherit_environment': None}),
    ('inherit_environment a string', {'version': 1, 'inherit_environment': 'yes'}),
    ('environment a list', {'version': 1, 'environment': ['A=1']}),
    ('environment value a number', {'version': 1, 'environment': {'A': 1}}),
    ('stdout_path a list', {'version': 1, 'stdout_path': ['out']}),
    ('launcher a number', {'version': 1, 'launcher': 1}),
    ('resources a string', {'version': 1, 'resources': 'big'}),
    ('resources without version', {'version': 1, 'resources': {'node_count': 1}}),
    ('resources version 2', {'version': 1, 'resources': {'version': 2}}),
    ('node_count 0', {'version': 1, 'resources': {'version': 1, 'node_count': 0}}),
    ('node_count negative', {'version': 1, 'resources': {'version': 1, 'node_count': -2}}),
    ('node_count a string', {'version': 1, 'resources': {'version': 1, 'node_count': '2'}}),
    ('node_count true', {'version': 1, 'resources': {'version': 1, 'node_count': True}}),
    ('process_count 1.5', {'version': 1, 'resources': {'version': 1, 'process_count': 1.5}}),
    ('memory negative', {'version': 1, 'resources': {'version': 1, 'memory': -1}}),
    ('exclusive_node_use null',
     {'version': 1, 'resources': {'version': 1, 'exclusive_node_use': None}}),
    ('unknown resource field', {'version': 1, 'resources': {'version': 1, 'nodes': 2}}),
    ('attributes a list', {'version': 1, 'attributes': []}),
    ('duration 0', {'version': 1, 'attributes': {'duration': 0}}),
    ('duration negative', {'version': 1, 'attributes': {'duration': -60}}),
    ('duration rounding to 0 us', {'version': 1, 'attributes': {'duration': 5e-7}}),
    ('duration a string', {'version': 1, 'attributes': {'duration': '300.0 s'}}),
    ('duration null', {'version': 1, 'attributes': {'duration': None}}),
    ('duration too long', {'version': 1, 'attributes': {'duration': 10**20}}),
    ('queue_name a number', {'version': 1, 'attributes': {'queue_name': 7}}),
    ('custom_attributes a list', {'version': 1, 'attributes': {'custom_attributes': []}}),
    ('unknown attribute', {'version': 1, 'attributes': {'walltime': 60}}),
    ('a psij-python document', {'executable': '/bin/date', 'resources': {
        'node_count': 2, '__version': 1}, 'attributes': {'duration': '300.0 s'}}),
]


@pytest.mark.parametrize('document', [document for _, document in INVALID_DOCUMENTS],
                         ids=[label for label, _ in INVALID_DOCUMENTS])
def test_schema_refuses_what_the_reader_refuses(validator: Any, document: Any) -> None:
    assert not _reader_accepts(document)
    assert not _schema_accepts(validator, document)


# The rules JSON Schema cannot express, as docs/serialization.md lists them: the reader refuses
# these documents, the schema cannot.
READER_ONLY_TEXTS: List[Tuple[str, str]] = [
    ('an integer written with a fraction', '{"version": 1.0}'),
    ('a count written with a fraction',
     '{"version": 1, "resources": {"version": 1, "node_count": 2.0}}'),
    ('contradicting counts', '{"version": 1, "resources": {"version": 1, "node_count": 2, '
                             '"process_count": 6, "processes_per_node": 4}}'),
    ('fewer processes than nodes',
     '{"version": 1, "resources": {"version": 1, "node_count": 3, "process_count": 2}}'),
    ('uneven counts',
     '{"version": 1, "resources": {"version": 1, "node_count": 2, "process_count": 5}}'),
    ('a repeated key', '{"version": 1, "name": "a", "name": "b"}'),
    ('NaN', '{"version": 1, "attributes": {"duration": NaN}}'),
    ('Infinity in custom attributes',
     '{"version": 1, "attributes": {"custom_attributes": {"x": Infinity}}}'),
]


@pytest.mark.parametrize('text', [text for _, text in READER_ONLY_TEXTS],
                         ids=[label for label, _ in READER_ONLY_TEXTS])
def test_rules_only_the_reader_checks(validator: Any, text: str) -> None:
    with pytest.raises(SpecFormatError):
        loads(text)
    assert _schema_accepts(validator, json.loads(text))


def test_schema_is_stricter_only_near_the_longest_duration(validator: Any) -> None:
    document: Dict[str, Any] = {'version': 1,
                                'attributes': {'duration': LONGEST_WHOLE_SECONDS + 0.5}}
    assert _reader_accepts(document)
    assert not _schema_accepts(validator, document)
    document['attributes']['duration'] = LONGEST_WHOLE_SECONDS
    assert _reader_accepts(document) and _schema_accepts(validator, document)


INTEGER_FIELDS = {('version',), ('resources', 'version')} | {
    ('resources', name) for name in RESOURCE_FIELDS if name not in ('version',
                                                                   'exclusive_node_use')}


def reader_only_problem(document: Any) -> Optional[str]:
    """Which rule outside JSON Schema the document breaks (see READER_ONLY_TEXTS), or None."""
    if not isinstance(document, dict):
        return None
    resources = document.get('resources')
    for path in INTEGER_FIELDS:
        value: Any = document
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, float) and value.is_integer():
            return f'{".".join(path)} written with a fraction'
    if isinstance(resources, dict):
        counts = [resources.get(name) for name in ('node_count', 'process_count',
                                                   'processes_per_node')]
        valid = [count if isinstance(count, int) and not isinstance(count, bool)
                 and count >= 1 else None for count in counts]
        nodes, total, per_node = valid
        if total is not None:
            if nodes is not None and (total < nodes or total % nodes):
                return 'contradicting counts'
            if per_node is not None and (total % per_node or (
                    nodes is not None and total != nodes * per_node)):
                return 'contradicting counts'
    attributes = document.get('attributes')
    duration = attributes.get('duration') if isinstance(attributes, dict) else None
    if isinstance(duration, float) and LONGEST_WHOLE_SECONDS < duration < (
            LONGEST_WHOLE_SECONDS + 1):
        return 'duration past the schema limit'
    return None


NEAR_LIMITS: st.SearchStrategy[Any] = st.sampled_from([
    0, 1, 2, -1, 0.5, 1.0, 2.0, 5e-7, 5.000000000000001e-07, 1e-7,
    LONGEST_WHOLE_SECONDS, LONGEST_WHOLE_SECONDS + 1, LONGEST_WHOLE_SECONDS + 0.5, 10**20, '',
    '1', True, False, None, [], {}])
ANY_VALUE: st.SearchStrategy[Any] = NEAR_LIMITS | JSON_VALUES
SECTIONS: Dict[str, Tuple[str, ...]] = {'': SPEC_FIELDS, 'resources': RESOURCE_FIELDS,
                                        'attributes': ATTRIBUTE_FIELDS}


@st.composite
def changed_documents(draw: st.DrawFn) -> Any:
    """A document psij wrote, with one thing changed: a field's value, a field removed or
    added, a whole section or the whole document replaced."""
    document = spec_to_dict(draw(SPECS))
    where = draw(st.sampled_from(sorted(SECTIONS)))
    target = document[where] if where else document
    kind = draw(st.sampled_from(['set', 'set', 'set', 'remove', 'add', 'section', 'document']))
    if kind == 'set':
        target[draw(st.sampled_from(SECTIONS[where]))] = draw(ANY_VALUE)
    elif kind == 'remove':
        target.pop(draw(st.sampled_from(SECTIONS[where])))
    elif kind == 'add':
        target[draw(TEXT.filter(lambda key: key not in SECTIONS[where]))] = draw(ANY_VALUE)
    elif kind == 'section':
        document[draw(st.sampled_from(['resources', 'attributes']))] = draw(ANY_VALUE)
    else:
        document = draw(ANY_VALUE)
    return document


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=changed_documents())
def test_schema_and_reader_agree_on_changed_documents(validator: Any, document: Any) -> None:
    reader = _reader_accepts(document)
    schema = _schema_accepts(validator, document)
    problem = reader_only_problem(document)
    if problem is None:
        assert schema == reader, (
            f'schema {"accepts" if schema else "refuses"}, reader '
            f'{"accepts" if reader else "refuses"}: {json.dumps(document)[:300]}')
    elif problem == 'duration past the schema limit':
        assert not schema
    else:
        assert not reader, problem
