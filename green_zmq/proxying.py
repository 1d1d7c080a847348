"""Green device, proxy, proxy_steerable and monitored_queue.

pyzmq's versions of these call into libzmq and block the OS thread until
the proxy ends, freezing every greenlet of the hub. Here the same loops run
in Python, in the calling greenlet, and wait through the green
:class:`~green_zmq.Poller`: only the calling greenlet blocks.

Behaviour is that of the libzmq bundled with pyzmq 27 (``zmq_proxy_steerable``
of libzmq 4.3.5): messages travel in both directions (so QUEUE, FORWARDER,
STREAMER and XSUB/XPUB subscriptions all work, the socket types decide what
flows), every frame forwarded is also sent to ``capture``, the control socket
understands PAUSE, RESUME, TERMINATE and STATISTICS (PAUSE holds messages back
until RESUME, as libzmq documents it; the bundled 4.3.5 binary keeps
forwarding), and errors (among them
:class:`zmq.ContextTerminated`) propagate as pyzmq raises them.

Notes on the approach
---------------------

Each direction (frontend -> backend, backend -> frontend) is a
:class:`_Direction`. It reads its source only while its destination can
take a message, the way a blocking send would hold the proxy back, so a
full destination pushes back on the sender instead of losing messages.
Whole multipart messages move in bursts of NOBLOCK calls (up to
``_BURST`` messages per wakeup), so a busy proxy does not pay a wakeup per
message; the fast path's :func:`~._fastpath.move_messages` makes them,
and its compiled twin moves the frames in C, never making them Python
objects. A multipart message is atomic (design.md, "Multipart"): once a
frame of it is readable all are, and once the destination took its first
frame it takes the rest, so only the first frame of a send can be refused::

    reading  -- source POLLIN, destination POLLOUT --> burst, back to reading
    reading  -- source POLLIN, destination full -----> blocked
    burst    -- destination refuses a first frame ---> blocked, message held
    blocked  -- destination POLLOUT -----------------> held message sent, burst

While blocked, the direction waits for its destination's POLLOUT and not
for its source's POLLIN (waiting for both would wake us for a message we
may not move). A held message is the one libzmq would be stuck sending in
its blocking send; as that send, it gives up after the destination's
SNDTIMEO (if set), and the proxy raises :class:`zmq.Again`. Unlike
libzmq, the other direction and the control socket keep being served
meanwhile, and a held message is still delivered before TERMINATE
returns. While paused, the proxy waits on the control socket alone.

A socket may be both frontend and backend, as libzmq allows (a ROUTER or
DEALER echoing, a REP answering each request with itself, also through
the background devices with ``out_type=-1``). It has one direction, whose
STATISTICS count each frame once, and it is forwarded frame by frame, as
libzmq forwards it (:meth:`_Direction._echo`).
"""

from __future__ import annotations

import struct
from time import monotonic
from typing import Any

import gevent
import zmq

from ._fastpath import deliver, events_of, fast_path_of, move_messages
from ._ints import (
    NOBLOCK as _NOBLOCK,
    POLLIN as _POLLIN,
    POLLOUT as _POLLOUT,
    ROUTER as _ROUTER,
    SNDMORE as _SNDMORE,
    SNDTIMEO as _SNDTIMEO,
    TYPE as _TYPE,
)
from ._waiting import backoff
from .poll import Poller

__all__ = ["device", "monitored_queue", "proxy", "proxy_steerable"]


# The Cython methods: a burst skips the green overrides, and hands readiness
# on to other waiters once per burst instead of once per call (FastPath.after_calls).
# A socket proxied to itself moves Frames (recv with copy=False), as
# move_messages does: no copy of the payload, and Frame.more is far cheaper
# than getsockopt(RCVMORE), which builds a SocketOption enum per call.
_BaseSocket = zmq.backend.Socket
_recv = _BaseSocket.recv
_send = _BaseSocket.send
_get = _BaseSocket.get

# pyzmq's own monitored_queue, which blocks the thread: called only with
# arguments its signature refuses, for its TypeError (see monitored_queue).
# A backend without it (CFFI) falls back on Python code that checks nothing.
_pyzmq_monitored_queue = zmq.backend.monitored_queue

# Messages moved per direction per wakeup, and messages (or idle wakeups)
# between two yields to the hub: under a steady load the poll never parks.
_BURST = 256

# A held message refused although its destination reported room is retried
# after 1 ms, doubling up to 50 ms (see _Direction.retry_at).
_REFUSED_PAUSE = 0.001
_REFUSED_PAUSE_MAX = 0.05

# How the proxy yields under a steady load. gevent.sleep(0) may run us again
# before the loop polls for I/O, starving greenlets that wait on sockets (the
# proxy's own consumers among them); any positive sleep lets the loop go
# round once, polling I/O, before we continue.
_YIELD_SECONDS = 1e-6

# libzmq copies each uint64 counter into its frame in host byte order.
_COUNTER = struct.Struct("=Q")


class _Direction:
    """One way through the proxy: source, destination, and its counters."""

    __slots__ = (
        "src",
        "dst",
        "src_path",
        "dst_path",
        "dst_handle",
        "capture",
        "prefix",
        "swap_ids",
        "same",
        "held",
        "deadline",
        "blocked",
        "retry_at",
        "refusals",
        "frames_in",
        "bytes_in",
        "frames_out",
        "bytes_out",
    )

    def __init__(
        self,
        src: zmq.Socket,
        dst: zmq.Socket,
        capture: zmq.Socket | None,
        prefix: bytes | None,
        swap_ids: bool,
    ) -> None:
        self.src = src
        self.dst = dst
        # The sockets' fast paths: a burst goes around them, and hands the
        # readiness it drained on through them.
        self.src_path = fast_path_of(src)
        self.dst_path = fast_path_of(dst)
        # For reading the destination's EVENTS straight (events_of); the
        # proxy refused a closed socket, and events_of checks again.
        self.dst_handle = dst.underlying
        self.capture = capture
        # monitored_queue: the capture copy starts with this frame.
        self.prefix = prefix
        # monitored_queue between two ROUTERs: swap the two routing ids.
        self.swap_ids = swap_ids
        # A socket proxied to itself (see _echo). monitored_queue, whose
        # copies carry a prefix, keeps relaying whole messages, as pyzmq's.
        self.same = _one_socket(src, dst) and prefix is None
        self.held: list[Any] | None = None
        # When a held message gives up: the destination's SNDTIMEO after it
        # was first refused, as libzmq's blocking send would (0: never).
        self.deadline = 0.0
        self.blocked = False
        # A held message refused although its destination reported POLLOUT
        # (ROUTER_MANDATORY: POLLOUT means *some* peer has room) is retried
        # at ``retry_at`` instead of on POLLOUT, or the proxy would spin;
        # ``refusals`` in a row make the pause grow.
        self.retry_at = 0.0
        self.refusals = 0
        # Counted per frame, as libzmq's STATISTICS does.
        self.frames_in = 0
        self.bytes_in = 0
        self.frames_out = 0
        self.bytes_out = 0

    def waits_for_room(self) -> bool:
        """Blocked, and POLLOUT of the destination is what will unblock it."""
        return self.blocked and not self.retry_at

    def step(self, readable: int, writable: int) -> int:
        """Move what can be moved after a poll; return how many messages moved."""
        if self.deadline and monotonic() >= self.deadline:
            # libzmq's proxy gives up the message with its send, and fails.
            self.held = None
            self.deadline = 0.0
            raise zmq.Again()
        if self.blocked:
            if self.retry_at:
                if monotonic() < self.retry_at:
                    return 0
                self.retry_at = 0.0
            elif not writable:
                return 0
            self.blocked = False
        elif not readable:
            return 0
        elif not self.same:
            # (A REP proxied to itself has room only once it has read.)
            events = events_of(self.dst, self.dst_handle)
            # Reading EVENTS drained the FD: wake whom it lets proceed.
            self.dst_path.after_events(events)
            if not events & _POLLOUT:
                # Leave the message in the source: that is the backpressure.
                self.blocked = True
                return 0
        moved = self._burst()
        self.src_path.after_calls()
        self.dst_path.after_calls()
        return moved

    def _hold(self, msg: list[Any]) -> None:
        """Keep ``msg``, which the destination refused, until it has room."""
        self.held = msg
        self.blocked = True
        timeout: int = _get(self.dst, _SNDTIMEO)  # type: ignore[assignment]
        if timeout >= 0:
            self.deadline = monotonic() + timeout / 1000
        else:
            self.deadline = 0.0

    def _refused(self) -> int:
        """The held message was refused again: retry after a pause that grows."""
        self.blocked = True
        self.refusals += 1
        pause = backoff(_REFUSED_PAUSE, _REFUSED_PAUSE_MAX, self.refusals)
        self.retry_at = monotonic() + pause
        return 0

    def _burst(self) -> int:
        if self.same:
            return self._echo()
        held = self.held
        if held is not None:
            if not deliver(self.dst, held):
                return self._refused()
            self.refusals = 0
            self.held = None
            self.deadline = 0.0
            self.frames_out += len(held)
            self.bytes_out += sum(map(len, held))
        moved, frames_in, bytes_in, frames_out, bytes_out, held = move_messages(
            self.src, self.dst, _BURST, self.capture, self.prefix, self.swap_ids
        )
        if held is not None:
            self._hold(held)
        self.frames_in += frames_in
        self.bytes_in += bytes_in
        self.frames_out += frames_out
        self.bytes_out += bytes_out
        return moved

    def _echo(self) -> int:
        """Forward a socket to itself frame by frame, as libzmq does.

        libzmq sends each frame as soon as it has read it. So a ROUTER routes
        a message back by its first frame, and a REP may answer only once it
        has read the whole request: a multipart request fails with EFSM in
        libzmq's proxy, and here too. A held message is a first frame whose
        send was refused; the rest of its message is still in the socket.
        """
        moved = 0
        held = self.held
        if held is not None:
            if not self._echo_message(held[0]):
                return self._refused()
            self.refusals = 0
            self.held = None
            self.deadline = 0.0
            moved = 1
        while moved < _BURST:
            try:
                frame = _recv(self.src, _NOBLOCK, False)
            except zmq.Again:
                break
            self._count_in(frame)
            if not self._echo_message(frame):
                self._hold([frame])
                break
            moved += 1
        return moved

    def _echo_message(self, frame: Any) -> bool:
        """Send the first ``frame`` of a message back, then the rest; False if refused."""
        try:
            _send(self.src, frame, _NOBLOCK | _SNDMORE if frame.more else _NOBLOCK, False)
        except zmq.Again:
            return False
        self.frames_out += 1
        self.bytes_out += len(frame)
        self._echo_rest(frame)
        return True

    def _count_in(self, frame: Any) -> None:
        self.frames_in += 1
        self.bytes_in += len(frame)
        if self.capture is not None:
            self.capture.send(frame, _SNDMORE if frame.more else 0, copy=False)

    def _echo_rest(self, frame: Any) -> None:
        """Forward the frames after ``frame`` (sent) of a message to its own socket."""
        sock = self.src
        while frame.more:
            frame = _recv(sock, _NOBLOCK, False)
            self._count_in(frame)
            flags = _SNDMORE if frame.more else 0
            try:
                _send(sock, frame, flags | _NOBLOCK, False)
            except zmq.Again:
                # As in deliver: libzmq takes the rest of a message it took the start of.
                sock.send(frame, flags, copy=False)
            self.frames_out += 1
            self.bytes_out += len(frame)

    def flush(self) -> None:
        """Deliver the held message, waiting only this greenlet for room."""
        held = self.held
        if held is None:
            return
        self.held = None
        self.deadline = 0.0
        if self.same:
            frame = held[0]
            self.dst.send(frame, _SNDMORE if frame.more else 0, copy=False)
            self.frames_out += 1
            self.bytes_out += len(frame)
            self._echo_rest(frame)
            return
        self.dst.send_multipart(held)
        self.frames_out += len(held)
        self.bytes_out += sum(map(len, held))


def _one_socket(a: zmq.Socket, b: zmq.Socket) -> bool:
    """Are ``a`` and ``b`` one libzmq socket (the same object, or one a shadow of the other)?"""
    return a is b or a.underlying == b.underlying


def _until_retry(forward: _Direction, reverse: _Direction | None) -> int | None:
    """Milliseconds until a direction's paused retry or deadline is due (None: neither)."""
    due = [
        t for d in (forward, reverse) if d is not None for t in (d.retry_at, d.deadline) if t
    ]
    if not due:
        return None
    return max(0, int((min(due) - monotonic()) * 1000) + 1)


def _statistics(forward: _Direction, reverse: _Direction | None) -> list[bytes]:
    # libzmq's order: frontend (received, sent), backend (received, sent),
    # each as (messages, bytes); messages are counted per frame.
    back_in = (reverse.frames_in, reverse.bytes_in) if reverse else (0, 0)
    front_out = (reverse.frames_out, reverse.bytes_out) if reverse else (0, 0)
    values = (
        forward.frames_in,
        forward.bytes_in,
        *front_out,
        *back_in,
        forward.frames_out,
        forward.bytes_out,
    )
    return [_COUNTER.pack(v) for v in values]


def _run(
    frontend: zmq.Socket,
    backend: zmq.Socket,
    capture: zmq.Socket | None,
    control: zmq.Socket | None,
    prefixes: tuple[bytes, bytes] | None = None,
    swap_ids: bool = False,
) -> int:
    """The proxy loop shared by every function of this module; 0 on TERMINATE."""
    in_prefix, out_prefix = prefixes if prefixes is not None else (None, None)
    forward = _Direction(frontend, backend, capture, in_prefix, swap_ids)
    # A proxy from a socket to itself has one direction, as in libzmq.
    same = _one_socket(frontend, backend)
    reverse = None if same else _Direction(backend, frontend, capture, out_prefix, swap_ids)
    poller = Poller()
    masks: dict[zmq.Socket, int] = {}
    # The proxy's recvs go around the sockets' own methods, and their hints.
    forward.src_path.forget()
    forward.dst_path.forget()

    def want(socket: zmq.Socket, mask: int) -> None:
        if masks.get(socket, 0) != mask:
            poller.register(socket, mask)
            masks[socket] = mask

    if control is not None:
        want(control, _POLLIN)
    paused = False
    budget = _BURST
    try:
        while True:
            front_mask = back_mask = 0
            if not paused:
                if forward.waits_for_room():
                    back_mask |= _POLLOUT
                elif not forward.blocked:
                    front_mask |= _POLLIN
                if reverse is not None:
                    if reverse.waits_for_room():
                        front_mask |= _POLLOUT
                    elif not reverse.blocked:
                        back_mask |= _POLLIN
            if same:
                want(frontend, front_mask | back_mask)
            else:
                want(frontend, front_mask)
                want(backend, back_mask)

            ready = dict(poller.poll(None if paused else _until_retry(forward, reverse)))

            if control is not None and ready.get(control, 0) & _POLLIN:
                command = _command(control, forward, reverse)
                if command == b"PAUSE":
                    paused = True
                elif command == b"RESUME":
                    paused = False
                elif command == b"TERMINATE":
                    forward.flush()
                    if reverse is not None:
                        reverse.flush()
                    return 0

            moved = 0
            if not paused:
                front = ready.get(frontend, 0)
                back = front if same else ready.get(backend, 0)
                moved = forward.step(front & _POLLIN, back & _POLLOUT)
                if reverse is not None:
                    moved += reverse.step(back & _POLLIN, front & _POLLOUT)
            # Count idle rounds too: a flood of control frames must yield as well.
            budget -= moved or 1
            if budget <= 0:
                budget = _BURST
                gevent.sleep(_YIELD_SECONDS)
    finally:
        for socket in masks:
            if masks[socket]:
                poller.unregister(socket)
        forward.src_path.forget()
        forward.dst_path.forget()


def _command(control: zmq.Socket, forward: _Direction, reverse: _Direction | None) -> bytes | None:
    """Read and answer one control frame, as libzmq does; return it."""
    try:
        command = control.recv(_NOBLOCK)
    except zmq.Again:
        return None
    if command == b"STATISTICS":
        control.send_multipart(_statistics(forward, reverse))
    else:
        # libzmq 4.3.5 (as bundled with pyzmq) answers every other frame,
        # known command or not, with an empty one: REP control sockets work,
        # and one that cannot send (SUB) makes the proxy raise ENOTSUP.
        control.send(b"")
    return command


def _checked(name: str, socket: Any, optional: bool = False) -> Any:
    """The socket argument ``name``, refused where plain pyzmq refuses it, in its words.

    pyzmq's signature takes Socket objects only (None where optional); a
    closed socket reaches libzmq as NULL, which is EFAULT for the frontend
    and backend and "none" for capture and control.
    """
    if optional and socket is None:
        return None
    if not isinstance(socket, _BaseSocket):
        raise TypeError(
            f"Argument '{name}' has incorrect type"
            f" (expected zmq.backend.cython._zmq.Socket, got {type(socket).__name__})"
        )
    if socket.closed:
        if optional:
            return None
        raise zmq.ZMQError(zmq.EFAULT)
    return socket


def proxy(frontend: zmq.Socket, backend: zmq.Socket, capture: zmq.Socket | None = None) -> int:
    """Start a zeromq proxy, as :func:`zmq.proxy`; blocks only the calling greenlet.

    Forwards messages between ``frontend`` and ``backend`` in both directions
    and sends a copy of every forwarded message to ``capture`` (if a socket).
    Never returns; raises what the sockets raise, e.g.
    :class:`zmq.ContextTerminated` when the context is terminated.

    Parameters
    ----------
    frontend : Socket
        The Socket instance for the incoming traffic.
    backend : Socket
        The Socket instance for the outbound traffic.
    capture : Socket (optional)
        The Socket instance for capturing traffic.
    """
    return _run(
        _checked("frontend", frontend),
        _checked("backend", backend),
        _checked("capture", capture, optional=True),
        None,
    )


def proxy_steerable(
    frontend: zmq.Socket,
    backend: zmq.Socket,
    capture: zmq.Socket | None = None,
    control: zmq.Socket | None = None,
) -> int:
    """Start a proxy with control flow, as :func:`zmq.proxy_steerable`; blocks only this greenlet.

    Each frame received on ``control`` is a command: ``PAUSE`` stops
    forwarding until ``RESUME`` restarts it, as libzmq's documentation says
    (this differs from the libzmq 4.3.5 bundled with pyzmq, which answers
    PAUSE but keeps forwarding), ``TERMINATE`` makes the call return
    0, ``STATISTICS`` is answered with 8 frames of native-endian uint64
    (frontend messages received, bytes received, messages sent, bytes sent,
    then the same for the backend; libzmq counts every frame as a message).
    Every other command is answered with an empty frame, as libzmq 4.3.5
    does. While paused, only the control socket is read.

    Parameters
    ----------
    frontend : Socket
        The Socket instance for the incoming traffic.
    backend : Socket
        The Socket instance for the outbound traffic.
    capture : Socket (optional)
        The Socket instance for capturing traffic.
    control : Socket (optional)
        The Socket instance for control flow.
    """
    return _run(
        _checked("frontend", frontend),
        _checked("backend", backend),
        _checked("capture", capture, optional=True),
        _checked("control", control, optional=True),
    )


def device(device_type: int, frontend: zmq.Socket, backend: zmq.Socket) -> int:
    """Start a zeromq device, as :func:`zmq.device`; blocks only the calling greenlet.

    As in libzmq and plain pyzmq, this is :func:`proxy` without capture:
    QUEUE (ROUTER/DEALER), FORWARDER (SUB/PUB, XSUB/XPUB) and STREAMER
    (PULL/PUSH) all forward in both directions, and the socket types decide
    what actually flows. ``device_type`` is accepted and not checked.
    """
    return _run(_checked("frontend", frontend), _checked("backend", backend), None, None)


def monitored_queue(
    in_socket: zmq.Socket,
    out_socket: zmq.Socket,
    mon_socket: zmq.Socket,
    in_prefix: bytes = b"in",
    out_prefix: bytes = b"out",
) -> int:
    """Start a monitored queue, as :func:`zmq.devices.monitored_queue`; blocks only this greenlet.

    Like :func:`proxy` with ``mon_socket`` as capture, except that every
    copy on ``mon_socket`` starts with a frame saying where the message came
    from (``in_prefix`` or ``out_prefix``), and that two ROUTER sockets are
    supported by swapping the first two frames (the routing ids) of every
    message. Never returns. What plain pyzmq's signature refuses (a prefix
    that is not exactly bytes, a socket that is not one) raises its
    ``TypeError`` at once, before any message is taken.
    """
    if _pyzmq_monitored_queue is not None and not (
        issubclass(type(in_socket), _BaseSocket)
        and issubclass(type(out_socket), _BaseSocket)
        and issubclass(type(mon_socket), _BaseSocket)
        and type(in_prefix) is bytes
        and type(out_prefix) is bytes
    ):
        # pyzmq's signature takes sockets and exact bytes (Cython's type
        # tests) and refuses anything else before it starts; so it refuses
        # these, in its own words, which differ between its releases.
        _pyzmq_monitored_queue(in_socket, out_socket, mon_socket, in_prefix, out_prefix)
    in_socket = _checked("in_socket", in_socket)
    out_socket = _checked("out_socket", out_socket)
    mon_socket = _checked("mon_socket", mon_socket)
    swap_ids = _get(in_socket, _TYPE) == _ROUTER and _get(out_socket, _TYPE) == _ROUTER
    return _run(in_socket, out_socket, mon_socket, None, (in_prefix, out_prefix), swap_ids)
