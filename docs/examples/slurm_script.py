"""See the ``#SBATCH`` lines a job becomes, custom attributes included (no cluster needed)."""

from datetime import timedelta

from psij import InvalidJobException, Job, JobAttributes, JobExecutor, JobSpec, ResourceSpecV1
from psij.batch import BatchSchedulerExecutor

executor = JobExecutor.get_instance('slurm')
assert isinstance(executor, BatchSchedulerExecutor)   # it has generate_script()
spec = JobSpec(
    '/bin/hostname', name='my run',
    resources=ResourceSpecV1(node_count=2, processes_per_node=4, memory=8 * 1024**3),
    attributes=JobAttributes(
        duration=timedelta(hours=1, seconds=30), queue_name='debug', account='proj',
        custom_attributes={
            'slurm.constraint': 'haswell',    # --constraint=haswell
            'slurm.qos': 'high',              # --qos=high
            'slurm.requeue': True,            # --requeue (a flag)
            'slurm.mail-type': None,          # left out
            'slurm.C': 'gpu&ib',              # -C "gpu&ib": a one-letter option
            'pbs.l': 'walltime=1:00:00',      # another executor's: ignored here
        }),
)
job = Job(spec)
script = executor.generate_script(job)        # the script submit() would write and sbatch
directives = [line for line in script.splitlines() if line.startswith('#SBATCH')]
print('\n'.join(directives))

assert directives[0] == '#SBATCH --job-name=my_run'
for expected in ['#SBATCH --time=0-01:00:30', '#SBATCH --partition=debug',
                 '#SBATCH --account=proj', '#SBATCH --nodes=2', '#SBATCH --ntasks=8',
                 '#SBATCH --ntasks-per-node=4', '#SBATCH --mem=4096M']:
    assert expected in directives, expected
# Custom attributes come last, in the order given, so they override the mapped options.
assert directives[-4:] == ['#SBATCH --constraint=haswell', '#SBATCH --qos=high',
                           '#SBATCH --requeue', '#SBATCH -C "gpu&ib"']

# The standard streams are the JobSpec's business: slurm.output is refused, naming the field.
spec.attributes.custom_attributes = {'slurm.output': 'out.txt'}
try:
    executor.generate_script(job)
except InvalidJobException as error:
    print(error)
    assert "custom_attributes['slurm.output']" in str(error)
    assert 'JobSpec.stdout_path' in str(error)
else:
    raise AssertionError('slurm.output was accepted')
