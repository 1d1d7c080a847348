"""Every private attribute of a dependency that green_zmq touches, one accessor each.

pyzmq, asyncio and tornado do not offer these publicly. Each accessor
names what it reads, and fails with :class:`CompatError` naming the
attribute and the dependency's version when a release takes it away, so
that an upgrade fails loudly instead of hanging. ``tests/test_contract.py``
checks each one against the installed versions.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import threading
from asyncio import events as _asyncio_events
from typing import Any, Callable

import zmq

__all__ = [
    "OVERRIDDEN_HOOKS",
    "BaseSelectorImpl",
    "CompatError",
    "device_prefixes",
    "device_sockets",
    "get_running_loop",
    "policy_current_loop",
    "selector_keys",
    "set_running_loop",
    "tornado_loop_for",
    "condition_waiters",
    "event_condition",
    "hub_if_exists",
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


_PYTHON = sys.version.split()[0]


def _find_hub_if_exists() -> Callable[[], Any]:
    import gevent
    from gevent import _hub_local

    try:
        return _hub_local.get_hub_if_exists  # type: ignore[no-any-return]
    except AttributeError:
        raise _missing("gevent._hub_local", "get_hub_if_exists", gevent.__version__) from None


# gevent's ``_hub_local.get_hub_if_exists()``: this thread's hub, or None,
# making none. Every "is this the hub's thread?" check asks it, not
# get_hub(): a finalizer may run in a thread that has no hub, or whose
# thread-local state is being torn down as it ends, where making one fails
# (and elsewhere would make a hub for nothing). Found once: some of those
# checks are on every re-check's path.
hub_if_exists: Callable[[], Any] = _find_hub_if_exists()


def _python_private(module: Any, name: str, owner: str) -> Any:
    try:
        return getattr(module, name)
    except AttributeError:
        raise _missing(owner, name, _PYTHON) from None


# asyncio's "running loop" is per OS thread; a green loop makes it follow
# the greenlet that runs it (design.md, "The asyncio same-thread trap").
get_running_loop: Callable[[], Any] = _python_private(
    _asyncio_events, "_get_running_loop", "asyncio.events"
)
set_running_loop: Callable[[Any], None] = _python_private(
    _asyncio_events, "_set_running_loop", "asyncio.events"
)

# The selectors module's base class, which keeps the fd -> key map.
BaseSelectorImpl: type = _python_private(selectors, "_BaseSelectorImpl", "selectors")


def selector_keys(selector: Any) -> dict[int, Any]:
    """``selectors._BaseSelectorImpl._fd_to_key``: registered fd -> SelectorKey."""
    try:
        return selector._fd_to_key  # type: ignore[no-any-return]
    except AttributeError:
        raise _missing("selectors._BaseSelectorImpl", "_fd_to_key", _PYTHON) from None


def policy_current_loop() -> Any:
    """The default policy's ``_local._loop``: this thread's set loop, without making one."""
    policy = asyncio.get_event_loop_policy()
    try:
        return policy._local._loop  # type: ignore[attr-defined]
    except AttributeError:
        if isinstance(policy, asyncio.DefaultEventLoopPolicy):
            raise _missing("asyncio.DefaultEventLoopPolicy", "_local._loop", _PYTHON) from None
        return None  # another policy: it has no such thing to peek at


def tornado_loop_for(asyncio_loop: Any) -> Any:
    """tornado's ``IOLoop._ioloop_for_asyncio``: the IOLoop wrapping an asyncio loop."""
    import tornado
    from tornado.ioloop import IOLoop

    try:
        table = IOLoop._ioloop_for_asyncio  # type: ignore[attr-defined]
    except AttributeError:
        raise _missing("tornado.ioloop.IOLoop", "_ioloop_for_asyncio", tornado.version) from None
    return table.get(asyncio_loop)


def device_sockets(device: Any) -> tuple[Any, ...]:
    """pyzmq's ``Device._setup_sockets()``: the configured sockets, made and bound."""
    try:
        setup = device._setup_sockets
    except AttributeError:
        raise _missing("zmq.devices.Device", "_setup_sockets", zmq.__version__) from None
    return setup()  # type: ignore[no-any-return]


def device_prefixes(device: Any) -> tuple[bytes, bytes]:
    """pyzmq's ``MonitoredQueueBase._in_prefix`` and ``_out_prefix``."""
    try:
        return device._in_prefix, device._out_prefix
    except AttributeError:
        raise _missing(
            "zmq.devices.MonitoredQueueBase", "_in_prefix/_out_prefix", zmq.__version__
        ) from None


# Private methods of dependencies that green_zmq overrides or calls on its
# own subclasses: (module, class, attribute). tests/test_contract.py checks
# that each still exists, so that an upgrade that renames one fails loudly.
OVERRIDDEN_HOOKS: tuple[tuple[str, str, str], ...] = (
    ("tornado.platform.asyncio", "BaseAsyncIOLoop", "_clear_current_hook"),
    ("zmq.eventloop.zmqstream", "ZMQStream", "_handle_events"),
    ("zmq.eventloop.zmqstream", "ZMQStream", "_handle_recv"),
    ("zmq.eventloop.zmqstream", "ZMQStream", "_handle_send"),
    ("zmq.eventloop.zmqstream", "ZMQStream", "_rebuild_io_state"),
    ("zmq.eventloop.zmqstream", "ZMQStream", "_update_handler"),
    ("zmq.eventloop.zmqstream", "ZMQStream", "_send_queue"),
)
