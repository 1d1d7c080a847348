"""A ``selectors`` selector whose ``select()`` parks the calling greenlet on the hub.

The waiting primitive under green_zmq's asyncio loop
(:class:`green_zmq.asyncio.GreenEventLoop`): everything above it is
unmodified asyncio. It lives here, with the package's other ways of
waiting, because it parks, wakes and watches like them.
"""

from __future__ import annotations

from selectors import EVENT_READ, EVENT_WRITE
from time import monotonic
from typing import Any

import zmq
from gevent.hub import get_hub

from .. import _compat
from .fd import READABLE, WRITABLE, FdSet
from .registry import hub_waiting
from .turns import Turn, park, wake

__all__ = ["HubSelector"]


class HubSelector(_compat.BaseSelectorImpl):  # type: ignore[misc,name-defined]
    """A ``selectors`` selector whose ``select()`` parks the calling greenlet on the hub.

    A plain asyncio loop's epoll selector, whose wait goes through the hub:
    the registered fds are kept in an epoll set of their own
    (:class:`~.fd.FdSet`), and ``select()`` parks a turn of
    green_zmq's one primitive (so its waits are counted and fork-checked
    like every other) until the set fires. So registering, changing and
    unregistering an fd, and closing one that is registered, do what they
    do to a plain asyncio loop (design.md, "Closed file descriptors"): the
    same errors (on Linux, epoll's: ``OSError(EBADF)`` for a bad fd,
    ``PermissionError(EPERM)`` for a regular file), and a closed fd falls
    silent. (gevent's ``GeventSelector`` gives each fd a libev watcher,
    which aborts the process when the fd is closed under it.)

    It knows whether its runner is parked (so the loop can tell when a
    foreign greenlet must wake it), and can be woken directly by another
    greenlet (no self-pipe round trip). An fd registered by another greenlet
    while the runner is parked is watched at once: the set is live.

    Lifecycle of the set's watcher::

        made -> started; fires -> runner parked? woken : stopped
        select() -> restarted if stopped, park, return what the set has ready

    The watcher stops when it fires while the runner is away (busy, or
    parked in a green call inside a callback), so that a ready fd the loop
    is not looking at cannot make the hub spin; ``select()`` then goes only
    once round the hub.

    The watcher keeps the hub alive only while the loop runs
    (:meth:`hold_hub`): a loop that never ran, or has stopped, must not keep
    ``gevent.wait()`` from returning, as a plain asyncio loop keeps no
    thread from ending.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hub = get_hub()
        self._registry = hub_waiting(self.hub)
        self._fds = FdSet(self._on_ready, priority=self.hub.loop.MAXPRI)
        self._fds.hold_hub(False)
        self._fds.start()
        # The set fired while the runner was away, and was stopped.
        self._missed = False
        self._turn = Turn()

    @property
    def parked(self) -> bool:
        """True while the runner greenlet is waiting in ``select()``."""
        return self._turn.parked

    def register(self, fileobj: Any, events: int, data: Any = None) -> Any:
        key = super().register(fileobj, events, data)
        try:
            self._fds.add(key.fd, _watched(events))
        except BaseException:
            super().unregister(fileobj)
            raise
        return key

    def unregister(self, fileobj: Any) -> Any:
        key = super().unregister(fileobj)
        self._fds.discard(key.fd)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> Any:
        # As a plain epoll selector: the kernel is told only when the events
        # change, and an fd it refuses (closed since, or its number reused)
        # is unregistered, and the error raised.
        key = self.get_key(fileobj)
        if events != key.events:
            try:
                self._fds.change(key.fd, _watched(events))
            except BaseException:
                super().unregister(fileobj)
                raise
        if events != key.events or data != key.data:
            key = key._replace(events=events, data=data)
            _compat.selector_keys(self)[key.fd] = key
        return key

    def hold_hub(self, hold: bool) -> None:
        """Make the watcher keep the hub alive (while the loop runs) or not."""
        self._fds.hold_hub(hold)

    def _on_ready(self) -> None:
        # In the hub.
        if self._turn.parked:
            # Deferred to the hub's callbacks, as every wakeup of the runner.
            wake(self._turn, self.hub)
        else:
            self._fds.stop()
            self._missed = True

    def wake(self) -> None:
        """Make a parked ``select()`` return now (from any greenlet of this thread)."""
        if self._turn.parked:
            wake(self._turn, self.hub)

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        fds = self._fds
        if not fds.active:
            fds.start()
        # select(0) still goes once round the hub: other greenlets run, and
        # io is polled, as asyncio's select(0) polls it. So does a select()
        # with fds known to be ready.
        go_round = self._missed or (timeout is not None and timeout <= 0)
        self._missed = False
        if go_round:
            deadline: float | None = monotonic()
        else:
            deadline = None if timeout is None else monotonic() + timeout
        try:
            park(self._turn, self._registry, deadline, go_round=go_round)
        except zmq.Again:
            pass
        ready = []
        fd_to_key = _compat.selector_keys(self)
        for fd, events in fds.ready():
            key = fd_to_key.get(fd)
            if key is not None:
                ready.append((key, events & key.events))
        return ready

    def close(self) -> None:
        self._fds.close()
        super().close()


def _watched(events: int) -> int:
    """What the fd set watches for the selectors module's ``events``."""
    return (READABLE if events & EVENT_READ else 0) | (WRITABLE if events & EVENT_WRITE else 0)
