"""Edge-triggered FD discipline: whoever drains the FD re-checks for the waiters.

Every test here turns the sweeper off: a lost wakeup must hang (and the
timeout fail the test) instead of being healed by the safety net.
"""

from __future__ import annotations

import pytest

import green_zmq as zmq
from helpers import pair, spawn_parked

pytestmark = [pytest.mark.timeout(10), pytest.mark.usefixtures("no_sweeper")]




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


def test_uncontended_operations_make_no_rechecks(ctx):
    a, b = pair(ctx)
    before = zmq.statistics().rechecks
    for i in range(100):
        a.send(b"%d" % i)
        assert b.recv() == b"%d" % i
    assert zmq.statistics().rechecks == before


def test_statistics_count_parked_greenlets_and_fd_wakeups(ctx):
    a, b = pair(ctx)
    before = zmq.statistics()
    reader = spawn_parked(b.recv)
    during = zmq.statistics()
    assert during.parked == before.parked + 1
    assert during.sockets >= 1
    a.send(b"x")
    assert reader.get(timeout=5) == b"x"
    after = zmq.statistics()
    assert after.parked == before.parked
    assert after.fd_wakeups > before.fd_wakeups
    assert isinstance(after, zmq.WaitStatistics)
    with pytest.raises(AttributeError):
        after.parked = 3  # frozen snapshot
