"""A PSI/J executor for the lineq scheduler, written for psij-python 0.9.11's batch base."""
