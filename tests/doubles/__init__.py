"""Test doubles: stand-ins for the parts of a real system a test needs.

- `probe`: a program run as the job, which records exactly what it received;
- `fake_launcher`: a fake ``srun``/``aprun``/``jsrun`` that runs the ranks locally;
- `fake_executor`: runs a launch command the way an executor does;
- `fake_batch_scheduler`: a scripted scheduler, transport and clock for the tracker tests;
- `faulty_slurm_command.sh`, `faulty_slurm_commands/`: Slurm commands that fail on request;
- `fake_lsf/`: a fake ``bsub``/``bjobs``/``bkill`` that runs jobs locally (LSF executor tests);
- `fake_pbs/`: a fake ``qsub``/``qstat``/``qdel`` in PBS Pro's or Torque's formats that runs
  jobs locally (PBS and Torque executor tests);
- `fake_lineq/`: a fake scheduler of its own (``lq-submit``, ``lq-status``...) for the batch
  plugin written for psij-python (tests/psij_python_plugin).
"""
