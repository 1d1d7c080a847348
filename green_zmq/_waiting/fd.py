"""Waiting on what is not a zmq socket: raw file descriptors, and other OS threads.

:class:`FdSet` is the package's one way of watching raw fds (a Poller's
integer fds and ``fileno()`` objects, the eventloop's selector),
:class:`ThreadSignal` the one way another OS thread wakes a greenlet (a
tracker's event set by pyzmq's collector thread), and :class:`Completion`
work that another OS thread finishes for any number of waiters (a
context's term, run in a thread of its own). Greenlets still wait through
:func:`.turns.park`, so these waits are counted, thread-checked and
fork-checked like the rest.

Notes on the approach
---------------------

A raw fd belongs to the user, who may close it at any moment; the next file
opened then takes its number (design.md, "Closed file descriptors"). libev
is not made for that. It tells the kernel about an fd lazily, at its next
loop iteration, and again whenever the fd's watchers go from none to some;
if the fd was closed meanwhile, ``epoll_ctl`` fails with EBADF and libev
aborts the process ("I/O watcher with invalid fd found in epoll_ctl"). If
the number went to another file meanwhile, libev watches that file
instead; and where it believes the fd still registered (the kernel dropped
the closed file from its epoll set, libev cannot know), it watches nothing
at all.

So libev never watches a raw fd. Each owner (a poller, a selector) keeps
its fds in an epoll set of its own, registered at once, with epoll's own
errors, and libev watches only that set's fd, which nobody else can close.
A closed fd drops out of the set as it drops out of any epoll set: the set
falls silent for it, as a plain asyncio selector does, and the next
``zmq_poll`` over it reports POLLERR, as a plain poll does.

Lifecycle of an :class:`FdSet`::

    add() / change() / discard() -> the kernel knows at once (errors raised there)
    start() -> its callback runs in the hub while any fd is ready
    stop()  -> silent (a ready fd nobody looks at must not spin the hub)
    renew() -> watch the files the numbers name now (one may have been reused)
    close()
"""

from __future__ import annotations

import select
from typing import Any, Callable

import zmq
from gevent.hub import get_hub
from gevent.monkey import get_original

from .registry import hub_waiting
from .turns import Turn, in_own_thread, park, wake_in_hub

__all__ = ["READABLE", "URGENT", "WRITABLE", "Completion", "FdSet", "ThreadSignal"]

# What to watch an fd for, and what fired (READABLE and WRITABLE as libev and
# the selectors module number them).
READABLE = 1
WRITABLE = 2
URGENT = 4

# gevent's monkey-patching removes select.epoll.
_epoll = get_original("select", "epoll")

# Real locks, also under gevent's monkey-patching: other OS threads take them.
_allocate_lock = get_original("_thread", "allocate_lock")

# The epoll mask of each combination of the above. Errors and hang-ups are
# always reported, also for an fd watched for nothing else.
_EPOLL_MASKS = tuple(
    (select.EPOLLIN if events & READABLE else 0)
    | (select.EPOLLOUT if events & WRITABLE else 0)
    | (select.EPOLLPRI if events & URGENT else 0)
    for events in range(8)
)
_NOT_IN = ~select.EPOLLIN
_NOT_OUT = ~select.EPOLLOUT


class FdSet:
    """Raw fds watched through an epoll set of their own (see the module's notes).

    ``callback()`` runs in the hub while the set is started and any of its
    fds is ready; it must only record and wake, never block or call
    libzmq. What is ready, the owner asks :meth:`ready` (or ``zmq_poll``).
    Errors are epoll's: ``OSError`` (EBADF) for a closed fd,
    ``PermissionError`` (EPERM) for a regular file, as a plain asyncio
    selector raises them.
    """

    __slots__ = ("_epoll", "_watcher", "_callback", "_priority", "_hub_loop", "_events")

    def __init__(self, callback: Callable[[], None], priority: int | None = None) -> None:
        self._callback = callback
        self._priority = priority
        self._hub_loop = get_hub().loop
        # fd -> what it is watched for (READABLE | WRITABLE | URGENT).
        self._events: dict[int, int] = {}
        self._epoll = _epoll()
        self._watcher = self._watch(self._epoll)

    def _watch(self, epoll: Any) -> Any:
        watcher = self._hub_loop.io(epoll.fileno(), READABLE)
        if self._priority is not None:
            watcher.priority = self._priority
        return watcher

    def __len__(self) -> int:
        return len(self._events)

    def add(self, fd: int, events: int) -> None:
        """Watch ``fd`` for ``events`` (0: errors and hang-ups only)."""
        self._epoll.register(fd, _EPOLL_MASKS[events])
        self._events[fd] = events

    def change(self, fd: int, events: int) -> None:
        """Watch an added ``fd`` for other ``events``."""
        self._epoll.modify(fd, _EPOLL_MASKS[events])
        self._events[fd] = events

    def discard(self, fd: int) -> None:
        if self._events.pop(fd, None) is None:
            return
        try:
            self._epoll.unregister(fd)
        except OSError:
            # Closed since: the kernel has dropped it from the set already.
            pass

    def renew(self) -> None:
        """Watch the files that the numbers name now.

        A file closed since it was added is out of the set, and the next
        file opened may have taken its number, unwatched. A closed fd is
        left out (whoever looks at it next sees that), a reused number is
        watched afresh.
        """
        epoll = self._epoll
        for fd, events in self._events.items():
            try:
                epoll.modify(fd, _EPOLL_MASKS[events])
            except FileNotFoundError:
                # ENOENT: another file has the number. The set may still
                # hold the closed one under it, if another fd (a dup, a
                # forked child's copy) keeps it open, and would report it
                # for good: start a set afresh.
                self._rebuild()
                return
            except OSError:
                # Closed (EBADF), or now a regular file (EPERM): nothing to watch.
                pass

    def _rebuild(self) -> None:
        epoll = _epoll()
        for fd, events in self._events.items():
            try:
                epoll.register(fd, _EPOLL_MASKS[events])
            except OSError:
                pass
        old = self._watcher
        watcher = self._watch(epoll)
        watcher.ref = old.ref
        if old.active:
            watcher.start(self._callback)
        # The old watcher goes before its fd does: libev must never be left
        # with a started watcher on a closed fd.
        old.close()
        self._epoll.close()
        self._epoll = epoll
        self._watcher = watcher

    def move(self, hub: Any, old_hub: Any) -> None:
        """Watch the set from ``hub``'s loop (the calling thread's), no longer ``old_hub``'s.

        The set itself (the kernel's) stays; its watcher is remade here, and
        the old one closed in its own thread (libev's loops are not
        thread-safe). Stopped, as a set is between polls.
        """
        old = self._watcher
        self._hub_loop = hub.loop
        self._watcher = self._watch(self._epoll)
        self._watcher.ref = old.ref
        in_own_thread(old_hub, old.close)

    def ready(self) -> list[tuple[int, int]]:
        """The fds ready now, with READABLE | WRITABLE; an error or hang-up counts as both.

        As a plain ``selectors.EpollSelector`` reports them.
        """
        return [
            (fd, (WRITABLE if mask & _NOT_IN else 0) | (READABLE if mask & _NOT_OUT else 0))
            for fd, mask in self._epoll.poll(0, max(len(self._events), 1))
        ]

    @property
    def active(self) -> bool:
        return bool(self._watcher.active)

    def hold_hub(self, hold: bool) -> None:
        """Whether the started set keeps the hub alive (``gevent.wait()`` waits for it)."""
        self._watcher.ref = hold

    def start(self) -> None:
        self._watcher.start(self._callback)

    def stop(self) -> None:
        self._watcher.stop()

    def close(self) -> None:
        self._watcher.close()
        self._epoll.close()
        self._events.clear()


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
