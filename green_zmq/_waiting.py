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
  for readiness that already exists. So every operation ends by checking
  one int (is anybody waiting?) and, only if so, calls
  :meth:`SocketWaiting.recheck`, which re-reads ``EVENTS`` and wakes
  whoever can proceed.
* The io watcher's callback runs in the hub, where calling libzmq has been
  seen to crash (pyzmq #950). It only wakes greenlets; each woken greenlet
  makes its own zmq call.

Greenlets take turns per direction, first come first served: a greenlet
that finds others queued in its direction queues behind them instead of
trying, and only the head of a queue is ever woken. A multipart message is
written or read without yielding once its first frame went through, so
frames of different greenlets never interleave.

Lifecycle of a :class:`SocketWaiting` (one per socket, made on first wait)::

    first wait -> watcher started -> FD fires / a re-check sees readiness
               -> head of each ready direction woken -> it retries its call
    last waiter leaves -> watcher kept, but no longer holds the loop
    FD fires with nobody parked -> watcher stopped (no spinning on an FD
                                   nobody drains)
    close() -> everyone woken, watcher closed
    fork -> in the child, everyone parked is woken and fails (fork_error)

A sweeper per hub re-reads ``EVENTS`` of sockets with long-parked
greenlets every :func:`set_sweep_interval` seconds. It is a safety net, not
the mechanism: when it finds a socket ready that nobody woke while the FD
shows nothing pending, that is a lost wakeup and ``missed_edges`` counts it.
The test suite asserts that counter stays 0 and also runs with the sweeper
off.
"""

from __future__ import annotations

import os
import weakref
from collections import deque
from dataclasses import dataclass
from time import monotonic
from typing import Any, Callable

import gevent
import zmq
from gevent.hub import Waiter, get_hub
from gevent.monkey import get_original

from ._ints import ENOTSOCK as _ENOTSOCK, EVENTS as _EVENTS, POLLIN as _POLLIN, POLLOUT as _POLLOUT

__all__ = [
    "Interest",
    "PollTurn",
    "SocketWaiting",
    "WaitStatistics",
    "fork_error",
    "hub_waiting",
    "park",
    "set_spin",
    "set_sweep_interval",
    "statistics",
    "wake",
    "wake_in_hub",
]


# The Cython method, so the sweeper and re-checks skip the Python overrides.
_getsockopt: Callable[[Any, int], Any] = zmq.backend.Socket.get

# The sweeper must look at the FD without yielding, even under monkey-patching.
_real_select = get_original("select", "select")

_TIMED_OUT = object()

# Spin guard: after this many FD wakeups in a row without news, back off
# from 2 ms doubling up to 100 ms.
_SPIN_LIMIT = 16
_SPIN_BACKOFF = 0.001
_SPIN_BACKOFF_MAX = 0.1

# A turn whose call fails although EVENTS shows its direction ready retries
# after 1 ms, doubling up to 50 ms, unless an FD edge wakes it first.
_FUTILE_PAUSE = 0.001
_FUTILE_PAUSE_MAX = 0.05


def _seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None


_sweep_interval = _seconds_from_env("GREEN_ZMQ_SWEEP_INTERVAL", 1.0)
_spin = _seconds_from_env("GREEN_ZMQ_SPIN", 0.00005)


def set_spin(seconds: float) -> float:
    """Set how long the hub polls instead of sleeping after a wait begins; return the old value.

    A thread that sleeps in ``epoll_wait`` takes tens of microseconds to
    wake when libzmq's I/O thread signals it (more on a virtual machine),
    and a request/reply exchange pays that twice per round trip. So after
    a greenlet parks on a socket, the hub keeps polling without blocking
    for this long, and only when it has nothing else to run. The default
    is 50 microseconds, or the ``GREEN_ZMQ_SPIN`` environment variable;
    ``0`` never spins. The cost is at most this much CPU per wait.
    """
    global _spin
    if seconds < 0:
        raise ValueError("spin time must be >= 0")
    previous, _spin = _spin, float(seconds)
    return previous


def set_sweep_interval(seconds: float) -> float:
    """Set how often the missed-edge sweeper looks at waiting sockets; return the old value.

    ``0`` turns the sweeper off (correctness never depends on it). The
    default is 1 second, or the ``GREEN_ZMQ_SWEEP_INTERVAL`` environment
    variable. Takes effect at once on the calling thread's hub, and on
    other hubs at their next wait.
    """
    global _sweep_interval
    if seconds < 0:
        raise ValueError("sweep interval must be >= 0")
    previous, _sweep_interval = _sweep_interval, float(seconds)
    registry = hub_waiting(get_hub())
    if registry.sweep_timer is not None:
        registry.sweep_timer.close()
        registry.sweep_timer = None
    registry.start_sweeper()
    return previous


@dataclass(frozen=True)
class WaitStatistics:
    """A snapshot of the waiting machinery of the calling thread's hub.

    ``parked``: greenlets waiting right now on a socket or poller;
    ``sockets``: sockets with somebody waiting right now;
    ``fd_wakeups``: times an FD watcher fired with somebody waiting;
    ``rechecks``: EVENTS reads made on behalf of waiting greenlets;
    ``sweeps``: sweeper passes;
    ``missed_edges``: sockets the sweeper found ready with a waiter that
    nobody had woken, parked since before its previous pass (a lost
    wakeup; 0 unless there is a bug). A message that lands in the few
    microseconds between the sweeper's look at the FD and its EVENTS read
    is indistinguishable and counts too, so with thousands of long waits
    a rare count is possible without a bug.
    """

    parked: int
    sockets: int
    fd_wakeups: int
    rechecks: int
    sweeps: int
    missed_edges: int


class _Turn:
    """One waiting greenlet: its place in a socket's queue, or a whole poller."""

    __slots__ = ("waiter", "woken", "parked_since")

    def __init__(self) -> None:
        self.waiter: Waiter | None = None
        self.woken = False
        # The sweep pass during which it last parked (see SocketWaiting.sweep).
        self.parked_since = 0


class PollTurn(_Turn):
    """The waiting side of a poller, registered on many sockets at once.

    ``dirty`` holds the keys of the registrations that may have become
    ready since the poller last looked (FD fired, EVENTS showed a wanted
    event, watcher dormant, just registered): a poll checks only those, so
    idle sockets cost nothing. ``dormant`` collects the sockets whose watcher
    was stopped while the poller was not polling (so an FD nobody drains
    cannot spin the hub); the poller restarts them before it parks again.
    """

    __slots__ = ("dormant", "dirty")

    def __init__(self) -> None:
        super().__init__()
        self.dormant: list[SocketWaiting] = []
        self.dirty: set[Any] = set()


class Interest:
    """A poller's persistent registration on one socket: which events it wants.

    ``key`` is what the poller registered (it reports results by it).
    """

    __slots__ = ("turn", "mask", "key")

    def __init__(self, turn: PollTurn, mask: int, key: Any) -> None:
        self.turn = turn
        self.mask = mask
        self.key = key

    def mark(self) -> PollTurn:
        self.turn.dirty.add(self.key)
        return self.turn


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
    turn.parked_since = registry.sweeps
    if _spin:
        registry.spin()
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


def wake_in_hub(turn: _Turn) -> None:
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


def _overdue(turn: _Turn, pass_number: int) -> bool:
    """Parked, not woken, and since before the given sweep pass."""
    return turn.waiter is not None and not turn.woken and turn.parked_since < pass_number


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
        # The idle watcher that keeps the loop polling until spin_until (set_spin).
        self.spin_watcher: Any = None
        self.spin_until = 0.0
        # Set in a forked child: every wait on this registry fails.
        self.forked = False

    def add(self, state: SocketWaiting) -> None:
        self.waiting.add(state)
        if self.sweep_timer is None:
            self.start_sweeper()

    def spin(self) -> None:
        """Keep the loop from sleeping for the next ``_spin`` seconds (see set_spin)."""
        self.spin_until = monotonic() + _spin
        watcher = self.spin_watcher
        if watcher is None:
            # An idle watcher runs only when nothing else is pending, and
            # while it is active libev polls without blocking. Unreferenced:
            # it never keeps the loop alive by itself.
            watcher = self.spin_watcher = self.hub.loop.idle(ref=False)
        if not watcher.active:
            watcher.start(self._spin_tick)

    def _spin_tick(self) -> None:
        if monotonic() >= self.spin_until:
            self.spin_watcher.stop()

    def start_sweeper(self) -> None:
        if self.sweep_timer is None and self.waiting and _sweep_interval > 0:
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
        "recv_waited",
        "timeouts",
        "fires",
        "fires_seen",
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
        # Did the last blocking recv have to wait? (The socket's hint to itself.)
        self.recv_waited = False
        # RCVTIMEO/SNDTIMEO as last read, by option (the socket keeps it
        # current); None while another object may hold the libzmq socket.
        shared = socket._green_shared or socket._shadow
        self.timeouts: dict[int, int] | None = None if shared else {}
        # FD wakeups with somebody waiting, and their count at the sweeper's
        # last look (see sweep).
        self.fires = 0
        self.fires_seen = 0

    # -- called by the operations ------------------------------------------

    def recheck(self, socket: zmq.Socket) -> None:
        """Read EVENTS for the waiters (an operation may have drained the FD) and wake them."""
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
        hub = self.hub
        if events & _POLLIN and self.readers:
            wake(self.readers[0], hub)
        if events & _POLLOUT and self.writers:
            wake(self.writers[0], hub)
        for interest in self.interests:
            if events & interest.mask:
                wake(interest.mark(), hub)

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

        The caller has just tried ``attempt`` and got ``zmq.Again``, or did
        not try because others queue ahead. ``timeout_ms`` < 0 waits
        forever, otherwise ``zmq.Again`` is raised after that long, as
        blocking pyzmq does for RCVTIMEO/SNDTIMEO.
        """
        self._check_thread()
        deadline = None if timeout_ms < 0 else monotonic() + timeout_ms / 1000.0
        turn = _Turn()
        queue.append(turn)
        if self.interests:
            self.registry.contended.add(self)
        self._enter()
        # Failed attempts in a row: the caller's has just failed (or others
        # are ahead of us, and then this does not matter until our turn).
        futile = 1
        try:
            while True:
                # A call that failed with EAGAIN has just processed libzmq's
                # commands, so our own readiness cannot hide; but it drained
                # the FD, and others' readiness may now show only in EVENTS.
                if self.waiting > 1:
                    self.recheck(socket)
                if turn.woken and queue[0] is turn:
                    # EVENTS shows our direction ready, yet our call has just
                    # failed: on this socket readiness is not about our call
                    # (ROUTER_MANDATORY to a full peer: POLLOUT means some
                    # peer has room). Retrying at once would spin without
                    # ever yielding. libzmq's blocking call waits for the
                    # socket's next command; so do we (an FD edge wakes us),
                    # retrying anyway after a pause that grows.
                    turn.woken = False
                    pause = min(_FUTILE_PAUSE * 2 ** (futile - 1), _FUTILE_PAUSE_MAX)
                    retry_at = monotonic() + pause
                    if deadline is None or retry_at < deadline:
                        try:
                            park(turn, self.hub, self.registry, retry_at)
                        except zmq.Again:
                            pass
                    else:
                        park(turn, self.hub, self.registry, deadline)
                else:
                    park(turn, self.hub, self.registry, deadline)
                if self.closed:
                    raise zmq.ZMQError(_ENOTSOCK)
                if queue[0] is turn:
                    try:
                        result = attempt()
                    except zmq.Again:
                        futile += 1
                        continue
                    self.idle_fires = 0
                    return result
        finally:
            queue.remove(turn)
            if self.interests:
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
        if self.waiting and not self.closed and self.backoff is None and not self.watcher.active:
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
            wake(interest.mark(), hub)

    # -- internals ---------------------------------------------------------

    def _check_thread(self) -> None:
        if get_hub() is not self.hub:
            raise RuntimeError(
                "green_zmq socket used from a thread other than the one that created it; "
                "a zmq socket belongs to one thread (create a socket per thread)"
            )

    def _update_contended(self) -> None:
        # Only pollers look at this set, so a socket without one is never in it.
        interests = self.interests
        if self.closed:
            self.registry.contended.discard(self)
        elif interests and (self.readers or self.writers or len(interests) > 1):
            self.registry.contended.add(self)
        else:
            self.registry.contended.discard(self)

    def _enter(self) -> None:
        # The watcher stays started between waits (starting and stopping it
        # costs epoll_ctl calls on every wait); while nobody waits it only
        # loses its hold on the loop, and the first idle FD event stops it.
        self.waiting += 1
        watcher = self.watcher
        if not self.closed:
            if not watcher.active and self.backoff is None:
                watcher.start(self._on_fd)
            if self.waiting == 1:
                watcher.ref = True
        if self.waiting == 1:
            self.registry.add(self)

    def _leave(self, socket: zmq.Socket | None) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            if not self.closed:
                self.watcher.ref = False
            self.registry.waiting.discard(self)
        elif socket is not None and not self.closed:
            # A turn that leaves (done, timed out or killed) may have been
            # the one woken: hand the readiness on to whoever is next.
            self.recheck(socket)

    def _on_fd(self) -> None:
        # In the hub: only wake, never call libzmq here.
        hub = self.hub
        # (A comprehension is a call of its own: skip it when it has nothing to do.)
        parked = [i for i in self.interests if i.turn.waiter is not None] if self.interests else ()
        if not (self.readers or self.writers or parked):
            # Nobody is parked (at most idle pollers are registered). Nobody
            # would drain the FD, and libev would call us on every loop
            # iteration: stop until somebody waits or a poller polls again.
            self.watcher.stop()
            for interest in self.interests:
                interest.mark().dormant.append(self)
            return
        self.registry.fd_wakeups += 1
        self.fires += 1
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
            wake_in_hub(self.readers[0])
        if self.writers:
            wake_in_hub(self.writers[0])
        for interest in parked:
            wake_in_hub(interest.mark())

    def _end_backoff(self) -> None:
        self.backoff.close()
        self.backoff = None
        if self.waiting and not self.closed:
            self.watcher.start(self._on_fd)
            self.wake_all()

    def sweep(self) -> None:
        """Safety net: find readiness that nobody was woken for, count it, heal it.

        A message can land between the select and the EVENTS read below, and
        no check can tell that from a lost wakeup. But a lost wakeup leaves
        its greenlet parked for good, so the sweeper only looks at sockets
        with a turn parked since before its previous pass: younger waits
        are left alone (the EVENTS read would drain their FD), a lost one
        is found one pass later, and a racing arrival would have to hit a
        microsecond window of a wait longer than the sweep interval, on a
        socket whose watcher has not fired since the previous pass.
        """
        socket = self._socket()
        if socket is None or self.closed or not self.waiting or self.backoff is not None:
            return
        if not self.watcher.active:
            # Dormant: no poller is polling, so nobody is owed a wakeup.
            return
        old = self.registry.sweeps - 1
        heads = [queue[0] for queue in (self.readers, self.writers) if queue]
        heads.extend(i.turn for i in self.interests)
        if not any(_overdue(turn, old) for turn in heads):
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
        owed: list[_Turn] = []
        if events & _POLLIN and self.readers:
            owed.append(self.readers[0])
        if events & _POLLOUT and self.writers:
            owed.append(self.writers[0])
        owed.extend(i.turn for i in self.interests if events & i.mask)
        # A lost wakeup leaves the FD quiet: nothing tells the watcher. A
        # socket whose watcher fired since our last look is busy, and what
        # we see is far likelier a message racing our check.
        quiet = self.fires == self.fires_seen
        self.fires_seen = self.fires
        if quiet and any(_overdue(turn, old) for turn in owed):
            self.registry.missed_edges += 1
        # Heal it, and in any case hand the EVENTS just read (which drained
        # the FD) to whoever wants them.
        self.notify(events)
