"""Waiting on what is not a zmq socket: raw file descriptors, and other OS threads.

:class:`FdWaiter` is the package's one watcher of a raw fd (a Poller's
integer fds and ``fileno()`` objects, the eventloop's selector);
:class:`ThreadSignal` the one way another OS thread wakes a greenlet (a
tracker's event set by pyzmq's collector thread); :class:`Completion` work
that another OS thread finishes for any number of waiters (a context's
term, run in a thread of its own). Greenlets still wait through
:func:`.turns.park`, so these waits are counted, thread-checked and
fork-checked like the rest.
"""

from __future__ import annotations

import select
from typing import Any, Callable

import zmq
from gevent.hub import get_hub
from gevent.monkey import get_original

from .fork import on_fork_in_child
from .registry import hub_waiting
from .turns import Turn, park, wake_in_hub

__all__ = ["READABLE", "WRITABLE", "Completion", "FdWaiter", "ThreadSignal"]

# What fired, as libev and the selectors module both number it.
READABLE = 1
WRITABLE = 2

# gevent's monkey-patching removes select.epoll.
_epoll = get_original("select", "epoll")

# One epoll set, kept, to ask whether an fd can be watched: a new one would
# take the lowest free fd number, which is the number of a just-closed fd.
_probe = _epoll()
# Real locks, also under gevent's monkey-patching: other OS threads take them.
_allocate_lock = get_original("_thread", "allocate_lock")
_probe_lock = _allocate_lock()


def _new_probe_in_child() -> None:
    # A forked child shares the parent's epoll set; it must not register
    # its fds into the parent's.
    global _probe
    _probe = _epoll()


on_fork_in_child(_new_probe_in_child)


def _check_watchable(fd: int, mask: int) -> None:
    """Raise what epoll raises for ``fd`` (EBADF, EPERM for a regular file...)."""
    with _probe_lock:
        _probe.register(fd, mask)
        _probe.unregister(fd)


class FdWaiter:
    """A persistent watcher of one raw fd; ``callback(arg, fired)`` runs in the hub.

    ``fired`` is READABLE | WRITABLE. The callback must only record and wake,
    never block or call libzmq. ``urgent`` asks for priority data (POLLPRI).
    An fd wanted for neither reading nor writing is watched for errors and
    hang-ups alone, which libev cannot express: it goes into an epoll set of
    its own whose fd libev watches, so a readable fd nobody asked to read
    never wakes anybody. Bad fds raise ``OSError`` as ``epoll`` does
    (EBADF; EPERM for a regular file).
    """

    __slots__ = ("_watcher", "_epoll", "_callback", "_arg", "fd")

    def __init__(
        self,
        fd: int,
        readable: bool,
        writable: bool,
        urgent: bool,
        callback: Callable[[Any, int], None],
        arg: Any,
        priority: int | None = None,
    ) -> None:
        self.fd = fd
        self._callback = callback
        self._arg = arg
        self._epoll = None
        loop = get_hub().loop
        if (readable or writable) and not urgent:
            # Ask epoll first: libev takes any fd and fails only later.
            events = (READABLE if readable else 0) | (WRITABLE if writable else 0)
            _check_watchable(
                fd, (select.EPOLLIN if readable else 0) | (select.EPOLLOUT if writable else 0)
            )
            self._watcher = loop.io(fd, events)
        else:
            self._epoll = _epoll()
            mask = (
                (select.EPOLLIN if readable else 0)
                | (select.EPOLLOUT if writable else 0)
                | (select.EPOLLPRI if urgent else 0)
            )
            try:
                self._epoll.register(fd, mask)
            except BaseException:
                self._epoll.close()
                raise
            self._watcher = loop.io(self._epoll.fileno(), READABLE)
        if priority is not None:
            self._watcher.priority = priority

    @property
    def active(self) -> bool:
        return bool(self._watcher.active)

    def hold_hub(self, hold: bool) -> None:
        """Whether the started watcher keeps the hub alive (``gevent.wait()`` waits for it)."""
        self._watcher.ref = hold

    def start(self) -> None:
        if self._epoll is None:
            self._watcher.start(self._fired, pass_events=True)
        else:
            self._watcher.start(self._urgent_fired)

    def stop(self) -> None:
        self._watcher.stop()

    def close(self) -> None:
        self._watcher.close()
        if self._epoll is not None:
            self._epoll.close()

    def _fired(self, events: int) -> None:
        self._callback(self._arg, events & (READABLE | WRITABLE))

    def _urgent_fired(self) -> None:
        # Level-triggered: whoever the callback wakes looks at the fd and
        # either reports it (the condition stays until handled, as for a
        # plain poll) or stops watching.
        self._callback(self._arg, READABLE)


class ThreadSignal:
    """Wakes a greenlet of the creating thread from any OS thread.

    Made (and its watcher started) before the other thread may call
    :meth:`send`, so that no signal is lost; :meth:`wait` parks until it
    came, or the deadline. Referenced while it exists: the hub must not
    conclude that nothing can wake the greenlet (``LoopExit``) while only
    another thread can. Close it once the other thread can no longer send.
    """

    __slots__ = ("_watcher", "_turn", "_registry")

    def __init__(self) -> None:
        hub = get_hub()
        self._registry = hub_waiting(hub)
        self._turn = Turn()
        self._watcher = hub.loop.async_()
        self._watcher.start(self._fired)

    def send(self) -> None:
        """Wake the waiter; safe from any thread (libev's async signal)."""
        self._watcher.send()

    def wait(self, deadline: float | None) -> bool:
        """Park until :meth:`send`; ``False`` if ``deadline`` came first."""
        try:
            park(self._turn, self._registry, deadline)
        except zmq.Again:
            return False
        return True

    def close(self) -> None:
        self._watcher.close()

    def _fired(self) -> None:
        # In the hub.
        wake_in_hub(self._turn)


class Completion:
    """Work that one OS thread finishes once, and any number of waiters wait for.

    :meth:`finish` may be called from any thread. :meth:`wait` parks the
    calling greenlet, whatever its thread, on a :class:`ThreadSignal` of its
    own; a waiter interrupted first (killed, a ``gevent.Timeout``) leaves,
    and the work goes on. Where nothing can park (in the hub itself, in a
    finalizer), ``wait(park=False)`` blocks the OS thread instead.

    A waiter's signal is on the list from before it parks until it leaves,
    and :meth:`finish` sends each one under the same lock as a waiter takes
    its signal off the list: once a waiter holds the lock, its signal has
    been sent or never will be, and it can be closed::

        lock; finished? -> return       else append signal; unlock
        park  <- finish(): lock; send every signal; clear; unlock
        lock; remove the signal (if still there); unlock; close it
    """

    __slots__ = ("_lock", "_finished", "_signals", "_blocking")

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._finished = False
        self._signals: list[ThreadSignal] = []
        # Held until finish(): what a waiter that cannot park blocks on.
        self._blocking = _allocate_lock()
        self._blocking.acquire()

    def finish(self) -> None:
        """The work is done: wake every waiter (from any thread, once)."""
        with self._lock:
            self._finished = True
            for signal in self._signals:
                signal.send()
            self._signals.clear()
        self._blocking.release()

    def wait(self, park: bool = True) -> None:
        """Until :meth:`finish`: this greenlet parks, or (``park=False``) the thread blocks."""
        if not park:
            with self._blocking:
                return
        signal = ThreadSignal()
        try:
            with self._lock:
                if self._finished:
                    return
                self._signals.append(signal)
            signal.wait(None)
        finally:
            with self._lock:
                if signal in self._signals:
                    self._signals.remove(signal)
            signal.close()
