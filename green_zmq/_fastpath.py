"""The hot path of a green socket, in one place: how a call goes, and when it waits.

``green_zmq.Socket.send`` and ``recv`` are this module's :func:`send` and
:func:`recv`, and every other call of a green socket that may block goes
through the :class:`FastPath` of its Python object: ``Socket`` only adapts
pyzmq's other signatures to it, and the proxy drives it for its bursts.
Waiting itself is :mod:`._waiting`'s job: the fast path decides *whether*
to wait, and hands the call to its socket's
:class:`~._waiting.SocketWaiting` when it must.

Notes on the approach
---------------------

A call is tried at once, NOBLOCK, and waits only when that fails: the
common case costs one call into libzmq and a check of one int (does
anybody wait on this socket?). When somebody does, the call may have to
queue behind them, and whoever waits must be re-checked after it, since
the call drained the socket's FD (design.md, "The FD is an edge")::

    nobody waits ------------------> try; would block -> take a turn
    somebody waits:
      NOBLOCK ---------------------> try, re-check for the others
      nobody ahead in its direction
      (or a send by peer, or the
      rest of a message begun) ----> try; done -> re-check; would block -> turn
      others ahead ----------------> arguments checked, take a turn untried

The recv hint. A failed NOBLOCK recv costs pyzmq an exception, more than
twice the price of reading EVENTS. So where the last recv had to wait, the
next one asks EVENTS first (:attr:`FastPath.ask_events`, the bits that
prove a recv would not wait), on the socket types where EVENTS can prove
it (design.md, "When recv asks EVENTS first")::

    ask_events == 0 -- recv waits (before_wait) --> the type's mask
    mask -- EVENTS shows a bit (after_ready) -----> 0 (a REP's: once more)
    mask -- a recv around it (forget) ------------> 0
    0 -- a REQ sends a request's last frame (after_send) --> POLLIN|POLLOUT

This module is pure Python, and the reference. Cython compiles this very
file, with the types of ``_c_fastpath.pxd``, into ``green_zmq._c_fastpath``
(design.md, "The compiled fast path"), which takes its place at import
unless :mod:`._accelerator` says otherwise. The few lines only the compiled
module runs are under ``if COMPILED``: its NOBLOCK attempts of the common
cases straight into libzmq (``send_bytes``, ``recv_bytes``, in the .pxd).
"""

from __future__ import annotations

from typing import Any, Callable

import zmq

try:
    import cython
except ImportError:  # Cython is a build requirement only.
    COMPILED = False
else:
    # True only in the compiled module (a constant there).
    COMPILED = cython.compiled

from ._arguments import check_arguments
from ._ints import (
    DEALER,
    EVENTS,
    NOBLOCK,
    PAIR,
    POLLIN,
    POLLOUT,
    PULL,
    RCVTIMEO,
    REP,
    REQ,
    ROUTER,
    ROUTER_MANDATORY,
    SNDMORE,
    SNDTIMEO,
    STREAM,
    SUB,
    TYPE,
    XPUB,
    XSUB,
    int_flags,
)
from ._tracker import green_tracker
from ._waiting import SocketWaiting, socket_waiting, sockets

__all__ = [
    "FastPath",
    "check_parts",
    "deliver",
    "events_of",
    "fast_path_of",
    "move_messages",
    "recv",
    "recv_multipart",
    "send",
    "send_multipart",
    "split_message",
]

_Base = zmq.backend.Socket
_base_send = _Base.send
_base_recv = _Base.recv
_base_get: Callable[[Any, int], Any] = _Base.get
_sugar_send = zmq.Socket.send
_Frame = zmq.Frame
_Again = zmq.Again

# The range of a C int, which pyzmq's Cython layer converts flags to: flags
# outside it fail at once (OverflowError), so they are checked before
# taking a turn behind others.
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1

# The recv hint's mask by socket type (see the module's notes). Types whose
# recv can fail only with EAGAIN while the socket is open wait exactly when
# POLLIN is missing. A REP can also fail with EFSM, but only in its sending
# state, and there (unless ROUTER_MANDATORY is set, see after_option) it
# always has POLLOUT, which it never has while it receives. A REQ fails
# with EFSM in its sending state, which lacks POLLOUT when no pipe has room;
# so it asks EVENTS only while a request it sent is known to be unanswered
# (_REQUEST_SENT, armed by after_send). PUB and PUSH raise ENOTSUP: their
# recv always tries, for the error.
_TYPE_MASKS = dict.fromkeys((DEALER, ROUTER, PAIR, PULL, SUB, XSUB, XPUB, STREAM), POLLIN)
_REQUEST_SENT = POLLIN | POLLOUT
# A hint ends at the first recv that EVENTS showed ready (so a stream makes
# one call per message), except a REP's, which ends at the second: a REP
# alternates recv and send, and a request already queued when it answered
# the last one says little about the next (under many clients its recv
# would otherwise fail about every other time). _ONCE_MORE marks the first
# readiness still to come; EVENTS never shows that bit.
_ONCE_MORE = 0x100
_TYPE_MASKS[REP] = POLLIN | POLLOUT | _ONCE_MORE
_AFTER_READY = {POLLIN | POLLOUT | _ONCE_MORE: POLLIN | POLLOUT}


class FastPath:
    """How the calls of one green socket object go: tried at once, waiting only when they must.

    A slots object: the hot paths read and write these on every call, and
    an attribute of a pyzmq socket costs several times as much (its class
    defines ``__getattr__``, for options as attributes, which keeps CPython
    from specialising the lookup; a write goes through ``__setattr__``).
    Every method takes the socket, which the FastPath does not keep (a
    socket and its FastPath would make a cycle, and an unclosed socket's
    finalizer would wait for the garbage collector).
    """

    __slots__ = ("state", "timeouts", "ask_events", "type_mask", "arms", "continuing", "handle")

    def __init__(self, trusted: bool, kind: int = 0) -> None:
        # The waiting state of the libzmq socket, shared with every other
        # object on it: found when the socket is made, so that an operation
        # through any wrapper wakes the waiters of all; or at the first
        # wait, for subclasses that skip our __init__ (design.md, "Lazy state").
        self.state: SocketWaiting | None = None
        # RCVTIMEO/SNDTIMEO as last read, by option; after_option forgets
        # them. None once the libzmq socket may have another Python object
        # (a shadow, or anyone we handed its address to), which could set
        # them behind our back: then they are read at every wait.
        self.timeouts: dict[int, int] | None = {} if trusted else None
        # The recv hint (see the module's notes): the EVENTS bits that
        # prove the next recv would not wait, 0 to just try.
        self.ask_events = 0
        # This socket type's mask for the hint, found at the first wait
        # (None until then); 0 where recv must always try.
        self.type_mask: int | None = None if trusted else 0
        # What a sent request arms the hint with: only a REQ of our own
        # (another object could take the reply unseen).
        self.arms = _REQUEST_SENT if trusted and kind == REQ else 0
        # True while a multipart message goes frame by frame through a
        # subclass's send or recv: the frames after the first belong to a
        # message libzmq has begun, and must not queue behind others' turns.
        self.continuing = False
        # The address of the libzmq socket, for the compiled attempts; 0
        # until known, and once this object closed it (see Socket.close).
        self.handle = 0

    # -- the calls ---------------------------------------------------------------

    def call(
        self, sock: Any, writing: bool, call: Callable[..., Any], flags: int, *rest: Any
    ) -> Any:
        """``call(sock, flags, *rest)``, one of pyzmq's calls, as a blocking call would go.

        For the calls other than a plain send and recv (``recv_into``, a
        send with a tracker, routing id or group): their arguments are
        always checked before they queue behind others.
        """
        if not writing:
            self.ask_events = 0
        args = (sock, flags | NOBLOCK, *rest)
        state = self.state
        if state is not None and state.waiting:
            return self.contended(sock, writing, flags, call, args, False)
        try:
            return call(*args)
        except _Again:
            if flags & NOBLOCK:
                raise
        timeout = self.before_wait(sock, writing)
        return self.state.wait_turn(writing, call, args, timeout, True)  # type: ignore[union-attr]  # made by before_wait

    def contended(
        self,
        sock: Any,
        writing: bool,
        flags: int,
        call: Callable[..., Any],
        args: tuple[Any, ...],
        plain_arguments: bool,
    ) -> Any:
        """``call(*args)`` (NOBLOCK) while somebody waits on the socket.

        ``plain_arguments``: the call can fail only for the socket's reasons
        (bytes to send, flags in range), so it needs no argument check
        before it queues.
        """
        state = self.state
        assert state is not None
        if not writing:
            # A recv that does not ask EVENTS: what the hint knew may be gone.
            self.ask_events = 0
        if flags & NOBLOCK:
            try:
                return call(*args)
            finally:
                state.after_op()
        if (
            not (state.senders if writing else state.receivers)
            or (writing and state.sends_by_peer)
            or self.continuing
        ):
            try:
                result = call(*args)
            except _Again:
                timeout = self.before_wait(sock, writing)
                return self.state.wait_turn(writing, call, args, timeout, True)  # type: ignore[union-attr]  # made by before_wait
            state.after_op()
            return result
        # Others queue ahead: no call made, so no FD edge drained; but a
        # call pyzmq refuses for its arguments fails now, as in a thread.
        if not plain_arguments:
            check_arguments(writing, call, args)
        timeout = self.before_wait(sock, writing)
        return self.state.wait_turn(writing, call, args, timeout, False)  # type: ignore[union-attr]  # made by before_wait

    def before_wait(self, sock: Any, writing: bool) -> int:
        """The call would block, or others queue ahead: the timeout of its turn.

        The caller then takes the turn itself, ``self.state.wait_turn(...)``
        (first come, first served, honouring SNDTIMEO/RCVTIMEO like
        blocking pyzmq). Not from here: every frame on a parked greenlet's
        stack is memory that its wakeup touches, and with thousands parked
        it is cold (waiters-10000 measured one frame more at 6% slower).
        """
        state = self.state
        if state is None or state.closed:
            state = self.state_of(sock)
        option = SNDTIMEO if writing else RCVTIMEO
        # Reading an option through pyzmq costs about a microsecond (it
        # builds an enum), so the timeout is read once and kept;
        # after_option forgets it when it changes.
        timeouts = self.timeouts
        if timeouts is None:
            timeout = _base_get(sock, option)
        else:
            timeout = timeouts.get(option)
            if timeout is None:
                timeout = timeouts[option] = _base_get(sock, option)
        if not writing:
            # The hint's transition (see the module's notes), here and not in
            # a method of its own: this is every wait's path.
            kind = state.kind
            if kind == REQ:
                # This recv takes the reply (or times out): no longer known to be due.
                self.ask_events = 0
            else:
                # A recv that waits: the next one asks EVENTS first.
                mask = self.type_mask
                if mask is None:
                    mask = self.type_mask = _TYPE_MASKS.get(kind, 0)
                self.ask_events = mask
        return timeout  # type: ignore[no-any-return]

    # -- the socket's state ------------------------------------------------------

    def state_of(self, sock: Any) -> SocketWaiting:
        """The waiting state of ``sock``'s libzmq socket, made if needed (ENOTSOCK if closed)."""
        state = self.state
        if state is None or state.closed:
            if sock._closed:
                raise zmq.ZMQError(zmq.ENOTSOCK)
            state = self.state = socket_waiting(sock)
            self.handle = state.handle
        return state

    def after_op(self) -> None:
        """A libzmq call was made outside :meth:`send`/:meth:`recv`: re-check for waiters."""
        state = self.state
        if state is not None and state.waiting:
            state.after_op()

    def after_events(self, events: int) -> None:
        """EVENTS was read (which drained the FD): wake whoever it lets proceed."""
        state = self.state
        if state is not None and state.waiting:
            state.notify(events)

    def after_option(self, sock: Any, option: int) -> None:
        """An option was set: forget a kept timeout, and what it changes of the hint."""
        if self.timeouts:
            self.timeouts.pop(option, None)
        self.after_op()
        if option == ROUTER_MANDATORY and _base_get(sock, TYPE) == REP:
            # A REP with ROUTER_MANDATORY may lack POLLOUT in its sending
            # state, where recv raises EFSM: its recv must try from now on.
            self.type_mask = self.ask_events = 0

    def after_calls(self) -> None:
        """After calls that skipped the green overrides (a proxy's burst): hand readiness on."""
        self.ask_events = 0
        state = self.state
        if state is not None:
            state.hand_on()

    # -- the recv hint's transitions -------------------------------------------------

    def after_send(self) -> None:
        """The last frame of a request went: the reply is due (a REQ of our own)."""
        self.ask_events = self.arms

    def after_ready(self, mask: int) -> None:
        """EVENTS showed a bit of the hint's mask: the hint ends (a REP's, at the second)."""
        self.ask_events = _AFTER_READY.get(mask, 0)

    def forget(self) -> None:
        """A recv went around the hint: what it knew may be gone."""
        self.ask_events = 0

    def distrust(self) -> None:
        """Another Python object may now use the libzmq socket: trust no cache, no hint."""
        self.timeouts = None
        self.type_mask = 0
        self.ask_events = 0
        self.arms = 0


# The hot path: green_zmq.Socket's send and recv themselves (a method of a
# FastPath called from them would cost every call a Python call more,
# about 50 ns of a 0.8 us send and recv).


def send(
    sock: Any,
    data: Any,
    flags: int = 0,
    copy: bool = True,
    track: bool = False,
    routing_id: int | None = None,
    group: str | None = None,
) -> Any:
    """Send a frame, as :meth:`zmq.Socket.send`; waiting blocks only this greenlet."""
    fast: FastPath = fast_of(sock) if COMPILED else sock._fast  # type: ignore[name-defined]  # noqa: F821
    if track or routing_id is not None or group is not None:
        # pyzmq's own send attaches these to a Frame; only the waiting is
        # ours, and the tracker, so that waiting on it is green too.
        result = fast.call(
            sock, True, _send_with_options, int_flags(flags), data, copy, track, routing_id, group
        )
        return green_tracker(result, data) if track else result
    if flags.__class__ is not int:
        flags = int_flags(flags)
    state = fast.state
    if state is None or not state.waiting:
        # Nobody waits on this socket: one NOBLOCK call, nothing to re-check.
        try:
            if COMPILED and data.__class__ is bytes and copy and not track:
                result = send_bytes(fast, sock, data, flags | NOBLOCK)  # type: ignore[name-defined]  # noqa: F821
            else:
                result = _base_send(sock, data, flags | NOBLOCK, copy, track)
        except _Again:
            if flags & NOBLOCK:
                raise
            timeout = fast.before_wait(sock, True)
            result = fast.state.wait_turn(  # type: ignore[union-attr]  # made by before_wait
                True, _base_send, (sock, data, flags | NOBLOCK, copy, track), timeout, True
            )
    else:
        result = fast.contended(
            sock,
            True,
            flags,
            _base_send,
            (sock, data, flags | NOBLOCK, copy, track),
            data.__class__ is bytes and _INT_MIN <= flags <= _INT_MAX,
        )
    if fast.arms and not flags & SNDMORE:
        fast.after_send()
    return result


def recv(sock: Any, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
    """Receive a frame, as :meth:`zmq.Socket.recv`; waiting blocks only this greenlet."""
    if flags.__class__ is not int:
        flags = int_flags(flags)
    fast: FastPath = fast_of(sock) if COMPILED else sock._fast  # type: ignore[name-defined]  # noqa: F821
    state = fast.state
    if state is not None and state.waiting:
        return fast.contended(
            sock,
            False,
            flags,
            _base_recv,
            (sock, flags | NOBLOCK, copy, track),
            _INT_MIN <= flags <= _INT_MAX,
        )
    mask = fast.ask_events
    if not mask:
        try:
            if COMPILED and copy:
                return recv_bytes(fast, sock, flags | NOBLOCK)  # type: ignore[name-defined]  # noqa: F821
            return _base_recv(sock, flags | NOBLOCK, copy, track)
        except _Again:
            if flags & NOBLOCK:
                raise
    elif flags & NOBLOCK:
        fast.forget()
        return _base_recv(sock, flags, copy, track)
    elif (
        events_read(sock, fast.handle) if COMPILED else _base_get(sock, EVENTS)  # type: ignore[name-defined]  # noqa: F821
    ) & mask:
        fast.after_ready(mask)
        try:
            return _base_recv(sock, flags | NOBLOCK, copy, track)
        except _Again:
            pass
    timeout = fast.before_wait(sock, False)
    return fast.state.wait_turn(  # type: ignore[union-attr]  # made by before_wait
        False, _base_recv, (sock, flags | NOBLOCK, copy, track), timeout, True
    )


def events_of(sock: Any, handle: int) -> int:
    """EVENTS of ``sock`` (pyzmq's Cython socket object on libzmq socket ``handle``).

    pyzmq's ``get`` makes a ``SocketOption`` enum member per call, most of
    its price; the compiled twin asks libzmq straight (handle 0: pyzmq's
    call, which raises what pyzmq raises), and the waiting states use it
    for their re-reads (see the end of this module).
    """
    if COMPILED:
        return events_read(sock, handle)  # type: ignore[name-defined,no-any-return]  # noqa: F821
    return _base_get(sock, EVENTS)  # type: ignore[no-any-return]


_ALL_BUT_LAST = slice(None, -1)


def check_parts(msg_parts: Any) -> None:
    """Refuse a message with a part that is no buffer, as pyzmq's send_multipart does."""
    for i, part in enumerate(msg_parts):
        cls = part.__class__
        if cls is bytes or cls is _Frame or isinstance(part, (zmq.Frame, bytes, memoryview)):
            continue
        try:
            memoryview(part)
        except Exception:
            shown = repr(part)
            if len(shown) > 32:
                shown = shown[:32] + "..."
            raise TypeError(f"Frame {i} ({shown}) does not support the buffer interface.") from None


def split_message(msg_parts: Any, flags: Any) -> tuple[Any, Any, int, int]:
    """``(head, last, more, flags)``: a message's frames but the last, its last, their flags.

    As pyzmq's send_multipart takes them, to fail as it does: for both the
    fast path and a subclass's (core.Socket.send_multipart).
    """
    # Slices, as pyzmq takes them: the same errors for odd sequences.  A
    # slice object, not [:-1], so that the compiled twin indexes the same
    # way too (Cython turns [:-1] into a call with its own error text).
    head = msg_parts[_ALL_BUT_LAST]
    last = msg_parts[-1]
    if flags.__class__ is int:
        more = flags | SNDMORE
    else:
        # pyzmq ORs SNDMORE into the flags before converting them, so odd
        # flags fail there first; do the same to fail the same way.
        more = int_flags(zmq.SNDMORE | flags) if head else 0
        flags = int_flags(flags)
    return head, last, more, flags


def send_multipart(sock: Any, msg_parts: Any, flags: Any, copy: bool, track: bool) -> Any:
    """The frames of a message checked by :func:`check_parts`; only the first can wait.

    Once libzmq took the first frame it takes the rest without waiting
    (design.md, "Multipart"), so they go without yielding, and frames of
    different greenlets never interleave.
    """
    head, last, more, flags = split_message(msg_parts, flags)
    if not head:
        return send(sock, last, flags, copy, track)
    fast: FastPath = fast_of(sock) if COMPILED else sock._fast  # type: ignore[name-defined]  # noqa: F821
    send(sock, head[0], more, copy, track)
    for part in head[1:]:
        _send_rest(fast, sock, part, more, copy, track)
    result = _send_rest(fast, sock, last, flags, copy, track)
    if fast.arms and not flags & SNDMORE:
        fast.after_send()
    fast.after_op()
    return green_tracker(result, last) if track else result


def _send_rest(fast: FastPath, sock: Any, part: Any, flags: int, copy: bool, track: bool) -> Any:
    # A frame after the first of a message: libzmq takes it without waiting
    # (the green send is only a guard against surprises).
    try:
        if COMPILED and part.__class__ is bytes and copy and not track:
            return send_bytes(fast, sock, part, flags | NOBLOCK)  # type: ignore[name-defined]  # noqa: F821
        return _base_send(sock, part, flags | NOBLOCK, copy, track)
    except _Again:
        return send(sock, part, flags, copy, track)


def recv_multipart(sock: Any, flags: int, copy: bool, track: bool) -> list[Any]:
    """The frames of a message; only the first can wait, the rest are there at once."""
    fast: FastPath = fast_of(sock) if COMPILED else sock._fast  # type: ignore[name-defined]  # noqa: F821
    if COMPILED and copy:
        # Copied frames straight from libzmq, RCVMORE read in C.
        parts = [recv(sock, flags, True, False)]
        while more_to_come(fast, sock):  # type: ignore[name-defined]  # noqa: F821
            parts.append(_recv_rest(fast, sock, flags, True, False))
        fast.after_op()
        return parts
    # Frames, even when bytes are wanted: Frame.more is half the price of
    # getsockopt(RCVMORE), which builds a SocketOption enum per call.
    track = track and not copy
    frame = recv(sock, flags, False, track)
    frames = [frame]
    while frame.more:
        frame = _recv_rest(fast, sock, flags, False, track)
        frames.append(frame)
    fast.after_op()
    if copy:
        return [f.bytes for f in frames]
    return frames


def _recv_rest(fast: FastPath, sock: Any, flags: int, copy: bool, track: bool) -> Any:
    # The next frame of a message whose first one was received: there at once.
    try:
        if COMPILED and copy:
            return recv_bytes(fast, sock, flags | NOBLOCK)  # type: ignore[name-defined]  # noqa: F821
        return _base_recv(sock, flags | NOBLOCK, copy, track)
    except _Again:
        return recv(sock, flags, copy, track)


def move_messages(
    src: Any,
    dst: Any,
    limit: int,
    capture: Any = None,
    prefix: bytes | None = None,
    swap_ids: bool = False,
) -> tuple[int, int, int, int, int, list[Any] | None]:
    """The proxy's burst: up to ``limit`` whole messages from ``src`` to ``dst``, without waiting.

    Stops when ``src`` has no message left, or when ``dst`` refuses the
    first frame of one: that message is returned as ``held``, for the
    caller to :func:`deliver` once ``dst`` has room. A copy of every message
    goes to ``capture``, after ``prefix`` if one is given; ``swap_ids``
    swaps its first two frames (two ROUTERs, monitored_queue). Returns
    (messages moved, frames in, bytes in, frames out, bytes out, held);
    errors are pyzmq's, raised by its calls.

    The compiled twin moves the frames of the plain case (no capture, no
    swap) in C (``pump``, in the .pxd). Where a call fails there, the
    message in hand is finished below, by the same pyzmq calls that do all
    of it in pure Python.
    """
    moved = frames_in = bytes_in = frames_out = bytes_out = 0
    # Without a capture or a swap, a frame goes as soon as it is read, as in
    # libzmq's proxy: a first frame refused with an error (EHOSTUNREACH,
    # EFSM) leaves the rest of its message in the source, as there.
    streaming = capture is None and not swap_ids
    direct = COMPILED and streaming
    while moved < limit:
        if direct:
            count, frames, size, in_hand = pump(src, dst, limit - moved)  # type: ignore[name-defined]  # noqa: F821
            moved += count
            frames_in += frames
            bytes_in += size
            frames_out += frames
            bytes_out += size
            if in_hand is None:
                break
            msg, more, sent = in_hand
        else:
            try:
                frame = _base_recv(src, NOBLOCK, False)
            except _Again:
                break
            msg, more, sent = [frame], frame.more, 0
        refused = False
        if streaming and not sent:
            first = msg[0]
            try:
                _base_send(dst, first, NOBLOCK | SNDMORE if more else NOBLOCK, False)
            except _Again:
                # Held whole, below, until the destination has room.
                refused = True
            else:
                sent = 1
                msg = []
                frames_in += 1
                frames_out += 1
                bytes_in += len(first)
                bytes_out += len(first)
                if not more:
                    moved += 1
                    continue
        # Frames (copy=False): no copy of the payload, and Frame.more is far
        # cheaper than getsockopt(RCVMORE), which builds an enum per call.
        while more:
            # The rest of a message is there at once (design.md, "Multipart").
            frame = _base_recv(src, NOBLOCK, False)
            msg.append(frame)
            more = frame.more
        count = len(msg)
        size = sum(map(len, msg))
        frames_in += count
        bytes_in += size
        if swap_ids:
            msg[0], msg[1] = msg[1], msg[0]
        if capture is not None:
            capture.send_multipart(msg if prefix is None else [prefix, *msg])
        if sent:
            _deliver_rest(dst, msg, 0)
        elif refused or not deliver(dst, msg):
            return moved, frames_in, bytes_in, frames_out, bytes_out, msg
        moved += 1
        frames_out += count
        bytes_out += size
    return moved, frames_in, bytes_in, frames_out, bytes_out, None


def deliver(dst: Any, msg: list[Any]) -> bool:
    """Send the frames ``msg`` as one message, without waiting; False if its first was refused."""
    last = len(msg) - 1
    try:
        _base_send(dst, msg[0], NOBLOCK | SNDMORE if last else NOBLOCK, False)
    except _Again:
        return False
    _deliver_rest(dst, msg, 1)
    return True


def _deliver_rest(dst: Any, msg: list[Any], start: int) -> None:
    # Frames after the first of a message libzmq took the start of: it takes
    # them without waiting; should it ever not, wait (this greenlet only)
    # rather than lose them.
    last = len(msg) - 1
    for i in range(start, last + 1):
        flags = SNDMORE if i < last else 0
        try:
            _base_send(dst, msg[i], flags | NOBLOCK, False)
        except _Again:
            dst.send(msg[i], flags)


def _send_with_options(
    sock: Any,
    flags: int,
    data: Any,
    copy: bool,
    track: bool,
    routing_id: int | None,
    group: str | None,
) -> Any:
    # pyzmq's own send, which puts a tracker, routing id or group on a Frame.
    return _sugar_send(
        sock, data, flags, copy=copy, track=track, routing_id=routing_id, group=group
    )


def fast_path_of(sock: Any) -> FastPath:
    """The FastPath of a green socket, or a new one for any other pyzmq socket.

    A plain pyzmq socket's calls do not go through it; the proxy uses one
    to hand readiness on after its bursts, as for a green socket.
    """
    fast = getattr(type(sock), "_fast", None)
    if fast is not None:
        return sock._fast  # type: ignore[no-any-return]
    path = FastPath(trusted=False)
    path.state = socket_waiting(sock)
    return path


# -- the compiled twin -------------------------------------------------------

if COMPILED:
    from ._accelerator import check_libzmq, pyzmq_extension

    # Raises ImportError (and so the pure module stays) unless libzmq's entry
    # points are those of the libzmq that pyzmq uses.
    check_libzmq(*libzmq_found(pyzmq_extension()))  # type: ignore[name-defined]  # noqa: F821
else:
    from ._accelerator import compiled_twin

    _twin = compiled_twin(__all__)
    if _twin is not None:
        # Through globals(): the compiled module compiles this line too.
        globals().update({name: getattr(_twin, name) for name in __all__})
        # The waiting states re-read EVENTS after every wakeup: through the
        # twin's direct reader (_waiting cannot import this module).
        sockets.events_of = events_of
