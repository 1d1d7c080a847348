"""Green Context and Socket: pyzmq's classes, waiting only the calling greenlet.

The classes subclass pyzmq's and replace only what waits; every helper
(send_json, recv_string, send_serialized, ...) inherits through the green
send/recv. Waiting itself is :mod:`green_zmq._waiting`'s job.

How a call goes, tried at once and waiting only when it must, is
:mod:`green_zmq._fastpath`'s job: each Socket has a FastPath, and its
methods only adapt pyzmq's signatures to it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import zmq
from gevent import getcurrent
from gevent.hub import get_hub
from gevent.monkey import get_original

from . import _compat, _fastpath
from ._fastpath import FastPath
from ._ints import EVENTS as _EVENTS, int_flags
from ._stand_in import StandIn
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


_base_get: Callable[[Any, int], Any] = zmq.backend.Socket.get
_base_recv_into = zmq.backend.Socket.recv_into
_sugar_send = zmq.Socket.send


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
            self._fast.after_op()

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


class _FastPathOnFirstUse:
    """``Socket._fast`` for an object our ``__init__`` has not seen (yet).

    A subclass may skip our ``__init__`` (design.md, "Lazy state"), and
    pyzmq's own ``__init__`` calls our overrides before ours runs: the first
    use makes a FastPath in the object's ``__dict__``, which shadows this (a
    descriptor without ``__set__``) from then on. Not ``__getattr__``: a
    subclass may define its own.
    """

    def __get__(self, socket: Any, owner: Any = None) -> Any:
        if socket is None:
            return self
        fast = FastPath(trusted=False)
        object.__setattr__(socket, "_fast", fast)
        return fast


class Socket(zmq.Socket, metaclass=StandIn):
    """A :class:`zmq.Socket` whose blocking calls block only the calling greenlet.

    Behaviour and exceptions are plain pyzmq's, including RCVTIMEO and
    SNDTIMEO. Any number of greenlets may wait on one socket in both
    directions; they are served first come, first served. Every Python
    object on the same libzmq socket (a shadow, ``Socket(other)``, a copy)
    shares one waiting state, so an operation through any of them wakes
    the greenlets waiting through the others.

    As in libzmq, a socket may be handed from one thread to another: its
    waits go through the hub of the thread that waits on it, and only two
    threads waiting on it at once raise :class:`RuntimeError` (plain pyzmq
    would corrupt the socket). Calls that never wait work from any thread.
    A socket belongs to its process, though: in a child created by fork(), using it (send,
    recv, poll, options, bind, connect, ...) raises :class:`RuntimeError`,
    where plain pyzmq would spin forever; ``close()`` is allowed and, as in
    pyzmq, leaves the parent's socket alone.
    """

    _repr_cls = "green_zmq.Socket"
    _poller_class = Poller

    # How this object's calls go (see _fastpath): made in __init__, or on
    # first use for subclasses that skip our __init__.
    _fast = _FastPathOnFirstUse()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shadow = _compat.is_shadow(self)
        try:
            state = socket_waiting(self, new=not shadow)
        except BaseException:
            # Nobody gets this object, so nobody could close the socket,
            # and the context's term() would wait for it for as long as the
            # exception (which holds it) is alive. A shadow's socket is its
            # owner's to close.
            if not shadow:
                super().close(linger=0)
            raise
        fast = FastPath(trusted=not shadow, kind=state.kind)
        fast.state = state
        fast.handle = state.handle
        object.__setattr__(self, "_fast", fast)
        refuse_in_child(self, _LIBZMQ_ENTRY_POINTS)

    def _state(self) -> SocketWaiting:
        return self._fast.state_of(self)  # type: ignore[no-any-return]

    # -- sending -------------------------------------------------------------

    # The hot path itself (see _fastpath), with pyzmq's signatures.
    send = _fastpath.send
    recv = _fastpath.recv

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
        _fastpath.check_parts(msg_parts)
        if type(self).send is Socket.send:
            return _fastpath.send_multipart(self, msg_parts, flags, copy, track)
        head, last, more, flags = _fastpath.split_message(msg_parts, flags)
        if not head:
            return self.send(last, flags, copy=copy, track=track)
        return self._send_each(head, last, more, flags, copy, track)

    def _send_each(
        self, head: Any, last: Any, more: int, flags: int, copy: bool, track: bool
    ) -> Any:
        # A subclass that overrides send sees every frame, as pyzmq's
        # send_multipart promises; only the first can take a turn.
        fast = self._fast
        self.send(head[0], more, copy=copy, track=track)
        fast.continuing = True
        try:
            for part in head[1:]:
                self.send(part, more, copy=copy, track=track)
            return self.send(last, flags, copy=copy, track=track)
        finally:
            fast.continuing = False

    # -- receiving -----------------------------------------------------------

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
        return _fastpath.recv_multipart(self, flags, copy, track)

    def _recv_each(self, flags: Any, copy: bool, track: bool) -> list[Any]:
        # A subclass that overrides recv sees every frame, as pyzmq's
        # recv_multipart promises (and asks getsockopt for RCVMORE, as it
        # does); only the first can take a turn.
        fast = self._fast
        parts = [self.recv(flags, copy=copy, track=track)]
        fast.continuing = True
        try:
            while self.getsockopt(zmq.RCVMORE):
                parts.append(self.recv(flags, copy=copy, track=track))
        finally:
            fast.continuing = False
        return parts

    def recv_into(self, buffer: Any, /, *, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into a buffer, as :meth:`zmq.Socket.recv_into`; blocks only this greenlet."""
        return self._fast.call(  # type: ignore[no-any-return]
            self, False, _recv_into, int_flags(flags), buffer, nbytes
        )

    # -- options, endpoints and lifetime ---------------------------------------

    def get(self, option: int) -> Any:
        """Get a socket option, as :meth:`zmq.Socket.get`.

        Reading EVENTS drains the socket's FD, so the value read is also
        used to wake greenlets waiting on this socket.
        """
        value = _base_get(self, option)
        if option == _EVENTS:
            self._fast.after_events(value)
        else:
            self._fast.after_op()
        return value

    # pyzmq binds this alias to the Cython method; rebind it to ours.
    getsockopt = get

    def set(self, option: int, optval: Any) -> None:
        """Set a socket option, as :meth:`zmq.Socket.set`."""
        try:
            super().set(option, optval)
        finally:
            self._fast.after_option(self, option)

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
        are read at every wait, and recv no longer asks EVENTS first (see
        _fastpath).
        """
        self._fast.distrust()
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
        state = self._fast.state
        if state is None and not self._closed:
            # Nobody waited through this object; others may have.
            state = existing_waiting(self)
        super().close(linger)
        if self._closed:
            # The compiled attempts must never use the address again.
            self._fast.handle = 0
            if state is not None:
                state.close()


def _recv_into(socket: Any, flags: int, buffer: Any, nbytes: int) -> int:
    return _base_recv_into(socket, buffer, nbytes=nbytes, flags=flags)  # type: ignore[no-any-return]


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
