"""Shadows: a green socket on another's libzmq socket shares its waiting state.

``Socket.shadow(address)`` and ``Socket(socket)`` make a second socket
object on the same libzmq socket. Whatever is done through one wakes the
greenlets waiting on the other, and closing one under a greenlet waiting on
the other wakes it with ENOTSOCK and leaves no watcher on the closed fd
(which would abort the process). (A Poller keeps a socket and its shadow apart: see
test_poll.py; timeouts set through a shadow: test_timeouts.py.)
"""

from __future__ import annotations

import pytest

import green_zmq as zmq
from green_zmq._waiting import socket_statistics
from helpers import pair, run_python, spawn_parked

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize(
    "drain",
    [
        pytest.param(lambda s: s.get(zmq.EVENTS), id="getsockopt(EVENTS)"),
        pytest.param(lambda s: s.send(b"out"), id="send"),
        pytest.param(lambda s: s.getsockopt(zmq.LINGER), id="another option"),
        pytest.param(lambda s: s.poll(0), id="poll"),
    ],
)
@pytest.mark.parametrize(
    "make_shadow",
    [
        pytest.param(lambda s: zmq.Socket.shadow(s.underlying), id="shadow(address)"),
        pytest.param(lambda s: zmq.Socket(s), id="Socket(socket)"),
    ],
)
def test_an_operation_through_a_shadow_wakes_the_originals_waiter(
    ctx, no_sweeper, drain, make_shadow
):
    a, b = pair(ctx)
    shadow = make_shadow(b)
    reader = spawn_parked(b.recv)
    a.send(b"news")
    drain(shadow)
    assert reader.get(timeout=2) == b"news"


def test_a_shadow_and_its_original_share_one_waiting_state(ctx):
    a, b = pair(ctx)
    shadow = zmq.Socket.shadow(b.underlying)
    reader = spawn_parked(shadow.recv)
    assert socket_statistics(b).receivers == 1
    a.send(b"x")
    assert reader.get(timeout=2) == b"x"


def test_closing_the_original_under_a_waiting_shadow_does_not_crash():
    # A libev watcher left on the closed FD aborts the whole process, so
    # this runs in one of its own.
    result = run_python(
        """
        import gevent, green_zmq as zmq
        zmq.set_sweep_interval(0)
        ctx = zmq.Context()
        a = ctx.socket(zmq.PAIR); b = ctx.socket(zmq.PAIR)
        a.bind("inproc://x"); b.connect("inproc://x")
        shadow = zmq.Socket(b)
        waiter = gevent.spawn(shadow.recv)
        gevent.sleep(0.05)
        b.close()
        try:
            waiter.get(timeout=5)
        except zmq.ZMQError as exc:
            print("woken:", exc.errno == zmq.ENOTSOCK)
        # More loop iterations and watcher starts: none may touch the dead FD.
        others = [ctx.socket(zmq.PULL) for _ in range(3)]
        readers = [gevent.spawn(s.recv) for s in others]
        gevent.sleep(0.05)
        ctx.destroy(linger=0)
        gevent.joinall(readers, timeout=5)
        print("alive")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["woken: True", "alive"]
