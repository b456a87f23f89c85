"""Template paths in a configuration file are relative to the file's directory
(`psij.configuration.file_paths`)."""

import pathlib

from psij.configuration import ConfigFile, load


def test_relative_template_paths_are_read_from_the_files_directory(
        tmp_path: pathlib.Path) -> None:
    site_directory = tmp_path / 'etc' / 'psij'
    site_directory.mkdir(parents=True)
    site_file = site_directory / 'config.toml'
    site_file.write_text('''
[site.cluster]
executor = "slurm"
template = "all.mustache"
queue_templates = { long = "templates/long.mustache", home = "~/mine.mustache" }

[site.cluster.queue.short]
template = "short.mustache"

[site.cluster.queue.debug]
template = "/opt/site/debug.mustache"

[profile.quick]
executor = "slurm"
template = "quick.mustache"
''')
    configuration = load([ConfigFile('site', site_file)])
    site = configuration.site('slurm')
    assert site is not None
    assert site.settings['template'] == str(site_directory / 'all.mustache')
    assert site.settings['queue_templates'] == {
        'long': str(site_directory / 'templates' / 'long.mustache'),
        'home': '~/mine.mustache',             # the user's home, expanded when read
        'short': str(site_directory / 'short.mustache'),
        'debug': '/opt/site/debug.mustache',
    }
    assert configuration.profile('quick').settings['template'] == str(
        site_directory / 'quick.mustache')


def test_other_relative_paths_are_kept_as_written(tmp_path: pathlib.Path) -> None:
    # A work directory relative to where psij runs is the documented meaning (profiles).
    file = tmp_path / 'config.toml'
    file.write_text('[profile.p]\nexecutor = "local"\nwork_directory = "psij-work"\n')
    assert load([ConfigFile('user', file)]).profile('p').settings == {
        'work_directory': 'psij-work'}
