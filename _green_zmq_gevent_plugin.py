"""gevent's monkey-plugin hook for green_zmq: ``gevent.monkey.patch_all(green_zmq=True)``.

gevent imports every installed plugin on every ``patch_all()``. This one
lives outside the ``green_zmq`` package, so that a program which does not
pass ``green_zmq=...`` imports nothing of green_zmq (nor pyzmq) through it.
``green_zmq=True`` runs :func:`green_zmq.monkey.patch`, ``green_zmq="zmq"``
runs ``patch(zmq=True)``, after gevent has patched the standard library.
"""

from __future__ import annotations

from typing import Any


def did_patch_builtins(event: Any) -> None:
    """The ``gevent.plugins.monkey.did_patch_builtins`` entry point."""
    option = event.patch_all_kwargs.get("green_zmq")
    if option is None or option is False:
        return
    if option is not True and option != "zmq":
        raise ValueError(f"patch_all(green_zmq={option!r}): expected True or 'zmq'")
    from green_zmq.monkey import patch

    patch(zmq=option == "zmq")
