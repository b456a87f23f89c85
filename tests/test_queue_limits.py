"""Queue limits without a scheduler: the config's values (and their errors, by property), the
config over the scheduler, the check of a job against every limit, and the configuration
file's sites and queue tables. The real schedulers are in tests/test_queue_limits_slurm.py and
tests/test_queue_limits_sge.py."""

import json
import pathlib
from datetime import timedelta
from typing import Any, Dict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psij import InvalidJobException, JobAttributes, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutorConfig
from psij.configuration import ConfigFile, ConfigurationError, load
from psij.configuration.schema import QUEUE_KEYS, QUEUE_LIMIT_KEYS, SITE_KEYS
from psij.queue_limits import (
    LIMIT_NAMES,
    QueueLimits,
    SchedulerQueues,
    check_spec,
    limits_from_config,
    merge,
)

DOCS = pathlib.Path(__file__).resolve().parent.parent / 'docs'


# --- the config's values -------------------------------------------------------------------

def test_every_limit_is_a_key_of_the_schema() -> None:
    assert tuple(QUEUE_LIMIT_KEYS) == LIMIT_NAMES


def test_config_values_are_converted_with_the_schemas_rules() -> None:
    limits = limits_from_config({'short': {
        'max_nodes': 2, 'min_nodes': 1, 'max_cores': 64, 'max_gpus': 4, 'max_memory': '16G',
        'min_duration': 60, 'max_duration': '01:30:00'}})
    assert limits == {'short': QueueLimits(
        min_nodes=1, max_nodes=2, max_cores=64, max_gpus=4, max_memory=16 * 1024 ** 3,
        min_duration=timedelta(minutes=1), max_duration=timedelta(hours=1, minutes=30))}
    config = BatchSchedulerExecutorConfig(queue_limits={'q': {'max_duration': timedelta(60)}})
    assert config.queue_limits['q'].max_duration == timedelta(60)


_BAD = {
    'max_nodes': st.one_of(st.integers(max_value=0), st.booleans(), st.floats(),
                           st.text(max_size=4)),
    'max_cores': st.one_of(st.integers(max_value=0), st.just(2.5), st.just('4')),
    'max_gpus': st.one_of(st.integers(max_value=0), st.none()),
    'max_memory': st.one_of(st.integers(max_value=0), st.just('4Q'), st.just('lots'),
                            st.booleans()),
    'min_duration': st.one_of(st.integers(max_value=0), st.just('1:99'), st.just('soon'),
                              st.just(timedelta(0))),
    'max_duration': st.one_of(st.just(-1.5), st.just('25:61:00'), st.just([1])),
}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), key=st.sampled_from(sorted(_BAD)),
       queue=st.text('abcxyz.-_', min_size=1, max_size=8))
def test_any_bad_value_names_the_queue_the_key_and_what_is_allowed(
        data: st.DataObject, key: str, queue: str) -> None:
    value = data.draw(_BAD[key])
    with pytest.raises(ValueError) as caught:
        BatchSchedulerExecutorConfig(queue_limits={queue: {key: value}})
    message = str(caught.value)
    assert f"queue_limits[{queue!r}].{key}" in message
    assert QUEUE_LIMIT_KEYS[key].allowed in message or 'greater than 0' in message


@settings(max_examples=50, deadline=None)
@given(key=st.text('abcdefghijklmnopqrstuvwxyz_', min_size=1, max_size=12).filter(
    lambda key: key not in QUEUE_LIMIT_KEYS))
def test_an_unknown_limit_lists_the_allowed_ones(key: str) -> None:
    with pytest.raises(ValueError, match=r"queue_limits\['q'\]\." + key + r": unknown limit "
                                         r"\(allowed: min_nodes, max_nodes, max_cores"):
        limits_from_config({'q': {key: 1}})


def test_a_minimum_above_its_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match=r"min_nodes \(3\) is above .*max_nodes \(2\)"):
        limits_from_config({'q': {'min_nodes': 3, 'max_nodes': 2}})


# --- the config over the scheduler ---------------------------------------------------------

SCHEDULER = SchedulerQueues({'debug': QueueLimits(),
                             'short': QueueLimits(max_nodes=1,
                                                  max_duration=timedelta(minutes=5))},
                            default_queue='debug')


def test_config_limits_win_field_by_field_and_say_where_each_came_from() -> None:
    queues = merge({'short': QueueLimits(max_duration=timedelta(minutes=2)),
                    'hidden': QueueLimits(max_cores=4)}, SCHEDULER)
    short = queues.queues['short']
    assert short.limits == QueueLimits(max_nodes=1, max_duration=timedelta(minutes=2))
    assert short.sources == {'max_nodes': 'scheduler', 'max_duration': 'config'}
    assert [row.name for row in short.rows()] == ['max_nodes', 'max_duration']
    assert queues.queues['hidden'].from_scheduler is False
    assert queues.queue(None) is queues.queues['debug'] and queues.queues['debug'].default


def _spec(queue: Any = None, duration: timedelta = timedelta(minutes=10),
          **resources: Any) -> JobSpec:
    return JobSpec('/bin/true', resources=ResourceSpecV1(**resources),
                   attributes=JobAttributes(queue_name=queue, duration=duration))


ALL = QueueLimits(min_nodes=2, max_nodes=4, max_cores=32, max_gpus=4, max_memory=1024 ** 3,
                  min_duration=timedelta(minutes=1), max_duration=timedelta(hours=1))

# (what is asked, the field named, the limit's words)
OVER = [
    (dict(node_count=1), 'ResourceSpecV1.node_count', 'at least 2 nodes (min_nodes'),
    (dict(node_count=5), 'ResourceSpecV1.node_count', 'at most 4 nodes (max_nodes'),
    (dict(node_count=2, process_count=4, cpu_cores_per_process=9),
     'ResourceSpecV1.process_count x cpu_cores_per_process', 'at most 32 CPU cores'),
    (dict(node_count=2, process_count=2, gpu_cores_per_process=3),
     'ResourceSpecV1.process_count x gpu_cores_per_process', 'at most 4 GPUs'),
    (dict(node_count=2, memory=1024 ** 3 + 1), 'ResourceSpecV1.memory',
     'at most 1073741824 bytes of memory (1G)'),
    (dict(node_count=2, duration=timedelta(seconds=59)), 'JobAttributes.duration',
     'at least 00:01:00 of wall time'),
    (dict(node_count=2, duration=timedelta(hours=1, seconds=1)), 'JobAttributes.duration',
     'at most 01:00:00 of wall time'),
]


@pytest.mark.parametrize('asked, field, words', OVER, ids=[case[1] + str(index)
                                                           for index, case in enumerate(OVER)])
def test_every_limit_refuses_naming_field_value_queue_and_limit(
        asked: Dict[str, Any], field: str, words: str) -> None:
    queues = merge({'q': ALL}, None)
    duration = asked.pop('duration', timedelta(minutes=10))
    with pytest.raises(InvalidJobException) as caught:
        check_spec(_spec('q', duration, **asked), queues)
    message = str(caught.value)
    assert message.startswith(field + ': the job asks for'), message
    assert "queue 'q' allows " + words in message, message


def test_a_job_within_every_limit_passes() -> None:
    spec = _spec('q', timedelta(hours=1), node_count=4, process_count=4,
                 cpu_cores_per_process=8, gpu_cores_per_process=1, memory=1024 ** 3)
    assert check_spec(spec, merge({'q': ALL}, None)) is not None


def test_the_default_queue_and_unknown_queues() -> None:
    queues = merge({}, SCHEDULER)
    assert check_spec(_spec(None, node_count=8), queues) is queues.queues['debug']
    with pytest.raises(InvalidJobException,
                       match=r"queue_name is 'gpu': the scheduler has no such queue "
                             r"\(known: debug, short\)"):
        check_spec(_spec('gpu'), queues)
    # Without the scheduler's list, an unknown queue is the scheduler's to judge.
    assert check_spec(_spec('gpu'), merge({}, None)) is None


# --- sites in the configuration file -------------------------------------------------------

SITE = '''
[site.cluster]
executor = "slurm"
queue_polling_interval = 10

[site.cluster.queue.short]
max_duration = "00:02:00"
max_nodes = 1
template = "/etc/psij/short.mustache"

[profile.quick]
site = "cluster"
queue_polling_interval = 5

[profile.quick.attributes]
queue_name = "short"
'''


def _load(tmp_path: pathlib.Path, text: str) -> Any:
    path = tmp_path / 'config.toml'
    path.write_text(text)
    return load([ConfigFile('user', path)])


def test_a_site_gives_its_settings_and_queues_to_its_executor(tmp_path: pathlib.Path) -> None:
    configuration = _load(tmp_path, SITE)
    site = configuration.sites['cluster']
    assert site.settings['queue_templates'] == {'short': '/etc/psij/short.mustache'}
    config = site.executor_config(work_directory=str(tmp_path))
    assert isinstance(config, BatchSchedulerExecutorConfig)
    assert config.queue_polling_interval == 10
    assert config.queue_limits == {'short': QueueLimits(
        max_nodes=1, max_duration=timedelta(minutes=2))}
    assert configuration.site('slurm') is site and configuration.site('slurm', 'ssh://x') is None
    profile = configuration.profile('quick')
    assert profile.executor_name == 'slurm'
    # The profile's own setting wins; the site's others (its queues) come along.
    assert profile.settings['queue_polling_interval'] == 5
    made = profile.executor_config()
    assert isinstance(made, BatchSchedulerExecutorConfig)
    assert made.queue_limits == config.queue_limits


@pytest.mark.parametrize('text, key, fragment', [
    ('[site.c]\nexecutor = "slurm"\n[site.c.queue.q]\nmax_nodes = 0\n',
     'site.c.queue.q.max_nodes', 'max_nodes must be an integer of 1 or more, not 0'),
    ('[site.c]\nexecutor = "slurm"\n[site.c.queue.q]\nmax_time = 5\n',
     'site.c.queue.q.max_time', "unknown key 'max_time' in [site.c.queue.q] (allowed: "
                                'min_nodes, max_nodes'),
    ('[site.c]\nexecutor = "slurm"\n[site.c.queue.q]\nmin_nodes = 4\nmax_nodes = 2\n',
     'site.c.queue.q.min_nodes', 'is above'),
    ('[site.c]\nurl = "ssh://h"\n', 'site.c', 'must name its executor'),
    ('[site.c]\nexecutor = "slurm"\nqueue_polling = 3\n', 'site.c.queue_polling',
     "unknown key 'queue_polling' in [site.c]"),
    ('[profile.p]\nsite = "nowhere"\n', 'profile.p.site', "no site 'nowhere' (known: none)"),
])
def test_bad_sites_name_file_line_and_key(tmp_path: pathlib.Path, text: str, key: str,
                                          fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _load(tmp_path, text)
    assert caught.value.key == key, str(caught.value)
    assert caught.value.line is not None and caught.value.file is not None
    assert fragment in str(caught.value)


def test_the_docs_list_every_site_and_queue_key() -> None:
    page = (DOCS / 'configuration.md').read_text()
    for key in [*SITE_KEYS, *QUEUE_KEYS]:
        assert f'| `{key}` |' in page, key
    assert '## Queues and their limits' in page


def test_config_show_lists_the_sites(tmp_path: pathlib.Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from psij.cli.app import main
    path = tmp_path / 'config.toml'
    path.write_text(SITE)
    monkeypatch.setenv('PSIJ_CONFIG', str(path))
    monkeypatch.setenv('PSIJ_SITE_CONFIG', str(tmp_path / 'none.toml'))
    monkeypatch.setenv('XDG_CONFIG_HOME', str(tmp_path / 'xdg'))
    assert main(['config', 'show', '--json']) == 0
    shown = json.loads(capsys.readouterr().out)
    keys = {item['key']: item['line'] for item in shown['settings']}
    assert keys['site.cluster.queue.short.max_duration'] == 7


_TOML_BAD = st.sampled_from(['0', '-3', 'true', '"many"', '1.5', '[1]', '"4Q"', '"25:61:00"',
                             '{ a = 1 }'])


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(sorted(QUEUE_LIMIT_KEYS)), value=_TOML_BAD,
       queue=st.sampled_from(['short', 'gpu-a100', 'q_1']))
def test_any_bad_queue_value_in_a_file_names_file_line_and_key(
        tmp_path_factory: pytest.TempPathFactory, key: str, value: str, queue: str) -> None:
    good = {'max_memory': ['"4G"', '1.5'], 'min_duration': ['1.5'],
            'max_duration': ['1.5']}.get(key, [])
    if value in good:
        return  # a value this key takes
    path = tmp_path_factory.mktemp('c') / 'config.toml'
    path.write_text(f'[site.c]\nexecutor = "slurm"\n\n[site.c.queue.{queue}]\n{key} = {value}\n')
    with pytest.raises(ConfigurationError) as caught:
        load([ConfigFile('user', path)])
    assert caught.value.key == f'site.c.queue.{queue}.{key}'
    assert caught.value.line == 5 and caught.value.file == str(path)
    # What is allowed: the schema's words, or the duration and size rules' own ("use ...").
    assert 'must be' in str(caught.value) or '; use ' in str(caught.value), str(caught.value)
