"""Built-in launchers, one module each (registered through the `psij.launchers` entry point)."""
