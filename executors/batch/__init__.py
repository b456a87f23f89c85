"""psij-python's module paths of its batch base (``psij.executors.batch.*``), for code and
plugins written for psij-python; psij's own batch base is `psij.batch`."""
