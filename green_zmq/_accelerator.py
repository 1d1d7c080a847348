"""Which fast path runs: the compiled twin of :mod:`._fastpath`, or its pure-Python self.

``green_zmq._c_fastpath`` is ``_fastpath.py`` compiled by Cython, built
where a compiler exists (setup.py). It is used unless the environment
variable ``GREEN_ZMQ_PURE_PYTHON`` is set to a non-empty value other than
``0``, the extension was not built, or it cannot reach the very libzmq
that pyzmq uses (design.md, "The compiled fast path"): then the pure-Python
path runs, which behaves the same. :data:`accelerated` says which, and
:data:`reason` why.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import zmq

__all__ = ["accelerated", "check_libzmq", "compiled_twin", "pyzmq_extension", "reason"]

#: True when the compiled fast path runs.
accelerated = False
#: Why the fast path is what it is, in a few words.
reason = "not loaded yet"
# Set by check_libzmq: the version and file of the libzmq it accepted.
_libzmq_accepted = ""

ENVIRONMENT_VARIABLE = "GREEN_ZMQ_PURE_PYTHON"


def pyzmq_extension() -> str:
    """The file of pyzmq's Cython extension module, whose libzmq we must use."""
    from zmq.backend.cython import _zmq

    return str(_zmq.__file__)


def check_libzmq(why: str | None, version: Any, library: str | None, copies: int) -> None:
    """Refuse (ImportError) unless the entry points found are those of pyzmq's libzmq.

    They were resolved through pyzmq's extension module, so from the
    library it is linked with. Two copies of libzmq in one process would
    still leave a doubt about which one pyzmq's calls bind to, and two
    copies on one socket is undefined behaviour: then, and on any other
    doubt, the pure-Python path runs.
    """
    if why is not None:
        raise ImportError(why)
    if tuple(version) != zmq.zmq_version_info():
        raise ImportError(
            f"libzmq {version} found, but pyzmq reports {zmq.zmq_version_info()}"
        )
    if copies > 1:
        raise ImportError(f"{copies} copies of libzmq are loaded; which one pyzmq uses is unsure")
    if copies == 0 and library != pyzmq_extension():
        raise ImportError(f"libzmq's entry points are in {library}, which is not libzmq")
    global _libzmq_accepted
    _libzmq_accepted = f"libzmq {'.'.join(map(str, version))} in {os.path.normpath(library or '?')}"


def compiled_twin(names: list[str]) -> ModuleType | None:
    """The compiled fast path module, with all of ``names``, or None (and :data:`reason` says why).

    A twin built from an older ``_fastpath.py`` (the source edited, the
    extension not rebuilt) may lack a name the source now exports: it is
    then left alone, rather than failing the import of green_zmq.
    """
    global accelerated, reason
    if os.environ.get(ENVIRONMENT_VARIABLE, "") not in ("", "0"):
        reason = f"pure Python: {ENVIRONMENT_VARIABLE} is set"
        return None
    try:
        module = importlib.import_module("green_zmq._c_fastpath")
    except ImportError as exc:
        reason = f"pure Python: the compiled fast path is not available ({exc})"
        return None
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        reason = (
            f"pure Python: the compiled fast path is older than _fastpath.py (it lacks "
            f"{', '.join(missing)}); rebuild it (pip install -e ., or setup.py build_ext --inplace)"
        )
        return None
    accelerated = True
    reason = f"compiled, calling pyzmq's {_libzmq_accepted}"
    return module
