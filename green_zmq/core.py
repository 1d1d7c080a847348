"""Green Context and Socket: pyzmq's classes, waiting only the calling greenlet.

The classes subclass pyzmq's and replace only what waits; every helper
(send_json, recv_string, send_serialized, ...) inherits through the green
send/recv. Waiting itself is :mod:`green_zmq._waiting`'s job.

The fast path of a send or recv is one NOBLOCK call into pyzmq's Cython
layer and a check of one int (is anybody waiting?). Only when the call
would block, or somebody else is waiting, does it touch the waiting
machinery.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import zmq
from gevent import getcurrent
from gevent.hub import get_hub
from gevent.monkey import get_original

from . import _compat
from ._arguments import check_arguments
from ._ints import (
    DEALER as _DEALER,
    EVENTS as _EVENTS,
    NOBLOCK as _NOBLOCK,
    PAIR as _PAIR,
    POLLIN as _POLLIN,
    POLLOUT as _POLLOUT,
    PULL as _PULL,
    RCVTIMEO as _RCVTIMEO,
    REP as _REP,
    REQ as _REQ,
    ROUTER as _ROUTER,
    ROUTER_MANDATORY as _ROUTER_MANDATORY,
    SNDMORE as _SNDMORE,
    SNDTIMEO as _SNDTIMEO,
    STREAM as _STREAM,
    SUB as _SUB,
    TYPE as _TYPE,
    XPUB as _XPUB,
    XSUB as _XSUB,
    int_flags,
)
from ._stand_in import StandIn
from ._tracker import green_tracker
from ._waiting import (
    Completion,
    SocketWaiting,
    existing_waiting,
    fork_error,
    inherited,
    refuse_in_child,
    socket_waiting,
)
from .poll import Poller

__all__ = ["Context", "Socket"]


_Base = zmq.backend.Socket
_base_send = _Base.send
_base_recv = _Base.recv
_base_recv_into = _Base.recv_into
_base_get: Callable[[Any, int], Any] = _Base.get
_sugar_send = zmq.Socket.send

# The range of a C int, which pyzmq's Cython layer converts flags to: flags
# outside it fail at once (OverflowError), so they are checked before
# taking a turn behind others.
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1

# Where recv may ask EVENTS instead of trying: by socket type, the EVENTS
# bits that prove a recv would not wait (see Socket.recv and
# design.md, "When recv asks EVENTS first"). A failed NOBLOCK recv costs
# pyzmq an exception, more than twice the price of reading EVENTS.
# Types whose recv can fail only with EAGAIN while the socket is open wait
# exactly when POLLIN is missing. A REP can also fail with EFSM, but only in
# its sending state, and there (unless ROUTER_MANDATORY is set, see
# Socket.set) it always has POLLOUT, which it never has while it receives.
# A REQ fails with EFSM in its sending state, which lacks POLLOUT when no
# pipe has room; so it asks EVENTS only while a request it sent is known to
# be unanswered (_REQUEST_SENT, see _Own.request_hint). PUB and PUSH raise
# ENOTSUP: their recv must always try, for the error.
_RECV_MASKS = dict.fromkeys((_DEALER, _ROUTER, _PAIR, _PULL, _SUB, _XSUB, _XPUB, _STREAM), _POLLIN)
_REQUEST_SENT = _POLLIN | _POLLOUT

# A hint ends at the first recv that EVENTS showed ready (so a stream makes
# one call per message), except a REP's, which ends at the second. A REP
# alternates recv and send, and a request already queued when it answered
# the last one says little about the next: under many clients its recv
# would otherwise fail about every other time, at the price of an
# exception. _ONCE_MORE marks the first readiness still to come; EVENTS
# never shows that bit. A hint maps to what is left of it after a readiness.
_ONCE_MORE = 0x100
_RECV_MASKS[_REP] = _POLLIN | _POLLOUT | _ONCE_MORE
_HINT_AFTER_READY = {_POLLIN | _POLLOUT | _ONCE_MORE: _POLLIN | _POLLOUT}


def _rechecking(name: str) -> Callable[..., Any]:
    """pyzmq's method ``name``, followed by a re-check for whoever waits on the socket.

    libzmq processes a socket's pending commands in calls such as bind and
    connect, which drains the FD edge a waiting greenlet was owed
    (design.md, "The FD is an edge").
    """
    base = getattr(zmq.Socket, name)

    def method(self: Socket, *args: Any, **kwargs: Any) -> Any:
        try:
            return base(self, *args, **kwargs)
        finally:
            state = self._green.state
            if state is not None and state.waiting:
                state.after_op()

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"As :meth:`zmq.Socket.{name}`; then wakes whoever waits on the socket and can proceed."
    )
    return method


# Every libzmq entry point of a green socket. In a forked child each of
# them raises (see _waiting.fork); send_multipart, recv_multipart, the
# string/json helpers and option attributes all go through these.
_LIBZMQ_ENTRY_POINTS = (
    "send",
    "recv",
    "recv_into",
    "get",
    "getsockopt",
    "set",
    "setsockopt",
    "poll",
    "bind",
    "connect",
    "unbind",
    "disconnect",
    "monitor",
    "join",
    "leave",
    "_state",
)


class _Own:
    """What one Python socket object knows of its libzmq socket.

    A slots object: the hot paths read and write these on every call, and
    an attribute of a pyzmq socket costs several times as much (its class
    defines ``__getattr__``, for options as attributes, which keeps CPython
    from specialising the lookup; a write goes through ``__setattr__``).
    """

    __slots__ = (
        "state",
        "hub",
        "timeouts",
        "recv_waited",
        "recv_hint",
        "request_hint",
        "continuing",
    )

    def __init__(self, hub: Any, timeouts: dict[int, int] | None) -> None:
        # The waiting state of the libzmq socket, shared with every other
        # object on it: found in __init__, so that an operation through any
        # wrapper wakes the waiters of all; or at the first wait, for
        # subclasses that skip our __init__ (design.md, "Lazy state").
        self.state: SocketWaiting | None = None
        # The hub of the thread that created the socket (None if our
        # __init__ was skipped: then the thread of the first wait).
        self.hub = hub
        # RCVTIMEO/SNDTIMEO as last read, by option; set() forgets them.
        # None once the libzmq socket may have another Python object (a
        # shadow, or anyone we handed its address to), which could set them
        # behind our back.
        self.timeouts = timeouts
        # If the last blocking recv had to wait, the EVENTS bits that prove
        # the next one would not (see Socket.recv); 0 otherwise.
        self.recv_waited = 0
        # This socket's bits of _RECV_MASKS, 0 if recv must always try;
        # found at the first wait (see Socket._wait_turn).
        self.recv_hint: int | None = None
        # A REQ that sent the last frame of a request is in its receiving
        # state until a recv takes the reply: until then its recv may ask
        # EVENTS (see _RECV_MASKS). So its sends arm the recv hint with
        # this, _REQUEST_SENT on a REQ of our own. Only this object's calls
        # are seen, so it stays 0 where another object may share the libzmq
        # socket; and every recv through this object that does not ask
        # EVENTS clears the mark (see recv_bypassed).
        self.request_hint = 0
        # True while a multipart message goes frame by frame through a
        # subclass's send or recv (see Socket._send_each): the frames after
        # the first belong to a message libzmq has begun, and must not
        # queue behind other greenlets' turns.
        self.continuing = False

    def shared(self) -> None:
        """Another Python object may now use the libzmq socket: trust no cache."""
        self.timeouts = None
        self.recv_hint = None
        self.recv_waited = 0
        self.request_hint = 0


class _OwnOnFirstUse:
    """``Socket._green`` for an object our ``__init__`` has not seen (yet).

    A subclass may skip our ``__init__`` (design.md, "Lazy state"), and
    pyzmq's own ``__init__`` calls our overrides before ours runs: the first
    use makes an empty :class:`_Own` in the object's ``__dict__``, which
    shadows this (a descriptor without ``__set__``) from then on. Not
    ``__getattr__``: a subclass may define its own.
    """

    def __get__(self, socket: Any, owner: Any = None) -> Any:
        if socket is None:
            return self
        own = _Own(None, None)
        object.__setattr__(socket, "_green", own)
        return own


class Socket(zmq.Socket, metaclass=StandIn):
    """A :class:`zmq.Socket` whose blocking calls block only the calling greenlet.

    Behaviour and exceptions are plain pyzmq's, including RCVTIMEO and
    SNDTIMEO. Any number of greenlets may wait on one socket in both
    directions; they are served first come, first served. Every Python
    object on the same libzmq socket (a shadow, ``Socket(other)``, a copy)
    shares one waiting state, so an operation through any of them wakes
    the greenlets waiting through the others.

    A socket belongs to the thread (and so the gevent hub) that created it;
    waiting on it from another thread raises :class:`RuntimeError`. It also
    belongs to its process: in a child created by fork(), using it (send,
    recv, poll, options, bind, connect, ...) raises :class:`RuntimeError`,
    where plain pyzmq would spin forever; ``close()`` is allowed and, as in
    pyzmq, leaves the parent's socket alone.
    """

    _repr_cls = "green_zmq.Socket"
    _poller_class = Poller

    # What this object knows of its libzmq socket (see _Own): made in
    # __init__, or on first use for subclasses that skip our __init__.
    _green = _OwnOnFirstUse()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hub = get_hub()
        shadow = _compat.is_shadow(self)
        own = _Own(hub, None if shadow else {})
        object.__setattr__(self, "_green", own)
        own.state = state = socket_waiting(self, hub, new=not shadow)
        if not shadow and state.kind == _REQ:
            own.request_hint = _REQUEST_SENT
        refuse_in_child(self, _LIBZMQ_ENTRY_POINTS)

    def _state(self) -> SocketWaiting:
        own = self._green
        state = own.state
        if state is None or state.closed:
            if self._closed:
                raise zmq.ZMQError(zmq.ENOTSOCK)
            state = own.state = socket_waiting(self, own.hub)
        return state

    # -- sending -------------------------------------------------------------

    def send(  # type: ignore[override]
        self,
        data: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        routing_id: int | None = None,
        group: str | None = None,
    ) -> Any:
        """Send a frame, as :meth:`zmq.Socket.send`; waiting blocks only this greenlet."""
        if track or routing_id is not None or group is not None:
            # pyzmq's own send attaches these to a Frame; only the waiting is
            # ours, and the tracker, so that waiting on it is green too.
            result = self._green_call(
                True, _send_with_options, int_flags(flags), data, copy, track, routing_id, group
            )
            return green_tracker(result, data) if track else result
        # The rest is _green_call inlined, because this is the hot path.
        if flags.__class__ is not int:
            flags = int_flags(flags)
        own = self._green
        state = own.state
        if state is None or not state.waiting:
            # Nobody waits on this socket: one NOBLOCK call, nothing to re-check.
            try:
                result = _base_send(self, data, flags | _NOBLOCK, copy, track)
            except zmq.Again:
                if flags & _NOBLOCK:
                    raise
            else:
                if own.request_hint and not flags & _SNDMORE:
                    own.recv_waited = own.request_hint
                return result
        elif flags & _NOBLOCK:
            try:
                return _base_send(self, data, flags, copy, track)
            finally:
                state.after_op()
        elif not state.senders or state.sends_by_peer or own.continuing:
            try:
                result = _base_send(self, data, flags | _NOBLOCK, copy, track)
            except zmq.Again:
                pass
            else:
                state.after_op()
                return result
        else:
            # Others queue ahead: no call made, so no FD edge drained; but a
            # call pyzmq refuses for its arguments fails now, as in a thread.
            if data.__class__ is not bytes or not _INT_MIN <= flags <= _INT_MAX:
                check_arguments(True, _base_send, (self, data, flags | _NOBLOCK, copy, track))
            return self._wait_turn(
                True, False, _base_send, self, data, flags | _NOBLOCK, copy, track
            )
        # The call and its arguments, not a closure or a partial: either would
        # cost every wait an object more.
        return self._wait_turn(True, True, _base_send, self, data, flags | _NOBLOCK, copy, track)

    def send_multipart(  # type: ignore[override]
        self,
        msg_parts: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send a multipart message, as :meth:`zmq.Socket.send_multipart`.

        Only the first frame can wait; once it is accepted the rest follow
        without yielding, so frames of different greenlets never interleave.
        """
        for i, part in enumerate(msg_parts):
            if isinstance(part, (zmq.Frame, bytes, memoryview)):
                continue
            try:
                memoryview(part)
            except Exception:
                shown = repr(part)
                if len(shown) > 32:
                    shown = shown[:32] + "..."
                raise TypeError(
                    f"Frame {i} ({shown}) does not support the buffer interface."
                ) from None
        # Slices, as pyzmq takes them: the same errors for odd sequences.
        head = msg_parts[:-1]
        last = msg_parts[-1]
        if flags.__class__ is int:
            more = flags | _SNDMORE
        else:
            # pyzmq ORs SNDMORE into the flags before converting them, so
            # odd flags fail there first; do the same to fail the same way.
            more = int_flags(zmq.SNDMORE | flags) if head else 0
            flags = int_flags(flags)
        if not head:
            return self.send(last, flags, copy=copy, track=track)
        if type(self).send is not Socket.send:
            return self._send_each(head, last, more, flags, copy, track)
        self.send(head[0], more, copy=copy, track=track)
        for part in head[1:]:
            self._send_rest(part, more, copy, track)
        result = self._send_rest(last, flags, copy, track)
        own = self._green
        if own.request_hint and not flags & _SNDMORE:
            own.recv_waited = own.request_hint
        self._after_op()
        return green_tracker(result, last) if track else result

    def _send_each(
        self, head: Any, last: Any, more: int, flags: int, copy: bool, track: bool
    ) -> Any:
        # A subclass that overrides send sees every frame, as pyzmq's
        # send_multipart promises; only the first can take a turn.
        own = self._green
        self.send(head[0], more, copy=copy, track=track)
        own.continuing = True
        try:
            for part in head[1:]:
                self.send(part, more, copy=copy, track=track)
            return self.send(last, flags, copy=copy, track=track)
        finally:
            own.continuing = False

    def _send_rest(self, part: Any, flags: int, copy: bool, track: bool) -> Any:
        # libzmq accepts the rest of a message whose first frame it took
        # (design.md, "Multipart"); the blocking fallback only guards
        # against surprises.
        try:
            return _base_send(self, part, flags | _NOBLOCK, copy, track)
        except zmq.Again:
            return self.send(part, flags, copy=copy, track=track)

    def _after_op(self) -> None:
        state = self._green.state
        if state is not None and state.waiting:
            state.after_op()

    # -- receiving -----------------------------------------------------------

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:  # type: ignore[override]
        """Receive a frame, as :meth:`zmq.Socket.recv`; waiting blocks only this greenlet."""
        # _green_call inlined, because this is the hot path.
        if flags.__class__ is not int:
            flags = int_flags(flags)
        own = self._green
        state = own.state
        if state is None or not state.waiting:
            # A failed NOBLOCK recv costs pyzmq an exception, more than
            # twice the price of reading EVENTS; where the last recv had to
            # wait (request/reply, ping-pong) ask EVENTS first, on the socket
            # types where EVENTS can prove that the call would wait
            # (_RECV_MASKS). The hint clears as soon as EVENTS shows a bit of
            # the mask, so a stream keeps one call per message, and a call
            # that fails at once (a REP in its sending state) is made.
            waited = own.recv_waited
            if not waited:
                try:
                    return _base_recv(self, flags | _NOBLOCK, copy, track)
                except zmq.Again:
                    if flags & _NOBLOCK:
                        raise
            elif flags & _NOBLOCK:
                own.recv_waited = 0
                return _base_recv(self, flags, copy, track)
            elif _base_get(self, _EVENTS) & waited:
                own.recv_waited = _HINT_AFTER_READY.get(waited, 0)
                try:
                    return _base_recv(self, flags | _NOBLOCK, copy, track)
                except zmq.Again:
                    pass
        elif flags & _NOBLOCK:
            # A recv around the hint (see recv_bypassed), as below.
            own.recv_waited = 0
            try:
                return _base_recv(self, flags, copy, track)
            finally:
                state.after_op()
        elif not state.receivers or own.continuing:
            own.recv_waited = 0
            try:
                result = _base_recv(self, flags | _NOBLOCK, copy, track)
            except zmq.Again:
                pass
            else:
                state.after_op()
                return result
        else:
            # Others queue ahead: no call made, so no FD edge drained (but
            # flags pyzmq refuses fail now, as in a thread of its own).
            if not _INT_MIN <= flags <= _INT_MAX:
                check_arguments(False, _base_recv, (self, flags | _NOBLOCK, copy, track))
            return self._wait_turn(False, False, _base_recv, self, flags | _NOBLOCK, copy, track)
        return self._wait_turn(False, True, _base_recv, self, flags | _NOBLOCK, copy, track)

    def recv_multipart(  # type: ignore[override]
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> list[Any]:
        """Receive a multipart message, as :meth:`zmq.Socket.recv_multipart`.

        Only the first frame can wait; the rest of an atomic message is
        read without yielding.
        """
        if type(self).recv is not Socket.recv:
            return self._recv_each(flags, copy, track)
        if flags.__class__ is not int:
            flags = int_flags(flags)
        # Frames, even when bytes are wanted: Frame.more is half the price
        # of getsockopt(RCVMORE), which builds a SocketOption enum per call.
        track = track and not copy
        frame = self.recv(flags, False, track)
        frames = [frame]
        rest = flags | _NOBLOCK
        while frame.more:
            try:
                frame = _base_recv(self, rest, False, track)
            except zmq.Again:
                frame = self.recv(flags, False, track)
            frames.append(frame)
        self._after_op()
        if copy:
            return [f.bytes for f in frames]
        return frames

    def _recv_each(self, flags: Any, copy: bool, track: bool) -> list[Any]:
        # A subclass that overrides recv sees every frame, as pyzmq's
        # recv_multipart promises (and asks getsockopt for RCVMORE, as it
        # does); only the first can take a turn.
        own = self._green
        parts = [self.recv(flags, copy=copy, track=track)]
        own.continuing = True
        try:
            while self.getsockopt(zmq.RCVMORE):
                parts.append(self.recv(flags, copy=copy, track=track))
        finally:
            own.continuing = False
        return parts

    def recv_into(self, buffer: Any, /, *, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into a buffer, as :meth:`zmq.Socket.recv_into`; blocks only this greenlet."""
        return self._green_call(False, _recv_into, int_flags(flags), buffer, nbytes)

    # -- waiting -------------------------------------------------------------

    def _green_call(
        self, writing: bool, call: Callable[..., Any], flags: int, *rest: Any
    ) -> Any:
        """Run ``call(self, flags, *rest)`` as a blocking call would, waiting only this greenlet.

        With NOBLOCK in ``flags`` it is one call. Otherwise the call is tried
        at once unless others queue in the same direction (first come, first
        served), and waits its turn when it would block. Either way, whoever
        else waits is re-checked afterwards, since the call drained the FD.
        ``send`` and ``recv`` inline this decision tree for speed; the tests
        drive every waiting scenario through all three.
        """
        own = self._green
        if not writing:
            own.recv_waited = 0
        state = own.state
        tried = True
        if state is None or not state.waiting:
            if flags & _NOBLOCK:
                return call(self, flags, *rest)
            try:
                return call(self, flags | _NOBLOCK, *rest)
            except zmq.Again:
                pass
        elif flags & _NOBLOCK:
            try:
                return call(self, flags, *rest)
            finally:
                state.after_op()
        elif (
            not (state.senders if writing else state.receivers)
            or (writing and state.sends_by_peer)
            or own.continuing
        ):
            try:
                result = call(self, flags | _NOBLOCK, *rest)
            except zmq.Again:
                pass
            else:
                state.after_op()
                return result
        else:
            # Others queue ahead: arguments pyzmq refuses fail now.
            check_arguments(writing, call, (self, flags | _NOBLOCK, *rest))
            tried = False
        return self._wait_turn(writing, tried, call, self, flags | _NOBLOCK, *rest)

    def _wait_turn(self, writing: bool, tried: bool, call: Callable[..., Any], *args: Any) -> Any:
        # Others are queued, or the call would block: take a turn, first come
        # first served, honouring SNDTIMEO/RCVTIMEO like blocking pyzmq.
        # _state(), inlined for the common case: this is every wait's path.
        own = self._green
        state = own.state
        if state is None or state.closed:
            state = self._state()
        option = _SNDTIMEO if writing else _RCVTIMEO
        # Reading an option through pyzmq costs about a microsecond (it
        # builds an enum), so the timeout is read once and kept; set()
        # forgets it when it changes.
        timeouts = own.timeouts
        if timeouts is None:
            timeout = _base_get(self, option)
        else:
            timeout = timeouts.get(option)
            if timeout is None:
                timeout = timeouts[option] = _base_get(self, option)
        if not writing:
            kind = state.kind
            if kind == _REQ:
                # This recv takes the reply (or times out): no longer known to be due.
                own.recv_waited = 0
            else:
                # A wait starts the hint afresh.
                hint = own.recv_hint
                if hint is None:
                    hint = _RECV_MASKS.get(kind, 0)
                    if kind == _REP and own.timeouts is None:
                        # Another object may share the libzmq socket and set
                        # ROUTER_MANDATORY, which libzmq will not let us read back.
                        hint = 0
                    own.recv_hint = hint
                own.recv_waited = hint
        return state.wait_turn(writing, call, args, timeout, tried)

    # -- options, endpoints and lifetime ---------------------------------------

    def get(self, option: int) -> Any:
        """Get a socket option, as :meth:`zmq.Socket.get`.

        Reading EVENTS drains the socket's FD, so the value read is also
        used to wake greenlets waiting on this socket.
        """
        value = _base_get(self, option)
        state = self._green.state
        if state is not None and state.waiting:
            if option == _EVENTS:
                state.notify(value)
            else:
                state.after_op()
        return value

    # pyzmq binds this alias to the Cython method; rebind it to ours.
    getsockopt = get

    def set(self, option: int, optval: Any) -> None:
        """Set a socket option, as :meth:`zmq.Socket.set`."""
        try:
            super().set(option, optval)
        finally:
            own = self._green
            if own.timeouts:
                own.timeouts.pop(option, None)
            state = own.state
            if state is not None and state.waiting:
                state.after_op()
        if option == _ROUTER_MANDATORY and _base_get(self, _TYPE) == _REP:
            # A REP with ROUTER_MANDATORY may lack POLLOUT in its sending
            # state, where recv raises EFSM: its recv must try from now on.
            own.recv_hint = own.recv_waited = 0

    # As for getsockopt; setting options as attributes goes through set().
    setsockopt = set

    bind = _rechecking("bind")
    connect = _rechecking("connect")
    unbind = _rechecking("unbind")
    disconnect = _rechecking("disconnect")
    monitor = _rechecking("monitor")
    if hasattr(zmq.Socket, "join"):
        join = _rechecking("join")
        leave = _rechecking("leave")

    @property
    def underlying(self) -> int:
        """The address of the libzmq socket, as :attr:`zmq.Socket.underlying`.

        Whoever asks may make a second Python object of it (a shadow) and set
        options through that, or recv through it, so from then on timeouts
        are read at every wait, and the recv of a REP or REQ no longer asks
        EVENTS first (see _RECV_MASKS).
        """
        self._green.shared()
        return super().underlying

    def poll(self, timeout: int | None = None, flags: int = zmq.POLLIN) -> int:
        """Wait for events on this socket, as :meth:`zmq.Socket.poll`; blocks only this greenlet."""
        if self._closed:
            raise zmq.ZMQError(zmq.ENOTSUP)
        poller = Poller()
        poller.register(self, flags)
        try:
            return dict(poller.poll(timeout)).get(self, 0)
        finally:
            poller._release()

    def close(self, linger: int | None = None) -> None:
        """Close the socket, as :meth:`zmq.Socket.close`.

        Greenlets waiting on it, through this object or any other on the same
        libzmq socket, wake at once with ``ZMQError(ENOTSOCK)``.
        """
        state = self._green.state
        if state is None and not self._closed:
            # Nobody waited through this object; others may have.
            state = existing_waiting(self)
        super().close(linger)
        if state is not None and self._closed:
            state.close()


def _send_with_options(
    socket: Any,
    flags: int,
    data: Any,
    copy: bool,
    track: bool,
    routing_id: int | None,
    group: str | None,
) -> Any:
    # pyzmq's own send, which puts a tracker, routing id or group on a Frame.
    return _sugar_send(
        socket, data, flags, copy=copy, track=track, routing_id=routing_id, group=group
    )


def _recv_into(socket: Any, flags: int, buffer: Any, nbytes: int) -> int:
    return _base_recv_into(socket, buffer, nbytes=nbytes, flags=flags)  # type: ignore[no-any-return]


def recv_bypassed(socket: Any) -> None:
    """A recv on ``socket`` went around the EVENTS hint: forget the hint.

    A REQ's hint says that a reply is due (see _Own.request_hint); after
    a recv that did not look at it (NOBLOCK, one made while others wait,
    ``recv_into``, or a proxy's own Cython-level calls) that may no longer
    be true.
    """
    # By MRO: standing in for zmq.Socket, Socket would count plain ones too.
    if Socket in type(socket).__mro__:
        socket._green.recv_waited = 0


# Context.term runs in an OS thread of its own, started unpatched.
_start_thread = get_original("_thread", "start_new_thread")
# Guards every context's _green_term. Re-entrant: a finalizer may run
# (garbage collection) while a thread holds it, and terminate another context.
_terms_lock = get_original("_thread", "RLock")()


class _Termination:
    """One run of libzmq's terminate of a context; every ``term()`` meanwhile waits for it.

    libzmq's terminate may run only once at a time on a context: a second
    one, while the first still waits for sockets to close, destroys what the
    first uses (EFAULT, a hang, or an abort in libzmq). A ``term()`` that was
    interrupted (a ``gevent.Timeout``, a kill) leaves its terminate running;
    so each context has at most one, and every ``term()`` (or ``destroy()``)
    during it waits for it and raises what it raised, as one plain ``term()``
    would::

        term() -> no run? start one -> wait <- run ends: forget it, wake all
    """

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = Completion()
        self.error: BaseException | None = None

    def run(self, context: Context, base_term: Callable[[], None]) -> None:
        # The thread holds the context until the terminate returns, so no
        # finalizer can terminate it meanwhile.
        error = None
        try:
            base_term()
        except BaseException as exc:
            error = exc
        self.end(context, error)

    def end(self, context: Context, error: BaseException | None) -> None:
        self.error = error
        with _terms_lock:
            if context._green_term is self:
                object.__setattr__(context, "_green_term", None)
        self.done.finish()


class Context(zmq.Context[Socket], metaclass=StandIn):
    """A :class:`zmq.Context` that makes green sockets.

    :meth:`term` (and so :meth:`destroy`) runs libzmq's blocking terminate in
    an OS thread of its own: other greenlets keep running, greenlets waiting
    on its sockets get :class:`zmq.ContextTerminated`, and can close them.
    ``Context.instance()`` is a singleton of its own, distinct from
    ``zmq.Context.instance()`` (until ``green_zmq.monkey.patch(zmq=True)``
    makes them one).

    In a child process created by fork(), :meth:`socket` on an inherited
    context raises :class:`RuntimeError`; :meth:`term` and :meth:`destroy`
    return at once, leaving the context to the parent, as pyzmq does. Make a
    new context in the child (``Context.instance()`` does that by itself).
    """

    _socket_class = Socket
    _repr_cls = "green_zmq.Context"
    _instance = None
    _instance_pid = None

    _green_finalizing = False
    # The process that made the context (None if our __init__ was skipped).
    _green_pid: int | None = None
    # libzmq's terminate while it runs (see _Termination).
    _green_term: _Termination | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_green_pid", os.getpid())

    def socket(self, socket_type: int, *args: Any, **kwargs: Any) -> Any:
        """Create a green socket, as :meth:`zmq.Context.socket`.

        In a child process created by fork() this raises :class:`RuntimeError`
        instead of creating a socket whose I/O would never happen.
        """
        if inherited(self._green_pid):
            raise fork_error()
        return super().socket(socket_type, *args, **kwargs)

    def __del__(self) -> None:
        # A finalizer must not switch greenlets: terminate in place.
        object.__setattr__(self, "_green_finalizing", True)
        super().__del__()

    def term(self) -> None:
        """Terminate the context, blocking only the calling greenlet.

        libzmq's terminate blocks its OS thread until every socket is closed,
        so it runs in a thread of its own while this greenlet waits
        (design.md, "Term off the hub"); errors are raised here, as pyzmq
        raises them, and nowhere else. A ``term()`` during another one (from
        another greenlet or thread, or after one was interrupted) waits for
        that one, and returns or raises as it does.
        """
        if inherited(self._green_pid):
            # pyzmq returns at once in a forked child, leaving it to the parent.
            super().term()
            return
        # A finalizer must not switch greenlets, and the hub cannot park:
        # they block their thread, as plain pyzmq does.
        parks = not self._green_finalizing and getcurrent() is not get_hub()
        with _terms_lock:
            termination = self._green_term
            starts = termination is None
            if termination is None:
                termination = _Termination()
                object.__setattr__(self, "_green_term", termination)
        if starts:
            if parks:
                try:
                    _start_thread(termination.run, (self, super().term))
                except BaseException as exc:
                    termination.end(self, exc)
            else:
                termination.run(self, super().term)
        termination.done.wait(parks)
        if termination.error is not None:
            raise termination.error
