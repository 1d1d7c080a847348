"""The watch on one zmq socket's FD: the libev watcher, its spin guard and its backoff.

A zmq socket's ``FD`` is its command mailbox, an edge
(design.md, "The FD is an edge"): it fires when libzmq has news, and whoever wakes looks at
``EVENTS``. A :class:`FdWatch` belongs to one socket's
:class:`~.sockets.SocketWaiting` (its *owner*), and only tells it when the
FD fired; what to wake is the owner's business. Its jobs:

* the watcher's life: started at the first wait and kept between waits
  (starting and stopping costs epoll_ctl calls), holding the loop only
  while somebody waits, stopped when it fires with nobody parked (nobody
  would drain the FD, and libev would call back on every iteration), and
  renewed when its FD's number may belong to another file now;
* the spin guard: libzmq can leave the FD readable with no news (pyzmq
  #2167). A woken waiter that found nothing reports it
  (:meth:`fruitless_wakeup`), one that found news resets
  :attr:`fruitless`; when the FD is still signalled right after the call
  that drained it, time after time, the watch backs off (2 ms doubling to
  100 ms) instead of spinning the hub;
* the fire count, for the sweeper to tell a quiet socket from a busy one.

Lifecycle::

    start() -> active; fires -> owner.watch_fired() (nobody parked: stopped)
    fruitless wakeups in a row, FD still signalled -> stopped, backoff timer
    backoff over -> restarted, owner.backoff_over() (everyone retries)
    owner moves to another thread -> detached, retire(): closed in its thread
    close() -> watcher and timer closed
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, Any

from gevent.monkey import get_original

from .turns import backoff, in_own_thread

if TYPE_CHECKING:
    from .sockets import SocketWaiting

__all__ = ["FdWatch"]

# The spin guard and the sweeper look at the FD without yielding, even
# under monkey-patching.
_real_poll = get_original("select", "poll")
_real_select = get_original("select", "select")
_FD_READABLE = select.POLLIN

# After this many wakeups in a row that found the FD still signalled right
# after a call drained it, back off from 2 ms doubling up to 100 ms.
_SPIN_LIMIT = 16
_SPIN_BACKOFF = 0.001
_SPIN_BACKOFF_MAX = 0.1


class FdWatch:
    """The watcher of one socket's FD, for its :class:`~.sockets.SocketWaiting`."""

    __slots__ = (
        "owner",
        "fd",
        "hub",
        "detached",
        "active",
        "_watcher",
        "fruitless",
        "_backoff",
        "_poll",
        "fires",
        "_fires_seen",
    )

    def __init__(self, owner: SocketWaiting, fd: int, hub: Any) -> None:
        self.owner = owner
        self.fd = fd
        self.hub = hub
        # Set (by the owner's follow, under its lock) when the owner moved to another
        # thread's hub: from then on this watch only waits to be closed, in
        # its own thread.
        self.detached = False
        self._watcher = hub.loop.io(fd, 1)
        # Whether the libev watcher is started: kept here beside every start
        # and stop, so that each wait's check is an attribute, not a call.
        self.active = False
        # Wakeups in a row that found the FD signalled again right after a
        # call drained it (see fruitless_wakeup); 0 once somebody found news.
        self.fruitless = 0
        self._backoff: Any = None
        self._poll: Any = None
        # Times it fired with somebody parked, and their count at the
        # sweeper's last look (see fired_since_last_look).
        self.fires = 0
        self._fires_seen = 0

    @property
    def backing_off(self) -> bool:
        return self._backoff is not None

    def start(self) -> None:
        """Watch, unless watching already or backing off."""
        if not self.active and self._backoff is None:
            self._watcher.start(self._fired)
            self.active = True

    def hold(self, hold: bool) -> None:
        """Whether the watcher keeps the loop alive (``gevent.wait()`` waits for it)."""
        self._watcher.ref = hold

    def renew(self) -> None:
        """A new libev watcher for the same FD, started if the old one was.

        If the socket was closed behind our back and a new one took both its
        address and its FD's number, the kernel dropped the old FD from the
        hub's epoll set while libev still counts it as registered, and the
        kept watcher would never fire. A new watcher makes libev register
        the FD afresh; on a live socket it costs one epoll_ctl.
        """
        old = self._watcher
        self._watcher = self.hub.loop.io(self.fd, 1)
        self._watcher.ref = old.ref
        if self.active:
            self._watcher.start(self._fired)
        old.close()

    def retire(self) -> None:
        """Its owner moved to another hub (it set :attr:`detached`): close in its own thread.

        libev's loops are not thread-safe: only the thread that runs a loop
        may stop or close its watchers. Until then a firing only stops it.
        """
        in_own_thread(self.hub, self.close)

    def close(self) -> None:
        self.active = False
        self._watcher.close()
        if self._backoff is not None:
            self._backoff.close()
            self._backoff = None

    # -- the spin guard ---------------------------------------------------------

    def fruitless_wakeup(self) -> None:
        """A woken waiter found nothing: count it if the FD is stuck signalled.

        A call that found nothing has just drained the mailbox; an FD that is
        signalled again at once, time after time, is libzmq leaving it
        readable with no news, and the watcher would spin the hub. An FD
        that went quiet is a real edge that was not for us (the other
        direction's traffic), and must never slow the next one down.
        """
        poll = self._poll
        if poll is None:
            poll = self._poll = _real_poll()
            poll.register(self.fd, _FD_READABLE)
        if poll.poll(0):
            self.fruitless += 1
        else:
            self.fruitless = 0

    # -- for the sweeper ----------------------------------------------------------

    def signalled(self) -> bool:
        """Is the FD readable now, an edge the watcher has not run for yet?"""
        try:
            pending, _, _ = _real_select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(pending)

    def fired_since_last_look(self) -> bool:
        """Did the watcher fire since the previous call? (A busy socket, not a lost edge.)"""
        fired = self.fires != self._fires_seen
        self._fires_seen = self.fires
        return fired

    # -- in the hub -------------------------------------------------------------

    def _fired(self) -> None:
        # In the hub: only tell the owner, which only wakes.
        if self.detached:
            self._stop()
            return
        owner = self.owner
        if self.fruitless > _SPIN_LIMIT and owner.has_parked():
            # The FD keeps firing and nobody finds anything: back off
            # instead of spinning; a timer restarts the watcher.
            self._stop()
            delay = backoff(_SPIN_BACKOFF, _SPIN_BACKOFF_MAX, self.fruitless - _SPIN_LIMIT)
            self._backoff = self.hub.loop.timer(delay)
            self._backoff.start(self._backoff_over)
            return
        woke = owner.watch_fired(self)
        if woke:
            owner.registry.fd_wakeups += 1
            self.fires += 1
        elif woke is not None:
            # Nobody is parked: nobody would drain the FD, and libev would
            # call us on every loop iteration. Stopped until somebody waits
            # or polls again.
            self._stop()
            owner.watch_stopped()
        else:
            # The owner moved to another hub meanwhile.
            self._stop()

    def _stop(self) -> None:
        self._watcher.stop()
        self.active = False

    def _backoff_over(self) -> None:
        self._backoff.close()
        self._backoff = None
        if not self.detached:
            self.owner.backoff_over()
