"""The one readiness primitive of green_zmq: everything that waits, waits here.

Socket send/recv, Socket.poll, the Poller and select, the devices, the
eventloop's selector, trackers and Context.term all park their greenlet
through this package, and no other module of green_zmq makes a gevent
watcher, parks or wakes (tests/test_contract.py holds it). Its parts, one
job each:

* :mod:`.turns`: a parked greenlet (:class:`~.turns.Turn`), its wakeup
  and its deadline, and the package's one backoff;
* :mod:`.sockets`: the state of one libzmq socket, shared by all its
  wrappers: turns per direction, the re-checks after operations, and the
  :class:`~.sockets.Interest` protocol its poller registrations follow;
* :mod:`.fd_watch`: the watcher of a socket's FD, its spin guard and backoff;
* :mod:`.timer_watch`: what stands for the FD of a socket that has none (the
  thread-safe types): a timer that sends its waiters to look;
* :mod:`.polling`: a poller's registrations and its parked poll calls;
* :mod:`.fd`: raw fds, and wakeups from other OS threads;
* :mod:`.selector`: the ``selectors`` selector under the green asyncio loop;
* :mod:`.registry`: per hub: counters (:func:`statistics`), the spin, the
  missed-edge sweeper, and the settings' validator;
* :mod:`.fork`: what a forked child may still do.

This module exports what the rest of the package uses, and nothing that
parks, wakes or watches. Why it is built this way is in ``docs/design.md``.
"""

from __future__ import annotations

from .fd import Completion, ThreadSignal
from .fork import fork_error, inherited, refuse_in_child
from .polling import PollWaiting
from .registry import WaitStatistics, set_spin, set_sweep_interval, statistics
from .sockets import (
    SocketStatistics,
    SocketWaiting,
    existing_waiting,
    socket_statistics,
    socket_waiting,
)
from .turns import backoff, deadline_after

__all__ = [
    "Completion",
    "PollWaiting",
    "SocketStatistics",
    "SocketWaiting",
    "ThreadSignal",
    "WaitStatistics",
    "backoff",
    "deadline_after",
    "existing_waiting",
    "fork_error",
    "inherited",
    "refuse_in_child",
    "set_spin",
    "set_sweep_interval",
    "socket_statistics",
    "socket_waiting",
    "statistics",
]
