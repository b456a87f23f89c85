"""File staging in both JSON job spec formats (psij's own, `psij.serialize`, and psij-python's,
`JSONSerializer`): exact round trips for every mode and flag combination, the written form,
errors naming the field, the JSON Schema, and a staged job submitted from a JSON spec by the
``psij`` command to the real Slurm."""

import itertools
import json
import pathlib
import shutil
from typing import Any, Callable, Dict, List

import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from real_tools import require_slurm
from test_cli_support import assert_one_error_line, psij

from psij import JobSpec
from psij._json_staging import FLAG_NAMES, flags_to_names
from psij.psij_python_json import spec_from_psij_python_dict, spec_to_psij_python_dict
from psij.serialize import JSONSerializer, SpecFormatError, dumps, loads, spec_to_dict
from psij.staging import StageIn, StageOut, StageOutFlags, StagingMode

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / 'docs' / 'job-spec.schema.json').read_text()))
EXAMPLE = ROOT / 'docs' / 'examples' / 'staging_spec.json'

#: Every StageOutFlags value there is: the 16 combinations of the four single flags.
EVERY_FLAGS = [StageOutFlags(value) for value in range(16)]
MODES = list(StagingMode)


def round_trips(spec: JobSpec) -> None:
    """``spec`` reads back equal from both formats, and psij's document fits the schema."""
    text = dumps(spec)
    assert loads(text) == spec
    errors = [error.message for error in SCHEMA.iter_errors(json.loads(text))]
    assert not errors, errors
    serializer = JSONSerializer()
    assert serializer.loads(serializer.dumps(spec)) == spec


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize('mode', MODES, ids=[mode.name for mode in MODES])
@pytest.mark.parametrize('flags', EVERY_FLAGS, ids=[str(flags.value) for flags in EVERY_FLAGS])
def test_every_mode_and_flags_round_trip(mode: StagingMode, flags: StageOutFlags) -> None:
    spec = JobSpec('/bin/true', stage_in={StageIn('file:///data/in', 'in', mode)},
                   stage_out={StageOut('out', 'results/out', flags, mode)},
                   cleanup={'scratch'}, cleanup_flags=flags)
    round_trips(spec)
    entry = spec_to_dict(spec)['stage_out'][0]
    assert (entry['mode'], entry['flags']) == (mode.name, flags_to_names(flags))
    assert loads(dumps(spec)).stage_out == {StageOut('out', 'results/out', flags, mode)}


@pytest.mark.parametrize('flags, names', [
    (StageOutFlags.ALWAYS, ['ALWAYS']),
    (StageOutFlags.NONE, ['ALWAYS']),
    (StageOutFlags.IF_PRESENT, ['IF_PRESENT', 'ALWAYS']),
    (StageOutFlags.ON_SUCCESS, ['ON_SUCCESS']),
    (StageOutFlags.ON_CANCEL | StageOutFlags.IF_PRESENT, ['IF_PRESENT', 'ON_CANCEL']),
    (StageOutFlags.ON_SUCCESS | StageOutFlags.ON_ERROR, ['ON_SUCCESS', 'ON_ERROR']),
    (StageOutFlags.ALWAYS | StageOutFlags.IF_PRESENT, ['IF_PRESENT', 'ALWAYS']),
])
def test_flags_are_written_by_name(flags: StageOutFlags, names: List[str]) -> None:
    assert flags_to_names(flags) == names
    spec = JobSpec('/bin/true', stage_out={StageOut('a', 'b', flags)}, cleanup_flags=flags)
    document = spec_to_dict(spec)
    assert document['stage_out'][0]['flags'] == names
    assert document['cleanup_flags'] == names


@pytest.mark.parametrize('names, flags', [
    ([], StageOutFlags.ALWAYS),
    (['NONE'], StageOutFlags.ALWAYS),
    (['IF_PRESENT'], StageOutFlags.IF_PRESENT | StageOutFlags.ALWAYS),
    (['ON_ERROR', 'ON_ERROR', 'NONE'], StageOutFlags.ON_ERROR),
    (['ON_SUCCESS', 'ON_ERROR', 'ON_CANCEL'], StageOutFlags.ALWAYS),
    (['ALWAYS', 'ON_SUCCESS', 'IF_PRESENT'], StageOutFlags.ALWAYS | StageOutFlags.IF_PRESENT),
])
def test_flag_lists_read_as_stage_out_flags_do(names: List[str], flags: StageOutFlags) -> None:
    document = {'version': 1, 'cleanup_flags': names,
                'stage_out': [{'source': 'a', 'target': 'b', 'flags': names}]}
    spec = loads(json.dumps(document))
    assert spec.cleanup_flags == flags
    assert spec.stage_out == {StageOut('a', 'b', flags)}
    assert SCHEMA.is_valid(document)
    python_document = {key: value for key, value in document.items() if key != 'version'}
    assert spec_from_psij_python_dict(python_document).cleanup_flags == flags


def test_defaults_when_left_out() -> None:
    spec = loads('{"version": 1, "stage_in": [{"source": "a", "target": "b"}], '
                 '"stage_out": [{"source": "c", "target": "d"}]}')
    assert spec.stage_in == {StageIn('a', 'b', StagingMode.COPY)}
    assert spec.stage_out == {StageOut('c', 'd', StageOutFlags.ALWAYS, StagingMode.COPY)}
    assert (spec.cleanup, spec.cleanup_flags) == (None, StageOutFlags.ALWAYS)
    assert loads('{"version": 1}') == JobSpec()
    assert loads('{"version": 1, "stage_in": null, "stage_out": [], "cleanup": []}') == \
        JobSpec(stage_out=set(), cleanup=set())


def test_empty_sets_are_not_unset() -> None:
    spec = JobSpec('/bin/true', stage_in=set(), stage_out=set(), cleanup=set())
    round_trips(spec)
    document = spec_to_psij_python_dict(spec)
    assert (document['stage_in'], document['stage_out'], document['cleanup']) == ([], [], [])
    assert 'cleanup_flags' not in document  # the default, left out as every default is


def test_text_is_stable_and_sets_are_sorted() -> None:
    entries = [StageIn(f'file:///data/{name}', name, mode)
               for name, mode in itertools.product('cab', MODES)]
    forward = JobSpec('/bin/true', stage_in=set(entries), cleanup={'z', 'a', 'm'})
    backward = JobSpec('/bin/true', stage_in=set(reversed(entries)), cleanup={'m', 'z', 'a'})
    assert dumps(forward) == dumps(backward)
    assert JSONSerializer().dumps(forward) == JSONSerializer().dumps(backward)
    document = spec_to_dict(forward)
    assert document['cleanup'] == ['a', 'm', 'z']
    texts = [json.dumps(entry, sort_keys=True) for entry in document['stage_in']]
    assert texts == sorted(texts) and len(texts) == 9


def test_paths_and_uris_are_written_as_given() -> None:
    spec = JobSpec('/bin/true', stage_in={StageIn(pathlib.Path('in//put.txt'), 'dir/')},
                   stage_out={StageOut('out', 'file://localhost/r%20s/out?x#y')})
    document = spec_to_dict(spec)
    assert document['stage_in'] == [{'source': 'in/put.txt', 'target': 'dir', 'mode': 'COPY'}]
    assert document['stage_out'][0]['target'] == 'file://localhost/r%20s/out?x#y'
    round_trips(spec)


def test_repeated_entries_read_as_one() -> None:
    entry = {'source': 'a', 'target': 'b', 'mode': 'LINK'}
    spec = loads(json.dumps({'version': 1, 'stage_in': [entry, dict(entry)],
                             'cleanup': ['x', 'x']}))
    assert spec.stage_in == {StageIn('a', 'b', StagingMode.LINK)}
    assert spec.cleanup == {pathlib.Path('x')}


# Any unicode but NUL (lone surrogates included), never empty: a path or URI text.
TEXT = st.text(st.characters(exclude_characters='\x00', exclude_categories=()), min_size=1)
URI_TEXTS = TEXT | st.sampled_from(['file:///data/in.txt', 'file://localhost/a b',
                                    'sftp://me@host:22/x', 'file:rel', 'run:1.txt'])
FLAGS = st.sampled_from(EVERY_FLAGS)


@st.composite
def stage_ins(draw: st.DrawFn) -> StageIn:
    try:
        return StageIn(draw(URI_TEXTS), draw(TEXT), draw(st.sampled_from(MODES)))
    except ValueError:  # a URI that does not parse: refused when read, tested below
        assume(False)
        raise


@st.composite
def stage_outs(draw: st.DrawFn) -> StageOut:
    try:
        return StageOut(draw(TEXT), draw(URI_TEXTS), draw(FLAGS), draw(st.sampled_from(MODES)))
    except ValueError:
        assume(False)
        raise


STAGING_SPECS = st.builds(
    JobSpec, executable=st.just('/bin/true'),
    stage_in=st.none() | st.sets(stage_ins(), max_size=4),
    stage_out=st.none() | st.sets(stage_outs(), max_size=4),
    cleanup=st.none() | st.sets(TEXT | TEXT.map(pathlib.Path), max_size=4),
    cleanup_flags=FLAGS)


@settings(max_examples=300, deadline=None)
@given(spec=STAGING_SPECS)
def test_generated_staging_round_trips(spec: JobSpec) -> None:
    round_trips(spec)
    assert dumps(loads(dumps(spec))) == dumps(spec)


# --- errors --------------------------------------------------------------------------------

MODES_ALLOWED = 'use one of COPY, LINK, MOVE'
FLAGS_ALLOWED = 'use NONE, IF_PRESENT, ON_SUCCESS, ON_ERROR, ON_CANCEL, ALWAYS'

# A staging part of a document, the field the error names, and what the message says is allowed.
BAD_STAGING: List[Any] = [
    ({'stage_in': 'a'}, 'stage_in', 'must be a list or null'),
    ({'stage_in': [['a', 'b']]}, 'stage_in[0]', 'must be an object'),
    ({'stage_in': [{'target': 'b'}]}, 'stage_in[0].source', 'is missing'),
    ({'stage_in': [{'source': 'a'}]}, 'stage_in[0].target', 'is missing'),
    ({'stage_in': [{'source': 3, 'target': 'b'}]}, 'stage_in[0].source',
     'must be a path or a URI, not integer'),
    ({'stage_in': [{'source': '', 'target': 'b'}]}, 'stage_in[0].source', 'is empty'),
    ({'stage_in': [{'source': 'a', 'target': 'b', 'mode': 'SYMLINK'}]}, 'stage_in[0].mode',
     f"'SYMLINK' is not a staging mode; {MODES_ALLOWED}"),
    ({'stage_in': [{'source': 'a', 'target': 'b', 'mode': 2}]}, 'stage_in[0].mode',
     'one of the strings COPY, LINK, MOVE'),
    ({'stage_in': [{'source': 'a', 'target': 'b', 'mode': None}]}, 'stage_in[0].mode',
     'one of the strings COPY, LINK, MOVE'),
    ({'stage_in': [{'source': 'a', 'target': 'b', 'flags': []}]}, 'stage_in[0].flags',
     'unknown field; allowed fields: source, target, mode'),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'flags': 'ALWAYS'}]},
     'stage_out[0].flags', 'must be a list of flag names (NONE, IF_PRESENT'),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'flags': ['ON_SUCCESS', 'ON_FAILURE']}]},
     'stage_out[0].flags[1]', f"'ON_FAILURE' is not a stage-out flag; {FLAGS_ALLOWED}"),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'flags': [2]}]}, 'stage_out[0].flags[0]',
     'one of the strings NONE'),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'flags': None}]}, 'stage_out[0].flags',
     'a list of flag names'),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'mode': 'copy'}]}, 'stage_out[0].mode',
     MODES_ALLOWED),
    ({'stage_out': [{'source': 'a', 'target': []}]}, 'stage_out[0].target',
     'must be a path or a URI, not list'),
    ({'stage_out': [{'source': 'a', 'target': 'b', 'when': 'x'}]}, 'stage_out[0].when',
     'allowed fields: source, target, flags, mode'),
    ({'cleanup': 'tmp'}, 'cleanup', 'must be a list or null'),
    ({'cleanup': ['tmp', '']}, 'cleanup[1]', "is empty; it must be a path inside the job's"),
    ({'cleanup': [None]}, 'cleanup[0]', 'must be a path inside'),
    ({'cleanup_flags': None}, 'cleanup_flags', 'must be a list of flag names'),
    ({'cleanup_flags': ['always']}, 'cleanup_flags[0]', FLAGS_ALLOWED),
    ({'cleanup_flags': 'ALWAYS'}, 'cleanup_flags', 'must be a list of flag names'),
]


@pytest.mark.parametrize('part, path, allowed', BAD_STAGING,
                         ids=[path for _, path, _ in BAD_STAGING])
def test_bad_staging_names_the_field_and_what_is_allowed(part: Dict[str, Any], path: str,
                                                         allowed: str) -> None:
    readers: List[Callable[[], JobSpec]] = [
        lambda: loads(json.dumps({'version': 1, **part})),
        lambda: spec_from_psij_python_dict(dict(part))]
    for read in readers:
        with pytest.raises(SpecFormatError) as caught:
            read()
        assert caught.value.path == path
        assert str(caught.value).startswith(f'job spec field {path}: ')
        assert allowed in str(caught.value)
    assert not SCHEMA.is_valid({'version': 1, **part})


@pytest.mark.parametrize('part, path', [
    ({'stage_in': [{'source': 'file://host:port/a', 'target': 'a'}]}, 'stage_in[0].source'),
    ({'stage_out': [{'source': 'a', 'target': 'sftp://[::1/a'}]}, 'stage_out[0].target'),
])
def test_a_uri_that_does_not_parse_is_refused_by_the_reader(part: Dict[str, Any],
                                                            path: str) -> None:
    with pytest.raises(SpecFormatError) as caught:
        loads(json.dumps({'version': 1, **part}))
    assert caught.value.path == path
    # One of the rules JSON Schema cannot express, as docs/serialization.md lists them.
    assert SCHEMA.is_valid({'version': 1, **part})


def test_every_flag_name_is_in_the_schema() -> None:
    schema = json.loads((ROOT / 'docs' / 'job-spec.schema.json').read_text())
    assert schema['$defs']['flags']['items']['enum'] == list(FLAG_NAMES)
    assert schema['$defs']['mode']['enum'] == [mode.name for mode in StagingMode]
    assert set(FLAG_NAMES) == set(StageOutFlags.__members__)


# --- the documented example and the psij command --------------------------------------------


def test_the_documented_example_reads_and_fits_the_schema() -> None:
    document = json.loads(EXAMPLE.read_text())
    assert SCHEMA.is_valid(document)
    spec = loads(EXAMPLE.read_text())
    assert spec.stage_in == {StageIn('words.txt', 'input/words.txt')}
    assert spec.stage_out == {
        StageOut('sorted.txt', 'results/sorted.txt', StageOutFlags.ON_SUCCESS),
        StageOut('sort.log', 'results/sort.log', StageOutFlags.IF_PRESENT)}
    assert (spec.cleanup, spec.cleanup_flags) == ({pathlib.Path('input')}, StageOutFlags.ALWAYS)


def test_psij_spec_shows_staging_and_refuses_bad_staging(work_dir: pathlib.Path,
                                                        tmp_path: pathlib.Path) -> None:
    shown = psij(work_dir, 'spec', '--json', str(EXAMPLE))
    assert shown.returncode == 0, str(shown)
    assert loads(shown.stdout) == loads(EXAMPLE.read_text())
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'version': 1, 'executable': '/bin/true',
                               'stage_in': [{'source': 'a', 'target': 'b', 'mode': 'COPIED'}]}))
    refused = psij(work_dir, 'spec', str(bad))
    assert_one_error_line(refused, 65, 'stage_in[0].mode', MODES_ALLOWED)


def test_psij_run_stages_a_job_from_a_json_spec_on_slurm(work_dir: pathlib.Path,
                                                        tmp_path: pathlib.Path) -> None:
    require_slurm()
    here = tmp_path / 'submitter'
    (here / 'run').mkdir(parents=True)
    (here / 'words.txt').write_text('b\na\nc\n')
    shutil.copy(EXAMPLE, here / 'spec.json')
    result = psij(work_dir, 'run', '-e', 'slurm', '--json', 'spec.json', cwd=here, timeout=300)
    assert result.returncode == 0, str(result)
    record = result.json()
    assert record['state'] == 'COMPLETED', record
    assert loads(json.dumps(record['spec'])) == loads(EXAMPLE.read_text())
    assert (here / 'results' / 'sorted.txt').read_text() == 'a\nb\nc\n'
    assert not (here / 'results' / 'sort.log').exists()  # IF_PRESENT: none, and no error
    assert not (here / 'run' / 'input').exists()  # cleaned up
