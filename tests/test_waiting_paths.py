"""One set of waiting scenarios, driven through every way into the fast path.

``Socket.send`` and ``Socket.recv`` are green_zmq._fastpath's own hot
functions; ``recv_into`` and tracked sends enter through ``FastPath.call``.
Whoever enters, the decisions while others wait (``FastPath.contended``) and
the wait itself (``FastPath.before_wait``, then the socket's
``SocketWaiting.wait_turn``) are the same code: each scenario runs through
all four entries, in both directions.
"""

from __future__ import annotations

from typing import Any, Callable

import gevent
import pytest

import green_zmq as zmq
from green_zmq._waiting import socket_statistics
from helpers import pair, spawn_parked, wait_until_parked

pytestmark = [pytest.mark.timeout(20), pytest.mark.usefixtures("no_sweeper")]

BIG = b"x" * 100_000


def _recv_into(s: zmq.Socket, flags: int = 0) -> bytes:
    buffer = bytearray(16)
    n = s.recv_into(buffer, flags=flags)
    return bytes(buffer[:n])


# name -> (its direction, the call, taking the socket and flags)
PATHS: dict[str, tuple[str, Callable[..., Any]]] = {
    "recv": ("recv", lambda s, flags=0: s.recv(flags)),
    "recv_into (FastPath.call)": ("recv", _recv_into),
    "send": ("send", lambda s, flags=0: s.send(b"m", flags)),
    "tracked send (FastPath.call)": (
        "send",
        lambda s, flags=0: s.send(BIG, flags, copy=False, track=True),
    ),
}


@pytest.fixture
def sockets(ctx: zmq.Context) -> tuple[zmq.Socket, zmq.Socket]:
    # A full pipe for senders (HWM 1, one message in), an empty one for readers.
    a, b = pair(ctx, hwm=1)
    return a, b


def _blocked(direction: str, a: zmq.Socket, b: zmq.Socket) -> zmq.Socket:
    """The socket on which a call in ``direction`` would block now."""
    if direction == "send":
        while True:
            try:
                a.send(b"fill", zmq.NOBLOCK)
            except zmq.Again:
                return a
    return b


def _unblock(direction: str, a: zmq.Socket, b: zmq.Socket, count: int = 1) -> None:
    for _ in range(count):
        if direction == "send":
            b.recv()
        else:
            a.send(b"m")


@pytest.mark.parametrize("path", list(PATHS))
def test_a_call_that_would_block_waits_and_then_succeeds(sockets, path):
    direction, call = PATHS[path]
    a, b = sockets
    target = _blocked(direction, a, b)
    waiting = spawn_parked(call, target)
    _unblock(direction, a, b)
    waiting.get(timeout=2)
    state = socket_statistics(target)
    assert (state.receivers, state.senders) == (0, 0)


@pytest.mark.parametrize("path", list(PATHS))
def test_noblock_with_others_waiting_makes_one_call(sockets, path):
    direction, call = PATHS[path]
    a, b = sockets
    target = _blocked(direction, a, b)
    other = spawn_parked(call, target)
    with pytest.raises(zmq.Again):
        call(target, zmq.NOBLOCK)
    _unblock(direction, a, b)
    other.get(timeout=2)


@pytest.mark.parametrize("path", list(PATHS))
def test_newcomers_queue_behind_waiters_in_the_same_direction(sockets, path):
    direction, call = PATHS[path]
    a, b = sockets
    target = _blocked(direction, a, b)
    done: list[int] = []

    def numbered(n: int) -> None:
        call(target)
        done.append(n)

    first = spawn_parked(numbered, 1)
    second = spawn_parked(numbered, 2)
    assert socket_statistics(target).receivers + socket_statistics(target).senders == 2
    _unblock(direction, a, b, 2)
    gevent.joinall([first, second], timeout=2, raise_error=True)
    assert done == [1, 2]


@pytest.mark.parametrize("path", list(PATHS))
def test_a_waiter_in_the_other_direction_does_not_hold_a_call_back(sockets, path):
    direction, call = PATHS[path]
    a, b = sockets
    if direction == "send":
        # b can send (its own pipe is empty) while one of its readers waits.
        reader = spawn_parked(b.recv)
        call(b)
        assert a.recv() in (b"m", BIG)
        a.send(b"for the reader")
        assert reader.get(timeout=2) == b"for the reader"
    else:
        # b can receive while one of its senders waits on a full pipe.
        _blocked("send", b, a)
        sender = spawn_parked(b.send, b"waiting")
        a.send(b"m")
        assert call(b) == b"m"
        a.recv()
        sender.get(timeout=2)


@pytest.mark.parametrize("path", list(PATHS))
def test_a_timeout_raises_again_and_leaves_no_waiter(sockets, path):
    direction, call = PATHS[path]
    a, b = sockets
    target = _blocked(direction, a, b)
    target.set(zmq.SNDTIMEO if direction == "send" else zmq.RCVTIMEO, 50)
    with pytest.raises(zmq.Again):
        call(target)
    state = socket_statistics(target)
    assert (state.receivers, state.senders) == (0, 0)
    wait_until_parked(0)
