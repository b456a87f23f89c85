"""The checks of the suite; importing this package registers them, in the suite's order."""

from . import (  # noqa: F401, I001  (imported for their registrations, in the suite's order)
    basic,
    io,
    environment,
    arguments,
    cancel,
    callbacks,
    waiting,
    attach,
    listing,
    launch,
    limits,
    load,
)
