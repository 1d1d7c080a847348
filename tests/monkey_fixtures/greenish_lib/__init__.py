"""A stand-in for a third-party library written for pyzmq's ``zmq.green`` (tests only).

It does what such libraries do: ``import zmq.green as zmq`` at import time,
and relies on RCVTIMEO, on several greenlets waiting on one socket, and on
the eventloop living next to other greenlets. Under pyzmq's zmq.green, the
first is ignored, the second is refused and the third starves everyone; the
tests run it, unedited, after ``green_zmq.monkey.patch()``.
"""

from __future__ import annotations

import gevent
import zmq.green as zmq
from zmq.green.eventloop import ioloop, zmqstream


def which_zmq() -> str:
    """The module that defines the Context this library gets."""
    return zmq.Context.__module__


def recv_with_timeout(timeout_ms: int) -> str:
    """recv() on a socket nobody sends to, with RCVTIMEO: 'timed out' once it expires."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.rcvtimeo = timeout_ms
    sock.bind("inproc://greenish-timeout")
    try:
        sock.recv()
    except zmq.Again:
        return "timed out"
    finally:
        sock.close(linger=0)
        ctx.term()
    return "received"


def several_waiters(count: int) -> list[bytes]:
    """``count`` greenlets recv() on one PULL socket at once; each gets one message."""
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    pull.bind("inproc://greenish-waiters")
    push.connect("inproc://greenish-waiters")
    waiters = [gevent.spawn(pull.recv) for _ in range(count)]
    gevent.sleep(0.05)  # all of them parked in recv() before anything is sent
    for n in range(count):
        push.send(b"%d" % n)
    gevent.joinall(waiters, raise_error=True)
    for sock in (pull, push):
        sock.close(linger=0)
    ctx.term()
    return sorted(w.value for w in waiters)


def echo_through_stream(round_trips: int) -> int:
    """A ZMQStream echo server on the eventloop; a client greenlet makes round trips.

    Returns how many times a third greenlet ran meanwhile.
    """
    ctx = zmq.Context()
    server = ctx.socket(zmq.REP)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    loop = ioloop.IOLoop()
    stream = zmqstream.ZMQStream(server, loop)
    stream.on_recv(stream.send_multipart)
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            gevent.sleep(0.001)

    def client() -> None:
        sock = ctx.socket(zmq.REQ)
        sock.connect(f"tcp://127.0.0.1:{port}")
        for n in range(round_trips):
            sock.send(b"%d" % n)
            assert sock.recv() == b"%d" % n
            gevent.sleep(0.002)
        sock.close(linger=0)
        loop.add_callback(loop.stop)

    ticker = gevent.spawn(tick)
    done = gevent.spawn(client)
    loop.start()
    done.get()
    ticker.kill()
    stream.close()
    loop.close()
    ctx.term()
    return ticks
