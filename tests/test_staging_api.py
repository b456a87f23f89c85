"""psij.staging and the JobSpec staging fields: types, equality, validation, submit checks."""

import pathlib

import pytest

from psij import InvalidJobException, JobSpec
from psij.serialize import JSONSerializer, dumps, loads
from psij.staging import URI, StageIn, StageOut, StageOutFlags, StagingMode, check_staging


def test_uri_parses_file_uris_and_plain_paths() -> None:
    uri = URI('file://localhost/data/in.txt')
    assert (uri.scheme, uri.hostname, uri.path) == ('file', 'localhost', '/data/in.txt')
    assert uri.is_local and str(uri) == 'file://localhost/data/in.txt'
    plain = URI(pathlib.Path('run:1.txt'))
    assert (plain.scheme, plain.path, plain.is_local) == ('', 'run:1.txt', True)
    remote = URI('sftp://me@host:22/x')
    assert (remote.username, remote.hostname, remote.port, remote.is_local) == \
        ('me', 'host', 22, False)
    assert not URI('file://elsewhere/x').is_local
    assert URI('a') == URI(URI('a')) and len({URI('a'), URI('a'), URI('b')}) == 2


def test_flags_naming_no_condition_mean_always() -> None:
    assert StageOutFlags.IF_PRESENT.normalized() == StageOutFlags.IF_PRESENT | StageOutFlags.ALWAYS
    assert StageOutFlags.NONE.normalized() == StageOutFlags.ALWAYS
    assert StageOutFlags.ON_ERROR.normalized() == StageOutFlags.ON_ERROR
    assert StageOut('a', 'b', StageOutFlags.IF_PRESENT).flags == \
        StageOutFlags.IF_PRESENT | StageOutFlags.ALWAYS


def test_entries_are_values_that_live_in_sets() -> None:
    assert StageIn('a', 'b') == StageIn(pathlib.Path('a'), pathlib.Path('b'), StagingMode.COPY)
    assert StageIn('a', 'b') != StageIn('a', 'b', StagingMode.LINK)
    assert len({StageOut('x', 'y'), StageOut('x', URI('y')), StageOut('x', 'z')}) == 2
    entry = StageIn('a', 'b')
    assert (entry.source, entry.target, entry.mode) == (URI('a'), pathlib.Path('b'),
                                                        StagingMode.COPY)
    with pytest.raises(AttributeError, match='immutable'):
        entry.mode = StagingMode.MOVE


@pytest.mark.parametrize('make, message', [
    (lambda: StageIn(3, 'b'),  # type: ignore[arg-type]
     'StageIn.source must be str, pathlib.Path or URI, not int'),
    (lambda: StageIn('a', URI('b')),  # type: ignore[arg-type]
     'StageIn.target must be str or pathlib.Path'),
    (lambda: StageIn('a', 'b', 'copy'),  # type: ignore[arg-type]
     'StageIn.mode must be a StagingMode'),
    (lambda: StageOut('a', 'b', 1),  # type: ignore[arg-type]
     'StageOut.flags must be StageOutFlags, not int'),
    (lambda: StageOut(None, 'b'),  # type: ignore[arg-type]
     'StageOut.source must be str or pathlib.Path'),
])
def test_wrong_types_name_the_field(make: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        make()  # type: ignore[operator]


def test_empty_paths_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match='StageIn.source is empty'):
        StageIn('', 'b')
    with pytest.raises(ValueError, match='StageOut.source is empty'):
        StageOut('', 'b')


def test_job_spec_fields_default_copy_and_check() -> None:
    spec = JobSpec('/bin/true')
    assert (spec.stage_in, spec.stage_out, spec.cleanup, spec.cleanup_flags) == \
        (None, None, None, StageOutFlags.ALWAYS)
    given = {StageIn('a', 'b')}
    spec = JobSpec('/bin/true', stage_in=given, stage_out=frozenset({StageOut('c', 'd')}),
                   cleanup={'tmp', pathlib.Path('x')}, cleanup_flags=StageOutFlags.IF_PRESENT)
    given.add(StageIn('e', 'f'))
    assert spec.stage_in == {StageIn('a', 'b')} and spec.stage_out == {StageOut('c', 'd')}
    assert spec.cleanup == {pathlib.Path('tmp'), pathlib.Path('x')}
    assert spec.cleanup_flags == StageOutFlags.IF_PRESENT | StageOutFlags.ALWAYS
    assert 'cleanup_flags' not in repr(JobSpec('/bin/true'))
    with pytest.raises(TypeError, match='JobSpec.stage_in must be'):
        JobSpec(stage_in=[StageIn('a', 'b')])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='JobSpec.stage_out must be'):
        spec.stage_out = {StageIn('a', 'b')}
    with pytest.raises(TypeError, match='JobSpec.cleanup_flags must be StageOutFlags'):
        spec.cleanup_flags = 2
    with pytest.raises(InvalidJobException, match='JobSpec.cleanup holds an empty path'):
        spec.cleanup = {''}


def test_check_staging_refuses_remote_uris_and_cleanup_outside() -> None:
    with pytest.raises(InvalidJobException,
                       match="JobSpec.stage_in: source 'gsiftp://h/x'.*file://"):
        check_staging({StageIn('gsiftp://h/x', 'x')}, None, None, None)
    with pytest.raises(InvalidJobException, match="JobSpec.stage_out: target 'file://h/x'"):
        check_staging(None, {StageOut('x', 'file://h/x')}, None, None)
    run = pathlib.Path('/scratch/run')
    check_staging({StageIn('file:///a', 'a')}, {StageOut('a', 'file://localhost/b')},
                  {pathlib.Path('tmp'), pathlib.Path('a/../b'), run / 'sub'}, run)
    for outside in ('../x', '.', 'a/../..', '/scratch/other', '/scratch/run'):
        with pytest.raises(InvalidJobException, match=f'JobSpec.cleanup: {outside!r}'):
            check_staging(None, None, {pathlib.Path(outside)}, run)
    with pytest.raises(InvalidJobException, match='JobSpec.cleanup'):
        check_staging(None, None, {run / 'sub'}, None)


@pytest.mark.parametrize('field, value', [
    ('stage_in', {StageIn('a', 'b')}), ('stage_out', {StageOut('a', 'b')}),
    ('cleanup', set()), ('cleanup_flags', StageOutFlags.ON_SUCCESS)])
def test_serializers_keep_staging(field: str, value: object) -> None:
    # The formats themselves: tests/test_serialize_staging.py.
    spec = JobSpec('/bin/true')
    setattr(spec, field, value)
    assert loads(dumps(spec)) == spec
    assert JSONSerializer().loads(JSONSerializer().dumps(spec)) == spec
