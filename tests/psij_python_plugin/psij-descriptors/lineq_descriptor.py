"""Declares the lineq executor to PSI/J, as psij-python finds plugins."""

from packaging.version import Version

from psij.descriptor import Descriptor

__PSI_J_EXECUTORS__ = [Descriptor(name='lineq', nice_name='LineQ', version=Version('0.3.1'),
                                  cls='lineq_psij.executor.LineqJobExecutor')]
