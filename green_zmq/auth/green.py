"""GreenAuthenticator: ZAP authentication answered by a greenlet.

pyzmq's :class:`zmq.auth.thread.ThreadAuthenticator` answers ZAP requests
from an OS thread running an asyncio loop. Under gevent that thread is
either a real thread the hub knows nothing about, or (after
``monkey.patch_all()``) a greenlet trying to run asyncio, which does not
cooperate. Here the policy is still pyzmq's :class:`~zmq.auth.base.Authenticator`
(allow/deny lists, PLAIN passwords, CURVE certificates and callbacks); only
the serving loop is new, and it is one greenlet::

    start() -> green REP socket bound to inproc://zeromq.zap.01
            -> greenlet: recv request -> policy -> send reply -> recv ...
    stop()  -> between requests: greenlet killed in its recv, socket closed
               (a request being answered is answered first, for up to
               _STOP_GRACE seconds, as ThreadAuthenticator finishes it)
    context terminated -> the greenlet sees ETERM, closes its socket, ends

A request whose handling fails (a credentials callback that raises, say)
is answered with ZAP status 500: libzmq refuses that peer, and the
authenticator goes on serving the next request.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import gevent
import zmq
from zmq.auth.base import VERSION, Authenticator

from .._ints import EFSM as _EFSM, ENOTSOCK as _ENOTSOCK, ETERM as _ETERM
from ..core import Context, Socket

__all__ = ["GreenAuthenticator"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"

# How long stop() lets the request being answered finish before it kills
# the greenlet anyway (a credentials callback stuck for good).
_STOP_GRACE = 5.0



def _run_without_loop(step: Coroutine[Any, Any, None]) -> None:
    """Run pyzmq's ``async`` ZAP handler to completion in this greenlet.

    The handler only awaits what a credentials callback returns. A plain
    callback (which may block this greenlet, e.g. on a green database
    client) never suspends it; an awaitable that truly suspends needs an
    asyncio loop, which a greenlet authenticator does not have.
    """
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RuntimeError(
        "the ZAP credentials callback awaited something that needs an asyncio event loop; "
        "GreenAuthenticator runs callbacks in a greenlet: return a bool "
        "(blocking the greenlet is fine)"
    )


class GreenAuthenticator(Authenticator):
    """ZAP authentication served by a greenlet; the API of pyzmq's ThreadAuthenticator.

    ``start``/``stop``/``is_alive``, ``allow``/``deny``,
    ``configure_plain``, ``configure_curve``, ``configure_curve_callback``,
    ``configure_gssapi``, ``encoding`` and ``log`` behave as in
    :class:`zmq.auth.thread.ThreadAuthenticator`. Differences from pyzmq:

    - requests are answered in a greenlet of the hub that called
      :meth:`start`, so a credentials callback may block cooperatively, and
      requests are only answered while that hub gets to run (a thread stuck
      in a non-green blocking call holds up authentication);
    - works under ``gevent.monkey.patch_all()``;
    - a callback that raises rejects that peer (ZAP status 500) and the
      authenticator keeps serving, instead of its thread dying;
    - if the context is terminated while serving, the authenticator closes
      its socket so termination can finish.

    ``context`` defaults to :meth:`green_zmq.Context.instance`; it must be
    the context of the sockets to authenticate (ZAP is an inproc endpoint).
    """

    greenlet: gevent.Greenlet | None

    def __init__(
        self,
        context: zmq.Context | None = None,
        encoding: str = "utf-8",
        log: Any = None,
    ) -> None:
        super().__init__(context=context or Context.instance(), encoding=encoding, log=log)
        self.greenlet = None
        # True while the serving greenlet handles a request (not in its recv).
        self._answering = False

    def start(self) -> None:
        """Bind the ZAP endpoint and start answering requests in a greenlet.

        Requests are queued from the moment this returns.
        """
        # Green even when the context is a plain zmq.Context: the waiting is ours.
        socket = self.context.socket(zmq.REP, socket_class=Socket)
        socket.linger = 1
        try:
            socket.bind(ZAP_ENDPOINT)
        except BaseException:
            socket.close()
            raise
        self.zap_socket = socket
        self.log.debug("Starting")
        self.greenlet = gevent.spawn(self._serve, socket)

    def stop(self) -> None:
        """Stop answering requests and close the ZAP socket.

        As with ThreadAuthenticator, a request being answered is answered
        first (its peer's handshake completes); this greenlet waits for it
        up to 5 seconds. Called from the hub itself, which cannot wait,
        the serving greenlet is killed at once.
        """
        serving = self.greenlet
        # _serve ends after the request it is answering, seeing this.
        self.greenlet = None
        if serving is not None and serving is not gevent.getcurrent():
            # Blocking for the greenlet to end means no request is answered
            # after stop() returns; the hub itself cannot block, so there it
            # only schedules the kill.
            in_hub = gevent.getcurrent() is gevent.get_hub()
            if self._answering and not in_hub:
                serving.join(_STOP_GRACE)
            serving.kill(block=not in_hub)
        socket = self.zap_socket
        if socket is not None and not socket.closed:
            # Closing releases the endpoint only once libzmq's reaper gets to
            # it; unbinding releases it now, so start() may follow at once.
            try:
                socket.unbind(ZAP_ENDPOINT)
            except zmq.ZMQError:
                pass
        super().stop()

    def is_alive(self) -> bool:
        """Is the serving greenlet running?"""
        return self.greenlet is not None and not self.greenlet.dead

    def _serve(self, socket: Socket) -> None:
        me = gevent.getcurrent()
        while self.greenlet is me:
            try:
                request = socket.recv_multipart()
            except zmq.ZMQError as e:
                if e.errno == _ETERM:
                    # Context.term() waits for every socket to close, ours too.
                    socket.close()
                    return
                if e.errno == _ENOTSOCK:
                    return
                raise
            self._answering = True
            try:
                _run_without_loop(self.handle_zap_message(request))
            except Exception:
                self.log.exception("ZAP request failed; refusing the peer")
                self._refuse(socket, request)
            finally:
                self._answering = False

    def _refuse(self, socket: Socket, request: list[bytes]) -> None:
        if len(request) < 2:
            return
        reply = [VERSION, request[1], b"500", b"Internal error", b"", b""]
        try:
            socket.send_multipart(reply)
        except zmq.ZMQError as e:
            # EFSM: the handler had already replied before failing.
            if e.errno != _EFSM:
                raise
