"""pyzmq's own checks of a call's arguments, made without making the call.

A greenlet that finds others queued in its direction takes its turn
without trying its call (trying could take the readiness owed to the one
at the head). But a call that plain pyzmq refuses for its arguments (a str
to send, a read-only buffer to receive into, flags too large for a C int)
must fail at once, as it does in a thread of its own, not after the
others. Which arguments pyzmq refuses, and with which words, is pyzmq's
business and changes between its versions; so the call is made, NOBLOCK,
on a socket of the same direction that can never take it (it has no
peer): an error other than EAGAIN is what the real call would have raised
before reaching libzmq.

The two sockets live in a context of their own, made on first use, with
no I/O thread. They are plain pyzmq sockets, whatever ``monkey.patch``
did to ``zmq`` later. A forked child makes its own.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import zmq

__all__ = ["check_arguments"]

# pyzmq's own classes, as imported before any patching (green_zmq imports
# this module before monkey.patch can replace zmq.Context and zmq.Socket).
_Context = zmq.Context
_Socket = zmq.Socket

_sockets: dict[bool, Any] = {}
_pid = 0


def _socket(writing: bool) -> Any:
    global _pid
    if _pid != os.getpid():
        # Made here, or inherited through fork: the parent's are not ours.
        _sockets.clear()
        _pid = os.getpid()
    sock = _sockets.get(writing)
    if sock is None:
        context = _Context(io_threads=0)
        for direction, kind in ((True, zmq.PUSH), (False, zmq.PULL)):
            _sockets[direction] = context.socket(kind, socket_class=_Socket)
        sock = _sockets[writing]
    return sock


def check_arguments(writing: bool, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Raise what ``call(*args)`` raises for its arguments alone; return if they pass.

    ``args[0]`` is the socket, and it is replaced by one of the same
    direction (``writing``) with no peer; the flags among the arguments
    must hold NOBLOCK, so that the call cannot wait.
    """
    try:
        call(_socket(writing), *args[1:])
    except zmq.Again:
        pass
