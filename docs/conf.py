"""Sphinx configuration: the Markdown guides through MyST, the API from the docstrings.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (``tox -e docs``);
warnings are errors.
"""

from __future__ import annotations

import green_zmq

project = "green_zmq"
author = "the green_zmq developers"
copyright = "2026, the green_zmq developers"
release = green_zmq.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]

# Anchors for the guides' "#section" links, as GitHub makes them.
myst_heading_anchors = 3

# Document what the docstrings say, in source order; pyzmq's inherited
# members stay in pyzmq's own documentation.
autodoc_member_order = "bysource"

html_theme = "furo"
html_title = f"green_zmq {release}"
