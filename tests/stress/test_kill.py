"""Kill torture: greenlets killed (or timed out) at random points of their waits.

Two shared sockets carry steady multipart traffic between writer, reader and
poller greenlets, while victim greenlets start a send, recv or poll on the
same sockets and are killed, or hit a ``gevent.Timeout``, at a random
moment: before they run, while parked, or just after being woken. Afterwards
nobody is stuck or parked, the sockets' waiter counts are back to where they
started, the sockets still work, and every message sent arrived exactly
once and whole.
"""

from __future__ import annotations

import gc
import random
from typing import Any, Callable

import gevent
import pytest
from gevent.event import Event
from gevent.lock import BoundedSemaphore
from stress_mode import size

import green_zmq as zmq
from green_zmq._waiting import socket_statistics

ITERATIONS = size(500, 10_000)
VICTIM_DRIVERS = 4
WINDOW = 32

pytestmark = pytest.mark.timeout(size(60, 600))


def message(mid: bytes) -> list[bytes]:
    return [mid, mid + b":1", mid + b":2"]


class Traffic:
    """Sent and received message ids, and the check that a message is whole.

    The background writers keep at most WINDOW messages in flight, so that
    they wait for the readers instead of flooding the hub (over tcp a send
    rarely has to wait, and a writer that never waits never yields).
    """

    def __init__(self) -> None:
        self.window = BoundedSemaphore(WINDOW)
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self.target: int | None = None
        self.all_received = Event()

    def got(self, frames: list[bytes]) -> None:
        # A split or interleaved message would show here.
        assert frames == message(frames[0]), frames
        self.received.append(frames[0])
        if not frames[0].startswith(b"v"):
            self.window.release()
        if self.target is not None and len(self.received) >= self.target:
            self.all_received.set()

    def expect_all(self) -> None:
        self.target = len(self.sent)
        if len(self.received) >= self.target:
            self.all_received.set()


def victim_operations(
    a: zmq.Socket, b: zmq.Socket, traffic: Traffic, counter: list[int]
) -> list[Callable[[], Any]]:
    """What a victim may be doing when it dies; a's messages go to b."""

    def send() -> None:
        counter[0] += 1
        mid = b"v%d" % counter[0]
        a.send_multipart(message(mid))
        traffic.sent.append(mid)

    def recv() -> None:
        traffic.got(b.recv_multipart())

    def recv_nothing() -> None:
        # Nothing ever comes back from b: this one always dies parked.
        a.recv_multipart()

    def poller() -> None:
        p = zmq.Poller()
        p.register(a, zmq.POLLOUT)
        p.register(b, zmq.POLLIN)
        p.poll(random.choice([None, 1, 5]))

    def socket_poll() -> None:
        b.poll(random.choice([None, 2]))

    def select() -> None:
        zmq.select([b], [a], [], random.choice([None, 0.002]))

    return [send, send, recv, recv, recv_nothing, poller, socket_poll, select]


def queued(socket: zmq.Socket) -> tuple[int, int, int]:
    """Turns per direction and poller interests on the socket."""
    state = socket_statistics(socket)
    return state.receivers, state.senders, state.interests


def kill_at_random(operation: Callable[[], Any]) -> None:
    """Run ``operation`` in a victim greenlet and end it at a random moment."""
    how = random.randrange(4)
    seconds = random.uniform(0, 0.002) if how == 0 else None

    def doomed() -> str:
        try:
            # how == 0: a gevent.Timeout of its own, firing at once to 2 ms later.
            with gevent.Timeout(seconds):
                operation()
        except gevent.Timeout:
            return "timed out"
        return "done"

    victim = gevent.spawn(doomed)
    if how == 0:
        victim.join()
    else:
        if how == 2:
            # Some trips round the loop: parked, or woken and not yet run.
            for _ in range(random.randrange(6)):
                gevent.sleep(0)
        elif how == 3:
            gevent.sleep(random.uniform(0, 0.001))
        # (Killed before it ran, a Timeout would be reported as a failure.)
        exception = gevent.GreenletExit if how == 1 else gevent.Timeout
        victim.kill(exception, timeout=5)
    assert victim.dead, "a victim did not die"
    # A victim killed before it ran records the exception it was killed with.
    error = victim.exception
    assert error is None or isinstance(error, (gevent.GreenletExit, gevent.Timeout)), repr(error)


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_killing_waiters_at_random_leaks_nothing_and_loses_no_message(ctx, transport, figures):
    random.seed(transport)
    a = ctx.socket(zmq.DEALER)
    b = ctx.socket(zmq.DEALER)
    for s in (a, b):
        s.linger = 0
        # Small queues, so that sends wait too.
        s.sndhwm = s.rcvhwm = 4
    if transport == "inproc":
        a.bind("inproc://torture")
        b.connect("inproc://torture")
    else:
        b.connect(f"tcp://127.0.0.1:{a.bind_to_random_port('tcp://127.0.0.1')}")
    traffic = Traffic()
    stop_writing = Event()
    polls = [0]

    def writer(w: int) -> None:
        n = 0
        while True:
            traffic.window.acquire()
            if stop_writing.is_set():
                traffic.window.release()
                return
            n += 1
            mid = b"w%d.%d" % (w, n)
            a.send_multipart(message(mid))
            traffic.sent.append(mid)

    def reader() -> None:
        while True:
            traffic.got(b.recv_multipart())

    # The background pollers stay registered throughout: part of the baseline.
    read_poller = zmq.Poller()
    read_poller.register(b, zmq.POLLIN)
    write_poller = zmq.Poller()
    write_poller.register(a, zmq.POLLOUT)

    def polling_reader() -> None:
        while True:
            if read_poller.poll(random.choice([None, 3])):
                polls[0] += 1
                try:
                    traffic.got(b.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    pass  # another reader was first

    def polling_writer() -> None:
        n = 0
        while True:
            traffic.window.acquire()
            n += 1
            mid = b"p%d" % n
            while True:
                if stop_writing.is_set():
                    traffic.window.release()
                    return
                if write_poller.poll(random.choice([None, 3])):
                    polls[0] += 1
                    try:
                        a.send_multipart(message(mid), zmq.NOBLOCK)
                    except zmq.Again:
                        continue  # another writer filled the queue first
                    traffic.sent.append(mid)
                    break

    baseline = (queued(a), queued(b))
    parked_before = zmq.statistics().parked
    writers = [gevent.spawn(writer, w) for w in range(3)] + [gevent.spawn(polling_writer)]
    background = [gevent.spawn(reader) for _ in range(3)] + [gevent.spawn(polling_reader)]
    counter = [0]
    operations = victim_operations(a, b, traffic, counter)

    def drive(n: int) -> None:
        for _ in range(n):
            kill_at_random(random.choice(operations))

    drivers = [gevent.spawn(drive, ITERATIONS // VICTIM_DRIVERS) for _ in range(VICTIM_DRIVERS)]
    try:
        gevent.joinall(drivers, timeout=size(50, 550), raise_error=True)
        assert all(d.successful() for d in drivers), "a victim driver is stuck"
        stop_writing.set()
        gevent.joinall(writers, timeout=10, raise_error=True)
        assert all(w.successful() for w in writers), "a writer is stuck"
        traffic.expect_all()
        assert traffic.all_received.wait(10), (
            f"{len(traffic.sent) - len(traffic.received)} messages never received"
        )
    finally:
        gevent.killall([*drivers, *writers, *background], timeout=5)

    # Victims that die holding a Poller leave it to the collector.
    gc.collect()

    # Exactly once: no message lost, none duplicated.
    assert sorted(traffic.received) == sorted(traffic.sent)
    # No waiter leaked, on the hub or on the sockets.
    assert zmq.statistics().parked == parked_before
    for socket in (a, b):
        assert queued(socket) == (0, 0, 1), socket
    assert (queued(a), queued(b)) == baseline
    # Still usable, in both directions.
    a.send_multipart([b"after", b"torture"])
    assert b.recv_multipart() == [b"after", b"torture"]
    b.send(b"back")
    assert a.recv() == b"back"
    figures.update(
        victims=ITERATIONS,
        messages=len(traffic.sent),
        victim_messages=sum(1 for mid in traffic.sent if mid.startswith(b"v")),
        background_polls=polls[0],
    )
