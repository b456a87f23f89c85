"""psij-detached-executor: an example third-party psij executor plugin."""
