"""Test doubles for the launcher tests: stand-ins for the parts of a real system they need.

- `probe`: a program run as the job, which records exactly what it received;
- `fake_launcher`: a fake ``srun``/``aprun``/``jsrun`` that runs the ranks locally;
- `fake_executor`: runs a launch command the way an executor does.
"""
