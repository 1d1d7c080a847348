"""green_zmq under gevent.monkey.patch_all(), in a fresh interpreter."""

from __future__ import annotations

import textwrap

import pytest

from helpers import run_python

pytestmark = pytest.mark.timeout(60)

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import threading
    import time

    import gevent
    import green_zmq as zmq

    ctx = zmq.Context()
    server = ctx.socket(zmq.ROUTER)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            time.sleep(0.001)  # patched: a gevent sleep

    def client(n):
        s = ctx.socket(zmq.DEALER)
        s.connect("tcp://127.0.0.1:%d" % port)
        s.send(b"%d" % n)
        reply = s.recv()
        s.close()
        return reply

    def serve(count):
        for _ in range(count):
            ident, body = server.recv_multipart()
            server.send_multipart([ident, body + b"!"])

    t = gevent.spawn(ticker)
    clients = [gevent.spawn(client, n) for n in range(50)]
    gevent.spawn(serve, 50)
    gevent.joinall(clients, raise_error=True)
    assert sorted(c.value for c in clients) == sorted(b"%d!" % n for n in range(50))

    # A plain (patched) thread, and term from a greenlet while others wait.
    done = threading.Event()
    threading.Thread(target=done.set).start()
    assert done.wait(5)
    waiter = ctx.socket(zmq.PULL)
    def wait_and_close():
        try:
            waiter.recv()
        except zmq.ContextTerminated:
            waiter.close()
            return "ETERM"
    w = gevent.spawn(wait_and_close)
    gevent.sleep(0.01)
    server.close()
    gevent.spawn(ctx.term).get(timeout=10)
    assert w.get(timeout=5) == "ETERM"
    t.kill()
    assert len(ticks) > 0
    assert zmq.statistics().missed_edges == 0
    print("OK")
    """
)


def test_works_under_monkey_patch_all():
    assert run_python(SCRIPT).stdout.strip().endswith("OK")
