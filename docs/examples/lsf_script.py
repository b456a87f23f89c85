"""See the ``#BSUB`` lines a job becomes for the LSF executor (no LSF needed)."""

from psij import Job, JobAttributes, JobExecutor, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutor, BatchSchedulerExecutorConfig

executor = JobExecutor.get_instance('lsf', config=BatchSchedulerExecutorConfig(
    queue_polling_interval=30))
assert isinstance(executor, BatchSchedulerExecutor)   # it has generate_script()
job = Job(JobSpec('/bin/hostname', resources=ResourceSpecV1(node_count=2, processes_per_node=4),
                  launcher='jsrun', attributes=JobAttributes(
                      queue_name='normal', account='proj', custom_attributes={
                          'lsf.app': 'gpu_app', 'lsf.R': 'select[type==X86_64]'})))
script = executor.generate_script(job)        # what submit() would feed to bsub on stdin
directives = [line for line in script.splitlines() if line.startswith('#BSUB')]
print('\n'.join(directives))

for expected in ['#BSUB -q normal', '#BSUB -P proj', '#BSUB -n 8', '#BSUB -app gpu_app']:
    assert expected in directives, (expected, directives)
assert any(line.startswith('#BSUB -R') and 'ptile=4' in line for line in directives), directives
