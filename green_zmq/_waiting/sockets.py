"""The waiting state of one libzmq socket, shared by every Python object that wraps it.

Notes on the approach
---------------------

A zmq socket's ``FD`` does not mean "readable". It is the socket's command
mailbox: it becomes readable when libzmq has news for the socket, and any
libzmq call on the socket (send, recv, EVENTS, bind, connect, options...)
may drain it. The readiness itself is only known by reading ``EVENTS``
(design.md, "The FD is an edge"). So:

* Whoever drains the mailbox must re-read ``EVENTS`` for the greenlets still
  parked on the socket, or their wakeup is lost: the FD will not fire again
  for readiness that already exists. Every operation ends by checking one
  int (:attr:`SocketWaiting.waiting`) and, only if somebody waits, calls
  :meth:`SocketWaiting.after_op` (which, for registrations whose polls are
  not parked, only marks the socket for their next poll to look at).
* That holds for every Python object on the same libzmq socket (a shadow,
  ``Socket(other)``, a copy): the state is keyed by the socket's handle,
  one per libzmq socket, with one FD watcher (design.md, "Shadows").
* The io watcher's callback runs in the hub, where calling libzmq has been
  seen to crash (pyzmq #950). It only wakes greenlets; each woken greenlet
  makes its own zmq call (design.md, "Nothing calls libzmq in the hub").

Greenlets take turns per direction, first come first served: a greenlet
that finds others queued in its direction queues behind them instead of
trying, and only the head of a queue is ever woken. A multipart message is
written or read without yielding once its first frame went through, so
frames of different greenlets never interleave.

Lifecycle of a :class:`SocketWaiting` (one per libzmq socket, made on first wait)::

    first wait -> watcher started -> FD fires / a re-check sees readiness
               -> head of each ready direction woken -> it retries its call
    last waiter leaves -> watcher kept, but no longer holds the loop
    FD fires with nobody parked -> watcher stopped (no spinning on an FD
                                   nobody drains)
    close() by any wrapper -> everyone woken, watcher closed, state forgotten
    fork -> in the child, everyone parked is woken and fails

The FD's watcher, its spin guard and backoff are the socket's
:class:`~.fd_watch.FdWatch`; a socket without an FD (the thread-safe types)
has a :class:`~.timer_watch.TimerWatch` instead, chosen once when its state
is made (design.md, "Sockets without an FD"); the poller registrations on it are objects of
:mod:`.polling`, seen here only through the :class:`Interest` protocol; the
safety-net sweep is the registry's (:meth:`.registry.HubWaiting.sweep`).
"""

from __future__ import annotations

import fcntl
import weakref
from collections import deque
from dataclasses import dataclass
from time import monotonic
from typing import Any, Callable, Protocol

import zmq
from gevent.hub import get_hub
from gevent.monkey import get_original

from .. import _compat
from .._compat import hub_if_exists
from .._ints import (
    ENOTSOCK,
    EVENTS,
    FD,
    PEER,
    POLLIN,
    POLLOUT,
    ROUTER,
    SERVER,
    STREAM,
    THREAD_SAFE,
    TYPE,
)
from .fd_watch import FdWatch
from .fork import on_fork_in_child
from .registry import HubWaiting, hub_waiting
from .timer_watch import TimerWatch
from .turns import Turn, backoff, park, two_threads_error, wake, wake_in_hub

__all__ = [
    "Interest",
    "SocketStatistics",
    "SocketWaiting",
    "existing_waiting",
    "socket_statistics",
    "socket_waiting",
]

_Backend = zmq.backend.Socket
# A real lock, also under gevent's monkey-patching: other OS threads take it.
_allocate_lock = get_original("_thread", "allocate_lock")
# The Cython method, so that re-checks skip every Python override.
_getsockopt: Callable[[Any, int], Any] = _Backend.get
_handle_of: Callable[[Any], int] = _Backend.underlying.__get__  # type: ignore[attr-defined]

# Set by _fastpath when its compiled twin runs: EVENTS of (zsock, handle)
# straight from libzmq (pyzmq's get builds an enum member per call).
events_of: Callable[[Any, int], int] | None = None

# A turn whose call fails although EVENTS shows its direction ready retries
# after 1 ms, doubling up to 50 ms, unless an FD edge wakes it first.
_FUTILE_PAUSE = 0.001
_FUTILE_PAUSE_MAX = 0.05


# Socket types whose send goes to a peer the message names: whether it can
# go depends on that peer (ROUTER_MANDATORY, a full pipe, a peer unknown),
# and POLLOUT only says that some peer has room.
_SENDS_BY_PEER = frozenset((ROUTER, STREAM, SERVER, PEER))


def fd_of(socket: Any) -> int | None:
    """The socket's FD, or ``None`` for a socket that has none (the thread-safe types).

    libzmq refuses ``FD`` (EINVAL) exactly when its ``THREAD_SAFE`` option is
    set, so that option is asked first: a pyzmq built with the draft API does
    not let the refusal through, but makes up an FD of its own instead (a
    zmq_poller's, with a DraftFDWarning), which lives with one Python object.
    """
    try:
        thread_safe = _getsockopt(socket, THREAD_SAFE)
    except zmq.ZMQError:
        # A libzmq older than the option (4.2) has no thread-safe sockets.
        thread_safe = 0
    return None if thread_safe else _getsockopt(socket, FD)  # type: ignore[no-any-return]


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


# libzmq socket handle -> its state. Weak: the wrappers (and pollers) keep a
# state alive, and a state nobody holds has nobody waiting.
_by_handle: weakref.WeakValueDictionary[int, SocketWaiting] = weakref.WeakValueDictionary()


def socket_waiting(socket: zmq.Socket, new: bool = False) -> SocketWaiting:
    """The waiting state of ``socket``'s libzmq socket, made on first use.

    Every Python object wrapping the same libzmq socket gets the same state,
    made on the calling thread's hub (it follows the thread that waits, see
    SocketWaiting.follow). ``new``: the libzmq socket has just been made, so
    anything found under its address was left by a socket closed behind our
    back.
    """
    handle = _handle_of(socket)
    if not handle:
        raise zmq.ZMQError(ENOTSOCK)
    state = _by_handle.get(handle)
    if state is not None and new:
        state.close()
    elif state is not None:
        if not state.stale(fd_of(socket)):
            # Another object found it: the FD's number may belong to a new
            # file by now (see FdWatch.renew).
            state.watch.renew()
            return state
        state.close()
    state = SocketWaiting(handle, get_hub(), _origin_of(socket))
    _by_handle[handle] = state
    return state


def _origin_of(socket: zmq.Socket) -> zmq.Socket | None:
    """The Python object that owns the libzmq socket under ``socket``, if known.

    A shadow made of another object (``Socket(other)``) knows it; one made of
    a bare address does not.
    """
    seen = 0
    while _compat.is_shadow(socket):
        other = _compat.shadowed_object(socket)
        if not isinstance(other, zmq.Socket) or seen > 100:
            return None
        socket = other
        seen += 1
    return socket


class Interest(Protocol):
    """A poller's registration on a socket, as the socket's state sees it (see :mod:`.polling`).

    ``mask`` is the events it wants; ``turns`` its poller's parked poll
    calls (empty: nobody polls now).
    """

    mask: int
    turns: list[Turn]

    def wake(self, hub: Any) -> None:
        """The socket may have what it wants: wake its parked polls (from a greenlet)."""

    def wake_in_hub(self) -> None:
        """As :meth:`wake`, from a callback in the hub."""

    def watch_stopped(self, state: SocketWaiting) -> None:
        """The socket's watch stopped for want of parked waiters: restart it before a poll."""

    def contention(self, state: SocketWaiting, contended: bool) -> None:
        """Whether others wait on the socket too (turns, other registrations): a poll of
        it must then re-check it for them after draining its FD."""

    def moved(self, state: SocketWaiting) -> None:
        """The socket's waits now go through another thread's hub: a poll in the
        poller's thread must bring it back first."""


@dataclass(frozen=True)
class SocketStatistics:
    """A snapshot of the waiting state of one libzmq socket (for tests and debugging).

    ``receivers``/``senders``: turns queued per direction; ``interests``:
    poller registrations; ``watching``: its FD watcher is started;
    ``closed``: the state saw the socket close.
    """

    receivers: int
    senders: int
    interests: int
    watching: bool
    closed: bool


def socket_statistics(socket: zmq.Socket) -> SocketStatistics:
    """The waiting state of ``socket``'s libzmq socket (all zeros if nobody ever waited)."""
    state = existing_waiting(socket)
    if state is None:
        return SocketStatistics(0, 0, 0, False, bool(socket.closed))
    return state.statistics()


def existing_waiting(socket: zmq.Socket) -> SocketWaiting | None:
    """The waiting state of ``socket``'s libzmq socket if anybody made one, else ``None``."""
    handle = _handle_of(socket)
    return _by_handle.get(handle) if handle else None


def _forget_all() -> None:
    _by_handle.clear()


on_fork_in_child(_forget_all)


class SocketWaiting:
    """The greenlets waiting on one libzmq socket, in turns per direction, and who wakes them.

    The public face, for the wrappers:

    * :attr:`waiting` (turns plus poller interests): the hot path reads this
      one int to decide whether an operation must be followed by
      :meth:`after_op`; :attr:`senders` and :attr:`receivers` are the
      turns queued per direction (a newcomer queues behind any);
    * :meth:`wait_turn`: take a turn in a direction and run a NOBLOCK call
      when it can succeed;
    * :meth:`after_op`, :meth:`notify`, :meth:`hand_on`: re-checks after
      calls that may have drained the FD;
    * :meth:`close`: the libzmq socket is gone.

    Poller registrations come and go through :meth:`add_interest` and
    :meth:`remove_interest`; the watch (:attr:`watch`) calls back
    :meth:`watch_fired`, :meth:`watch_stopped` and :meth:`backoff_over`.
    """

    __slots__ = (
        "__weakref__",
        "handle",
        "_zsock",
        "_origin",
        "fd",
        "kind",
        "hub",
        "registry",
        "watch",
        "_interests",
        "waiting",
        "senders",
        "receivers",
        "sends_by_peer",
        "closed",
        "_spare_turn",
        "_lock",
    )

    def __init__(self, handle: int, hub: Any, origin: zmq.Socket | None) -> None:
        # A Cython-level object of our own on the same libzmq socket: re-checks
        # need no wrapper, and go through no Python override.
        self.handle = handle
        self._zsock = _Backend(shadow=handle)
        # The object that owns the libzmq socket, to tell whether a state
        # found under this address is still its socket's (see stale).
        self._origin = None if origin is None else weakref.ref(origin)
        # None: no FD, the socket's watch is a timer.
        self.fd = fd_of(self._zsock)
        # The socket type, for the fast path (see _fastpath).
        self.kind: int = _getsockopt(self._zsock, TYPE)
        self.hub = hub
        self.registry: HubWaiting = hub_waiting(hub)
        self.watch = self._new_watch(hub)
        # The turns queued per direction, first come first served.
        self.receivers: deque[Turn] = deque()
        self.senders: deque[Turn] = deque()
        # Sends that name their peer are not served in turns: each one's
        # readiness is its own peer's, as in a thread of its own (so a send
        # is tried at once whoever waits, and every waiting sender is woken
        # by a POLLOUT to try its own).
        self.sends_by_peer = self.kind in _SENDS_BY_PEER
        self._interests: list[Interest] = []
        self.waiting = 0
        self.closed = False
        self._spare_turn: Turn | None = None
        # Serialises moves to another thread's hub (see follow): a move
        # decides under it that nobody is parked. Wakeups take no lock (see
        # watch_fired).
        self._lock = _allocate_lock()

    # -- after operations ----------------------------------------------------

    def after_op(self) -> int | None:
        """An operation may have drained the FD: read EVENTS for the waiters, and wake them.

        Returns what it read (through no Python override), or ``None`` if
        the read failed (then everyone is woken, to run into the error) or
        nobody is parked: then the registrations are only marked, for the
        next poll of each to look at the socket, which reads EVENTS itself
        before it parks. (A poller's greenlet that serves its sockets
        between polls would otherwise pay two reads per round trip, about a
        microsecond each through pyzmq, that its next poll repeats.)
        """
        if self.closed:
            return None
        if not (self.receivers or self.senders) and hub_if_exists() is self.hub:
            # In the hub's thread, so nobody parks meanwhile (another
            # thread's call hands its re-check over, in notify).
            interests = self._interests
            for interest in interests:
                if interest.turns:
                    break
            else:
                hub = self.hub
                for interest in interests:
                    interest.wake(hub)
                return None
        self.registry.rechecks += 1
        try:
            if events_of is None:
                events: int = _getsockopt(self._zsock, EVENTS)
            else:
                events = events_of(self._zsock, self.handle)
        except zmq.ZMQError:
            # Closed or terminated: let every waiter run into the error itself.
            self.wake_all()
            return None
        self.notify(events)
        return events

    def notify(self, events: int) -> None:
        """Wake, for the given EVENTS value, everybody who can proceed.

        Only the thread of the hub they park in wakes them (see
        :meth:`watch_fired`); called from another one (a call that never
        waits, made there), this hands itself over to that hub.
        """
        hub = self.hub
        receivers = self.receivers
        head = receivers[0] if events & POLLIN and receivers else None
        queue = self.senders
        senders: list[Turn] | tuple[()] = ()
        if events & POLLOUT and queue:
            senders = list(queue) if self.sends_by_peer else [queue[0]]
        interests = self._interests
        ready = [interest for interest in interests if events & interest.mask] if interests else ()
        # Checked after taking the snapshot above (see watch_fired).
        if hub_if_exists() is not hub or self.hub is not hub:
            self.hub.loop.run_callback_threadsafe(self.notify, events)
            return
        if head is not None:
            wake(head, hub)
        for turn in senders:
            wake(turn, hub)
        for interest in ready:
            interest.wake(hub)

    def hand_on(self) -> None:
        """After calls that skipped the green overrides (a proxy's burst): re-check for others.

        Only turns, and pollers other than the caller's one, can be owed a
        wakeup; the caller re-checks for itself.
        """
        if self.senders or self.receivers or len(self._interests) > 1:
            self.after_op()

    # -- which thread -----------------------------------------------------------

    def follow(self, hub: Any) -> None:
        """Make this socket's waits go through ``hub``, the calling thread's.

        A zmq socket may move between threads, as long as two never use it at
        once (libzmq's rule); its waiting state follows the thread that next
        waits on it (design.md, "Threads"). Waiting from a thread while a
        greenlet of another is parked on the socket raises
        :class:`RuntimeError`, naming both. The old hub's watch is closed in
        its own thread, and the new one started here: a readiness the FD
        announced meanwhile is still there for the new watch to see (epoll
        reports a readable fd when it is added), or in EVENTS, which every
        wait reads first.
        """
        with self._lock:
            if hub is self.hub:
                return
            if self.has_parked():
                raise two_threads_error("socket", self.hub, hub)
            old_watch, old_registry = self.watch, self.registry
            old_watch.detached = True
            self.hub = hub
            self.registry = hub_waiting(hub)
            # A socket closed (here, or behind our back) has no FD to watch:
            # libzmq's reaper closed it, and its number may be another
            # file's by now. (A poller collected in another thread after its
            # socket closed comes here, to unregister.)
            gone = self.closed or (
                self.fd is not None and (self.stale(self.fd) or not _is_open(self.fd))
            )
            if not gone:
                self.watch = self._new_watch(hub)
                self.watch.hold(False)
        old_registry.waiting.discard(self)
        if gone:
            # close() retires the old watch, unless it did already.
            self.close()
            return
        old_watch.retire()
        if self.waiting:
            # Registrations only (nobody is parked): the registry looks
            # after it from now on, and a poll restarts the watch.
            self.registry.waiting.add(self)
            if self.registry.sweep_timer is None:
                self.registry.start_sweeper()
            for interest in self._interests:
                interest.watch_stopped(self)
                interest.moved(self)

    def owned_here(self) -> bool:
        """Do this socket's waits go through the calling thread's hub (or may they, moving)?

        Not in a thread without a hub (a finalizer may run in any): nothing
        there waits, and none is made for it.
        """
        hub = hub_if_exists()
        if hub is self.hub:
            return True
        if hub is None:
            return False
        try:
            self.follow(hub)
        except RuntimeError:
            return False
        return True

    # -- who is parked, and who is owed (the sweeper asks) ----------------------------

    def has_parked(self) -> bool:
        """Is any greenlet parked on this socket right now (not just registered)?"""
        if self.receivers or self.senders:
            return True
        return any(interest.turns for interest in self._interests)

    def heads(self) -> list[Turn]:
        """The turns that the next readiness would wake, whatever it is."""
        heads = [queue[0] for queue in (self.receivers, self.senders) if queue]
        if self.sends_by_peer and len(self.senders) > 1:
            heads.extend(list(self.senders)[1:])
        for interest in self._interests:
            heads.extend(interest.turns)
        return heads

    def owed(self, events: int) -> list[Turn]:
        """The turns that readiness ``events`` would wake."""
        owed: list[Turn] = []
        if events & POLLIN and self.receivers:
            owed.append(self.receivers[0])
        if events & POLLOUT and self.senders:
            owed.extend(self.senders if self.sends_by_peer else (self.senders[0],))
        for interest in self._interests:
            if events & interest.mask:
                owed.extend(interest.turns)
        return owed

    def statistics(self) -> SocketStatistics:
        return SocketStatistics(
            receivers=len(self.receivers),
            senders=len(self.senders),
            interests=len(self._interests),
            watching=self.watch.active and not self.closed,
            closed=self.closed,
        )

    def stale(self, fd: int | None) -> bool:
        """Was this state's socket closed behind our back (by its plain pyzmq owner)?

        Its address may then belong to a new libzmq socket, whose FD is
        ``fd``: it must not inherit a watch on a file descriptor that is
        gone. Known for sure when the FD differs, or the owner is known
        (a shadow of an object) and closed; otherwise see FdWatch.renew.
        """
        if self.closed or fd != self.fd:
            return True
        if self._origin is None:
            return False
        origin = self._origin()
        return origin is None or bool(origin._closed)

    # -- turns ---------------------------------------------------------------

    def wait_turn(
        self,
        writing: bool,
        call: Callable[..., Any],
        args: tuple[Any, ...],
        timeout_ms: int,
        tried: bool = True,
    ) -> Any:
        """Queue in one direction and run ``call(*args)`` (a NOBLOCK call) when it can succeed.

        The caller has just made that call and got ``zmq.Again``
        (``tried``), or did not try because others queue ahead.
        ``timeout_ms`` < 0 waits forever, otherwise ``zmq.Again`` is raised
        after that long, as blocking pyzmq does for RCVTIMEO/SNDTIMEO.
        """
        # deadline_after, inlined: this is every wait's path.
        hub = get_hub()
        if hub is not self.hub:
            self.follow(hub)
        deadline = None if timeout_ms < 0 else monotonic() + timeout_ms / 1000.0
        # A state's turns are used one at a time, mostly: keep one for reuse.
        turn = self._spare_turn
        if turn is None:
            turn = Turn()
        else:
            self._spare_turn = None
        queue = self.senders if writing else self.receivers
        queue.append(turn)
        # Whether this turn may call without being at the head of its queue.
        on_its_own = writing and self.sends_by_peer
        if self._interests:
            self._update_contention()
        self._enter()
        # Failed attempts in a row: the caller's has just failed (or others
        # are ahead of us, and then this does not matter until our turn).
        futile = 1
        # Did a call of ours drain the FD since the last re-check?
        drained = tried
        try:
            while True:
                # A call that failed with EAGAIN has just processed libzmq's
                # commands, so our own readiness cannot hide; but it drained
                # the FD, and others' readiness may now show only in EVENTS.
                # A caller that queued behind others made no call: whoever
                # made the last one re-checked after it.
                if drained and self.waiting > 1:
                    self.after_op()
                drained = True
                if turn.woken and (on_its_own or queue[0] is turn):
                    # EVENTS shows our direction ready, yet our call has just
                    # failed: on this socket readiness is not about our call
                    # (ROUTER_MANDATORY to a full peer: POLLOUT means some
                    # peer has room). Retrying at once would spin without
                    # ever yielding. libzmq's blocking call waits for the
                    # socket's next command; so do we (an FD edge wakes us),
                    # retrying anyway after a pause that grows.
                    turn.woken = False
                    retry_at = monotonic() + backoff(_FUTILE_PAUSE, _FUTILE_PAUSE_MAX, futile)
                    if deadline is None or retry_at < deadline:
                        try:
                            park(turn, self.registry, retry_at)
                        except zmq.Again:
                            pass
                    else:
                        park(turn, self.registry, deadline)
                else:
                    park(turn, self.registry, deadline)
                if self.closed:
                    raise zmq.ZMQError(ENOTSOCK)
                if on_its_own or queue[0] is turn:
                    try:
                        result = call(*args)
                    except zmq.Again:
                        futile += 1
                        self.watch.fruitless_wakeup()
                        continue
                    self.watch.fruitless = 0
                    return result
        finally:
            queue.remove(turn)
            turn.woken = False
            self._spare_turn = turn
            if self._interests:
                self._update_contention()
            self._leave()

    # -- poller interests ----------------------------------------------------

    def add_interest(self, interest: Interest) -> None:
        # A registration is no wait: from another thread it is kept (and
        # the socket follows that thread if nobody waits here now).
        own = self.owned_here()
        self._interests.append(interest)
        self._update_contention()
        self._enter(own)
        if not own:
            # A greenlet of another thread waits on the socket: a poll in
            # the registering thread must bring it over first, and is
            # refused while that one waits.
            interest.moved(self)

    def remove_interest(self, interest: Interest) -> None:
        # No re-check: a poller's wakeups are shared by every waiter (see
        # watch_fired), so one that leaves takes nobody's wakeup away; and a
        # finalizer may remove it from inside the hub.
        own = self.owned_here()
        self._interests.remove(interest)
        interest.contention(self, False)
        self._update_contention()
        self._leave(recheck=False, own=own)
        if not self.waiting and self.stale(self.fd):
            # Its socket was closed behind our back (a plain pyzmq socket
            # by its own close()), and this was the last use of the state.
            # Its watcher must be closed, not left to the garbage collector:
            # gevent's libuv loop keeps an unclosed one for its fd number,
            # and a later watcher of a file that takes the number would be
            # added to it and never fire.
            self.close()

    def rearm(self) -> None:
        """Restart a watch stopped while nobody was parked (see watch_stopped)."""
        if self.waiting and not self.closed:
            self.watch.start()

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """The libzmq socket was closed: wake everyone (they raise ENOTSOCK), drop the watch."""
        if self.closed:
            return
        self.closed = True
        self.wake_all()
        # In the watch's own thread (the close may come from any).
        self.watch.retire()
        self.registry.waiting.discard(self)
        for interest in self._interests:
            interest.contention(self, False)
        if _by_handle.get(self.handle) is self:
            del _by_handle[self.handle]

    def wake_all(self) -> None:
        """Wake everybody parked on the socket (in their thread, wherever this is called)."""
        hub = self.hub
        turns = (*self.receivers, *self.senders)
        interests = tuple(self._interests)
        # Checked after taking the snapshot above (see watch_fired).
        if hub_if_exists() is not hub or self.hub is not hub:
            self.hub.loop.run_callback_threadsafe(self.wake_all)
            return
        for turn in turns:
            wake(turn, hub)
        for interest in interests:
            interest.wake(hub)

    # -- the watch's calls (in the hub: only wake, never call libzmq) -------------

    def watch_fired(self, watch: FdWatch | TimerWatch) -> bool | None:
        """``watch`` fired (in its hub): wake the heads and the polls.

        False if nobody is parked, None if the socket moved to another hub
        since (``watch`` is not its watch any more).

        No lock: turns are woken only in the thread of the hub they park in
        (here, or :meth:`notify` handed over), so no two threads race on one.
        Whom to wake is read first, and the owner checked after: a thread
        takes the socket over (:meth:`follow`) only while nobody is parked,
        and parks its own greenlets only once it has, so if ``watch`` is
        still the socket's after the reads, every turn read is parked in
        this thread, and stays so while the hub runs this callback. (A lock
        taken here cost about 5% of a REQ/REP round trip.)
        """
        readers = self.receivers
        head = readers[0] if readers else None
        queue = self.senders
        writers: list[Turn] | tuple[()] = ()
        if queue:
            # A woken greenlet runs at once, and may leave or wait again:
            # copies.
            writers = list(queue) if self.sends_by_peer else [queue[0]]
        interests = self._interests
        polls = [interest for interest in interests if interest.turns] if interests else ()
        if watch is not self.watch:
            return None
        if head is None and not writers and not polls:
            return False
        if head is not None:
            wake_in_hub(head)
        for turn in writers:
            wake_in_hub(turn)
        for interest in polls:
            interest.wake_in_hub()
        return True

    def watch_stopped(self) -> None:
        """The watch stopped, nobody being parked: registered pollers restart it."""
        for interest in self._interests:
            interest.watch_stopped(self)

    def backoff_over(self) -> None:
        """The spin guard's pause is over: watch again, and let everyone retry."""
        if not self.waiting or self.closed:
            return
        assert self.fd is not None  # only an FdWatch backs off
        if self.stale(self.fd) or not _is_open(self.fd):
            # Closed behind our back during the pause: libzmq's reaper
            # closes the FD, and a watcher started on a closed fd aborts
            # the process (design.md, "Closed file descriptors"). Every
            # other restart follows a libzmq call that would have failed.
            self.close()
            return
        self.watch.start()
        self.wake_all()

    # -- internals -----------------------------------------------------------

    def _new_watch(self, hub: Any) -> FdWatch | TimerWatch:
        if self.fd is None:
            return TimerWatch(self, hub)
        return FdWatch(self, self.fd, hub)

    def _update_contention(self) -> None:
        interests = self._interests
        contended = not self.closed and bool(
            self.senders or self.receivers or len(interests) > 1
        )
        for interest in interests:
            interest.contention(self, contended)

    def _enter(self, own: bool = True) -> None:
        # The watch stays started between waits (starting and stopping it
        # costs epoll_ctl calls on every wait); while nobody waits it only
        # loses its hold on the loop, and the first idle FD event stops it.
        # Only the hub's own thread touches its watch (``own``; a registration
        # from another thread while a greenlet waits here finds it started).
        self.waiting = waiting = self.waiting + 1
        if own and not self.closed:
            watch = self.watch
            if not watch.active:
                watch.start()
            if waiting == 1:
                self.watch.hold(True)
        if waiting == 1:
            registry = self.registry
            registry.waiting.add(self)
            if registry.sweep_timer is None:
                registry.start_sweeper()

    def _leave(self, recheck: bool = True, own: bool = True) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            if not self.closed:
                if own:
                    self.watch.hold(False)
                else:
                    # Only the hub's thread touches its watch (see _enter).
                    self.hub.loop.run_callback_threadsafe(self._let_go, self.watch)
            self.registry.waiting.discard(self)
        elif recheck:
            # A turn that leaves (done, timed out or killed) may have been
            # the one woken: hand the readiness on to whoever is next.
            self.after_op()

    def _let_go(self, watch: FdWatch | TimerWatch) -> None:
        # In the hub, after a registration left from another thread: the
        # watch stops holding the loop, unless somebody waits again, or the
        # socket moved to another hub (whose new watch holds nothing).
        if watch is self.watch and not self.waiting and not self.closed:
            watch.hold(False)
