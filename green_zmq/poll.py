"""Green Poller and select: pyzmq's polling API, waiting only the calling greenlet.

Readiness is always computed by libzmq itself (``zmq_poll`` with a zero
timeout), so results are exactly plain pyzmq's. Only the waiting between
two such checks is green, and it goes through the same primitive as the
sockets (:mod:`green_zmq._waiting`): a poller registers a persistent
interest on each green socket, so a poll over many idle sockets costs no
per-socket Python work, and watchers are not created per call.

Lifecycle of a registration::

    register() -> interest on the socket (watcher runs while anyone waits)
    poll()     -> check now; if nothing, park until an interest or fd wakes us
    unregister() / poller collected -> interest removed
"""

from __future__ import annotations

from time import monotonic
from typing import Any

import zmq
from gevent.hub import get_hub
from gevent.monkey import get_original
from zmq.backend import zmq_poll

from ._ints import POLLERR as _POLLERR, POLLIN as _POLLIN, POLLOUT as _POLLOUT, int_flags
from ._waiting import (
    Interest,
    PollTurn,
    SocketWaiting,
    fork_error,
    hub_waiting,
    park,
    wake_in_hub,
)

__all__ = ["Poller", "select"]

_READ = 1
_WRITE = 2

# Asks the kernel which mailboxes are signalled, without yielding, even
# under monkey-patching.
_real_poll = get_original("select", "poll")
_FD_READABLE = 1

# Pollers of up to this many registrations check them all every time.
_FEW = 4


class Poller(zmq.Poller):
    """A :class:`zmq.Poller` whose :meth:`poll` blocks only the calling greenlet.

    Registers zmq sockets, integer fds and objects with ``fileno()``, with
    POLLIN, POLLOUT and POLLERR; results are plain pyzmq's. A poller belongs
    to the thread that created it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._hub = get_hub()
        self._registry = hub_waiting(self._hub)
        self._turn = PollTurn()
        # socket -> (state, interest) for green sockets, or an io watcher
        # for anything else that has a file descriptor.
        self._green: dict[Any, tuple[SocketWaiting, Interest]] = {}
        self._watchers: dict[Any, Any] = {}
        # Registrations checked on every poll: everything but green sockets
        # (fds are cheap to look at; garbage must fail the way pyzmq fails).
        self._always: set[Any] = set()
        # The green sockets' FDs, to find signals the hub has not seen yet.
        self._signalled = _real_poll()
        self._key_by_fd: dict[int, Any] = {}

    def register(self, socket: Any, flags: int = _POLLIN | _POLLOUT) -> None:
        """Register a socket or fd for the given events (0 unregisters), as pyzmq does."""
        super().register(socket, flags)
        if flags:
            try:
                mask = int_flags(flags)
            except TypeError:
                # pyzmq accepts it here and fails in poll(); so do we, by
                # checking it every time with zmq_poll.
                self._unwatch(socket)
                self._always.add(socket)
                return
            self._watch(socket, mask)

    def unregister(self, socket: Any) -> None:
        """Stop polling a socket or fd; ``KeyError`` if it is not registered."""
        super().unregister(socket)
        self._unwatch(socket)

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:  # type: ignore[override]
        """Wait for events, as :meth:`zmq.Poller.poll` (timeout in milliseconds).

        ``None`` or a negative timeout waits forever; ``0`` never blocks.
        """
        if self._registry.forked:
            # Inherited through fork: libzmq would answer EINTR forever.
            raise fork_error()
        if timeout is None or timeout < 0:
            ms = -1
        else:
            ms = int(timeout)
        turn = self._turn
        turn.woken = False
        ready = self._ready_now()
        if ready or ms == 0:
            return ready
        if get_hub() is not self._hub:
            raise RuntimeError("green_zmq Poller used from a thread other than its own")
        deadline = None if ms < 0 else monotonic() + ms / 1000.0
        watchers = self._watchers.values()
        for watcher in watchers:
            watcher.start(self._wake)
        try:
            while True:
                for state in turn.dormant:
                    state.rearm()
                turn.dormant.clear()
                try:
                    park(turn, self._hub, self._registry, deadline)
                except zmq.Again:
                    return []
                ready = self._ready_now()
                if ready:
                    return ready
        finally:
            for watcher in watchers:
                watcher.stop()

    def _to_check(self) -> list[tuple[Any, int]]:
        # Only what may have changed: green sockets marked dirty or whose
        # FD is signalled (the hub may not have run since), and the rest.
        # Registration order is kept, as plain pyzmq reports it.
        sockets = self.sockets
        if len(sockets) <= _FEW:
            # Looking at a few sockets costs less than finding out which.
            return sockets
        dirty = self._turn.dirty
        if self._key_by_fd:
            key_by_fd = self._key_by_fd
            dirty.update(key_by_fd[fd] for fd, _ in self._signalled.poll(0))
        if len(dirty) + len(self._always) >= len(sockets):
            return sockets
        where = self._map
        positions = sorted(where[key] for key in (*dirty, *self._always) if key in where)
        return [sockets[i] for i in positions]

    def _ready_now(self) -> list[tuple[Any, int]]:
        items = self._to_check()
        dirty = self._turn.dirty
        green = self._green
        for key, _ in items:
            entry = green.get(key)
            if entry is not None and entry[0].closed:
                # As a plain poll interrupted by close(); zmq_poll itself
                # would take the closed socket's NULL handle for fd 0.
                raise zmq.ZMQError(zmq.ENOTSOCK)
        ready = zmq_poll(items, 0) if items else []
        if dirty:
            found = {key for key, _ in ready}
            for key, _ in items:
                if key not in found:
                    dirty.discard(key)
        # zmq_poll read EVENTS of the sockets it looked at, draining their
        # FDs: whoever else waits on them must be re-checked, or loses its
        # wakeup.
        for state in list(self._registry.contended):
            socket = state.socket()
            if socket is not None and socket in green:
                state.recheck(socket)
        for key, _ in ready:
            entry = green.get(key)
            if entry is not None:
                entry[0].got_news()
        return ready

    def _wake(self) -> None:
        wake_in_hub(self._turn)

    def _watch(self, socket: Any, flags: int) -> None:
        entry = self._green.get(socket)
        if entry is not None:
            entry[1].mask = flags
            entry[1].mark()
            return
        waiting = getattr(socket, "_waiting", None)
        if isinstance(socket, zmq.Socket) and waiting is not None:
            state = waiting()
            interest = Interest(self._turn, flags, socket)
            state.add_interest(interest)
            self._green[socket] = (state, interest)
            self._signalled.register(state.fd, _FD_READABLE)
            self._key_by_fd[state.fd] = socket
            interest.mark()
            return
        self._always.add(socket)
        old = self._watchers.pop(socket, None)
        if old is not None:
            old.close()
        try:
            if isinstance(socket, zmq.Socket):
                # A plain pyzmq socket: its FD only says "check EVENTS".
                fd, events = socket.FD, _READ
            else:
                fd = socket if isinstance(socket, int) else int(socket.fileno())
                events = (_READ if flags & (_POLLIN | _POLLERR) else 0) | (
                    _WRITE if flags & _POLLOUT else 0
                )
            self._watchers[socket] = self._hub.loop.io(fd, events or _READ)
        except Exception:
            # Plain pyzmq accepts anything here and fails in poll(); so do we
            # (our poll() starts with the same zmq_poll).
            pass

    def _unwatch(self, socket: Any) -> None:
        entry = self._green.pop(socket, None)
        if entry is not None:
            state = entry[0]
            state.remove_interest(entry[1])
            self._turn.dirty.discard(socket)
            self._signalled.unregister(state.fd)
            del self._key_by_fd[state.fd]
        self._always.discard(socket)
        watcher = self._watchers.pop(socket, None)
        if watcher is not None:
            watcher.close()

    def _release(self) -> None:
        for socket in [*self._green, *self._always]:
            self._unwatch(socket)

    def __del__(self) -> None:
        self._release()


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
