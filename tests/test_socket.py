"""Green Socket: blocking only the greenlet, pyzmq's semantics, many waiters."""

from __future__ import annotations

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import errors_of, pair, spawn_parked, wait_until_parked

pytestmark = pytest.mark.timeout(20)


# -- blocking only the greenlet ---------------------------------------------


def test_recv_blocks_only_the_calling_greenlet(ctx, ticker):
    a, b = pair(ctx)
    receiver = spawn_parked(b.recv)
    assert not receiver.ready()
    ticker.wait_for(5)
    a.send(b"hello")
    assert receiver.get(timeout=5) == b"hello"


def test_send_blocks_only_the_calling_greenlet_when_hwm_is_full(ctx, ticker):
    a, b = pair(ctx, zmq.PUSH, zmq.PULL, hwm=1)
    sent = []

    def flood():
        for i in range(50):
            a.send(b"%d" % i)
            sent.append(i)

    sender = gevent.spawn(flood)
    wait_until_parked(1)
    assert len(sent) < 50
    assert ticker.ticks > 0
    assert [b.recv() for _ in range(50)] == [b"%d" % i for i in range(50)]
    sender.get(timeout=5)


HELPERS = [
    ("send_string", "recv_string", "text ✓"),
    ("send_json", "recv_json", {"a": [1, 2]}),
    ("send_pyobj", "recv_pyobj", {"set": {1, 2}}),
    ("send_multipart", "recv_multipart", [b"a", b"", b"c"]),
]


@pytest.mark.parametrize("send_name,recv_name,value", HELPERS, ids=[h[0] for h in HELPERS])
def test_serialisation_helpers_wait_cooperatively(ctx, ticker, send_name, recv_name, value):
    a, b = pair(ctx)
    receiver = spawn_parked(getattr(b, recv_name))
    assert not receiver.ready()
    ticks = ticker.ticks
    getattr(a, send_name)(value)
    assert receiver.get(timeout=5) == value
    assert ticks > 0


def test_send_serialized_and_recv_serialized(ctx):
    a, b = pair(ctx)
    receiver = spawn_parked(b.recv_serialized, lambda frames: [bytes(f) for f in frames][::-1])
    a.send_serialized({"x": 1}, lambda obj: [b"one", b"two"])
    assert receiver.get(timeout=5) == [b"two", b"one"]


def test_recv_into_waits_cooperatively(ctx):
    a, b = pair(ctx)
    buffer = bytearray(10)
    receiver = spawn_parked(b.recv_into, buffer)
    assert not receiver.ready()
    a.send(b"abcdef")
    assert receiver.get(timeout=5) == 6
    assert buffer[:6] == b"abcdef"


def test_copy_false_returns_frames(ctx):
    a, b = pair(ctx)
    receiver = spawn_parked(b.recv, copy=False)
    a.send(b"frame", copy=False)
    frame = receiver.get(timeout=5)
    assert isinstance(frame, plain_zmq.Frame)
    assert frame.bytes == b"frame"


def test_socket_poll_blocks_only_the_greenlet(ctx, ticker):
    a, b = pair(ctx)
    poller = spawn_parked(b.poll, 5000)
    assert not poller.ready()
    a.send(b"x")
    assert poller.get(timeout=5) == zmq.POLLIN
    assert b.poll(0) == zmq.POLLIN
    assert b.recv() == b"x"
    assert b.poll(10) == 0
    assert ticker.ticks > 0


# -- pyzmq's semantics ------------------------------------------------------


def test_noblock_raises_again_like_plain_pyzmq(ctx):
    a, b = pair(ctx, zmq.PUSH, zmq.PULL)
    with pytest.raises(zmq.Again):
        b.recv(zmq.NOBLOCK)
    with pytest.raises(zmq.Again):
        b.recv_multipart(zmq.DONTWAIT)
    with pytest.raises(zmq.Again):
        b.recv_into(bytearray(4), flags=zmq.NOBLOCK)
    lonely = ctx.socket(zmq.PUSH)
    lonely.linger = 0
    with pytest.raises(zmq.Again):
        lonely.send(b"x", zmq.NOBLOCK)


def _closed_send(make):
    s = make(plain_zmq.PUSH)
    s.close()
    s.send(b"x")


def _closed_recv(make):
    s = make(plain_zmq.PULL)
    s.close()
    s.recv()


def _req_recv_first(make):
    make(plain_zmq.REQ).recv()


def _rep_send_first(make):
    make(plain_zmq.REP).send(b"x")


def _unicode_send(make):
    make(plain_zmq.PUSH).send("text")


def _bad_multipart(make):
    make(plain_zmq.PUSH).send_multipart([b"ok", 42])


def _empty_multipart(make):
    make(plain_zmq.PUSH).send_multipart([])


def _routing_id_without_draft(make):
    make(plain_zmq.PUSH).send(b"x", routing_id=1)


def _closed_poll(make):
    s = make(plain_zmq.PULL)
    s.close()
    s.poll(0)


@pytest.mark.parametrize(
    "action",
    [
        _closed_send,
        _closed_recv,
        _req_recv_first,
        _rep_send_first,
        _unicode_send,
        _bad_multipart,
        _empty_multipart,
        _routing_id_without_draft,
        _closed_poll,
    ],
)
def test_errors_match_plain_pyzmq(action):
    expected = errors_of(plain_zmq, action)
    assert expected is not None
    assert errors_of(zmq, action) == expected


def test_keyword_arguments_pass_through(ctx):
    a, b = pair(ctx)
    tracker = a.send(b"tracked", copy=False, track=True)
    assert isinstance(tracker, plain_zmq.MessageTracker)
    assert b.recv(copy=True) == b"tracked"
    a.send_multipart([b"1", b"2"], copy=False, track=True)
    frames = b.recv_multipart(copy=False, track=False)
    assert [f.bytes for f in frames] == [b"1", b"2"]


# -- many greenlets on one socket ------------------------------------------


def test_waiting_readers_are_served_first_come_first_served(ctx):
    a, b = pair(ctx, zmq.PUSH, zmq.PULL)
    got = {}

    def reader(n):
        got[n] = b.recv()

    readers = []
    for n in range(5):
        readers.append(gevent.spawn(reader, n))
        wait_until_parked(n + 1)
    for n in range(5):
        a.send(b"%d" % n)
    gevent.joinall(readers, timeout=5, raise_error=True)
    assert got == {n: b"%d" % n for n in range(5)}


@pytest.mark.slow
def test_multipart_messages_of_many_senders_never_interleave(ctx):
    a, b = pair(ctx, zmq.PUSH, zmq.PULL, hwm=2)
    senders, per_sender = 10, 100

    def sender(n):
        for i in range(per_sender):
            a.send_multipart([b"%d" % n, b"%d" % i, b"tail-%d" % n])

    greenlets = [gevent.spawn(sender, n) for n in range(senders)]
    last = {n: -1 for n in range(senders)}
    for _ in range(senders * per_sender):
        who, seq, tail = b.recv_multipart()
        n, i = int(who), int(seq)
        assert tail == b"tail-%d" % n
        assert i == last[n] + 1
        last[n] = i
    gevent.joinall(greenlets, timeout=5, raise_error=True)
    assert all(v == per_sender - 1 for v in last.values())


def test_many_readers_and_writers_in_both_directions_at_once(ctx):
    a, b = pair(ctx, zmq.DEALER, zmq.DEALER, hwm=1)
    count = 20
    received = []

    def write(sock, n):
        for i in range(count):
            sock.send_multipart([b"%d" % n, b"%d" % i])

    def read(sock):
        for _ in range(count):
            received.append(tuple(sock.recv_multipart()))

    greenlets = [gevent.spawn(write, a, n) for n in range(3)]
    greenlets += [gevent.spawn(write, b, n) for n in range(3, 6)]
    greenlets += [gevent.spawn(read, b) for _ in range(3)]
    greenlets += [gevent.spawn(read, a) for _ in range(3)]
    gevent.joinall(greenlets, timeout=10, raise_error=True)
    expected = [(b"%d" % n, b"%d" % i) for n in range(6) for i in range(count)]
    assert sorted(received) == sorted(expected)


@pytest.mark.parametrize("leave", ["timeout", "kill"])
def test_a_waiter_leaving_early_hands_the_next_message_on(ctx, leave):
    a, b = pair(ctx)
    first = gevent.spawn(b.recv)
    wait_until_parked(1)
    second = gevent.spawn(b.recv)
    wait_until_parked(2)
    if leave == "kill":
        first.kill()
    else:
        first.kill(gevent.Timeout())
    assert first.dead
    a.send(b"for the second")
    assert second.get(timeout=5) == b"for the second"
    assert zmq.statistics().parked == 0
    a.send(b"still usable")
    assert b.recv() == b"still usable"


def test_gevent_timeout_around_recv_leaves_cleanly(ctx):
    a, b = pair(ctx)
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.02):
            b.recv()
    assert zmq.statistics().parked == 0
    a.send(b"next")
    assert b.recv() == b"next"


# -- close and term ---------------------------------------------------------


def test_close_wakes_every_waiter_with_enotsock(ctx):
    a, b = pair(ctx)
    readers = [gevent.spawn(b.recv) for _ in range(3)]
    wait_until_parked(3)
    b.close()
    for r in readers:
        with pytest.raises(zmq.ZMQError) as info:
            r.get(timeout=5)
        assert info.value.errno == zmq.ENOTSOCK
    assert zmq.statistics().parked == 0


def test_term_keeps_the_hub_running_and_waiters_get_context_terminated():
    # term cannot return before both sockets are closed, and only the
    # waiting greenlets close them: the hub must run while term blocks.
    context = zmq.Context()
    a, b = pair(context)
    outcome = []

    def waiter(sock):
        try:
            sock.recv()
        except zmq.ContextTerminated:
            outcome.append("ETERM")
        finally:
            sock.close()

    waiters = [gevent.spawn(waiter, s) for s in (a, b)]
    wait_until_parked(2)
    terminator = gevent.spawn(context.term)
    terminator.get(timeout=10)
    gevent.joinall(waiters, timeout=5, raise_error=True)
    assert outcome == ["ETERM", "ETERM"]
    assert context.closed


def test_term_waits_for_sockets_while_other_greenlets_run(ticker):
    context = zmq.Context()
    s = context.socket(zmq.PUSH)
    terminator = spawn_parked(context.term)
    assert not terminator.ready()
    ticker.wait_for(ticker.ticks + 5)
    s.close()
    terminator.get(timeout=5)
    assert context.closed


def test_destroy_closes_sockets_and_wakes_waiters():
    context = zmq.Context()
    a, b = pair(context)
    reader = gevent.spawn(b.recv)
    wait_until_parked(1)
    context.destroy(linger=0)
    with pytest.raises(zmq.ZMQError) as info:
        reader.get(timeout=5)
    assert info.value.errno in (zmq.ENOTSOCK, zmq.ETERM)
    assert a.closed and b.closed and context.closed


def test_a_send_readiness_cannot_promise_waits_without_spinning(ctx, ticker):
    """ROUTER_MANDATORY: POLLOUT means *some* peer has room, not the one we send to."""
    import time

    router = ctx.socket(zmq.ROUTER)
    router.router_mandatory = 1
    router.sndhwm = 5
    router.linger = 0
    router.bind("inproc://mandatory")
    full = ctx.socket(zmq.DEALER)
    full.routing_id, full.rcvhwm, full.linger = b"full", 5, 0
    full.connect("inproc://mandatory")
    idle = ctx.socket(zmq.DEALER)
    idle.routing_id, idle.linger = b"idle", 0
    idle.connect("inproc://mandatory")
    full.send(b"hello")
    idle.send(b"hello")
    assert sorted(router.recv_multipart() for _ in range(2)) == [
        [b"full", b"hello"],
        [b"idle", b"hello"],
    ]
    # Another greenlet waits on the router too, so re-checks happen.
    reader = gevent.spawn(router.recv_multipart)

    def flood():
        for i in range(50):
            router.send_multipart([b"full", b"%d" % i])

    sender = gevent.spawn(flood)
    wait_until_parked(2)
    ticks, wall, cpu = ticker.ticks, time.monotonic(), time.process_time()
    gevent.sleep(0.3)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    # A spin check, not a speed limit: the held send must not busy-loop.
    assert ticker.ticks > ticks
    assert cpu < 0.5 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"
    assert [full.recv_multipart() for _ in range(50)] == [[b"%d" % i] for i in range(50)]
    sender.get(timeout=5)
    reader.kill()
