"""Sphinx configuration of the psij documentation.

Build it with ``.venv/bin/sphinx-build -W --keep-going -b html docs /tmp/psij-docs-html``;
``tests/test_docs.py`` runs exactly that build, so a warning fails the test suite.
"""

# psij is imported from the installed package (`bash .ci/setup` installs it editable): its
# executors and launchers live in other directories of the checkout and exist as
# psij.executors and psij.launchers only once installed.
import psij

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
