"""Edge-triggered FD discipline: whoever drains the FD re-checks for the waiters.

Any call into libzmq may drain a socket's FD (libzmq processes the socket's
commands in it), so each is followed by a re-check for the greenlets waiting
on the socket. And an FD woken again and again for nothing (commands that
made nobody ready) never delays the wakeup that matters.

Every test here turns the sweeper off: a lost wakeup must hang (and the
timeout fail the test) instead of being healed by the safety net.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import gevent
import pytest

import green_zmq as zmq
from helpers import pair, spawn_parked

pytestmark = [pytest.mark.timeout(10), pytest.mark.usefixtures("no_sweeper")]


# -- whoever drains the FD re-checks for the waiters -------------------------


@pytest.mark.parametrize(
    "drain",
    [
        lambda s: s.get(zmq.EVENTS),
        lambda s: s.getsockopt(zmq.EVENTS),
        lambda s: s.events,
    ],
    ids=["get", "getsockopt", "attribute"],
)
def test_user_reading_events_does_not_lose_the_waiters_wakeup(ctx, drain):
    a, b = pair(ctx)
    reader = spawn_parked(b.recv)
    a.send(b"one")
    # Still in this greenlet: the FD is signalled; reading EVENTS drains it.
    assert drain(b) & zmq.POLLIN
    assert reader.get(timeout=5) == b"one"


def test_noblock_recv_by_another_greenlet_does_not_lose_the_wakeup(ctx):
    a, b = pair(ctx)
    reader = spawn_parked(b.recv)
    a.send(b"one")
    a.send(b"two")
    assert b.recv(zmq.NOBLOCK) == b"one"
    assert reader.get(timeout=5) == b"two"


def test_send_on_the_same_socket_does_not_lose_a_readers_wakeup(ctx):
    a, b = pair(ctx, zmq.DEALER, zmq.DEALER)
    reader = spawn_parked(b.recv)
    a.send(b"incoming")
    # b's send processes b's mailbox (activate_read included).
    b.send(b"outgoing")
    assert reader.get(timeout=5) == b"incoming"
    assert a.recv() == b"outgoing"


def test_a_plain_pyzmq_poll_draining_the_fd_does_not_lose_the_wakeup(ctx):
    import zmq as plain_zmq

    a, b = pair(ctx)
    reader = spawn_parked(b.recv)
    a.send(b"one")
    # Another party (here plain pyzmq's poller) reads EVENTS behind our back,
    # then a green operation on the socket must re-check.
    assert plain_zmq.zmq_poll([(b, plain_zmq.POLLIN)], 0)
    assert b.poll(0) == zmq.POLLIN
    assert reader.get(timeout=5) == b"one"


def _unbind(s: zmq.Socket) -> Callable[[], Any]:
    s.bind(f"inproc://unbound-{id(s)}")
    return lambda: s.unbind(f"inproc://unbound-{id(s)}")


def _disconnect(s: zmq.Socket) -> Callable[[], Any]:
    s.connect(f"inproc://gone-{id(s)}")
    return lambda: s.disconnect(f"inproc://gone-{id(s)}")


# The calls in which libzmq 4.3.5 processes the socket's commands. Every
# other call into libzmq (options, monitor, connect) is followed by the
# same re-check, in case a libzmq release starts to drain there too.
# Each entry makes the call to test, given the socket (setting up what it needs).
LIBZMQ_CALLS: dict[str, Callable[[zmq.Socket], Callable[[], Any]]] = {
    "bind": lambda s: lambda: s.bind(f"inproc://extra-{id(s)}"),
    "unbind": _unbind,
    "disconnect": _disconnect,
}


@pytest.mark.parametrize("call", list(LIBZMQ_CALLS))
def test_a_libzmq_call_on_a_socket_with_a_waiter_does_not_lose_its_wakeup(ctx, call):
    a, b = pair(ctx)
    action = LIBZMQ_CALLS[call](b)
    reader = spawn_parked(b.recv)
    a.send(b"news")
    # Before the hub has run: the call processes b's commands, drains the FD.
    action()
    assert reader.get(timeout=2) == b"news"


# -- wakeups for nothing never delay a real one ------------------------------


def test_fd_wakeups_for_others_do_not_delay_the_next_message(ctx):
    sink = ctx.socket(zmq.PULL)
    sink.bind("inproc://churn")
    arrived: list[float] = []

    def read() -> bytes:
        message = sink.recv()
        arrived.append(time.monotonic())
        return message

    reader = spawn_parked(read)
    before = zmq.statistics().fd_wakeups
    # Peers coming and going send the sink's mailbox commands that wake its
    # reader for nothing, a hundred times in a row.
    for _ in range(100):
        peer = ctx.socket(zmq.PUSH)
        peer.linger = 0
        peer.connect("inproc://churn")
        gevent.sleep(0.001)
        peer.close()
        gevent.sleep(0.001)
    assert zmq.statistics().fd_wakeups - before > 20, "the churn woke nobody"
    sender = ctx.socket(zmq.PUSH)
    sender.connect("inproc://churn")
    sent = time.monotonic()
    sender.send(b"real")
    assert reader.get(timeout=2) == b"real"
    # Backing off (up to 100 ms) for wakeups whose FD was drained each time
    # took 16-100 ms here; a wakeup costs well under a millisecond.
    assert arrived[0] - sent < 0.025


# -- no re-checks when nobody waits ------------------------------------------


def test_uncontended_operations_make_no_rechecks(ctx):
    a, b = pair(ctx)
    before = zmq.statistics().rechecks
    for i in range(100):
        a.send(b"%d" % i)
        assert b.recv() == b"%d" % i
    assert zmq.statistics().rechecks == before
