"""The watch of a zmq socket that has no FD: a timer that sends its waiters to look.

libzmq's thread-safe socket types (SERVER, CLIENT, RADIO, DISH, SCATTER,
GATHER, PEER, CHANNEL) have no ``FD`` to watch
(design.md, "Sockets without an FD"). Their :class:`~.sockets.SocketWaiting` gets a
:class:`TimerWatch` instead of an :class:`~.fd_watch.FdWatch`, with the same
face towards it, and the rest of the machinery (turns, re-checks after
operations, pollers, threads) is the same.

While somebody is parked on the socket, a timer on the hub fires now and
then and tells the owner, as a firing FD would: the owner wakes the heads
of its queues and its parked polls, and each woken greenlet retries its own
NOBLOCK call (nothing calls libzmq in the hub). The pause adapts: 1 ms
after a woken call found news (:attr:`fruitless` back to 0), doubling with
each look that found nothing, up to :data:`LONGEST_PAUSE`. That bounds both
the delay before a waiter notices readiness that came while the socket was
idle, and what an idle wait costs the CPU (one look per pause).

Lifecycle::

    start() -> timer armed; fires -> owner.watch_fired() wakes who is parked
            -> they retry -> armed again (pause from fruitless) while any is parked
    fires with nobody parked -> stopped, owner.watch_stopped()
    owner moves to another thread -> detached, retire(): closed in its thread
    close() -> timer closed
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .turns import backoff, in_own_thread

if TYPE_CHECKING:
    from .sockets import SocketWaiting

__all__ = ["FIRST_PAUSE", "LONGEST_PAUSE", "TimerWatch"]

# libev's epoll backend sleeps in whole milliseconds, so a shorter first
# pause would not come sooner. The longest pause is the worst delay before
# a waiter on an idle socket notices news, and sets the cost of an idle wait
# (docs/guide.md, "Thread-safe socket types", has the figures).
FIRST_PAUSE = 0.001
LONGEST_PAUSE = 0.016


class TimerWatch:
    """What stands for the FD of a socket without one, for its :class:`~.sockets.SocketWaiting`."""

    __slots__ = (
        "owner",
        "hub",
        "detached",
        "active",
        "fruitless",
        "fires",
        "_fires_seen",
        "_timer",
        "_held",
    )

    # No FD can be stuck signalled, so there is no spin guard to back off.
    backing_off = False

    def __init__(self, owner: SocketWaiting, hub: Any) -> None:
        self.owner = owner
        self.hub = hub
        # Set (by the owner's follow, under its lock) when the owner moved to another
        # thread's hub: from then on this watch only waits to be closed.
        self.detached = False
        # Looks in a row that found nothing; 0 once a woken call found news.
        self.fruitless = 0
        # Times it fired with somebody parked, and their count at the
        # sweeper's last look (see fired_since_last_look).
        self.fires = 0
        self._fires_seen = 0
        # A timer per pause (a gevent timer's pause cannot change).
        self._timer: Any = None
        self._held = False
        # Whether the timer is armed (an attribute, as FdWatch's: each wait reads it).
        self.active = False

    def pause(self) -> float:
        """How long the timer waits from now: short after news, longer with each empty look."""
        return backoff(FIRST_PAUSE, LONGEST_PAUSE, self.fruitless + 1)

    def start(self) -> None:
        """Arm the timer, unless it is armed."""
        if self._timer is None:
            timer = self._timer = self.hub.loop.timer(self.pause())
            self.active = True
            timer.ref = self._held
            timer.start(self._fired)

    def hold(self, hold: bool) -> None:
        """Whether the timer keeps the loop alive (``gevent.wait()`` waits for it)."""
        self._held = hold
        if self._timer is not None:
            self._timer.ref = hold

    def renew(self) -> None:
        """Nothing to renew: no file descriptor whose number another file could take."""

    def retire(self) -> None:
        """Its owner moved to another hub (it set :attr:`detached`): close in its own thread."""
        in_own_thread(self.hub, self.close)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None
            self.active = False

    def fruitless_wakeup(self) -> None:
        """A woken waiter found nothing: the next look comes later."""
        self.fruitless += 1

    # -- for the sweeper ----------------------------------------------------------

    def signalled(self) -> bool:
        """Never: nothing is pending that the timer has not run for."""
        return False

    def fired_since_last_look(self) -> bool:
        """Did the timer wake somebody since the previous call? (Then it looks after them.)"""
        fired = self.fires != self._fires_seen
        self._fires_seen = self.fires
        return fired

    # -- in the hub -------------------------------------------------------------

    def _fired(self) -> None:
        # In the hub: only tell the owner, which only wakes; the woken run
        # (and retry their calls) before this returns.
        self._timer.close()
        self._timer = None
        self.active = False
        if self.detached:
            return
        owner = self.owner
        woke = owner.watch_fired(self)
        if woke is None:
            # The owner moved to another hub meanwhile.
            return
        if woke:
            self.fires += 1
        if self._timer is not None:
            # Armed again by a wait that began meanwhile.
            return
        if woke and owner.has_parked():
            self.start()
        else:
            # Nobody is parked: stopped until somebody waits or polls again.
            owner.watch_stopped()
