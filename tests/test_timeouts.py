"""Timeouts: RCVTIMEO and SNDTIMEO raise Again as in plain pyzmq, and no timed wait ends early.

A timeout set any way (attribute, set(), setsockopt(), through a shadow)
applies to the next wait. A timed wait (a recv or send under RCVTIMEO or
SNDTIMEO, a poll, select, a tracker's wait) lasts at least its timeout, as
in plain pyzmq, even when the thread was busy just before it (CPU work, an
unpatched sleep) and the hub's cached time is stale.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import errors_of, pair, wait_until_parked

pytestmark = pytest.mark.timeout(20)


# -- RCVTIMEO and SNDTIMEO -------------------------------------------------


def test_rcvtimeo_raises_again_after_the_timeout(ctx, ticker):
    a, b = pair(ctx)
    b.rcvtimeo = 50
    with pytest.raises(zmq.Again):
        b.recv()
    assert ticker.ticks > 0
    with pytest.raises(zmq.Again):
        b.recv_multipart()
    b.rcvtimeo = 0
    with pytest.raises(zmq.Again):
        b.recv()
    b.rcvtimeo = -1
    a.send(b"after")
    assert b.recv() == b"after"


def test_sndtimeo_raises_again_after_the_timeout(ctx):
    lonely = ctx.socket(zmq.PUSH)
    lonely.linger = 0
    lonely.sndtimeo = 50
    with pytest.raises(zmq.Again):
        lonely.send(b"nobody listens")
    with pytest.raises(zmq.Again):
        lonely.send_multipart([b"a", b"b"])


def _received_after_one_wait(sender: zmq.Socket, receiver: zmq.Socket) -> None:
    # One recv that really waits, so the receiver has read its timeout once.
    reader = gevent.spawn(receiver.recv)
    wait_until_parked(1)
    sender.send(b"first")
    assert reader.get(timeout=5) == b"first"


def test_a_timeout_changed_with_set_or_setsockopt_applies_to_the_next_wait(ctx):
    a, b = pair(ctx)
    _received_after_one_wait(a, b)
    b.set(zmq.RCVTIMEO, 50)
    with gevent.Timeout(5, AssertionError("RCVTIMEO set with set() was ignored")):
        with pytest.raises(zmq.Again):
            b.recv()
    b.setsockopt(zmq.RCVTIMEO, -1)
    reader = gevent.spawn(b.recv)
    gevent.sleep(0.2)
    assert not reader.ready()  # waits for good again, as RCVTIMEO -1 says
    a.send(b"late")
    assert reader.get(timeout=5) == b"late"


def test_a_timeout_set_through_a_plain_shadow_applies_to_the_green_socket(ctx):
    a, b = pair(ctx)
    _received_after_one_wait(a, b)
    shadow = plain_zmq.Socket.shadow(b.underlying)
    shadow.rcvtimeo = 50
    with gevent.Timeout(5, AssertionError("RCVTIMEO set through a shadow was ignored")):
        with pytest.raises(zmq.Again):
            b.recv()


def test_a_green_shadow_sees_timeouts_set_on_the_socket_it_shadows(plain_pair):
    _, original, peer = plain_pair
    green = zmq.Socket.shadow(original.underlying)
    _received_after_one_wait(peer, green)
    original.rcvtimeo = 50
    with gevent.Timeout(5, AssertionError("RCVTIMEO set on the original was ignored")):
        with pytest.raises(zmq.Again):
            green.recv()


def test_rcvtimeo_matches_plain_pyzmq_exception():
    def timed_out(make):
        s = make(plain_zmq.PULL)
        s.rcvtimeo = 10
        s.recv()

    assert errors_of(zmq, timed_out) == errors_of(plain_zmq, timed_out)


# -- no timed wait ends early ----------------------------------------------


def _busy(kind: str) -> None:
    if kind == "unpatched time.sleep":
        time.sleep(0.1)
    else:
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            pass


def _timed_waits(ctx: zmq.Context) -> dict[str, Callable[[], Any]]:
    a, b = pair(ctx, hwm=1)
    b.rcvtimeo = 200
    a.sndtimeo = 200
    full = ctx.socket(zmq.PUSH)  # no peer: a send waits
    full.sndtimeo = 200
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    tracker_socket = ctx.socket(zmq.PAIR)
    tracker_socket.connect("inproc://unread-tracked")
    tracker = tracker_socket.send(b"x" * 100_000, copy=False, track=True)

    def recv_times_out() -> None:
        with pytest.raises(zmq.Again):
            b.recv()

    def send_times_out() -> None:
        with pytest.raises(zmq.Again):
            full.send(b"x")

    def tracker_times_out() -> None:
        with pytest.raises(zmq.NotDone):
            tracker.wait(0.2)

    return {
        "RCVTIMEO": recv_times_out,
        "SNDTIMEO": send_times_out,
        "Socket.poll": lambda: b.poll(200),
        "Poller.poll": lambda: poller.poll(200),
        "select": lambda: zmq.select([b], [], [], 0.2),
        "tracker": tracker_times_out,
    }


@pytest.mark.parametrize("busy", ["unpatched time.sleep", "CPU work"])
@pytest.mark.parametrize(
    "wait", ["RCVTIMEO", "SNDTIMEO", "Socket.poll", "Poller.poll", "select", "tracker"]
)
def test_a_timed_wait_lasts_its_timeout_after_the_thread_was_busy(ctx, busy, wait):
    timed = _timed_waits(ctx)[wait]
    gevent.sleep(0.01)  # the hub goes round its loop, and caches its time
    _busy(busy)
    start = time.monotonic()
    timed()
    assert time.monotonic() - start >= 0.199
