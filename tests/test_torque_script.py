"""Golden batch scripts of the torque executor (``tests/golden/torque/<case>.sh``), from the
cases shared with the pbs executor (tests/test_pbs_script.py, which says how to regenerate),
and the errors for values it cannot write."""

import pytest
from psij.executors.torque import TorqueJobExecutor
from test_pbs_script import CASES, check_golden, check_valid_bash, render

from psij import InvalidJobException, JobAttributes, JobSpec, ResourceSpecV1


@pytest.mark.parametrize('case', sorted(CASES))
def test_golden_script(case: str) -> None:
    check_golden(TorqueJobExecutor, case)


def test_golden_scripts_are_valid_bash() -> None:
    check_valid_bash(TorqueJobExecutor)


def test_nodes_and_ppn() -> None:
    def nodes(**resources: object) -> str:
        script = render(TorqueJobExecutor, JobSpec('/bin/true', resources=ResourceSpecV1(
            **resources)))  # type: ignore[arg-type]
        return next(line for line in script.splitlines() if line.startswith('#PBS -l nodes='))

    assert nodes() == '#PBS -l nodes=1:ppn=1'
    assert nodes(process_count=6) == '#PBS -l nodes=1:ppn=6'
    assert nodes(process_count=6, node_count=2, cpu_cores_per_process=2) == \
        '#PBS -l nodes=2:ppn=6'
    assert nodes(processes_per_node=2, gpu_cores_per_process=2) == \
        '#PBS -l nodes=1:ppn=2:gpus=4'


def test_long_names_are_cut_to_fifteen_characters() -> None:
    script = render(TorqueJobExecutor, JobSpec('/bin/true', name='a rather long job name'))
    assert '#PBS -N a_rather_long_j\n' in script


@pytest.mark.parametrize('spec, field', [
    (JobSpec('/bin/true', attributes=JobAttributes(reservation_id='my reservation')),
     'JobAttributes.reservation_id'),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'torque.t': '1-4'})),
     "custom_attributes['torque.t']"),
    (JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'torque.nodes': '2'})),
     "custom_attributes['torque.nodes']"),
])
def test_values_that_cannot_be_written_name_their_field(spec: JobSpec, field: str) -> None:
    with pytest.raises(InvalidJobException) as raised:
        render(TorqueJobExecutor, spec)
    assert field in str(raised.value)


def test_psij_python_pbs_keys_apply_and_may_not_clash_with_torque_keys() -> None:
    # psij-python's pbs_classic executor reads 'pbs.' custom attributes.
    spec = JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={'pbs.m': 'abe'}))
    assert '#PBS -m abe\n' in render(TorqueJobExecutor, spec)
    clash = JobSpec('/bin/true', attributes=JobAttributes(custom_attributes={
        'pbs.m': 'abe', 'torque.m': 'n'}))
    with pytest.raises(InvalidJobException, match=r"'pbs.m' and 'torque.m' name the same"):
        render(TorqueJobExecutor, clash)
