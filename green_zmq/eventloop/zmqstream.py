"""ZMQStream on the green IOLoop: pyzmq's callback API for zmq sockets among greenlets.

``green_zmq.eventloop.zmqstream.ZMQStream`` is pyzmq's
``zmq.eventloop.zmqstream.ZMQStream`` (on_recv, on_recv_stream, on_send,
on_send_stream, send*, flush, stop_on_*, close, ...), reused as is: it only
makes NOBLOCK calls and watches the socket's FD through the IOLoop, and
the green :class:`~green_zmq.eventloop.ioloop.IOLoop` waits for that FD on
the gevent hub. What differs:

* the default loop is the green :meth:`IOLoop.current`, not tornado's;
* :meth:`ZMQStream.flush` polls through a green :class:`green_zmq.Poller`,
  so greenlets blocked on the same socket do not lose the wakeup that
  polling consumes (design.md, "The FD is an edge");
* the event handler is pyzmq's, made cheaper: after a recv callback has
  queued a send (a REP answering), the send goes out in the same pass
  instead of one loop iteration later, at most one re-dispatch is pending
  at a time, and readiness is read as a plain int. In a single-threaded
  green program every loop iteration saved is latency the peer greenlet
  does not wait. As in pyzmq, a callback that raises (or a message that
  cannot be sent) is logged and the stream goes on with its queue; here
  also when the sends had been queued before there was room, where
  pyzmq's own stream stalls.
"""

from __future__ import annotations

from collections import deque
from typing import Any, cast

import zmq
from tornado.log import gen_log
from zmq.eventloop.zmqstream import ZMQStream as _PyZMQStream

from .._ints import EVENTS as _EVENTS, POLLIN as _POLLIN, POLLOUT as _POLLOUT
from ..poll import Poller
from .ioloop import IOLoop

__all__ = ["ZMQStream"]

class _SendQueue(deque):
    """The ``queue.Queue`` methods ZMQStream uses, without a lock.

    A stream lives in its loop's thread (its socket can live nowhere else),
    and one lock round per call was a measurable part of a round trip.
    """

    put = deque.append

    def get(self) -> Any:
        return self.popleft()

    def empty(self) -> bool:
        return not self


class ZMQStream(_PyZMQStream):
    """pyzmq's ZMQStream, on the green IOLoop by default.

    Works with green sockets (``green_zmq.Context().socket(...)``) and plain
    pyzmq sockets alike. Callbacks run in the greenlet running the loop and
    may make green blocking calls; ``async def`` callbacks run on the loop.
    """

    # True while _handle_events runs: it re-checks readiness when it ends,
    # so nothing needs scheduling meanwhile.
    _dispatching = False
    # A re-dispatch is already queued on the loop.
    _dispatch_queued = False

    def __init__(self, socket: zmq.Socket, io_loop: Any = None) -> None:
        super().__init__(socket, io_loop if io_loop is not None else IOLoop.current())
        self.poller = Poller()
        self._send_queue = _SendQueue()  # type: ignore[assignment]

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

    # -- the event handler (pyzmq's, with fewer loop iterations) ------------

    def _handle_events(self, fd: Any, events: int) -> None:
        socket = self.socket
        if socket is None:
            gen_log.warning("Got events for closed stream %s", self)
            return
        try:
            ready = cast(int, socket.get(_EVENTS))
        except zmq.ContextTerminated:
            gen_log.warning("Got events for stream %s after terminating context", self)
            self.closed()
            return
        except zmq.ZMQError as exc:
            if self.closed():
                gen_log.warning("Got events for stream %s attached to closed socket: %s", self, exc)
            else:
                gen_log.error("Error getting events for %s: %s", self, exc)
            return
        self._dispatching = True
        try:
            try:
                if ready & _POLLIN and self._recv_callback is not None:
                    self._handle_recv()
                    if self.socket is None:
                        return
                if self.sending():
                    if not ready & _POLLOUT:
                        # The recv (or its callback) may have made room: a REP
                        # can answer now rather than after another select().
                        ready = cast(int, socket.get(_EVENTS))
                    if ready & _POLLOUT:
                        self._handle_send()
                        if self.socket is None:
                            return
            finally:
                self._dispatching = False
                # Also when a callback raised. pyzmq queues a dispatch per
                # send, so the sends still queued, and one the raising
                # callback made, go out; here the re-dispatch scheduled by
                # this does it. The FD edge that announced the room has come
                # and gone.
                self._rebuild_io_state()
        except Exception:
            # Logged as pyzmq logs it, also when the rebuild fails (a
            # callback closed the socket, not the stream).
            gen_log.error("Uncaught exception in zmqstream callback", exc_info=True)
            raise

    def _rebuild_io_state(self) -> None:
        if self.socket is None:
            return
        state = (_POLLIN if self._recv_callback is not None else 0) | (
            _POLLOUT if self.sending() else 0
        )
        self._state = state
        self._update_handler(state)

    def _update_handler(self, state: int) -> None:
        socket = self.socket
        if socket is None or self._dispatching or self._dispatch_queued:
            return
        # The FD is edge-triggered: readiness that is already there will not
        # fire it again, so handle it from the loop (as pyzmq does).
        if int(state) & cast(int, socket.get(_EVENTS)):
            self._dispatch_queued = True
            self.io_loop.add_callback(self._dispatch_queued_events)

    def _dispatch_queued_events(self) -> None:
        self._dispatch_queued = False
        self._handle_events(self.socket, 0)
