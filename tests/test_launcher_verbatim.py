"""Arguments and environment values reach the job's processes exactly as given.

Arbitrary text (anything but NUL, which argv and the environment cannot hold, and lone
surrogates, which are not text) goes through the bash scripts of `single` (with a
pre_launch script, so the script is used) and `multiple` (two copies).
"""

import pathlib
import tempfile
from typing import List

from doubles.fake_executor import launch
from doubles.probe_jobs import probe_records, probe_spec, write_script
from hypothesis import example, given, settings
from hypothesis import strategies as st

from psij import ResourceSpecV1

TRICKY_ARGUMENTS = ['', ' ', '-n', '--', 'a b', "it's", '"', '$HOME', '${X}', '`id`', '$(id)',
                    '\\', '*', '~', 'line\nbreak', 'cr\r', 'tab\t', 'é 日本 \U0001f600', '!!',
                    '\x1b[31m']
TRICKY_VALUE = "$HOME `id` \n 'q' \"q\" \\ () { :; }; é"

TEXT = st.text(st.characters(exclude_categories=['Cs'], exclude_characters='\x00'))


def run_probe(launcher: str, arguments: List[str], value: str, process_count: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = pathlib.Path(name)
        pre = write_script(directory / 'pre launch.sh', 'export FROM_PRE=1\n')
        spec = probe_spec(directory, arguments, environment={'X': value}, pre_launch=pre,
                          resources=ResourceSpecV1(process_count=process_count))
        result = launch(launcher, spec, directory)
        assert result.exit_code == 0, result.log
        records = probe_records(directory)
        assert len(records) == process_count
        for record in records:
            assert record['argv'] == arguments
            assert record['env']['X'] == value
            assert record['env']['FROM_PRE'] == '1'


@settings(max_examples=40, deadline=None)
@given(arguments=st.lists(TEXT, max_size=6), value=TEXT)
@example(arguments=TRICKY_ARGUMENTS, value=TRICKY_VALUE)
def test_single_passes_arguments_and_environment_verbatim(arguments: List[str],
                                                          value: str) -> None:
    run_probe('single', arguments, value, 1)


@settings(max_examples=40, deadline=None)
@given(arguments=st.lists(TEXT, max_size=6), value=TEXT)
@example(arguments=TRICKY_ARGUMENTS, value=TRICKY_VALUE)
def test_multiple_passes_arguments_and_environment_verbatim(arguments: List[str],
                                                            value: str) -> None:
    run_probe('multiple', arguments, value, 2)
