"""The PSI/J conformance suite (work in progress)."""
