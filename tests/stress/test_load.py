"""Load: greenlet pairs streaming multipart messages over tcp, half through a green proxy.

Every message must arrive exactly once, intact, in per-sender order, and the
sweeper must never have found a lost wakeup. The longest single send or
recv and the counters of the waiting machinery are reported as figures.
"""

from __future__ import annotations

import random
import struct
from time import monotonic, process_time
from typing import Any

import gevent
import pytest
from gevent.event import Event
from stress_mode import size

import green_zmq as zmq

PAIRS = size(20, 100)
MESSAGES = size(20_000, 1_000_000)
MAX_FRAME = size(64 * 1024, 256 * 1024)

pytestmark = pytest.mark.timeout(size(90, 900))

# Frame payloads are slices of one random pool; both ends of a stream draw
# the same slices from a generator seeded by the stream's number.
POOL = random.Random(20240611).randbytes(2 * MAX_FRAME)
HEADER = struct.Struct("!II")  # stream number, sequence number
END = b"end"
DIRECT_KINDS = [(zmq.PUSH, zmq.PULL), (zmq.DEALER, zmq.DEALER), (zmq.PAIR, zmq.PAIR)]
HWMS = [1000, 100, 10]


def frame_size(rng: random.Random) -> int:
    """Mostly small frames, some medium, a few large, and both extremes."""
    r = rng.random()
    if r < 0.001:
        return MAX_FRAME
    if r < 0.01:
        return 0
    if r < 0.015:
        return rng.randint(16 * 1024, MAX_FRAME)
    if r < 0.1:
        return rng.randint(256, 16 * 1024)
    return rng.randint(0, 256)


def body(rng: random.Random) -> list[tuple[int, int]]:
    """The (offset, size) in POOL of each body frame of the next message: 0 to 3 frames."""
    shape = []
    for _ in range(rng.randrange(4)):
        n = frame_size(rng)
        shape.append((rng.randrange(len(POOL) - n + 1), n))
    return shape


class Run:
    """What the greenlets of one run share: the longest waits and the totals.

    The first message of a stream also waits for the connection (and, through
    the proxy, for the hello), so its wait is kept apart.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_op = ""
        self.longest_first = 0.0
        self.bytes = 0
        self.received = 0

    def waited(self, started: float, op: str, seq: int) -> None:
        took = monotonic() - started
        if seq == 0:
            self.longest_first = max(self.longest_first, took)
        elif took > self.longest:
            self.longest = took
            self.longest_op = op


def send_stream(run: Run, sock: zmq.Socket, stream: int, quota: int, envelope: list[bytes]) -> None:
    rng = random.Random(stream)
    pool = memoryview(POOL)
    for seq in range(quota):
        frames: list[Any] = [*envelope, HEADER.pack(stream, seq)]
        frames.extend(pool[offset : offset + n] for offset, n in body(rng))
        started = monotonic()
        sock.send_multipart(frames)
        run.waited(started, "send_multipart", seq)
    sock.send_multipart([*envelope, HEADER.pack(stream, quota), END])


def receive_stream(run: Run, sock: zmq.Socket, stream: int, quota: int) -> None:
    rng = random.Random(stream)
    for seq in range(quota + 1):
        started = monotonic()
        frames = sock.recv_multipart()
        run.waited(started, "recv_multipart", seq)
        got_stream, got_seq = HEADER.unpack(frames[0])
        # In per-sender order, each exactly once: the next number, always.
        assert (got_stream, got_seq) == (stream, seq), (frames[0], stream, seq)
        if seq == quota:
            assert frames[1:] == [END]
            return
        shape = body(rng)
        assert len(frames) == len(shape) + 1, (stream, seq)
        for frame, (offset, n) in zip(frames[1:], shape):
            assert len(frame) == n and frame == POOL[offset : offset + n], (stream, seq)
            run.bytes += n
        run.received += 1


def test_pairs_direct_and_through_a_green_proxy_deliver_everything_intact_in_order(ctx, figures):
    run = Run()
    quota = MESSAGES // PAIRS
    workers: list[gevent.Greenlet] = []
    # Held here: a sender's socket must not be collected (and its queue
    # dropped, linger 0) when its greenlet ends before the receiver has all.
    sockets: list[zmq.Socket] = []

    # Direct pairs: the receiver binds, the sender connects.
    direct = PAIRS // 2
    for stream in range(direct):
        send_kind, recv_kind = DIRECT_KINDS[stream % len(DIRECT_KINDS)]
        receiver = ctx.socket(recv_kind)
        sender = ctx.socket(send_kind)
        hwm = HWMS[stream % len(HWMS)]
        for s in (receiver, sender):
            s.linger = 0
            s.sndhwm = s.rcvhwm = hwm
        sockets += (receiver, sender)
        port = receiver.bind_to_random_port("tcp://127.0.0.1")
        sender.connect(f"tcp://127.0.0.1:{port}")
        workers.append(gevent.spawn(receive_stream, run, receiver, stream, quota))
        workers.append(gevent.spawn(send_stream, run, sender, stream, quota, []))

    # Proxied pairs: senders (DEALER) -> backend DEALER | proxy | frontend
    # ROUTER -> receivers (DEALER, by routing id). A receiver's hello makes
    # the ROUTER know it; ROUTER_MANDATORY makes a full receiver hold the
    # proxy back instead of dropping its messages.
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.DEALER)
    frontend.router_mandatory = 1
    frontend.linger = backend.linger = 0
    front_port = frontend.bind_to_random_port("tcp://127.0.0.1")
    back_port = backend.bind_to_random_port("tcp://127.0.0.1")
    proxy = gevent.spawn(zmq.proxy, frontend, backend)
    hellos: dict[bytes, Event] = {}
    hello_readers = []

    def read_hellos(sock: zmq.Socket) -> None:
        while True:
            routing_id, hello = sock.recv_multipart()
            assert hello == b"hello"
            hellos[routing_id].set()

    def proxied_sender(sock: zmq.Socket, stream: int, routing_id: bytes) -> None:
        hellos[routing_id].wait()
        send_stream(run, sock, stream, quota, [routing_id])

    def proxied_receiver(sock: zmq.Socket, stream: int) -> None:
        sock.send(b"hello")
        receive_stream(run, sock, stream, quota)

    for stream in range(direct, PAIRS):
        routing_id = b"r%d" % stream
        hellos[routing_id] = Event()
        receiver = ctx.socket(zmq.DEALER)
        receiver.routing_id = routing_id
        sender = ctx.socket(zmq.DEALER)
        receiver.linger = sender.linger = 0
        sockets += (receiver, sender)
        receiver.connect(f"tcp://127.0.0.1:{front_port}")
        sender.connect(f"tcp://127.0.0.1:{back_port}")
        hello_readers.append(gevent.spawn(read_hellos, sender))
        workers.append(gevent.spawn(proxied_receiver, receiver, stream))
        workers.append(gevent.spawn(proxied_sender, sender, stream, routing_id))

    before = zmq.statistics()
    started = monotonic()
    try:
        # The proxy and the hello readers never end; any of them failing ends the wait.
        done = gevent.joinall(
            [*workers, proxy, *hello_readers],
            timeout=size(80, 850),
            raise_error=True,
            count=len(workers),
        )
        duration = monotonic() - started
        assert len(done) == len(workers), f"stuck: {zmq.statistics()}"
        assert all(w.successful() for w in workers)
    finally:
        gevent.killall([proxy, *hello_readers, *workers])
    after = zmq.statistics()

    assert run.received == quota * PAIRS
    assert after.missed_edges == before.missed_edges
    assert after.parked == 0
    figures.update(
        pairs=PAIRS,
        proxied_pairs=PAIRS - direct,
        messages=run.received,
        payload_bytes=run.bytes,
        duration_s=round(duration, 2),
        messages_per_s=round(run.received / duration),
        longest_wait_s=round(run.longest, 4),
        longest_wait_op=run.longest_op,
        longest_first_message_wait_s=round(run.longest_first, 4),
        fd_wakeups=after.fd_wakeups - before.fd_wakeups,
        rechecks=after.rechecks - before.rechecks,
        sweeps=after.sweeps - before.sweeps,
        missed_edges=after.missed_edges - before.missed_edges,
    )


def test_a_proxy_held_back_by_one_full_router_peer_waits_without_spinning(ctx, figures):
    # With ROUTER_MANDATORY the frontend stays writable while any peer has
    # room, so readiness cannot tell the proxy that its held message (for a
    # full peer) can go: libzmq's proxy sleeps in its blocking send meanwhile.
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.DEALER)
    frontend.router_mandatory = 1
    frontend.sndhwm = 10
    frontend.bind("inproc://held-front")
    backend.bind("inproc://held-back")
    full = ctx.socket(zmq.DEALER)
    full.routing_id = b"full"
    full.rcvhwm = 10
    idle = ctx.socket(zmq.DEALER)
    idle.routing_id = b"idle"
    sender = ctx.socket(zmq.DEALER)
    for s in (frontend, backend, full, idle, sender):
        s.linger = 0
    full.connect("inproc://held-front")
    idle.connect("inproc://held-front")
    sender.connect("inproc://held-back")
    proxy = gevent.spawn(zmq.proxy, frontend, backend)
    try:
        full.send(b"hello")
        idle.send(b"hello")
        assert sorted(sender.recv_multipart() for _ in range(2)) == [
            [b"full", b"hello"],
            [b"idle", b"hello"],
        ]
        for i in range(100):
            sender.send_multipart([b"full", b"%d" % i])
        # The proxy now holds a message for the full peer.
        wall, cpu = monotonic(), process_time()
        gevent.sleep(size(0.5, 2.0))
        wall, cpu = monotonic() - wall, process_time() - cpu
        figures.update(wait_s=round(wall, 2), cpu_s=round(cpu, 3))
        assert cpu < 0.5 * wall, f"{cpu:.2f} s of CPU over {wall:.2f} s held back"
        # And once the peer reads, everything flows, in order.
        assert [full.recv_multipart() for _ in range(100)] == [[b"%d" % i] for i in range(100)]
    finally:
        proxy.kill()
