"""Parity with plain pyzmq in OS threads: one test per corner where green_zmq differed.

Each test names the corner (issue "Parity with plain pyzmq, part 1") and,
where plain pyzmq's behaviour is not obvious, runs the same scenario with
plain pyzmq in threads first. Lost wakeups hide behind the sweeper, so
those tests run with it off.
"""

from __future__ import annotations

import pytest

import green_zmq as zmq
from helpers import pair, spawn_parked

pytestmark = pytest.mark.timeout(20)


# -- 13. smaller ones --------------------------------------------------------------


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


