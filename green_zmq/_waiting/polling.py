"""The waiting side of a poller: persistent registrations, and any number of poll calls.

A :class:`PollWaiting` belongs to one poller. Its registrations persist
between polls: a :class:`Registration` on a socket's shared state for each zmq
socket, and its raw fds in one :class:`~.fd.FdSet`. Each poll call parks a
turn of its own, so several greenlets may poll one poller at once, and
every registration that fires wakes all of them, as a readiness would
return every thread's ``zmq_poll`` on the same items.

``dirty`` holds the keys of the registrations that may have become ready
since the poller last looked (FD fired, EVENTS showed a wanted event,
watcher dormant, just registered): a poll need check only those, so idle
sockets cost nothing. Lifecycle of a registration::

    watch_socket() / watch_fd() -> registered, dirty
    wait()  -> park until a registration fires, or the deadline
    after_poll() after each zmq_poll -> hand the readiness on to other waiters
    unwatch() / poller collected -> registration removed
"""

from __future__ import annotations

import select
from typing import Any

import zmq
from gevent.hub import get_hub
from gevent.monkey import get_original

from .fd import READABLE, URGENT, WRITABLE, FdSet
from .fork import fork_error
from .registry import hub_waiting
from .sockets import SocketWaiting
from .turns import Turn, park, two_threads_error, wake, wake_in_hub

__all__ = ["PollWaiting", "Registration"]

_epoll = get_original("select", "epoll")
# A real lock, also under gevent's monkey-patching: other OS threads take it.
_allocate_lock = get_original("_thread", "allocate_lock")
_FD_READABLE = select.EPOLLIN

# See PollWaiting._compact_dirty: a set of fewer keys than this, in a table
# no bigger than it needs, is walked in a few steps.
_FEW_KEYS = 8


def _add_fd(signalled: Any, fd: int) -> None:
    try:
        signalled.register(fd, _FD_READABLE)
    except OSError:
        # A closed socket's FD (check_open reports the socket), or a number
        # still registered from a socket closed before it was unregistered.
        pass


class Registration:
    """A poller's persistent registration on one socket (a :class:`.sockets.Interest`).

    ``key`` is what the poller registered (it reports results by it);
    ``turns`` is the poller's list of parked poll calls, shared, so that the
    socket's FD callback tells whether anyone is parked without a call.
    """

    __slots__ = ("poller", "mask", "key", "turns")

    def __init__(self, poller: PollWaiting, mask: int, key: Any) -> None:
        self.poller = poller
        self.mask = mask
        self.key = key
        self.turns = poller.turns

    def wake(self, hub: Any) -> None:
        self.poller.dirty.add(self.key)
        for turn in self.turns:
            wake(turn, hub)

    def wake_in_hub(self) -> None:
        self.poller.dirty.add(self.key)
        self.poller.wake_in_hub()

    def watch_stopped(self, state: SocketWaiting) -> None:
        self.poller.dirty.add(self.key)
        self.poller.dormant.append(state)

    def contention(self, state: SocketWaiting, contended: bool) -> None:
        if contended:
            self.poller.contended.add(state)
        else:
            self.poller.contended.discard(state)

    def moved(self, state: SocketWaiting) -> None:
        self.poller.moved.add(state)


class PollWaiting:
    """Registrations and parked poll calls of one poller (see the module's notes)."""

    def __init__(self) -> None:
        self.hub = get_hub()
        self.registry = hub_waiting(self.hub)
        # Parked poll calls. Never rebound: every Interest holds this list.
        self.turns: list[Turn] = []
        self.dirty: set[Any] = set()
        # Socket states whose watcher was stopped while the poller was not
        # polling (so an FD nobody drains cannot spin the hub); restarted
        # before the next park.
        self.dormant: list[SocketWaiting] = []
        # The states of this poller's sockets that others wait on too (turns,
        # other registrations): a poll drains their FDs, and must re-check
        # them for the others afterwards. Kept up to date by the sockets
        # (Registration.contention), so that idle ones cost a poll nothing.
        self.contended: set[SocketWaiting] = set()
        # Socket states whose waits went to another thread's hub since the
        # last poll (another thread waited on the socket): a poll brings
        # them back before it parks.
        self.moved: set[SocketWaiting] = set()
        # Guards which hub this poller belongs to (see follow), as
        # SocketWaiting's lock does for a socket.
        self._lock = _allocate_lock()
        self._sockets: dict[Any, tuple[SocketWaiting, Registration, int | None, bool]] = {}
        # Raw fds (ints and fileno() objects), all in one set made at the
        # first: key -> (fd, what it is watched for). Several keys may name
        # one fd; the set watches it for all of them.
        self._raw: FdSet | None = None
        self._raw_keys: dict[Any, tuple[int, int]] = {}
        # Keys every poll looks at: raw fds (cheap to look at) and
        # registrations nothing watches (they must fail the way pyzmq fails).
        self.always: set[Any] = set()
        # How many keys stand for each socket state (a socket and its shadows).
        self._states: dict[SocketWaiting, int] = {}
        # The sockets' FDs, to find signals the hub has not seen yet; one FD
        # may stand for several keys (a socket and its shadows). An epoll set
        # answers in time that grows with the signalled FDs only (poll(2)
        # walks every registered one: 10,000 idle sockets cost every poll
        # call 10,000 checks). Made at the first poll that needs it, so a
        # select() over a few sockets makes none.
        self._signalled: Any = None
        self._keys_by_fd: dict[int, list[Any]] = {}

    # -- registrations ---------------------------------------------------------

    def watch_socket(self, key: Any, state: SocketWaiting, mask: int, plain: bool) -> None:
        """Register (or re-mask) a zmq socket's state, by the key it reports under.

        ``plain``: the key is a plain pyzmq socket, which may be closed
        without its state hearing of it (see check_open).
        """
        entry = self._sockets.get(key)
        if entry is not None and entry[0] is state:
            entry[1].mask = mask
            self.dirty.add(key)
            return
        self.unwatch(key)
        interest = Registration(self, mask, key)
        state.add_interest(interest)
        fd = state.fd
        self._sockets[key] = (state, interest, fd, plain)
        self._states[state] = self._states.get(state, 0) + 1
        if fd is not None:
            # (A socket without an FD has only its timer's wakeups to mark
            # it dirty.)
            keys = self._keys_by_fd.get(fd)
            if keys is None:
                self._keys_by_fd[fd] = [key]
                if self._signalled is not None:
                    _add_fd(self._signalled, fd)
            else:
                keys.append(key)
        self.dirty.add(key)

    def watch_fd(self, key: Any, fd: int, readable: bool, writable: bool, urgent: bool) -> None:
        """Register (or re-mask) a raw fd; ``urgent``: priority data. None of them: errors alone.

        Raises what :class:`.fd.FdSet` raises for an fd it cannot watch;
        the key is then left to :meth:`check_always`.
        """
        self.unwatch(key)
        raw = self._raw
        if raw is None:
            raw = self._raw = FdSet(self._raw_fired)
        events = READABLE if readable else 0
        events |= (WRITABLE if writable else 0) | (URGENT if urgent else 0)
        others = self._raw_events(fd)
        if others is None:
            raw.add(fd, events)
        else:
            try:
                raw.change(fd, others | events)
            except FileNotFoundError:
                # Its number went to another file since the others registered it.
                raw.renew()
                raw.change(fd, others | events)
        self._raw_keys[key] = (fd, events)
        self.always.add(key)
        if self.turns and not raw.active:
            raw.start()

    def _raw_events(self, fd: int) -> int | None:
        """What the keys registered on raw ``fd`` want together; ``None`` if there are none."""
        wanted = None
        for other, events in self._raw_keys.values():
            if other == fd:
                wanted = (wanted or 0) | events
        return wanted

    def check_always(self, key: Any) -> None:
        """A registration with no watcher (odd flags, a bad fd): every poll looks at it."""
        self.unwatch(key)
        self.always.add(key)

    def unwatch(self, key: Any) -> None:
        entry = self._sockets.pop(key, None)
        if entry is not None:
            state, interest, fd, _ = entry
            state.remove_interest(interest)
            before = len(self.dirty)
            self.dirty.discard(key)
            if before >= _FEW_KEYS:
                self._compact_dirty(before)
            if self._states[state] == 1:
                del self._states[state]
            else:
                self._states[state] -= 1
            if fd is not None:
                keys = self._keys_by_fd[fd]
                keys.remove(key)
                if not keys:
                    del self._keys_by_fd[fd]
                    if self._signalled is not None:
                        try:
                            self._signalled.unregister(fd)
                        except OSError:
                            # Closed already: the kernel dropped it from the set.
                            pass
        raw_entry = self._raw_keys.pop(key, None)
        if raw_entry is not None and self._raw is not None:
            fd = raw_entry[0]
            rest = self._raw_events(fd)
            if rest is None:
                self._raw.discard(fd)
            else:
                try:
                    self._raw.change(fd, rest)
                except OSError:
                    # Closed since; whoever polls it next gets POLLERR.
                    pass
        self.always.discard(key)

    def release(self) -> None:
        for key in [*self._sockets, *self._raw_keys]:
            self.unwatch(key)
        if self._signalled is not None:
            self._signalled.close()
            self._signalled = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def check_open(self, items: list[tuple[Any, int]]) -> None:
        """Raise as a plain poll of these ``(key, events)`` items would not, but should.

        In a forked child, :func:`.fork.fork_error` (libzmq would answer
        EINTR forever); for a closed socket, ``ZMQError(ENOTSOCK)``, as a
        plain poll interrupted by close() raises (``zmq_poll`` itself would
        take the closed socket's NULL handle for fd 0).
        """
        if self.registry.forked:
            raise fork_error()
        sockets = self._sockets
        always = self.always
        for key, _ in items:
            entry = sockets.get(key)
            if entry is not None:
                state = entry[0]
                if state.closed:
                    raise zmq.ZMQError(zmq.ENOTSOCK)
                if entry[3] and key.closed:
                    # A plain socket closed by its own close(): its state
                    # did not hear of it, and must not watch its FD any
                    # longer (libzmq's reaper closes it).
                    state.close()
                    raise zmq.ZMQError(zmq.ENOTSOCK)
            elif key in always and isinstance(key, zmq.Socket) and key.closed:
                # Closed before it was registered, so nothing watches it.
                raise zmq.ZMQError(zmq.ENOTSOCK)

    # -- which registrations to look at ------------------------------------------

    def may_be_ready(self) -> set[Any]:
        """Keys of the socket registrations that may have news (and see :attr:`always`)."""
        dirty = self.dirty
        keys_by_fd = self._keys_by_fd
        if keys_by_fd:
            signalled = self._signalled
            if signalled is None:
                signalled = self._signalled = _epoll()
                for fd in keys_by_fd:
                    _add_fd(signalled, fd)
            for fd, _ in signalled.poll(0):
                keys = keys_by_fd.get(fd)
                if keys is not None:
                    dirty.update(keys)
        return dirty

    def after_poll(
        self, looked_at: list[tuple[Any, int]], ready: list[tuple[Any, int]], woken: bool
    ) -> None:
        """After a ``zmq_poll`` of the items ``looked_at`` found ``ready``: forget, hand on.

        ``zmq_poll`` read EVENTS of every socket it looked at, draining their
        FDs: whoever else waits on them (turns, other pollers, other poll
        calls of this poller) must be re-checked, or loses its wakeup. A
        poll ``woken`` for nothing feeds the spin guards of the sockets that
        woke it (their registrations are the dirty ones).
        """
        dirty = self.dirty
        sockets = self._sockets
        if dirty:
            before = len(dirty)
            if ready:
                found = {key for key, _ in ready}
                for key, _ in looked_at:
                    if key not in found:
                        dirty.discard(key)
            else:
                for key, _ in looked_at:
                    if key in dirty:
                        dirty.discard(key)
                        if woken:
                            entry = sockets.get(key)
                            if entry is not None:
                                entry[0].watch.fruitless_wakeup()
            if before >= _FEW_KEYS:
                self._compact_dirty(before)
        if self.contended:
            for state in list(self.contended):
                state.after_op()
        if ready:
            found_socket = False
            for key, _ in ready:
                entry = sockets.get(key)
                if entry is not None:
                    entry[0].watch.fruitless = 0
                    found_socket = True
            if found_socket:
                # Other poll calls of this poller, parked: the sockets we
                # found ready (and drained) are theirs too. A ready raw fd
                # wakes them by itself (its set is level-triggered), and a
                # closed one must not: it wakes no plain poll either.
                hub = self.hub
                for turn in self.turns:
                    wake(turn, hub)

    def _compact_dirty(self, before: int) -> None:
        # A set keeps its table when it shrinks, and walking it costs the
        # table's size: once 10,000 registrations were dirty together (the
        # first poll), every later poll would pay 10,000 steps. When it
        # shrinks below a few keys, a copy gets a table of its own size.
        dirty = self.dirty
        if len(dirty) < _FEW_KEYS <= before:
            self.dirty = set(dirty)

    # -- waiting -------------------------------------------------------------

    def follow(self, hub: Any) -> None:
        """Make this poller's polls, and its sockets' waits, go through ``hub`` (this thread's).

        As a socket may (see SocketWaiting.follow), a poller may move between
        threads as long as it is not polled from two at once.
        """
        with self._lock:
            if hub is not self.hub:
                if self.turns:
                    raise two_threads_error("Poller", self.hub, hub)
                old = self.hub
                self.hub = hub
                self.registry = hub_waiting(hub)
                if self._raw is not None:
                    self._raw.move(hub, old)
                self.moved.update(self._states)
        moved, self.moved = self.moved, set()
        for state in moved:
            # Raises if a greenlet of another thread is parked on it.
            state.follow(hub)
            self.dormant.append(state)

    def wait(self, deadline: float | None) -> bool:
        """Park this poll call until a registration fires; ``False`` at ``deadline``."""
        hub = get_hub()
        if hub is not self.hub or self.moved:
            self.follow(hub)
        registry = self.registry
        if registry.forked:
            raise fork_error()
        turn = Turn()
        turns = self.turns
        turns.append(turn)
        raw = self._raw
        if raw and len(turns) == 1:
            # Between polls an fd may have been closed and its number taken.
            raw.renew()
            raw.start()
        dormant = self.dormant
        if dormant:
            for state in dormant:
                state.rearm()
            dormant.clear()
        try:
            park(turn, registry, deadline)
        except zmq.Again:
            return False
        finally:
            turns.remove(turn)
            # The set as it is now: a registration made during the park may
            # have made (and started) it.
            raw = self._raw
            if raw is not None and not turns:
                raw.stop()
        return True

    def wake_in_hub(self) -> None:
        """In the hub: wake every parked poll call (they run at once, one by one)."""
        # Read, then the owner checked, without a lock: see SocketWaiting.watch_fired.
        turns = list(self.turns)
        if get_hub() is not self.hub:
            return
        for turn in turns:
            wake_in_hub(turn)

    def _raw_fired(self) -> None:
        # In the hub; zmq_poll will tell what fired (raw fds are always looked at).
        self.wake_in_hub()
