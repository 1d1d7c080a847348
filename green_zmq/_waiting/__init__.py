"""The one readiness primitive of green_zmq: everything that waits, waits here.

Socket send/recv, Socket.poll, the Poller and select, the devices, the
eventloop's selector, trackers and Context.term all park their greenlet
through this package, and no other module of green_zmq makes a gevent
watcher or switches to the hub to wait. Its parts, one job each:

* :mod:`.turns`: a parked greenlet, its wakeup and its deadline;
* :mod:`.sockets`: the state of one libzmq socket, shared by all its
  wrappers: FIFO turns per direction, poller interests, the FD watcher,
  the re-checks after operations, the spin guard and the sweep;
* :mod:`.polling`: a poller's registrations and its parked poll calls;
* :mod:`.fd`: raw fds, and wakeups from other OS threads;
* :mod:`.registry`: per hub: counters (:func:`statistics`), the spin and
  the missed-edge sweeper;
* :mod:`.fork`: what a forked child may still do.

Why it is built this way is in ``docs/design.md``.
"""

from __future__ import annotations

from .fd import READABLE, URGENT, WRITABLE, Completion, FdSet, ThreadSignal
from .fork import fork_error, inherited, refuse_in_child
from .polling import PollWaiting
from .registry import WaitStatistics, hub_waiting, set_spin, set_sweep_interval, statistics
from .sockets import (
    SocketStatistics,
    SocketWaiting,
    backoff,
    existing_waiting,
    socket_statistics,
    socket_waiting,
)
from .turns import Turn, deadline_after, park, wake

__all__ = [
    "READABLE",
    "URGENT",
    "WRITABLE",
    "Completion",
    "FdSet",
    "PollWaiting",
    "SocketStatistics",
    "SocketWaiting",
    "ThreadSignal",
    "Turn",
    "WaitStatistics",
    "backoff",
    "deadline_after",
    "existing_waiting",
    "fork_error",
    "hub_waiting",
    "inherited",
    "park",
    "refuse_in_child",
    "set_spin",
    "set_sweep_interval",
    "socket_statistics",
    "socket_waiting",
    "statistics",
    "wake",
]
