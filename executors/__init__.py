"""Built-in executors, one module each (registered through the `psij.executors` entry point)."""
