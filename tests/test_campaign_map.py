"""The jobs map file of campaigns: sections, settings, expansion, and the errors that name the
file, the line and the field (psij.campaigns.map_format, expansion, job_defaults)."""

import pathlib
from datetime import timedelta
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from psij.campaigns.expansion import Command, escape_command, expand_commands, expand_line
from psij.campaigns.job_defaults import job_template
from psij.campaigns.map_format import (
    MapError,
    MapLine,
    MapReadError,
    parse_map,
    read_map,
    render_header,
)
from psij.resource_spec import ResourceSpecV1


def expand(text: str, base: pathlib.Path, path: str = 'jobs.map') -> List[str]:
    jobs_map = parse_map(text, path)
    return [command.text for command in expand_commands(jobs_map.commands, path, str(base))]


# --- sections ------------------------------------------------------------------------------


def test_a_plain_list_of_commands_is_a_map(tmp_path: pathlib.Path) -> None:
    assert expand('# comment\n\necho a\n  echo b  \n', tmp_path) == ['echo a', 'echo b']


def test_every_section_is_read_with_its_line_numbers() -> None:
    jobs_map = parse_map(
        '[pre]\nmodule load python\n[post]\necho done\n[resources]\nmemory = 4G\n'
        '[attributes]\nduration = 30:00\nslurm.constraint = haswell\n[environment]\n'
        'A = 1 = 2\n[jobs]\necho {{1,2}}\n', 'm.map')
    assert jobs_map.pre == [MapLine(2, 'module load python')]
    assert jobs_map.post == [MapLine(4, 'echo done')]
    assert [(s.key, s.value, s.line) for s in jobs_map.settings['attributes']] == [
        ('duration', '30:00', 8), ('slurm.constraint', 'haswell', 9)]
    assert [(s.key, s.value) for s in jobs_map.settings['environment']] == [('A', '1 = 2')]
    assert jobs_map.commands == [MapLine(13, 'echo {{1,2}}')]


def test_continuation_lines_join_and_keep_the_first_line_number(tmp_path: pathlib.Path) -> None:
    jobs_map = parse_map('echo a \\\n   b\necho \\\\\necho c\n', 'm.map')
    assert jobs_map.commands == [MapLine(1, 'echo a    b'), MapLine(3, 'echo \\\\'),
                                 MapLine(4, 'echo c')]


def test_settings_render_back_as_the_same_map() -> None:
    text = ('[pre]\nexport A=1\n[resources]\nmemory = 4G\n[attributes]\nduration = 1:00\n'
            '[jobs]\necho\n')
    jobs_map = parse_map(text, 'm.map')
    header = render_header([line.text for line in jobs_map.pre],
                           [line.text for line in jobs_map.post], jobs_map.settings)
    again = parse_map('\n'.join(header + ['[jobs]', 'echo']), 'm.map')
    assert again.pre == jobs_map.pre
    assert [(s.key, s.value) for s in again.settings['resources']] == [('memory', '4G')]


def test_defaults_become_the_job_template() -> None:
    jobs_map = parse_map(
        '[resources]\nnode_count = 2\nprocesses_per_node = 4\nmemory = 512M\n'
        'exclusive_node_use = TRUE\n[attributes]\nduration = 1-00:00:00\nqueue_name = debug\n'
        'slurm.requeue = true\nslurm.qos = high\n[environment]\nOMP_NUM_THREADS = 2\n'
        '[jobs]\necho\n', 'm.map')
    spec = job_template(jobs_map)
    resources = spec.resources
    assert isinstance(resources, ResourceSpecV1)
    assert (resources.node_count, resources.processes_per_node, resources.memory,
            resources.exclusive_node_use) == (2, 4, 512 * 1024 ** 2, True)
    assert spec.attributes.duration == timedelta(days=1)
    assert spec.attributes.queue_name == 'debug'
    assert spec.attributes.custom_attributes == {'slurm.requeue': True, 'slurm.qos': 'high'}
    assert spec.environment == {'OMP_NUM_THREADS': '2'}


# --- expansion -----------------------------------------------------------------------------


def test_lists_expand_to_every_combination_first_group_slowest(tmp_path: pathlib.Path) -> None:
    assert expand('run {{a, b}} {{1,2}}{{,-v}}', tmp_path) == [
        'run a 1', 'run a 1-v', 'run a 2', 'run a 2-v', 'run b 1', 'run b 1-v', 'run b 2',
        'run b 2-v']


def test_file_lines_and_globs_expand_relative_to_the_base(tmp_path: pathlib.Path) -> None:
    (tmp_path / 'seeds.txt').write_text('  7\n\n8  \n')
    (tmp_path / 'data').mkdir()
    for name in ('b.csv', 'a.csv', 'c.txt'):
        (tmp_path / 'data' / name).write_text('')
    assert expand('sim {{file:seeds.txt}} {{glob:data/*.csv}}', tmp_path) == [
        'sim 7 data/a.csv', 'sim 7 data/b.csv', 'sim 8 data/a.csv', 'sim 8 data/b.csv']
    assert expand('ls {{glob:./data/*.txt}}', tmp_path) == ['ls ./data/c.txt']
    absolute = str(tmp_path / 'data' / '*.txt')
    assert expand(f'ls {{{{glob:{absolute}}}}}', tmp_path) == [
        f'ls {tmp_path / "data" / "c.txt"}']


def test_named_groups_are_reused_in_their_line(tmp_path: pathlib.Path) -> None:
    assert expand('cp {{?f:x,y}} out/{{?=f}}.bak {{1,2}}', tmp_path) == [
        'cp x out/x.bak 1', 'cp x out/x.bak 2', 'cp y out/y.bak 1', 'cp y out/y.bak 2']


def test_a_reference_may_come_before_its_group(tmp_path: pathlib.Path) -> None:
    assert expand('echo {{?=n}} {{?n:1,2}}', tmp_path) == ['echo 1 1', 'echo 2 2']


def test_escaped_braces_are_literal(tmp_path: pathlib.Path) -> None:
    assert expand('echo \\{{x}} {{1}}', tmp_path) == ['echo {{x}} 1']


SAFE_TEXT = st.text(st.characters(exclude_categories=['Cs', 'Cc']), min_size=1).map(
    str.strip).filter(bool)


@given(text=SAFE_TEXT)
def test_an_escaped_command_reads_back_as_itself(text: str) -> None:
    line = MapLine(1, escape_command(text))
    assert expand_line(line, 'm.map', '/') == [Command(1, text)]


# --- bad input: file, line and field named -------------------------------------------------

BAD_MAPS = [
    ('[resources]\ncores = 2\n[jobs]\necho\n', 2, "unknown key 'cores'; allowed: node_count"),
    ('[resources]\nmemory = lots\n[jobs]\necho\n', 2, "[resources] memory: 'lots' is not a"),
    ('[resources]\nnode_count = 0\n[jobs]\necho\n', 2, 'must be a positive integer'),
    ('[resources]\nexclusive_node_use = yes\n[jobs]\necho\n', 2, 'must be true or false'),
    ('[resources]\nnode_count = 2\nprocess_count = 3\n[jobs]\necho\n', 2,
     'process_count (3) must be a whole multiple of node_count (2)'),
    ('[attributes]\nduration = 1:2:3:4\n[jobs]\necho\n', 2, '[attributes] duration:'),
    ('[attributes]\nwalltime = 1\n[jobs]\necho\n', 2, 'or a custom attribute with a dot'),
    ('[environment]\n1X = a\n[jobs]\necho\n', 2, "'1X' is not a variable name"),
    ('[environment]\nnothing here\n[jobs]\necho\n', 2, 'expected KEY = VALUE'),
    ('[environment]\nA = 1\nA = 2\n[jobs]\necho\n', 3, 'A is set twice (first at line 2)'),
    ('[resourcez]\necho\n', 1, 'unknown section [resourcez]; allowed: [pre], [post]'),
    ('[pre]\na\n[pre]\nb\n[jobs]\necho\n', 3, 'section [pre] appears twice (first at line 1)'),
    ('echo a\n[jobs]\necho b\n', 1, 'put every command under [jobs]'),
    ('echo {{a,b\n', 1, "'{{' at column 6 has no closing '}}'"),
    ('echo {{a{{b}}}}\n', 1, 'groups cannot be nested'),
    ('echo {{}}\n', 1, 'an empty group'),
    ('echo {{?x}}\n', 1, 'a named group needs its values after a colon'),
    ('echo {{?9x:a}}\n', 1, "'9x' is not a group name"),
    ('echo {{?a:1}} {{?a:2}}\n', 1, "the name 'a' is given to two groups"),
    ('echo {{?a:1,2}} {{?=b}}\n', 1, "{{?=b}}: no group named 'b' in this line (named groups "
                                     'here: a)'),
    ('\n\necho {{glob:nothing/*}}\n', 3, '{{glob:nothing/*}}: no file matches the pattern'),
    ('echo {{file:}}\n', 1, 'file: needs a path'),
    ('{{,}}\n', 1, 'a combination of its groups is an empty command'),
    ('echo \\\n', 1, 'ends with a backslash'),
    ('# only a comment\n[pre]\necho\n', None, 'the map has no command'),
]


@pytest.mark.parametrize('text,line,fragment', BAD_MAPS,
                         ids=[fragment[:40] for _, _, fragment in BAD_MAPS])
def test_a_bad_map_names_its_line_and_what_is_allowed(tmp_path: pathlib.Path, text: str,
                                                      line: int, fragment: str) -> None:
    path = tmp_path / 'jobs.map'
    path.write_text(text)
    with pytest.raises(MapError) as raised:
        jobs_map = read_map(str(path))
        job_template(jobs_map)
        expand_commands(jobs_map.commands, str(path), str(tmp_path))
    assert raised.value.line == line
    assert str(raised.value).startswith(f'{path}:{line}: ' if line else f'{path}: ')
    assert fragment in str(raised.value)
    assert not isinstance(raised.value, MapReadError)


def test_unreadable_files_are_read_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MapReadError, match='cannot read the map: No such file'):
        read_map(str(tmp_path / 'missing.map'))
    (tmp_path / 'latin1.map').write_bytes(b'echo a\necho \xe9\n')
    with pytest.raises(MapReadError) as raised:
        read_map(str(tmp_path / 'latin1.map'))
    assert raised.value.line == 2 and 'not UTF-8' in str(raised.value)
    with pytest.raises(MapReadError, match="jobs.map:1: {{file:no.txt}}: cannot read"):
        expand('echo {{file:no.txt}}', tmp_path)


def test_too_many_commands_is_an_error_not_a_huge_campaign(tmp_path: pathlib.Path) -> None:
    items = ','.join(str(number) for number in range(1000))
    with pytest.raises(MapError, match='stands for 1000000000 commands; at most 1000000'):
        expand(f'echo {{{{{items}}}}} {{{{{items}}}}} {{{{{items}}}}}', tmp_path)
