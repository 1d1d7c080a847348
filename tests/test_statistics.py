"""Statistics and the sweeper: what zmq.statistics() counts, and the safety net.

The missed-edge sweeper heals a lost wakeup and counts it; every test of the
suite checks that it never had to (conftest.py).
"""

from __future__ import annotations

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from green_zmq._waiting.registry import hub_waiting
from helpers import pair, spawn_parked

pytestmark = pytest.mark.timeout(10)


# -- what statistics() counts ------------------------------------------------


def test_statistics_count_parked_greenlets_and_fd_wakeups(ctx, no_sweeper):
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


def test_statistics_count_only_sockets_somebody_waits_on(ctx):
    a, b = pair(ctx)
    before = zmq.statistics().sockets
    idle = zmq.Poller()
    idle.register(b, zmq.POLLIN)
    assert zmq.statistics().sockets == before
    reader = spawn_parked(b.recv)
    assert zmq.statistics().sockets == before + 1
    a.send(b"x")
    reader.get(timeout=2)
    assert zmq.statistics().sockets == before


# -- the sweeper -------------------------------------------------------------


def test_sweeper_heals_counts_and_reports_a_deliberately_lost_wakeup(ctx, caplog):
    a, b = pair(ctx)
    reader = spawn_parked(b.recv)
    # Make the classic bug on purpose: drain the FD behind the primitive's
    # back (pyzmq's Cython method, not ours), so nobody re-checks.
    a.send(b"lost?")
    plain_zmq.backend.Socket.get(b, zmq.EVENTS)
    before = zmq.statistics().missed_edges
    previous = zmq.set_sweep_interval(0.01)
    try:
        assert reader.get(timeout=5) == b"lost?"
    finally:
        zmq.set_sweep_interval(previous)
    assert zmq.statistics().missed_edges == before + 1
    # Reported where a CI log shows it, with what to look at.
    [record] = [r for r in caplog.records if r.name == "green_zmq"]
    assert record.levelname == "WARNING"
    assert "woke a recv that missed its wakeup" in record.getMessage()
    assert f"socket FD {b.FD}, EVENTS {zmq.POLLIN | zmq.POLLOUT}" in record.getMessage()
    # The autouse fixture would (rightly) fail this test for the miss we made.
    hub_waiting(gevent.get_hub()).missed_edges = before


def test_sweep_interval_zero_turns_the_sweeper_off(ctx):
    previous = zmq.set_sweep_interval(0)
    try:
        a, b = pair(ctx)
        sweeps = zmq.statistics().sweeps
        reader = gevent.spawn(b.recv)
        gevent.sleep(0.1)
        assert zmq.statistics().sweeps == sweeps
        a.send(b"x")
        assert reader.get(timeout=5) == b"x"
    finally:
        zmq.set_sweep_interval(previous)


def test_negative_sweep_interval_is_rejected():
    with pytest.raises(ValueError):
        zmq.set_sweep_interval(-1)
