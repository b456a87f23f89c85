"""Loading the configuration files: order, merging key by key, and errors that name the file,
the key and its line."""

import pathlib
import re
import string
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psij.configuration import ConfigFile, ConfigurationError, default_files, load
from psij.configuration.files import key_line
from psij.configuration.merge import leaves, merge

REPO = pathlib.Path(__file__).resolve().parent.parent


def _write(path: pathlib.Path, text: str) -> ConfigFile:
    path.write_text(text, encoding='utf-8')
    return ConfigFile('extra', path)


def test_default_files_follow_the_environment(tmp_path: pathlib.Path) -> None:
    env = {'PSIJ_SITE_CONFIG': str(tmp_path / 'site.toml'), 'XDG_CONFIG_HOME': str(tmp_path),
           'PSIJ_CONFIG': str(tmp_path / 'extra.toml'), 'HOME': '/nonexistent'}
    files = default_files(env)
    assert [(item.kind, item.path, item.required) for item in files] == [
        ('site', tmp_path / 'site.toml', False),
        ('user', tmp_path / 'psij' / 'config.toml', False),
        ('extra', tmp_path / 'extra.toml', True)]
    # The XDG default, and the real site file when nothing overrides it.
    plain = default_files({'HOME': '/home/someone'})
    assert [str(item.path) for item in plain] == ['/etc/psij/config.toml',
                                                  '/home/someone/.config/psij/config.toml']


def test_later_files_override_key_by_key(tmp_path: pathlib.Path) -> None:
    site = _write(tmp_path / 'site.toml', '[profile.gpu]\nexecutor = "slurm"\n'
                  '[profile.gpu.attributes]\nqueue_name = "gpu"\naccount = "site"\n')
    user = _write(tmp_path / 'user.toml', '[profile.gpu.attributes]\naccount = "mine"\n'
                  '[profile.small]\nlauncher = "multiple"\n')
    configuration = load([site, ConfigFile('user', tmp_path / 'missing.toml'), user])
    gpu = configuration.profile('gpu')
    assert gpu.executor_name == 'slurm'
    assert gpu.attributes == {'queue_name': 'gpu', 'account': 'mine'}
    assert configuration.profile('small').launcher == 'multiple'
    origins = {item.key: (item.file, item.line) for item in configuration.settings()}
    assert origins['profile.gpu.executor'] == (str(site.path), 2)
    assert origins['profile.gpu.attributes.queue_name'] == (str(site.path), 4)
    assert origins['profile.gpu.attributes.account'] == (str(user.path), 2)
    assert configuration.read == [str(site.path), str(user.path)]


def test_a_missing_psij_config_is_an_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match='no such file.*PSIJ_CONFIG') as caught:
        load(default_files({'PSIJ_SITE_CONFIG': str(tmp_path / 'no-site'),
                            'XDG_CONFIG_HOME': str(tmp_path),
                            'PSIJ_CONFIG': str(tmp_path / 'absent.toml')}))
    assert caught.value.file == str(tmp_path / 'absent.toml')


def test_malformed_toml_names_file_and_line(tmp_path: pathlib.Path) -> None:
    bad = _write(tmp_path / 'bad.toml', '[profile.a]\nexecutor = "local"\nlauncher = \n')
    with pytest.raises(ConfigurationError) as caught:
        load([bad])
    assert caught.value.file == str(bad.path)
    assert caught.value.line == 3
    assert str(caught.value).startswith(f'{bad.path}:3: not valid TOML')
    assert 'line 3' in str(caught.value)  # TOML's own message, with the column


@pytest.mark.parametrize('text, key, line, fragments', [
    ('[profil.a]\nexecutor = "local"\n', 'profil', 1, ['allowed: profile']),
    ('[profile.a]\n\nexecuter = "local"\n', 'profile.a.executer', 3,
     ['unknown key', 'allowed: executor, url, launcher, resources, attributes',
      'work_directory']),
    ('[profile.a.resources]\nnodes = 2\n', 'profile.a.resources.nodes', 2,
     ['allowed: node_count, process_count']),
    ('[profile.a.resources]\nnode_count = "two"\n', 'profile.a.resources.node_count', 2,
     ['must be an integer of 1 or more', "'two'"]),
    ('[profile.a]\nattributes.duration = -5\n', 'profile.a.attributes.duration', 2,
     ['greater than 0', 'HH:MM:SS']),
    ('[profile.a.attributes]\nduration = "1:75:00"\n', 'profile.a.attributes.duration', 2,
     ['75 minutes must be less than 60']),
    ('[profile.a]\nexecutor = "nosuch"\n', 'profile.a.executor', 2, ['nosuch', 'slurm']),
    ('[profile.a]\nexecutor = "local"\nqueue_polling_interval = 3\n',
     'profile.a.queue_polling_interval', 3,
     ["not a setting of executor 'local'", 'allowed: executor', 'max_in_flight']),
    ('[profile.a]\nexecutor = "slurm"\nkeep_files = "yes"\n', 'profile.a.keep_files', 3,
     ['keep_files must be true or false']),
    ('[profile.a]\nexecutor = "slurm"\nqueue_polling_interval = 0\n',
     'profile.a.queue_polling_interval', 3, ['greater than 0']),
    ('[profile.a.resources]\nprocess_count = 3\nnode_count = 2\n', 'profile.a.resources', 1,
     ['whole multiple']),
    ('[profile.a]\nmax_in_flight = 2\nqueue_polling_interval = 1\n',
     'profile.a.queue_polling_interval', 3, ['a profile without executor']),
    ('profile = 3\n', 'profile', 1, ['table of profiles']),
    ('[profile.a.attributes]\naccount = "x"\nproject_name = "y"\n',
     'profile.a.attributes.project_name', 3, ['same field']),
])
def test_bad_keys_and_values_name_file_key_line(tmp_path: pathlib.Path, text: str, key: str,
                                                line: int, fragments: List[str]) -> None:
    path = _write(tmp_path / 'config.toml', text)
    with pytest.raises(ConfigurationError) as caught:
        load([path])
    error = caught.value
    assert (error.file, error.key, error.line) == (str(path.path), key, line), str(error)
    assert str(error).startswith(f'{path.path}:{line}: ')
    for fragment in fragments:
        assert fragment in str(error)


def test_error_names_the_file_the_bad_value_came_from(tmp_path: pathlib.Path) -> None:
    site = _write(tmp_path / 'site.toml', '[profile.a]\nexecutor = "local"\n')
    user = _write(tmp_path / 'user.toml', '# mine\n[profile.a]\nmax_in_flight = 0\n')
    with pytest.raises(ConfigurationError) as caught:
        load([site, user])
    assert (caught.value.file, caught.value.line) == (str(user.path), 3)
    assert 'max_in_flight' in str(caught.value)


def test_unknown_profile_lists_the_known_ones(tmp_path: pathlib.Path) -> None:
    path = _write(tmp_path / 'c.toml', '[profile.b]\n[profile.a]\n')
    with pytest.raises(ConfigurationError, match=r"no profile 'c' \(known: a, b; read: "):
        load([path]).profile('c')
    with pytest.raises(ConfigurationError, match='known: none; read: no configuration file'):
        load([ConfigFile('user', tmp_path / 'none.toml')]).profile('c')


def test_key_line_finds_dotted_quoted_and_inline_keys() -> None:
    text = ('[profile."gpu.big"]\nexecutor = "slurm"\n'
            'resources = { node_count = 2 }\n'
            '[profile.b]\n  attributes . "queue_name" = "q"\n')
    assert key_line(text, ('profile', 'gpu.big', 'executor')) == 2
    assert key_line(text, ('profile', 'gpu.big', 'resources', 'node_count')) == 3
    assert key_line(text, ('profile', 'b', 'attributes', 'queue_name')) == 5
    assert key_line(text, ('profile', 'b')) == 4
    assert key_line(text, ('other',)) is None


# --- merging, by property --------------------------------------------------------------

_KEYS = st.text(string.ascii_lowercase + '_-', min_size=1, max_size=6)
_SCALARS = st.one_of(st.integers(), st.booleans(), st.text(max_size=5),
                     st.lists(st.integers(), max_size=3))
_TREES = st.recursive(_SCALARS, lambda inner: st.dictionaries(_KEYS, inner, max_size=4),
                      max_leaves=12).filter(lambda tree: isinstance(tree, dict))


def _flat(tree: Dict[str, Any]) -> Dict[Tuple[str, ...], Any]:
    return dict(leaves(tree))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TREES, min_size=1, max_size=4))
def test_merge_takes_each_leaf_from_the_last_file_that_wrote_it(
        trees: List[Dict[str, Any]]) -> None:
    merged, origins = merge([(f'file{index}', tree) for index, tree in enumerate(trees)])
    for path, value in _flat(merged).items():
        source = origins[path]
        index = int(source[len('file'):])
        assert _flat(trees[index]).get(path, {}) == value
        # No later file wrote this path or anything that replaced it (a shorter prefix that
        # is not a table, or a deeper table under a scalar).
        for later in trees[index + 1:]:
            node: Any = later
            for part in path:
                if not isinstance(node, dict) or part not in node:
                    break
                node = node[part]
            else:
                raise AssertionError(f'{path} of {source} was overwritten later')
    # Every leaf of the last file is in the merged tree as it wrote it; an empty table adds
    # nothing to a table an earlier file wrote there (merging is key by key).
    for path, value in _flat(trees[-1]).items():
        if value == {}:
            table: Any = merged
            for part in path:
                table = table[part]
            assert isinstance(table, dict)
            continue
        assert _flat(merged)[path] == value
        assert origins[path] == f'file{len(trees) - 1}'


# Strings are written as TOML basic strings of characters that need no escape (repr() would
# write Python escapes such as \x08, which TOML does not have).
_BAD_VALUES = st.one_of(st.text(string.ascii_letters + string.digits + ' .-', max_size=4)
                        .map(lambda text: f'"{text}"'), st.just('[1, 2]'), st.just('0'),
                        st.just('-3'), st.just('true'))


@settings(max_examples=100, deadline=None)
@given(key=st.text(string.ascii_lowercase + '_', min_size=1, max_size=10),
       table=st.sampled_from(['', 'resources', 'attributes']),
       blank_lines=st.integers(0, 5))
def test_any_unknown_key_names_its_path_and_line(tmp_path_factory: pytest.TempPathFactory,
                                                 key: str, table: str,
                                                 blank_lines: int) -> None:
    from psij.configuration.schema import ATTRIBUTE_KEYS, PROFILE_KEYS, RESOURCE_KEYS
    known = {'': set(PROFILE_KEYS) | {'work_directory', 'max_in_flight'},
             'resources': set(RESOURCE_KEYS), 'attributes': set(ATTRIBUTE_KEYS)}[table]
    if key in known:
        return
    header = '[profile.p' + (f'.{table}' if table else '') + ']'
    path = tmp_path_factory.mktemp('c') / 'config.toml'
    path.write_text(header + '\n' * (blank_lines + 1) + f'{key} = 1\n')
    with pytest.raises(ConfigurationError) as caught:
        load([ConfigFile('user', path)])
    dotted = '.'.join(['profile', 'p'] + ([table] if table else []) + [key])
    assert caught.value.key == dotted
    assert caught.value.line == blank_lines + 2
    assert 'allowed: ' in str(caught.value)


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(['node_count', 'process_count', 'processes_per_node',
                              'cpu_cores_per_process', 'gpu_cores_per_process']),
       value=_BAD_VALUES)
def test_any_bad_count_is_refused_with_what_is_allowed(
        tmp_path_factory: pytest.TempPathFactory, field: str, value: str) -> None:
    path = tmp_path_factory.mktemp('c') / 'config.toml'
    path.write_text(f'[profile.p.resources]\n{field} = {value}\n')
    with pytest.raises(ConfigurationError,
                       match=re.escape(f'{field} must be an integer of 1 or more')) as caught:
        load([ConfigFile('user', path)])
    assert caught.value.line == 2


@settings(max_examples=100, deadline=None)
@given(count=st.integers(1, 10 ** 6), seconds=st.integers(1, 10 ** 6))
def test_good_values_round_trip(tmp_path_factory: pytest.TempPathFactory, count: int,
                                seconds: int) -> None:
    path = tmp_path_factory.mktemp('c') / 'config.toml'
    path.write_text(f'[profile.p]\nexecutor = "slurm"\nmax_in_flight = {count}\n'
                    f'[profile.p.resources]\nprocess_count = {count}\n'
                    f'[profile.p.attributes]\nduration = {seconds}\n')
    profile = load([ConfigFile('user', path)]).profile('p')
    assert profile.resources == {'process_count': count}
    assert profile.attributes['duration'].total_seconds() == seconds
    assert profile.settings == {'max_in_flight': count}


def test_the_docs_list_every_key() -> None:
    from psij.configuration.schema import ATTRIBUTE_KEYS, PROFILE_KEYS, RESOURCE_KEYS
    page = (REPO / 'docs' / 'configuration.md').read_text()
    for key in [*PROFILE_KEYS, *RESOURCE_KEYS, *ATTRIBUTE_KEYS]:
        assert f'| `{key}` |' in page, key
