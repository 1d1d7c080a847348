"""Every private attribute of a dependency that green_zmq touches, one accessor each.

pyzmq, asyncio and tornado do not offer these publicly. Each accessor
names what it reads, and fails with :class:`CompatError` naming the
attribute and the dependency's version when a release takes it away, so
that an upgrade fails loudly instead of hanging. ``tests/test_compat.py``
checks each one against the installed versions.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import zmq

__all__ = [
    "CompatError",
    "condition_waiters",
    "event_condition",
    "is_shadow",
    "poller_positions",
    "shadowed_object",
]


class CompatError(RuntimeError):
    """A private attribute green_zmq relies on is missing from a dependency."""


def _missing(owner: str, attribute: str, version: str) -> CompatError:
    return CompatError(
        f"green_zmq needs {owner}.{attribute}, which this version ({version}) does not have; "
        "please report it with the versions of pyzmq, gevent, tornado and Python"
    )


def poller_positions(poller: zmq.Poller) -> dict[Any, int]:
    """pyzmq's ``Poller._map``: each registered key's index in ``poller.sockets``."""
    try:
        return poller._map  # type: ignore[attr-defined,no-any-return]
    except AttributeError:
        raise _missing("zmq.Poller", "_map", zmq.__version__) from None


def event_condition(event: threading.Event) -> threading.Condition:
    """CPython's ``threading.Event._cond``: the condition ``set()`` notifies."""
    try:
        return event._cond  # type: ignore[attr-defined,no-any-return]
    except AttributeError:
        raise _missing("threading.Event", "_cond", sys.version.split()[0]) from None


def condition_waiters(condition: threading.Condition) -> Any:
    """CPython's ``threading.Condition._waiters``: the deque ``notify()`` releases."""
    try:
        return condition._waiters  # type: ignore[attr-defined]
    except AttributeError:
        raise _missing("threading.Condition", "_waiters", sys.version.split()[0]) from None


def is_shadow(socket: zmq.Socket) -> bool:
    """pyzmq's ``Socket._shadow``: made on an existing libzmq socket."""
    try:
        return bool(socket._shadow)
    except AttributeError:
        raise _missing("zmq.Socket", "_shadow", zmq.__version__) from None


def shadowed_object(socket: zmq.Socket) -> Any:
    """pyzmq's ``Socket._shadow_obj``: what a shadow was made of (a Socket, or an address)."""
    try:
        return socket._shadow_obj
    except AttributeError:
        raise _missing("zmq.Socket", "_shadow_obj", zmq.__version__) from None
