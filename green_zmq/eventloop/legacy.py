"""pyzmq's older eventloop names, on the green IOLoop: DelayedCallback, ZMQPoller, install.

pyzmq kept these in ``zmq.eventloop.ioloop`` for code written before
tornado 5; ``green_zmq.eventloop.ioloop`` re-exports them, so that such
code finds them where it looks.
"""

from __future__ import annotations

from typing import Any, Callable

from tornado.ioloop import IOLoop as _TornadoIOLoop

from .._ints import POLLERR as _POLLERR, POLLIN as _POLLIN, POLLOUT as _POLLOUT
from ..poll import Poller
from .ioloop import IOLoop, _loop_or_current

__all__ = ["DelayedCallback", "ZMQPoller", "install"]


class DelayedCallback:
    """Call ``callback`` once, ``callback_time`` milliseconds after :meth:`start`.

    pyzmq's old one-shot timer, kept for code that uses it; it is
    ``io_loop.call_later`` with start/stop. Unlike pyzmq's, starting it again
    while pending reschedules it instead of adding a second call, and a
    coroutine callback is run to completion by the loop.
    """

    def __init__(
        self,
        callback: Callable[[], Any],
        callback_time: float,
        io_loop: _TornadoIOLoop | None = None,
    ) -> None:
        if callback_time < 0:
            raise ValueError("DelayedCallback needs a callback_time >= 0 (milliseconds)")
        self.callback = callback
        self.callback_time = callback_time
        self.io_loop: _TornadoIOLoop | None = io_loop
        self._timeout: object = None

    def start(self) -> None:
        """Schedule the call, ``callback_time`` ms from now."""
        self.stop()
        self.io_loop = _loop_or_current(self.io_loop)
        self._timeout = self.io_loop.call_later(self.callback_time / 1000.0, self._run)

    def stop(self) -> None:
        """Cancel the call if it has not happened yet."""
        if self._timeout is not None and self.io_loop is not None:
            self.io_loop.remove_timeout(self._timeout)
        self._timeout = None

    def is_running(self) -> bool:
        """True between :meth:`start` and the call (or :meth:`stop`)."""
        return self._timeout is not None

    def _run(self) -> Any:
        self._timeout = None
        # Returned to the IOLoop, which logs errors and runs coroutines.
        return self.callback()


class ZMQPoller:
    """pyzmq's tornado poller API on a green :class:`green_zmq.Poller`.

    ``register``/``modify``/``unregister`` take IOLoop.READ/WRITE/ERROR
    masks, and :meth:`poll` takes seconds and returns ``(socket_or_fd,
    mask)`` pairs with the same masks. Unlike pyzmq's, waiting blocks only
    the calling greenlet, and ``poll(None)`` waits until something is ready.
    """

    def __init__(self) -> None:
        self._poller = Poller()

    @staticmethod
    def _to_zmq(events: int) -> int:
        mask = 0
        if events & IOLoop.READ:
            mask |= _POLLIN
        if events & IOLoop.WRITE:
            mask |= _POLLOUT
        if events & IOLoop.ERROR:
            mask |= _POLLERR
        return mask

    @staticmethod
    def _from_zmq(mask: int) -> int:
        events = 0
        if mask & _POLLIN:
            events |= IOLoop.READ
        if mask & _POLLOUT:
            events |= IOLoop.WRITE
        if mask & _POLLERR:
            events |= IOLoop.ERROR
        return events

    def register(self, fd: Any, events: int) -> None:
        """Watch a zmq socket, fd or object with ``fileno()`` for IOLoop events."""
        self._poller.register(fd, self._to_zmq(events))

    def modify(self, fd: Any, events: int) -> None:
        """Change the events watched for a registered ``fd``."""
        self._poller.modify(fd, self._to_zmq(events))

    def unregister(self, fd: Any) -> None:
        """Stop watching ``fd``; ``KeyError`` if it was not registered."""
        self._poller.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` seconds (``None``: no limit) for registered events."""
        ms = None if timeout is None else timeout * 1000.0
        return [(fd, self._from_zmq(mask)) for fd, mask in self._poller.poll(ms)]

    def close(self) -> None:
        """Unregister everything."""
        for fd, _ in list(self._poller.sockets):
            self._poller.unregister(fd)


def install() -> None:
    """Make the green IOLoop tornado's default, and this thread's current loop.

    Afterwards ``tornado.ioloop.IOLoop()`` creates green loops, and
    ``tornado.ioloop.IOLoop.current()`` outside a running loop returns
    the same green loop as :meth:`IOLoop.current`. Unlike pyzmq's old
    ``install()``, it does not refuse when tornado was already used.
    """
    _TornadoIOLoop.configure(IOLoop)
    IOLoop.current()._make_current()
