"""Descriptors as psij-python plugins write them (one with a packaging Version, as psij-python's
own do, the others with a str); read by tests/test_registry.py and shown on the plugin guide.

Each read of this module is counted in PSIJ_TEST_DESCRIPTOR_READS, so the tests can tell
whether (and how often) the registry read it.
"""

import os

from packaging.version import Version

from psij.descriptor import Descriptor

__PSI_J_EXECUTORS__ = [
    Descriptor(name='pp_local', nice_name='psij-python style local', version=Version('1.2.3'),
               cls='descriptor_plugins.PsijPythonStyleExecutor', aliases=['pp_local_alias']),
    # An entry point is called 'local' too, and wins.
    Descriptor(name='local', version='9.9', cls='descriptor_plugins.ShadowedExecutor'),
    # Its module does not exist.
    Descriptor(name='pp_broken', version='0.1', cls='descriptor_plugins_missing.Nope'),
]

__PSI_J_LAUNCHERS__ = [
    Descriptor(name='pp_direct', version='0.4', cls='descriptor_plugins.DirectLauncher'),
]

# Counted for the tests, not part of the example.
os.environ['PSIJ_TEST_DESCRIPTOR_READS'] = str(
    int(os.environ.get('PSIJ_TEST_DESCRIPTOR_READS', '0')) + 1)
