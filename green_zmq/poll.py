"""Green Poller and select: pyzmq's polling API, waiting only the calling greenlet.

Readiness is always computed by libzmq itself (``zmq_poll`` with a zero
timeout), so results are exactly plain pyzmq's. Only the waiting between
two such checks is green, and it goes through the package's one primitive
(:class:`green_zmq._waiting.PollWaiting`): a poller keeps a persistent
registration on each socket and fd, so a poll over many idle sockets costs
no per-socket Python work, no watcher is made per call, and any number of
greenlets may poll one poller at once.

Lifecycle of a registration::

    register() -> registration kept (its watcher runs while anyone polls)
    poll()     -> check now; if nothing, park until a registration fires
    unregister() / poller collected -> registration removed
"""

from __future__ import annotations

from typing import Any

import zmq
from zmq.backend import zmq_poll

from . import _compat
from ._ints import (
    POLLERR as _POLLERR,
    POLLIN as _POLLIN,
    POLLOUT as _POLLOUT,
    POLLPRI as _POLLPRI,
    int_flags,
)
from ._stand_in import StandIn
from ._waiting import PollWaiting, deadline_after, socket_waiting

__all__ = ["Poller", "select"]

# Pollers of up to this many registrations check them all every time.
_FEW = 4

# zmq_poll takes its timeout as a C int of milliseconds.
_INT_MAX = 2**31 - 1


class Poller(zmq.Poller, metaclass=StandIn):
    """A :class:`zmq.Poller` whose :meth:`poll` blocks only the calling greenlet.

    Registers zmq sockets (green or plain), integer fds and objects with
    ``fileno()``, with POLLIN, POLLOUT, POLLERR and POLLPRI; results are
    plain pyzmq's. Several greenlets may poll one poller at once; each gets
    what plain pyzmq's ``poll`` would have returned to it. Like a socket, a
    poller may be used from one thread and then another, never from two at
    once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._waiting = PollWaiting()

    def register(self, socket: Any, flags: int = _POLLIN | _POLLOUT) -> None:
        """Register a socket or fd for the given events (0 unregisters), as pyzmq does."""
        super().register(socket, flags)
        if not flags:
            return
        try:
            mask = int_flags(flags)
        except TypeError:
            # pyzmq accepts it here and fails in poll(); so do we, by
            # checking it every time with zmq_poll.
            self._waiting.check_always(socket)
            return
        try:
            if isinstance(socket, zmq.Socket):
                # A green socket makes its own state (in a forked child it
                # refuses); a plain one is watched through its libzmq socket.
                own_state = getattr(socket, "_state", None)
                if own_state is None:
                    state, plain = socket_waiting(socket), True
                else:
                    state, plain = own_state(), False
                self._waiting.watch_socket(socket, state, mask, plain)
                return
            fd = socket if isinstance(socket, int) else int(socket.fileno())
            self._waiting.watch_fd(
                socket,
                fd,
                readable=bool(mask & _POLLIN),
                writable=bool(mask & _POLLOUT),
                urgent=bool(mask & _POLLPRI),
            )
        except RuntimeError:
            raise
        except Exception:
            # Plain pyzmq accepts anything here and fails (or reports it) in
            # poll(); so do we: our poll() starts with the same zmq_poll,
            # which looks at every registration that has no watcher.
            self._waiting.check_always(socket)

    def unregister(self, socket: Any) -> None:
        """Stop polling a socket or fd; ``KeyError`` if it is not registered."""
        super().unregister(socket)
        self._waiting.unwatch(socket)

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:  # type: ignore[override]
        """Wait for events, as :meth:`zmq.Poller.poll` (timeout in milliseconds).

        ``None`` or a negative timeout waits forever; ``0`` never blocks. An
        empty poller returns ``[]`` at once, as plain pyzmq's does.
        """
        if timeout is None or timeout < 0:
            ms = -1
        else:
            ms = int(timeout)
            if ms > _INT_MAX:
                raise OverflowError("value too large to convert to int")
        ready = self._ready_now(False)
        if ready or ms == 0 or not self.sockets:
            return ready
        # Timed from here: the check above only makes the wait longer.
        deadline = deadline_after(ms)
        waiting = self._waiting
        while True:
            if not waiting.wait(deadline):
                # One last look, as a plain poll's timeout would end with one.
                return self._ready_now(False)
            ready = self._ready_now(True)
            if ready:
                return ready

    def _ready_now(self, woken: bool) -> list[tuple[Any, int]]:
        items = self._to_check()
        waiting = self._waiting
        waiting.check_open(items)
        ready = zmq_poll(items, 0) if items else []
        waiting.after_poll(items, ready, woken)
        return ready

    def _to_check(self) -> list[tuple[Any, int]]:
        # Only what may have changed: sockets marked dirty or whose FD is
        # signalled (the hub may not have run since), and every fd and odd
        # registration. Registration order is kept, as plain pyzmq reports it.
        sockets = self.sockets
        if len(sockets) <= _FEW:
            # Looking at a few sockets costs less than finding out which.
            return sockets
        waiting = self._waiting
        dirty = waiting.may_be_ready()
        always = waiting.always
        if len(dirty) + len(always) >= len(sockets):
            return sockets
        where = _compat.poller_positions(self)
        positions = sorted(where[key] for key in (*dirty, *always) if key in where)
        return [sockets[i] for i in positions]

    def _release(self) -> None:
        self._waiting.release()

    def __del__(self) -> None:
        # No libzmq call here (a finalizer may run in the hub): only the
        # registrations are dropped. A poller whose __init__ never ran (or
        # was interrupted, by an exception from a signal handler) has none.
        waiting = self.__dict__.get("_waiting")
        if waiting is not None:
            waiting.release()


def select(
    rlist: list[Any], wlist: list[Any], xlist: list[Any], timeout: float | None = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """Return the sockets ready for reading, writing and errors, as :func:`zmq.select`.

    ``timeout`` is in seconds (``None`` waits forever); only the calling
    greenlet waits.
    """
    ms = -1 if timeout is None else int(timeout * 1000.0)
    poller = Poller()
    try:
        for s in set(rlist + wlist + xlist):
            flags = 0
            if s in rlist:
                flags |= _POLLIN
            if s in wlist:
                flags |= _POLLOUT
            if s in xlist:
                flags |= _POLLERR
            poller.register(s, flags)
        ready = poller.poll(ms)
    finally:
        poller._release()
    readable, writable, errored = [], [], []
    for s, events in ready:
        if events & _POLLIN:
            readable.append(s)
        if events & _POLLOUT:
            writable.append(s)
        if events & _POLLERR:
            errored.append(s)
    return readable, writable, errored
