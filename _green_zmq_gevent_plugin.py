"""gevent's monkey-plugin hook for green_zmq: ``gevent.monkey.patch_all(green_zmq=...)``.

gevent imports every installed plugin on every ``patch_all()``. This one
lives outside the ``green_zmq`` package, so that a program which does not
pass ``green_zmq=...`` imports nothing of green_zmq (nor pyzmq) through it.
``green_zmq="zmq.green"`` runs :func:`green_zmq.monkey.patch`,
``green_zmq="zmq"`` runs ``patch(zmq=True)``, after gevent has patched the
standard library. ``green_zmq=True``, green_zmq 0.1.0's spelling, is
``"zmq.green"``.
"""

from __future__ import annotations

from typing import Any


def did_patch_builtins(event: Any) -> None:
    """The ``gevent.plugins.monkey.did_patch_builtins`` entry point."""
    option = event.patch_all_kwargs.get("green_zmq")
    if option is None or option is False:
        return
    from green_zmq import monkey

    target = "zmq.green" if option is True else option
    if target not in monkey._TARGETS:
        raise ValueError(
            f"patch_all(green_zmq={option!r}): expected 'zmq.green' or 'zmq'"
            " (True is 'zmq.green')"
        )
    monkey._patch_target(target)
