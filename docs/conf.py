"""Sphinx configuration: the Markdown guides through MyST, the API from the docstrings.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (``tox -e docs``);
warnings are errors. With ``GREEN_ZMQ_DOCS_OFFLINE=1`` the build fetches
nothing (see ``intersphinx_mapping``).
"""

from __future__ import annotations

import os

import green_zmq

project = "green_zmq"
author = "the green_zmq developers"
copyright = "2026, the green_zmq developers"
release = green_zmq.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]

# Anchors for the guides' "#section" links, as GitHub makes them.
myst_heading_anchors = 3

# Document what the docstrings say, in source order; pyzmq's inherited
# members stay in pyzmq's own documentation.
autodoc_member_order = "bysource"

# Links to the projects green_zmq stands on: a reference such as
# :meth:`zmq.Socket.send` links to pyzmq's page. intersphinx fetches each
# project's inventory at build time, and a fetch that fails is a warning,
# which -W makes an error; so where there is no network (CI has only the
# package registries) GREEN_ZMQ_DOCS_OFFLINE=1 leaves the mapping empty, and
# those references render as code without a link. Read the Docs, which has
# the network, links them.
INTERSPHINX = {
    "python": ("https://docs.python.org/3/", None),
    "pyzmq": ("https://pyzmq.readthedocs.io/en/latest/", None),
    "gevent": ("https://www.gevent.org/", None),
    "tornado": ("https://www.tornadoweb.org/en/stable/", None),
}
offline = os.environ.get("GREEN_ZMQ_DOCS_OFFLINE", "") not in ("", "0")
intersphinx_mapping = {} if offline else INTERSPHINX

html_theme = "furo"
html_title = f"green_zmq {release}"
