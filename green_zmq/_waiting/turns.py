"""Turns: one parked greenlet each, woken at most once per park, with a deadline.

A :class:`Turn` is the smallest piece of the waiting machinery: the greenlet
that parks on it switches to the hub until somebody calls :func:`wake` (or
:func:`wake_in_hub` from a hub callback), or until its deadline passes.
Everything that waits in green_zmq parks a turn through :func:`park`, so
every wait is counted, fork-checked and deadline-checked the same way.
"""

from __future__ import annotations

import threading
from time import monotonic
from typing import TYPE_CHECKING, Any, Callable

import zmq
from gevent.hub import Waiter

from .._compat import hub_if_exists
from .fork import fork_error

if TYPE_CHECKING:
    from .registry import HubWaiting

__all__ = [
    "Turn",
    "backoff",
    "deadline_after",
    "in_own_thread",
    "park",
    "thread_of",
    "two_threads_error",
    "wake",
    "wake_in_hub",
]

_TIMED_OUT = object()


class Turn:
    """One waiting greenlet: its place in a socket's queue, or one poll call.

    ``woken`` is set by whoever found a reason for it to run; a turn woken
    before it parks does not park at all (no wakeup can be lost between a
    check and the park).
    """

    __slots__ = ("waiter", "woken", "parked_since")

    def __init__(self) -> None:
        self.waiter: Waiter | None = None
        self.woken = False
        # The sweep pass during which it last parked (see SocketWaiting.sweep).
        self.parked_since = 0

    @property
    def parked(self) -> bool:
        return self.waiter is not None


def thread_of(hub: Any) -> str:
    """The OS thread that runs ``hub``, by name where threading knows it."""
    ident = getattr(hub, "thread_ident", None)
    for thread in threading.enumerate():
        if thread.ident == ident:
            return f"{thread.name!r} ({ident:#x})"
    return f"{ident:#x}" if isinstance(ident, int) else repr(ident)


def two_threads_error(what: str, owner: Any, hub: Any) -> RuntimeError:
    """The error of a wait while another thread waits on the same ``what``."""
    return RuntimeError(
        f"green_zmq {what} waited on from thread {thread_of(hub)} while thread "
        f"{thread_of(owner)} waits on it: a zmq socket may move between threads, but "
        "two threads may not use it at once (give each thread a socket of its own)"
    )


def in_own_thread(hub: Any, callback: Callable[[], Any]) -> None:
    """Run ``callback()`` in the thread of ``hub``: now if that is this one, else in its hub.

    For what only a hub's own thread may do: libev calls on its loop, and
    wakeups of greenlets parked there.
    """
    if hub_if_exists() is hub:
        callback()
    else:
        hub.loop.run_callback_threadsafe(callback)


def backoff(base: float, cap: float, count: int) -> float:
    """``base`` doubled ``count - 1`` times, at most ``cap``: the package's one backoff."""
    if count > 60:
        return cap
    return min(base * 2 ** (count - 1), cap)


def deadline_after(timeout_ms: int) -> float | None:
    """The monotonic deadline of a wait of ``timeout_ms`` from now; ``None`` if negative."""
    if timeout_ms < 0:
        return None
    return monotonic() + timeout_ms / 1000.0


def park(
    turn: Turn, registry: HubWaiting, deadline: float | None, *, go_round: bool = False
) -> None:
    """Switch to the hub until ``turn`` is woken; raise ``zmq.Again`` at ``deadline``.

    A deadline already past raises at once, unless ``go_round``: then the
    greenlet still goes once round the hub (others run and I/O is polled)
    before ``zmq.Again``. The deadline is a :func:`time.monotonic` instant,
    and the wait never ends before it (design.md, "Deadlines").
    """
    if turn.woken:
        turn.woken = False
        return
    waiter = turn.waiter = Waiter(registry.hub)
    timer = None
    if deadline is not None:
        loop = registry.hub.loop
        remaining = deadline - monotonic()
        if remaining <= 0:
            if not go_round:
                turn.waiter = None
                raise zmq.Again(zmq.EAGAIN)
            # Once round the loop: a zero timer, kept by the registry (an
            # eventloop's select(0) does this on every iteration).
            timer = registry.zero_timer()
        else:
            # libev times a timer from its cached "now", which is stale by
            # however long the thread was away from the hub: refresh it first.
            loop.update_now()
            timer = loop.timer(remaining)
        timer.start(waiter.switch, _TIMED_OUT)
    registry.parked += 1
    turn.parked_since = registry.sweeps
    registry.spin()
    try:
        result = waiter.get()
        while result is _TIMED_OUT and not turn.woken and deadline is not None:
            remaining = deadline - monotonic()
            if remaining <= 0:
                break
            # The timer fired early (a clock step): wait out the rest.
            waiter = turn.waiter = Waiter(registry.hub)
            if timer is not None and timer is not registry.kept_zero_timer:
                timer.close()
            loop.update_now()
            timer = loop.timer(remaining)
            timer.start(waiter.switch, _TIMED_OUT)
            result = waiter.get()
    finally:
        registry.parked -= 1
        turn.waiter = None
        if timer is not None:
            if timer is registry.kept_zero_timer:
                timer.stop()
            else:
                timer.close()
    if registry.forked:
        # Parked when the process forked, and this is the child: woken by the
        # fork hook so that it fails instead of touching libzmq.
        raise fork_error()
    if result is _TIMED_OUT and not turn.woken:
        raise zmq.Again(zmq.EAGAIN)
    turn.woken = False


def wake_in_hub(turn: Turn) -> None:
    """Like :func:`wake`, from a hub callback: switch to the greenlet at once.

    This is what gevent's own ``hub.wait(watcher)`` does; it saves a trip
    through the loop's callback queue on every FD wakeup.
    """
    if turn.woken:
        return
    turn.woken = True
    waiter = turn.waiter
    if waiter is not None:
        waiter.switch(None)


def wake(turn: Turn, hub: Any) -> None:
    """Mark ``turn`` woken and, if it is parked, schedule its greenlet in ``hub``.

    ``hub`` is the hub the turn parks in, and this runs in its thread: a
    wakeup from another thread is handed to it first (SocketWaiting.notify),
    so that no two threads race on one turn.
    """
    if turn.woken:
        return
    turn.woken = True
    waiter = turn.waiter
    if waiter is not None:
        # Waiter.switch must run in the hub; run_callback also keeps the
        # waker from being re-entered by the woken greenlet.
        hub.loop.run_callback(waiter.switch, None)
