"""A recv in a state its socket type forbids fails at once, with plain pyzmq's error.

A REQ that is to send, a REP that is to reply, raise EFSM; a PUSH raises
ENOTSUP. Whatever happened before (a recv that had to wait, a reply taken by
recv, NOBLOCK, recv_into or a shadow, a request queued behind the first) and
even with no pipe left, when EVENTS are 0 as while a reply is awaited, the
recv must fail at once instead of waiting. The EFSM scenarios run with
plain pyzmq in an OS thread too, and the errors must be the same.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import in_thread, pair, spawn_parked

pytestmark = pytest.mark.timeout(20)


def _recv_fails_at_once(module: Any, socket: Any) -> int:
    """The errno of a recv that must fail at once (it gets 2 s before EAGAIN)."""
    socket.rcvtimeo = 2000
    start = time.monotonic()
    with pytest.raises(module.ZMQError) as raised:
        socket.recv()
    assert time.monotonic() - start < 0.5, "waited instead of failing"
    return raised.value.errno


def _efsm_after_a_waited_recv(module: Any, context: Any, spawn: Callable[..., Any]) -> int:
    req, rep = pair(context, module.REQ, module.REP)
    req.send(b"ask")
    replier = spawn(lambda: (rep.recv(), rep.send(b"answer")))
    assert req.recv() == b"answer"  # had to wait for it
    replier()
    return _recv_fails_at_once(module, req)


def _thread_spawn(function: Callable[[], Any]) -> Callable[[], Any]:
    thread = threading.Thread(target=function)
    thread.start()
    return lambda: thread.join(5)


def _greenlet_spawn(function: Callable[[], Any]) -> Callable[[], Any]:
    greenlet = gevent.spawn(function)
    return lambda: greenlet.get(timeout=5)


def test_req_recv_after_a_recv_that_waited_raises_efsm_as_plain_does(ctx, plain_ctx):
    plain = _efsm_after_a_waited_recv(plain_zmq, plain_ctx, _thread_spawn)
    green = _efsm_after_a_waited_recv(zmq, ctx, _greenlet_spawn)
    assert green == plain == zmq.EFSM


def test_rep_recv_recv_raises_efsm_as_plain_does(ctx, plain_ctx):
    def scenario(module: Any, context: Any) -> int:
        req, rep = pair(context, module.REQ, module.REP)
        req.send(b"ask")
        assert rep.recv() == b"ask"
        rep.rcvtimeo = 2000
        with pytest.raises(module.ZMQError) as raised:
            rep.recv()
        return raised.value.errno

    assert scenario(zmq, ctx) == in_thread(lambda: scenario(plain_zmq, plain_ctx)) == zmq.EFSM


def test_recv_on_a_push_socket_after_a_wait_raises_enotsup_as_plain_does(ctx):
    push, pull = pair(ctx, zmq.PUSH, zmq.PULL)
    pull_reader = spawn_parked(pull.recv)
    push.send(b"x")
    assert pull_reader.get(timeout=2) == b"x"
    with pytest.raises(zmq.ZMQError) as raised:
        push.recv()
    assert raised.value.errno == zmq.ENOTSUP


def _until(condition: Callable[[], bool], pause: Callable[[float], Any]) -> None:
    """Poll ``condition`` (an EVENTS read: it also processes libzmq's commands)."""
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "the pipe never went"
        pause(0.001)


def _take_by_recv(module: Any, req: Any) -> bytes:
    return req.recv()


def _take_noblock(module: Any, req: Any) -> bytes:
    assert req.poll(5000, module.POLLIN)
    return req.recv(module.NOBLOCK)


def _take_into(module: Any, req: Any) -> bytes:
    assert req.poll(5000, module.POLLIN)
    buffer = bytearray(16)
    return bytes(buffer[: req.recv_into(buffer)])


def _take_by_shadow(module: Any, req: Any) -> bytes:
    return type(req).shadow(req.underlying).recv()


_TAKERS = {
    "recv": _take_by_recv,
    "NOBLOCK recv": _take_noblock,
    "recv_into": _take_into,
    "a shadow's recv": _take_by_shadow,
}


def _efsm_with_no_pipe_left(
    module: Any,
    context: Any,
    take: Callable[..., bytes],
    pause: Any,
    spawn: Callable[..., Any] | None = None,
) -> int:
    # A REQ whose reply was taken is in its sending state; once its only
    # pipe is gone its EVENTS are 0, as while it waits for a reply. recv
    # must still fail at once with EFSM, however the reply was taken.
    req = context.socket(module.REQ)
    rep = context.socket(module.REP)
    req.linger = rep.linger = 0
    address = f"inproc://no-pipe-{id(req)}"
    req.bind(address)
    rep.connect(address)
    req.send(b"ask")
    if spawn is None:
        assert rep.recv() == b"ask"
        rep.send(b"answer")
        assert take(module, req) == b"answer"
    else:
        # The reply comes while the REQ's recv waits for it.
        replier = spawn(lambda: rep.send(rep.recv()))
        assert take(module, req) == b"ask"
        replier()
    rep.close()
    _until(lambda: not req.get(module.EVENTS) & module.POLLOUT, pause)
    return _recv_fails_at_once(module, req)


@pytest.mark.parametrize("take", list(_TAKERS))
def test_req_recv_in_its_sending_state_without_a_pipe_raises_efsm_as_plain_does(
    ctx, plain_ctx, take
):
    taker = _TAKERS[take]
    plain = in_thread(lambda: _efsm_with_no_pipe_left(plain_zmq, plain_ctx, taker, time.sleep))
    green = _efsm_with_no_pipe_left(zmq, ctx, taker, gevent.sleep)
    assert green == plain == zmq.EFSM


def test_req_recv_after_a_recv_that_waited_without_a_pipe_raises_efsm_as_plain_does(
    ctx, plain_ctx
):
    plain = in_thread(
        lambda: _efsm_with_no_pipe_left(
            plain_zmq, plain_ctx, _take_by_recv, time.sleep, _thread_spawn
        )
    )
    green = _efsm_with_no_pipe_left(zmq, ctx, _take_by_recv, gevent.sleep, _greenlet_spawn)
    assert green == plain == zmq.EFSM


def test_rep_recv_in_its_sending_state_without_a_pipe_raises_efsm_as_plain_does(ctx, plain_ctx):
    # A REP whose recv had to wait asks EVENTS first next time; in its
    # sending state, its requester gone, recv must still fail at once.
    def scenario(module: Any, context: Any, spawn: Callable[..., Any]) -> int:
        rep, req = pair(context, module.REP, module.REQ)
        got: list[bytes] = []
        reader = spawn(lambda: got.append(rep.recv()))  # waits for the request
        req.send(b"ask")
        reader()
        assert got == [b"ask"]
        req.close()
        return _recv_fails_at_once(module, rep)

    def green_spawn(function: Callable[[], Any]) -> Callable[[], Any]:
        greenlet = spawn_parked(function)
        return lambda: greenlet.get(timeout=5)

    plain = in_thread(lambda: scenario(plain_zmq, plain_ctx, _thread_spawn))
    green = scenario(zmq, ctx, green_spawn)
    assert green == plain == zmq.EFSM


def _rep_with_a_request_queued_behind_the_first(
    module: Any, context: Any, spawn: Callable[..., Any], pause: Any
) -> tuple[Any, Any, Any]:
    """A REP that waited for one request and found the next one already queued.

    The green REP's recv hint then has a readiness behind it and one to go
    (see _fastpath._ONCE_MORE): the cases below check that it still proves only
    what EVENTS proves.
    """
    rep = context.socket(module.REP)
    rep.linger = 0
    address = f"inproc://rep-queue-{id(rep)}"
    rep.bind(address)
    first, second = context.socket(module.REQ), context.socket(module.REQ)
    for req in (first, second):
        req.linger = 0
        req.connect(address)
    got: list[bytes] = []
    reader = spawn(lambda: got.append(rep.recv()))  # waits for the request
    first.send(b"one")
    reader()
    assert got == [b"one"]
    second.send(b"two")
    rep.send(b"re: one")
    _until(lambda: rep.get(module.EVENTS) & module.POLLIN, pause)
    assert rep.recv() == b"two"  # queued: EVENTS showed it ready
    return rep, first, second


def test_rep_recv_after_a_queued_request_without_a_pipe_raises_efsm_as_plain_does(
    ctx, plain_ctx
):
    def scenario(module: Any, context: Any, spawn: Callable[..., Any], pause: Any) -> int:
        rep, first, second = _rep_with_a_request_queued_behind_the_first(
            module, context, spawn, pause
        )
        second.close()
        return _recv_fails_at_once(module, rep)

    def green_spawn(function: Callable[[], Any]) -> Callable[[], Any]:
        greenlet = spawn_parked(function)
        return lambda: greenlet.get(timeout=5)

    plain = in_thread(lambda: scenario(plain_zmq, plain_ctx, _thread_spawn, time.sleep))
    green = scenario(zmq, ctx, green_spawn, gevent.sleep)
    assert green == plain == zmq.EFSM


def test_rep_recv_after_a_queued_request_waits_for_the_next_as_plain_does(ctx, plain_ctx):
    def scenario(module: Any, context: Any, spawn: Callable[..., Any], pause: Any) -> list[bytes]:
        rep, first, second = _rep_with_a_request_queued_behind_the_first(
            module, context, spawn, pause
        )
        rep.send(b"re: two")
        got: list[bytes] = []
        reader = spawn(lambda: got.append(rep.recv()))  # nothing queued: waits
        replies = [first.recv(), second.recv()]
        first.send(b"three")
        reader()
        return replies + got

    def green_spawn(function: Callable[[], Any]) -> Callable[[], Any]:
        greenlet = spawn_parked(function)
        return lambda: greenlet.get(timeout=5)

    plain = in_thread(lambda: scenario(plain_zmq, plain_ctx, _thread_spawn, time.sleep))
    green = scenario(zmq, ctx, green_spawn, gevent.sleep)
    assert green == plain == [b"re: one", b"re: two", b"three"]
