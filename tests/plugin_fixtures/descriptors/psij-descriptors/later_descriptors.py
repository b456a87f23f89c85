"""Read after compat_descriptors.py (files are read in name order): its 'pp_local' loses to
the one read first, and its second item is not a Descriptor (a problem the registry reports,
without dropping the rest). 'pp_later' names a class that declares its own version."""

from psij.descriptor import Descriptor

__PSI_J_EXECUTORS__ = [
    Descriptor(name='pp_local', version='7.0', cls='descriptor_plugins.ShadowedExecutor'),
    'descriptor_plugins.PsijPythonStyleExecutor',
    Descriptor(name='pp_later', version='5.0', cls='descriptor_plugins.VersionedExecutor'),
]
