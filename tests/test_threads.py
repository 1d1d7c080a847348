"""Threads: each thread waits on its own hub; a socket may move between threads, not be shared.

The thread-to-thread handoffs themselves, against plain pyzmq, are
tests/test_thread_handoff.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import green_zmq as zmq
from helpers import pair, spawn_parked

pytestmark = pytest.mark.timeout(20)


def run_in_thread(function):
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # reported to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the other thread hung"
    return outcome


def test_waiting_from_another_thread_while_this_one_waits_raises_instead_of_hanging(ctx):
    a, b = pair(ctx)
    reader = spawn_parked(b.recv)
    outcome = run_in_thread(b.recv)
    assert isinstance(outcome.get("error"), RuntimeError)
    assert "thread" in str(outcome["error"])
    a.send(b"still fine here")
    assert reader.get(timeout=5) == b"still fine here"


def test_polling_from_another_thread_while_this_one_polls_raises_instead_of_hanging(ctx):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    here = spawn_parked(poller.poll, 5000)
    outcome = run_in_thread(lambda: poller.poll(5000))
    assert isinstance(outcome.get("error"), RuntimeError)
    a.send(b"x")
    assert here.get(timeout=5) == [(b, zmq.POLLIN)]


def test_a_socket_made_before_its_hub_ever_ran_moves_to_the_thread_that_waits():
    made: dict[str, Any] = {}
    ready = threading.Event()
    done = threading.Event()

    def owner() -> None:
        # A fresh thread: its hub exists but has never run (bool(hub) is False).
        context = zmq.Context()
        a, b = pair(context)
        made["sockets"] = a, b
        ready.set()
        done.wait(10)
        # Back to its own thread, after the main thread waited on it.
        a.send(b"own thread")
        made["own"] = b.recv()
        context.destroy(linger=0)

    thread = threading.Thread(target=owner)
    thread.start()
    assert ready.wait(10)
    a, b = made["sockets"]
    reader = spawn_parked(b.recv)
    a.send(b"main thread")
    assert reader.get(timeout=5) == b"main thread"
    done.set()
    thread.join(10)
    assert made["own"] == b"own thread"


def test_each_thread_runs_its_own_hub_with_its_own_sockets(ctx):
    import gevent

    def ping_pong():
        a, b = pair(ctx, zmq.REQ, zmq.REP)

        def serve():
            for _ in range(100):
                b.send(b.recv().upper())

        server = gevent.spawn(serve)
        replies = []
        for i in range(100):
            a.send(b"ping %d" % i)
            replies.append(a.recv())
        server.get(timeout=5)
        a.close()
        b.close()
        return replies, zmq.statistics().missed_edges

    outcomes = [run_in_thread(ping_pong) for _ in range(2)]
    for outcome in outcomes:
        assert "error" not in outcome, outcome.get("error")
        replies, missed = outcome["value"]
        assert replies == [b"PING %d" % i for i in range(100)]
        assert missed == 0


def test_a_poller_collected_in_a_thread_without_a_hub_makes_none_there(ctx):
    """A finalizer may run in any thread, even one whose hub is gone as it ends
    (where making one fails): it unregisters without making a hub there."""
    import gc

    from gevent import _hub_local

    a, b = pair(ctx)
    pollers = [zmq.Poller()]
    pollers[0].register(b, zmq.POLLIN)
    assert pollers[0].poll(0) == []

    def collect():
        pollers.clear()
        gc.collect()
        return _hub_local.get_hub_if_exists()

    assert run_in_thread(collect) == {"value": None}
    # The socket still waits here, as before.
    reader = spawn_parked(b.recv)
    a.send(b"after")
    assert reader.get(timeout=5) == b"after"
