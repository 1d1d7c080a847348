"""ZMQStream on the green IOLoop: pyzmq's callback API for zmq sockets among greenlets.

``green_zmq.eventloop.zmqstream.ZMQStream`` is pyzmq's
``zmq.eventloop.zmqstream.ZMQStream`` (on_recv, on_recv_stream, on_send,
on_send_stream, send*, flush, stop_on_*, close, ...), reused as is: it only
makes NOBLOCK calls and watches the socket's FD through the IOLoop, and
the green :class:`~green_zmq.eventloop.ioloop.IOLoop` waits for that FD on
the gevent hub. Two things differ:

* the default loop is the green :meth:`IOLoop.current`, not tornado's;
* :meth:`ZMQStream.flush` polls through a green :class:`green_zmq.Poller`,
  so greenlets blocked on the same socket do not lose the wakeup that
  polling consumes (DESIGN.md fact 1).
"""

from __future__ import annotations

from typing import Any

import zmq
from zmq.eventloop.zmqstream import ZMQStream as _PyZMQStream

from ..poll import Poller
from .ioloop import IOLoop

__all__ = ["ZMQStream"]


class ZMQStream(_PyZMQStream):
    """pyzmq's ZMQStream, on the green IOLoop by default.

    Works with green sockets (``green_zmq.Context().socket(...)``) and plain
    pyzmq sockets alike. Callbacks run in the greenlet running the loop and
    may make green blocking calls; ``async def`` callbacks run on the loop.
    """

    def __init__(self, socket: zmq.Socket, io_loop: Any = None) -> None:
        super().__init__(socket, io_loop if io_loop is not None else IOLoop.current())
        self.poller = Poller()

    def flush(self, flag: int = zmq.POLLIN | zmq.POLLOUT, limit: int | None = None) -> int:
        """Handle pending events now, as pyzmq's ``flush(flag, limit)``; returns their count."""
        socket = self.socket
        try:
            return super().flush(flag, limit)
        finally:
            # A registration left on the green poller would make every later
            # send/recv on the socket re-check readiness for it.
            if any(registered is socket for registered, _ in self.poller.sockets):
                self.poller.unregister(socket)
