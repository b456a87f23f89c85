"""Sphinx configuration of the psij documentation.

Build it with ``.venv/bin/sphinx-build -W --keep-going -b html docs /tmp/psij-docs-html``;
``tests/test_docs.py`` runs exactly that build, so a warning fails the test suite, and
``tests/test_packaging.py`` runs it (and ``python -m sphinx``) with psij installed from the wheel.
"""

import importlib.util
import os
import pathlib
import sys

# The docs describe the installed psij (`bash .ci/setup` installs it editable; `pip install .`
# works as well). Its executors and launchers live in other directories of the checkout and
# exist as psij.executors and psij.launchers only once installed, so the checkout's root must
# not be on sys.path: there its folder psij/ would shadow the installed package (as it does
# under `python -m sphinx`, run from the root, or with PYTHONPATH=.), and autodoc would find no
# psij.executors. An editable install is not affected: its finder maps every package itself.
# Files of the checkout shown by literalinclude are named relative to docs/ and stay so.
_CHECKOUT = pathlib.Path(__file__).resolve().parent.parent


def _is_checkout(entry: str) -> bool:
    return pathlib.Path(os.path.abspath(entry or os.curdir)).resolve() == _CHECKOUT


sys.path[:] = [entry for entry in sys.path if not _is_checkout(entry)]

import psij  # noqa: E402

for _package in ('psij.executors', 'psij.launchers'):
    if importlib.util.find_spec(_package) is None:
        raise ImportError(f'{_package} is not importable next to {psij.__file__}: the docs '
                          'document the installed psij; install it (bash .ci/setup, or pip '
                          'install .) into the Python that runs sphinx-build')

project = 'psij'
author = 'the psij developers'
copyright = 'the psij developers'
release = psij.__version__
version = release

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.viewcode',
]

source_suffix = {'.md': 'markdown'}
root_doc = 'index'
# examples/ holds the scripts the pages include (and the rules for writing them), not pages.
exclude_patterns = ['_build', 'examples', 'Thumbs.db', '.DS_Store']

myst_enable_extensions = ['colon_fence', 'deflist']
myst_heading_anchors = 3

# Docstrings write `name` for a reference to a Python object: resolve it like :py:obj:.
default_role = 'py:obj'
autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'

html_theme = 'alabaster'
html_title = f'psij {release}'
