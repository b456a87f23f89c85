"""``psij config show``, ``psij profiles`` and ``--profile`` on run/submit, on the installed
``psij`` with configuration files of the test's own (never the real /etc or ~/.config)."""

import pathlib
from typing import Dict

from test_cli_support import USAGE, assert_one_error_line, psij

SITE = '''[profile.quick]
executor = "local"
launcher = "multiple"

[profile.quick.resources]
process_count = 2

[profile.quick.attributes]
duration = "00:05:00"
queue_name = "site-queue"
'''
USER = '''[profile.quick.attributes]
queue_name = "my-queue"

[profile.other]
executor = "slurm"
queue_polling_interval = 5
'''


def _environment(tmp_path: pathlib.Path, site: str = SITE, user: str = USER) -> Dict[str, str]:
    (tmp_path / 'site.toml').write_text(site)
    (tmp_path / 'xdg' / 'psij').mkdir(parents=True, exist_ok=True)
    (tmp_path / 'xdg' / 'psij' / 'config.toml').write_text(user)
    return {'PSIJ_SITE_CONFIG': str(tmp_path / 'site.toml'),
            'XDG_CONFIG_HOME': str(tmp_path / 'xdg'), 'PSIJ_CONFIG': ''}


def test_config_show_says_where_each_value_came_from(tmp_path: pathlib.Path,
                                                     work_dir: pathlib.Path) -> None:
    env = _environment(tmp_path)
    site, user = str(tmp_path / 'site.toml'), str(tmp_path / 'xdg' / 'psij' / 'config.toml')
    result = psij(work_dir, 'config', 'show', env=env)
    assert result.returncode == 0, str(result)
    lines = result.stdout.splitlines()
    assert f'# site: {site} (read)' in lines
    assert f'# user: {user} (read)' in lines
    assert f'profile.quick.executor = "local"  # {site}:2' in lines
    assert f'profile.quick.attributes.queue_name = "my-queue"  # {user}:2' in lines
    assert not any('site-queue' in line for line in lines)
    document = psij(work_dir, 'config', 'show', '--json', env=env).json()
    assert [item['kind'] for item in document['files']] == ['site', 'user']
    by_key = {item['key']: item for item in document['settings']}
    assert by_key['profile.other.queue_polling_interval'] == {
        'key': 'profile.other.queue_polling_interval', 'value': 5, 'file': user, 'line': 6}
    assert document['config']['profile']['quick']['resources'] == {'process_count': 2}


def test_profiles_lists_executor_and_summary(tmp_path: pathlib.Path,
                                             work_dir: pathlib.Path) -> None:
    env = _environment(tmp_path)
    result = psij(work_dir, 'profiles', env=env)
    assert result.returncode == 0, str(result)
    assert result.stdout.splitlines() == [
        'other  slurm  queue_polling_interval=5',
        'quick  local  launcher=multiple process_count=2 duration=0:05:00 '
        'queue_name=my-queue']
    profiles = psij(work_dir, 'profiles', '--json', env=env).json()['profiles']
    assert [profile['name'] for profile in profiles] == ['other', 'quick']
    assert profiles[1]['attributes'] == {'duration': 300.0, 'queue_name': 'my-queue'}
    assert profiles[1]['source'] == str(tmp_path / 'site.toml')


def test_run_with_a_profile_and_the_command_line_winning(tmp_path: pathlib.Path,
                                                         work_dir: pathlib.Path) -> None:
    env = _environment(tmp_path)
    out = tmp_path / 'out.txt'
    result = psij(work_dir, 'run', '--profile', 'quick', '--json', '--stdout', str(out),
                  '--', '/bin/echo', 'hi', env=env)
    assert result.returncode == 0, str(result)
    record = result.json()
    assert record['executor'] == 'local'
    assert out.read_text() == 'hi\nhi\n'  # the profile's launcher and process count
    assert record['spec']['attributes']['queue_name'] == 'my-queue'
    assert record['spec']['attributes']['duration'] == 300
    # Options change one field each: -n over the profile's count, --time over its duration.
    result = psij(work_dir, 'run', '--profile', 'quick', '--json', '-n', '3', '--time', '60',
                  '--stdout', str(out), '--', '/bin/echo', 'hi', env=env)
    assert result.returncode == 0, str(result)
    assert out.read_text() == 'hi\n' * 3
    assert result.json()['spec']['attributes']['duration'] == 60
    assert result.json()['spec']['launcher'] == 'multiple'


def test_the_profiles_executor_comes_before_psij_executor(tmp_path: pathlib.Path,
                                                          work_dir: pathlib.Path) -> None:
    env = dict(_environment(tmp_path), PSIJ_EXECUTOR='slurm')
    result = psij(work_dir, 'run', '--profile', 'quick', '--json', '--', '/bin/true', env=env)
    assert result.returncode == 0, str(result)
    assert result.json()['executor'] == 'local'
    # -e on the command line wins over the profile; local refuses slurm's setting.
    result = psij(work_dir, 'submit', '--profile', 'other', '-e', 'local', '--', '/bin/true',
                  env=env)
    assert_one_error_line(result, USAGE, "'queue_polling_interval' is not a setting of "
                                         "executor 'local'")


def test_unknown_profile_and_bad_files_are_one_line_errors(tmp_path: pathlib.Path,
                                                           work_dir: pathlib.Path) -> None:
    env = _environment(tmp_path)
    result = psij(work_dir, 'run', '--profile', 'nope', '--', '/bin/true', env=env)
    assert_one_error_line(result, USAGE, "no profile 'nope'", 'known: other, quick')
    env = _environment(tmp_path, user='[profile.quick.resources]\n\nnodes = 2\n')
    user = tmp_path / 'xdg' / 'psij' / 'config.toml'
    for args in (['profiles'], ['config', 'show'], ['submit', '--profile', 'quick', '--',
                                                    '/bin/true']):
        result = psij(work_dir, *args, env=env)
        assert_one_error_line(result, USAGE, f'{user}:3:', "unknown key 'nodes'",
                              'allowed: node_count')
    env = _environment(tmp_path, site='[profile\n')
    result = psij(work_dir, 'profiles', env=env)
    assert_one_error_line(result, USAGE, f'{tmp_path / "site.toml"}:1: not valid TOML')


def test_a_broken_file_is_a_warning_for_commands_without_profile(
        tmp_path: pathlib.Path, work_dir: pathlib.Path) -> None:
    # Without --profile the files are read for the executor's site only; a broken one must
    # not stop `psij run` at a login node (with --profile it is an error, above).
    env = _environment(tmp_path, site='this is not TOML')
    result = psij(work_dir, 'run', '--', '/bin/true', env=env)
    assert result.returncode == 0, str(result)
    assert f'psij: warning: configuration not used: {tmp_path / "site.toml"}:1: not valid ' \
        'TOML' in result.stderr


def test_the_site_of_the_executor_applies_without_profile(tmp_path: pathlib.Path,
                                                          work_dir: pathlib.Path) -> None:
    # The site's limit on a Slurm queue, from the site file: the job is refused before
    # anything is sent.
    env = _environment(tmp_path, site=SITE + '''
[site.here]
executor = "slurm"

[site.here.queue.debug]
max_duration = "00:01:00"
''')
    result = psij(work_dir, 'run', '-e', 'slurm', '--queue', 'debug', '--time', '00:02:00',
                  '--', '/bin/true', env=env)
    assert result.returncode != 0, str(result)
    assert 'JobAttributes.duration' in result.stderr and "queue 'debug'" in result.stderr, \
        str(result)
    assert 'from the config' in result.stderr, str(result)
