"""The one readiness primitive of green_zmq: greenlets waiting on a zmq socket.

Every green operation that has to wait (Socket send/recv, Socket.poll, the
Poller, the devices) waits here; nothing else in the package parks a
greenlet on a zmq socket.

Notes on the approach
---------------------

A zmq socket's ``FD`` does not mean "readable". It is the socket's command
mailbox: it becomes readable when libzmq has news for the socket, and any
zmq call on the socket (send, recv, getsockopt(EVENTS)) drains it. The
readiness itself is only known by reading ``EVENTS``. Two consequences
shape everything below (DESIGN.md facts 1-5):

* Whoever drains the mailbox must re-read ``EVENTS`` for the greenlets still
  parked on the socket, or their wakeup is lost: the FD will not fire again
  for readiness that already exists. So every operation ends with
  :meth:`SocketWaiting.after_op`, which does nothing unless somebody is
  parked, and otherwise re-reads ``EVENTS`` and wakes whoever can proceed.
* The io watcher's callback runs in the hub, where calling libzmq has been
  seen to crash (pyzmq #950). It only wakes greenlets; each woken greenlet
  makes its own zmq call.

Greenlets take turns per direction, first come first served: a greenlet
that finds others queued in its direction queues behind them instead of
trying, and only the head of a queue is ever woken. A multipart message is
written or read without yielding once its first frame went through, so
frames of different greenlets never interleave.

Lifecycle of a :class:`SocketWaiting` (one per socket, made on first wait)::

    first wait -> watcher started -> FD fires / after_op sees readiness
               -> head of each ready direction woken -> it retries its call
    last waiter leaves -> watcher stopped        close() -> everyone woken
    fork -> in the child, everyone parked is woken and fails (fork_error)

A sweeper greenlet per hub re-reads ``EVENTS`` of sockets with parked
greenlets every :func:`set_sweep_interval` seconds. It is a safety net, not
the mechanism: when it finds a socket ready that nobody woke while the FD
shows nothing pending, that is a lost wakeup and ``missed_edges`` counts it.
The test suite asserts that counter stays 0 and also runs with the sweeper
off.
"""

from __future__ import annotations

import os
import select as _select_module
import weakref
from collections import deque
from dataclasses import dataclass
from time import monotonic
from typing import Any, Callable

import gevent
import zmq
from gevent.hub import Waiter, get_hub
from gevent.monkey import get_original

__all__ = [
    "Interest",
    "PollTurn",
    "SocketWaiting",
    "WaitStatistics",
    "fork_error",
    "hub_waiting",
    "park",
    "set_sweep_interval",
    "statistics",
    "wake",
]

# Plain ints: pyzmq's IntFlag constants cost microseconds per operation.
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_EVENTS = int(zmq.EVENTS)
_ENOTSOCK = int(zmq.ENOTSOCK)

# The Cython method, so the sweeper and re-checks skip the Python overrides.
_getsockopt = zmq.backend.Socket.get

# The sweeper must look at the FD without yielding, even under monkey-patching.
_real_select = get_original("select", "select")

_TIMED_OUT = object()

# Spin guard: after this many FD wakeups in a row without news, back off
# from 2 ms doubling up to 100 ms.
_SPIN_LIMIT = 16
_SPIN_BACKOFF = 0.001
_SPIN_BACKOFF_MAX = 0.1


def _interval_from_env() -> float:
    raw = os.environ.get("GREEN_ZMQ_SWEEP_INTERVAL", "1.0")
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"GREEN_ZMQ_SWEEP_INTERVAL must be a number of seconds, not {raw!r}")


_sweep_interval = _interval_from_env()


def set_sweep_interval(seconds: float) -> None:
    """Set how often the missed-edge sweeper looks at waiting sockets.

    ``0`` turns the sweeper off (correctness never depends on it). The
    default is 1 second, or the ``GREEN_ZMQ_SWEEP_INTERVAL`` environment
    variable.
    """
    global _sweep_interval
    if seconds < 0:
        raise ValueError("sweep interval must be >= 0")
    _sweep_interval = float(seconds)


@dataclass(frozen=True)
class WaitStatistics:
    """A snapshot of the waiting machinery of the calling thread's hub.

    ``parked``: greenlets waiting right now on a socket or poller;
    ``sockets``: sockets with somebody waiting right now;
    ``fd_wakeups``: times an FD watcher fired with somebody waiting;
    ``rechecks``: EVENTS reads made on behalf of waiting greenlets;
    ``sweeps``: sweeper passes;
    ``missed_edges``: sockets the sweeper found ready with a waiter that
    nobody had woken (a lost wakeup; 0 unless there is a bug).
    """

    parked: int
    sockets: int
    fd_wakeups: int
    rechecks: int
    sweeps: int
    missed_edges: int


class _Turn:
    """One waiting greenlet: its place in a socket's queue, or a whole poller."""

    __slots__ = ("waiter", "woken")

    def __init__(self) -> None:
        self.waiter: Waiter | None = None
        self.woken = False


class PollTurn(_Turn):
    """The waiting side of a poller, registered on many sockets at once.

    ``dormant`` collects the sockets whose watcher was stopped while the
    poller was not polling (so an FD nobody drains cannot spin the hub);
    the poller restarts them before it parks again.
    """

    __slots__ = ("dormant",)

    def __init__(self) -> None:
        super().__init__()
        self.dormant: list[SocketWaiting] = []


class Interest:
    """A poller's persistent registration on one socket: which events it wants."""

    __slots__ = ("turn", "mask")

    def __init__(self, turn: PollTurn, mask: int) -> None:
        self.turn = turn
        self.mask = mask


def park(turn: _Turn, hub: Any, registry: _HubWaiting, deadline: float | None) -> None:
    """Switch to the hub until ``turn`` is woken; ``zmq.Again`` at ``deadline``."""
    if turn.woken:
        turn.woken = False
        return
    waiter = turn.waiter = Waiter(hub)
    timer = None
    if deadline is not None:
        remaining = deadline - monotonic()
        if remaining <= 0:
            turn.waiter = None
            raise zmq.Again(zmq.EAGAIN)
        timer = hub.loop.timer(remaining)
        timer.start(waiter.switch, _TIMED_OUT)
    registry.parked += 1
    try:
        result = waiter.get()
    finally:
        registry.parked -= 1
        turn.waiter = None
        if timer is not None:
            timer.close()
    if registry.forked:
        # Parked when the process forked, and this is the child: woken by
        # _after_fork_in_child so it fails instead of touching libzmq.
        raise fork_error()
    if result is _TIMED_OUT and not turn.woken:
        raise zmq.Again(zmq.EAGAIN)
    turn.woken = False


def wake(turn: _Turn, hub: Any) -> None:
    """Mark ``turn`` woken and, if it is parked, schedule its greenlet."""
    if turn.woken:
        return
    turn.woken = True
    waiter = turn.waiter
    if waiter is not None:
        # Waiter.switch must run in the hub; run_callback also keeps the
        # waker from being re-entered by the woken greenlet.
        hub.loop.run_callback(waiter.switch, None)


class _HubWaiting:
    """Per-hub bookkeeping: sockets with waiters, counters, the sweeper."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.waiting: set[SocketWaiting] = set()
        # Sockets with a queued reader or writer, or more than one poller:
        # after a poller drains their FDs it must re-check them for the others.
        self.contended: set[SocketWaiting] = set()
        self.parked = 0
        self.fd_wakeups = 0
        self.rechecks = 0
        self.sweeps = 0
        self.missed_edges = 0
        self.sweep_timer: Any = None
        # Set in a forked child: every wait on this registry fails.
        self.forked = False

    def add(self, state: SocketWaiting) -> None:
        self.waiting.add(state)
        if self.sweep_timer is None and _sweep_interval > 0:
            # Unreferenced: the safety net never keeps the loop alive.
            timer = self.hub.loop.timer(_sweep_interval, _sweep_interval, ref=False)
            timer.start(self._sweep_soon)
            self.sweep_timer = timer

    def _sweep_soon(self) -> None:
        # In the hub: hand the libzmq calls to a greenlet of their own.
        if not self.waiting or _sweep_interval <= 0:
            self.sweep_timer.close()
            self.sweep_timer = None
            return
        gevent.spawn_raw(self.sweep)

    def sweep(self) -> None:
        self.sweeps += 1
        for state in list(self.waiting):
            state.sweep()

    def statistics(self) -> WaitStatistics:
        return WaitStatistics(
            parked=self.parked,
            sockets=len(self.waiting),
            fd_wakeups=self.fd_wakeups,
            rechecks=self.rechecks,
            sweeps=self.sweeps,
            missed_edges=self.missed_edges,
        )


_hubs: weakref.WeakKeyDictionary[Any, _HubWaiting] = weakref.WeakKeyDictionary()


def hub_waiting(hub: Any) -> _HubWaiting:
    registry = _hubs.get(hub)
    if registry is None:
        registry = _hubs[hub] = _HubWaiting(hub)
    return registry


def fork_error() -> RuntimeError:
    return RuntimeError(
        "green_zmq context or socket used in a child process created by fork(): "
        "a zmq context and its sockets belong to the process that created them "
        "(libzmq's I/O threads do not survive fork). Create a new Context in the child."
    )


def _after_fork_in_child() -> None:
    # Greenlets parked in the parent were copied into the child with their
    # watchers, and the child shares the parent's zmq FDs: left alone they
    # would hang, or wake on the parent's traffic and call libzmq, which in
    # a forked child answers EINTR forever (pyzmq retries, so it spins).
    # Wake them to fail with fork_error() (see park), and mark their sockets
    # closed so the clean-up on their way out (re-checks for the others)
    # does not call libzmq either. Nothing here calls libzmq; the wakeups
    # run once the child's hub runs. Sockets made later in the child get a
    # fresh registry.
    for registry in list(_hubs.values()):
        registry.forked = True
        for state in list(registry.waiting):
            state.closed = True
            state.wake_all()
    _hubs.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def statistics() -> WaitStatistics:
    """Counters of the calling thread's hub: waiters, wakeups, missed edges."""
    return hub_waiting(get_hub()).statistics()


class SocketWaiting:
    """The greenlets waiting on one zmq socket, and the FD watcher that wakes them.

    ``readers`` and ``writers`` are FIFO queues of turns; ``interests`` are
    poller registrations, woken on any change that matches their mask.
    Created lazily by the socket on its first wait, on the hub of the thread
    that made the socket.
    """

    __slots__ = (
        "__weakref__",
        "_socket",
        "fd",
        "hub",
        "registry",
        "watcher",
        "readers",
        "writers",
        "interests",
        "waiting",
        "closed",
        "idle_fires",
        "backoff",
    )

    def __init__(self, socket: zmq.Socket, hub: Any) -> None:
        self._socket = weakref.ref(socket)
        self.fd: int = _getsockopt(socket, zmq.FD)
        self.hub = hub
        self.registry = hub_waiting(hub)
        self.watcher = hub.loop.io(self.fd, 1)
        self.readers: deque[_Turn] = deque()
        self.writers: deque[_Turn] = deque()
        self.interests: list[Interest] = []
        # Turns plus interests; the hot path reads this one int to decide
        # whether anybody needs a re-check.
        self.waiting = 0
        self.closed = False
        # Spin guard: FD wakeups in a row that brought no news (see _on_fd).
        self.idle_fires = 0
        self.backoff: Any = None

    # -- called by the operations ------------------------------------------

    def after_op(self, socket: zmq.Socket) -> None:
        """Re-check readiness for waiters after an operation that may have drained the FD."""
        if self.waiting:
            self.recheck(socket)

    def recheck(self, socket: zmq.Socket) -> None:
        self.registry.rechecks += 1
        try:
            events = _getsockopt(socket, _EVENTS)
        except zmq.ZMQError:
            # Closed or terminated: let every waiter run into the error itself.
            self.wake_all()
            return
        self.notify(events)

    def notify(self, events: int) -> None:
        """Wake, for the given EVENTS value, everybody who can proceed."""
        for turn in self._interested(events):
            wake(turn, self.hub)

    def socket(self) -> zmq.Socket | None:
        return self._socket()

    def got_news(self) -> None:
        """Somebody found this socket ready: its FD wakeups are not spinning."""
        self.idle_fires = 0

    def wait_for_turn(
        self,
        queue: deque[_Turn],
        attempt: Callable[[], Any],
        timeout_ms: int,
        socket: zmq.Socket,
    ) -> Any:
        """Queue in one direction and run ``attempt`` (a NOBLOCK call) when it can succeed.

        ``attempt`` raises ``zmq.Again`` while the socket is not ready.
        ``timeout_ms`` < 0 waits forever, otherwise ``zmq.Again`` is raised
        after that long, as blocking pyzmq does for RCVTIMEO/SNDTIMEO.
        """
        self._check_thread()
        deadline = None if timeout_ms < 0 else monotonic() + timeout_ms / 1000.0
        turn = _Turn()
        queue.append(turn)
        self.registry.contended.add(self)
        self._enter()
        try:
            while True:
                if self.closed:
                    raise zmq.ZMQError(_ENOTSOCK)
                if queue[0] is turn:
                    try:
                        result = attempt()
                    except zmq.Again:
                        pass
                    else:
                        self.idle_fires = 0
                        return result
                    # On EAGAIN libzmq has just processed its commands, so
                    # our own readiness cannot hide; but the call drained
                    # the FD, and others' readiness may now show only in EVENTS.
                    if self.waiting > 1:
                        self.recheck(socket)
                park(turn, self.hub, self.registry, deadline)
        finally:
            queue.remove(turn)
            self._update_contended()
            self._leave(socket)

    def add_interest(self, interest: Interest) -> None:
        self._check_thread()
        self.interests.append(interest)
        self._update_contended()
        self._enter()

    def remove_interest(self, interest: Interest) -> None:
        self.interests.remove(interest)
        self._update_contended()
        self._leave(self._socket())

    def rearm(self) -> None:
        """Restart a watcher stopped while nobody was parked (see _on_fd)."""
        if self.waiting and not self.closed and self.backoff is None:
            self.watcher.start(self._on_fd)

    def close(self) -> None:
        """The socket was closed: wake everyone (they raise ENOTSOCK), drop the watchers."""
        self.closed = True
        self.wake_all()
        self.watcher.close()
        if self.backoff is not None:
            self.backoff.close()
            self.backoff = None
        self.registry.waiting.discard(self)
        self.registry.contended.discard(self)

    def wake_all(self) -> None:
        hub = self.hub
        for turn in (*self.readers, *self.writers):
            wake(turn, hub)
        for interest in self.interests:
            wake(interest.turn, hub)

    # -- internals ---------------------------------------------------------

    def _check_thread(self) -> None:
        if get_hub() is not self.hub:
            raise RuntimeError(
                "green_zmq socket used from a thread other than the one that created it; "
                "a zmq socket belongs to one thread (create a socket per thread)"
            )

    def _update_contended(self) -> None:
        if self.readers or self.writers or len(self.interests) > 1:
            self.registry.contended.add(self)
        else:
            self.registry.contended.discard(self)

    def _enter(self) -> None:
        self.waiting += 1
        if self.waiting == 1:
            if not self.closed:
                self.watcher.start(self._on_fd)
            self.registry.add(self)

    def _leave(self, socket: zmq.Socket | None) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.watcher.stop()
            self.registry.waiting.discard(self)
        elif socket is not None and not self.closed:
            # A turn that leaves (done, timed out or killed) may have been
            # the one woken: hand the readiness on to whoever is next.
            self.recheck(socket)

    def _on_fd(self) -> None:
        # In the hub: only wake, never call libzmq here.
        hub = self.hub
        parked = [i.turn for i in self.interests if i.turn.waiter is not None]
        if not (self.readers or self.writers or parked):
            # Only idle pollers are registered. Nobody would drain the FD,
            # and libev would call us on every loop iteration: stop until
            # a poller polls again.
            self.watcher.stop()
            for interest in self.interests:
                if isinstance(interest.turn, PollTurn):
                    interest.turn.dormant.append(self)
            return
        self.registry.fd_wakeups += 1
        self.idle_fires += 1
        if self.idle_fires > _SPIN_LIMIT:
            # The FD keeps firing and nobody finds anything: libzmq can leave
            # it readable with no events (pyzmq #2167). Back off instead of
            # spinning; a timer re-arms the watcher and wakes everyone.
            self.watcher.stop()
            delay = min(_SPIN_BACKOFF * 2 ** (self.idle_fires - _SPIN_LIMIT), _SPIN_BACKOFF_MAX)
            self.backoff = hub.loop.timer(delay)
            self.backoff.start(self._end_backoff)
            return
        if self.readers:
            wake(self.readers[0], hub)
        if self.writers:
            wake(self.writers[0], hub)
        for turn in parked:
            wake(turn, hub)

    def _end_backoff(self) -> None:
        self.backoff.close()
        self.backoff = None
        if self.waiting and not self.closed:
            self.watcher.start(self._on_fd)
            self.wake_all()

    def sweep(self) -> None:
        """Safety net: find readiness that nobody was woken for, and count it."""
        socket = self._socket()
        if socket is None or self.closed or not self.waiting or self.backoff is not None:
            return
        if not self.watcher.active:
            # Dormant: no poller is polling, so nobody is owed a wakeup.
            return
        try:
            pending, _, _ = _real_select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return
        if pending:
            # The watcher has not run yet for a pending edge; not a miss.
            return
        try:
            events = _getsockopt(socket, _EVENTS)
        except zmq.ZMQError:
            self.wake_all()
            return
        missed = [
            turn
            for turn in self._interested(events)
            if not turn.woken and turn.waiter is not None
        ]
        if missed:
            self.registry.missed_edges += 1
            for turn in missed:
                wake(turn, self.hub)

    def _interested(self, events: int) -> list[_Turn]:
        turns = []
        if events & _POLLIN and self.readers:
            turns.append(self.readers[0])
        if events & _POLLOUT and self.writers:
            turns.append(self.writers[0])
        turns.extend(i.turn for i in self.interests if events & i.mask)
        return turns
