"""Shared pytest fixtures (helpers that tests import live in modules of their own:
`real_tools`, `batch_helpers`)."""

import pathlib
from typing import Iterator

import pytest


@pytest.fixture
def work_dir(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A private executor work directory for one test."""
    path = tmp_path / 'psij-work'
    yield path
