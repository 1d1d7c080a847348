"""ZMQStream on the green IOLoop: pyzmq's callback API, among greenlets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import gevent
import pytest
from gevent.event import Event

import green_zmq as zmq
from helpers import pair, run_python

pytest.importorskip("tornado")

from zmq.utils import jsonapi  # noqa: E402

from green_zmq.eventloop.ioloop import IOLoop, TimeoutError as LoopTimeout  # noqa: E402
from green_zmq.eventloop.zmqstream import ZMQStream  # noqa: E402

LIMIT = 5.0


def spin(io_loop: IOLoop, iterations: int = 20) -> None:
    """Let the loop go round a fixed number of times (each polls its fds)."""

    async def rounds() -> None:
        for _ in range(iterations):
            await asyncio.sleep(0)

    io_loop.run_sync(rounds, timeout=LIMIT)


def arrived(sock: zmq.Socket) -> None:
    """Block this greenlet until ``sock`` has a message waiting."""
    assert sock.poll(int(LIMIT * 1000)) & zmq.POLLIN


@pytest.mark.timeout(10)
def test_echo_server_with_green_req_client(ctx: zmq.Context, loop: IOLoop) -> None:
    rep = ctx.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    stream = ZMQStream(rep)  # default loop: the green current one
    assert stream.io_loop is loop
    stream.on_recv(stream.send_multipart)
    replies = []

    def client() -> None:
        req = ctx.socket(zmq.REQ)
        req.connect(f"tcp://127.0.0.1:{port}")
        for i in range(200):
            req.send_multipart([b"%d" % i, b"frame"])
            replies.append(req.recv_multipart())
        req.close()
        loop.stop()

    worker = gevent.spawn(client)
    loop.start()
    worker.get(timeout=LIMIT)
    assert replies == [[b"%d" % i, b"frame"] for i in range(200)]
    stream.close()


@pytest.mark.timeout(10)
def test_backlog_whose_edge_was_consumed_is_still_received(
    ctx: zmq.Context, loop: IOLoop
) -> None:
    # The FD will not fire again for messages already there once EVENTS
    # was read (design.md, "The FD is an edge"): the stream must look by itself.
    a, b = pair(ctx)
    for i in range(50):
        b.send(b"%d" % i)
    arrived(a)
    assert a.get(zmq.EVENTS) & zmq.POLLIN
    stream = ZMQStream(a, loop)
    got = []

    def on_recv(msg: list[bytes]) -> None:
        got.append(msg[0])
        if len(got) == 50:
            loop.stop()

    stream.on_recv(on_recv)
    loop.start()
    assert got == [b"%d" % i for i in range(50)]
    stream.close()


@pytest.mark.timeout(10)
def test_reply_queued_by_recv_callback_goes_out_before_the_next_message(
    ctx: zmq.Context, loop: IOLoop
) -> None:
    dealer = ctx.socket(zmq.DEALER)
    dealer.bind("inproc://rep-order")
    rep = ctx.socket(zmq.REP)
    rep.connect("inproc://rep-order")
    for i in range(3):
        dealer.send_multipart([b"", b"%d" % i])
    stream = ZMQStream(rep, loop)
    stream.on_recv(lambda msg: stream.send_multipart([b"re" + msg[0]]))
    answers = []

    def collect() -> None:
        for _ in range(3):
            answers.append(dealer.recv_multipart())
        loop.stop()

    helper = gevent.spawn(collect)
    loop.start()
    helper.get(timeout=LIMIT)
    assert answers == [[b"", b"re0"], [b"", b"re1"], [b"", b"re2"]]
    stream.close()


@pytest.mark.timeout(10)
def test_on_recv_stream_passes_the_stream(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    got = []
    stream.on_recv_stream(lambda s, msg: (got.append((s, msg)), loop.stop()))
    assert stream.receiving()
    b.send_multipart([b"one", b"two"])
    loop.start()
    assert got == [(stream, [b"one", b"two"])]
    stream.close()


@pytest.mark.timeout(10)
def test_on_recv_copy_false_gives_frames(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    got = []
    stream.on_recv(lambda msg: (got.extend(msg), loop.stop()), copy=False)
    b.send(b"payload")
    loop.start()
    assert len(got) == 1 and isinstance(got[0], zmq.Frame)
    assert got[0].bytes == b"payload"
    stream.close()


@pytest.mark.timeout(10)
def test_send_helpers_and_on_send_callbacks(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    sent: list[Any] = []
    stream.on_send(lambda msg, status: sent.append(("on_send", msg, status)))
    stream.send(b"raw")
    stream.send_string("text")
    stream.send_json({"k": 1})
    stream.send_pyobj(("py", 2))
    stream.send_multipart([b"multi", b"part"])
    assert stream.sending()
    received = []

    def reader() -> None:
        received.append(b.recv())
        received.append(b.recv_string())
        received.append(b.recv_json())
        received.append(b.recv_pyobj())
        received.append(b.recv_multipart())
        loop.stop()

    worker = gevent.spawn(reader)
    loop.start()
    worker.get(timeout=LIMIT)
    assert received == [b"raw", "text", {"k": 1}, ("py", 2), [b"multi", b"part"]]
    assert [entry[1] for entry in sent] == [
        [b"raw"],
        [b"text"],
        [jsonapi.dumps({"k": 1})],
        sent[3][1],
        [b"multi", b"part"],
    ]
    assert all(entry[2] is None for entry in sent)
    assert not stream.sending()
    stream.close()


@pytest.mark.timeout(10)
def test_on_send_stream_passes_the_stream(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    calls: list[Any] = []
    stream.on_send_stream(lambda s, msg, status: (calls.append((s, msg)), loop.stop()))
    stream.send(b"first")
    loop.start()
    assert calls == [(stream, [b"first"])]
    assert b.recv() == b"first"
    stream.close()


@pytest.mark.timeout(10)
def test_send_callback_replaces_on_send_as_in_pyzmq(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    calls: list[Any] = []
    stream.on_send(lambda msg, status: calls.append(("on_send", msg)))
    stream.send(b"first", callback=lambda msg, status: calls.append(("given", msg)))
    stream.send(b"second")
    spin(loop)
    assert calls == [("given", [b"first"]), ("given", [b"second"])]
    assert b.recv_multipart() == [b"first"]
    assert b.recv_multipart() == [b"second"]
    stream.close()


@pytest.mark.timeout(10)
def test_async_on_recv_callback(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)

    async def handle(msg: list[bytes]) -> None:
        await asyncio.sleep(0)
        stream.send_multipart([b"re:" + msg[0]])

    stream.on_recv(handle)
    got = []

    def peer() -> None:
        b.send(b"q")
        got.append(b.recv())
        loop.stop()

    worker = gevent.spawn(peer)
    loop.start()
    worker.get(timeout=LIMIT)
    assert got == [b"re:q"]
    stream.close()


@pytest.mark.timeout(10)
def test_on_recv_callback_may_block_greenly(ctx: zmq.Context, loop: IOLoop) -> None:
    # A broker: the stream's callback asks a worker greenlet with a blocking
    # green REQ round trip, then answers the client.
    front, client = pair(ctx)
    backend = ctx.socket(zmq.REQ)
    backend.bind("inproc://broker-back")
    worker_sock = ctx.socket(zmq.REP)
    worker_sock.connect("inproc://broker-back")
    stream = ZMQStream(front, loop)

    def on_request(msg: list[bytes]) -> None:
        backend.send(msg[0])
        stream.send(backend.recv())  # blocks the loop's greenlet only

    def worker() -> None:
        while True:
            worker_sock.send(worker_sock.recv().upper())

    stream.on_recv(on_request)
    answers = []

    def run_client() -> None:
        for word in (b"a", b"b", b"c"):
            client.send(word)
            answers.append(client.recv())
        loop.stop()

    helpers = [gevent.spawn(worker), gevent.spawn(run_client)]
    loop.start()
    helpers[1].get(timeout=LIMIT)
    helpers[0].kill()
    assert answers == [b"A", b"B", b"C"]
    stream.close()


@pytest.mark.timeout(10)
def test_stream_created_from_another_greenlet_while_loop_idles(
    ctx: zmq.Context, loop: IOLoop
) -> None:
    a, b = pair(ctx)
    got = Event()
    started = Event()
    loop.add_callback(started.set)
    runner = gevent.spawn(loop.start)
    assert started.wait(LIMIT)
    stream = ZMQStream(a, loop)  # registered while the loop sleeps
    stream.on_recv(lambda msg: got.set())
    b.send(b"x")
    assert got.wait(LIMIT), "stream made from another greenlet never received"
    loop.stop()
    runner.get(timeout=LIMIT)
    stream.close()


@pytest.mark.timeout(10)
def test_stop_on_recv_pauses_and_on_recv_resumes(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    got = []
    stream.on_recv(got.append)
    stream.stop_on_recv()
    assert not stream.receiving()
    b.send(b"held")
    arrived(a)
    spin(loop)
    assert got == []
    stream.on_recv(lambda msg: (got.append(msg), loop.stop()))
    loop.start()
    assert got == [[b"held"]]
    stream.close()


@pytest.mark.timeout(10)
def test_stop_on_send_drops_the_callback_not_the_message(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    calls = []
    stream.on_send(lambda msg, status: calls.append(msg))
    stream.stop_on_send()
    stream.send(b"quiet")
    spin(loop)
    assert b.recv() == b"quiet"
    assert calls == []
    stream.close()


@pytest.mark.timeout(10)
def test_stop_on_err_is_pyzmqs_deprecated_no_op(
    ctx: zmq.Context, loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    with caplog.at_level(logging.WARNING, logger="tornado.general"):
        stream.on_err(lambda *args: None)
        stream.stop_on_err()
    assert sum("on_err does nothing" in r.getMessage() for r in caplog.records) == 2
    # The stream still works.
    stream.on_recv(lambda msg: loop.stop())
    b.send(b"x")
    loop.start()
    stream.close()


@pytest.mark.timeout(10)
def test_flush_recv_with_limit(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    got = []
    stream.on_recv(got.append)
    for i in range(5):
        b.send(b"%d" % i)
    arrived(a)
    assert stream.flush(zmq.POLLIN, limit=2) == 2
    assert got == [[b"0"], [b"1"]]
    assert stream.flush(zmq.POLLIN) == 3
    assert got == [[b"%d" % i] for i in range(5)]
    assert stream.flush() == 0
    # flush registers on a green poller; nothing may stay registered
    # (every send/recv would pay a readiness re-check for it).
    assert stream.poller.sockets == []
    stream.close()


@pytest.mark.timeout(10)
def test_flush_send_sends_queued_messages_now(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    sent = []
    stream.on_send(lambda msg, status: sent.append(msg))
    stream.send(b"one")
    stream.send(b"two")
    assert stream.flush(zmq.POLLOUT) == 2  # without running the loop
    assert sent == [[b"one"], [b"two"]]
    assert b.recv() == b"one"
    assert b.recv() == b"two"
    assert not stream.sending()
    stream.close()


@pytest.mark.timeout(10)
def test_close_runs_close_callback_and_closes_socket(ctx: zmq.Context, loop: IOLoop) -> None:
    a, _ = pair(ctx)
    stream = ZMQStream(a, loop)
    closed = []
    stream.set_close_callback(lambda: closed.append(True))
    assert not stream.closed()
    stream.close(linger=0)
    assert closed == [True]
    assert stream.closed()
    assert a.closed
    with pytest.raises(OSError):
        stream.on_recv(lambda msg: None)


@pytest.mark.timeout(10)
def test_closing_the_socket_underneath_closes_the_stream(ctx: zmq.Context, loop: IOLoop) -> None:
    a, _ = pair(ctx)
    stream = ZMQStream(a, loop)
    closed = []
    stream.set_close_callback(lambda: closed.append(True))
    loop.remove_handler(a)  # what the stream would do, before the fd goes
    a.close()
    with pytest.warns(UserWarning):
        assert stream.closed()
    assert closed == [True]


@pytest.mark.timeout(10)
def test_close_from_inside_on_recv(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    got = []

    def on_recv(msg: list[bytes]) -> None:
        got.append(msg)
        stream.close()
        loop.stop()

    stream.on_recv(on_recv)
    b.send(b"last")
    b.send(b"never")
    loop.start()
    assert got == [[b"last"]]
    assert stream.closed()


@pytest.mark.timeout(10)
def test_plain_pyzmq_socket_works_too(loop: IOLoop) -> None:
    import zmq as plain_zmq

    plain_ctx = plain_zmq.Context()
    a = plain_ctx.socket(plain_zmq.PAIR)
    a.bind("inproc://plain")
    b = plain_ctx.socket(plain_zmq.PAIR)
    b.connect("inproc://plain")
    try:
        stream = ZMQStream(a, loop)
        got = []
        stream.on_recv(lambda msg: (got.append(msg), loop.stop()))
        b.send(b"plain")
        loop.start()
        assert got == [[b"plain"]]
        stream.close()
    finally:
        plain_ctx.destroy(linger=0)


# -- a callback that raises never stalls the stream (pyzmq logs it and goes on) --


class Boom(Exception):
    pass


def logged_boom(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        record.exc_info is not None and record.exc_info[0] is Boom for record in caplog.records
    )


def drain(io_loop: IOLoop, sock: zmq.Socket, count: int) -> list[bytes]:
    """Run the loop until ``sock`` has received ``count`` messages (LIMIT at most)."""
    got: list[bytes] = []

    async def receive() -> None:
        while len(got) < count:
            try:
                got.append(sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                await asyncio.sleep(0.001)

    try:
        io_loop.run_sync(receive, timeout=1.0)
    except LoopTimeout:
        pass
    return got


@pytest.mark.timeout(10)
def test_on_send_that_raises_does_not_stall_the_sends_queued_behind(
    ctx: zmq.Context, loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)

    def on_send(msg: list[Any], status: Any) -> None:
        if msg == [b"one"]:
            raise Boom

    stream.on_send(on_send)
    for body in (b"one", b"two", b"three"):
        stream.send(body)
    with caplog.at_level(logging.ERROR):
        assert drain(loop, b, 3) == [b"one", b"two", b"three"]
    assert not stream.sending()
    assert logged_boom(caplog)
    stream.close()


@pytest.mark.timeout(10)
def test_on_recv_that_sends_a_reply_then_raises_still_sends_it(
    ctx: zmq.Context, loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    rep, req = pair(ctx, zmq.REP, zmq.REQ)
    stream = ZMQStream(rep, loop)

    def on_recv(msg: list[bytes]) -> None:
        stream.send(b"re: " + msg[0])
        raise Boom

    stream.on_recv(on_recv)
    with caplog.at_level(logging.ERROR):
        req.send(b"q1")
        assert drain(loop, req, 1) == [b"re: q1"]
        req.send(b"q2")
        assert drain(loop, req, 1) == [b"re: q2"]
    assert logged_boom(caplog)
    stream.close()


@pytest.mark.timeout(10)
def test_unsendable_message_does_not_stall_the_good_ones_behind_it(
    ctx: zmq.Context, loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair(ctx)
    stream = ZMQStream(a, loop)
    stream.send(12345)  # type: ignore[arg-type]
    stream.send(b"good one")
    stream.send(b"good two")
    with caplog.at_level(logging.ERROR):
        assert drain(loop, b, 2) == [b"good one", b"good two"]
    assert not stream.sending()
    # pyzmq's send raised TypeError inside the stream, and the stream logged it.
    assert any(
        record.exc_info is not None and record.exc_info[0] is TypeError
        for record in caplog.records
    )
    stream.close()


# -- a socket closed under its stream (design.md, "Closed file descriptors") -------------
#
# Each scenario runs on pyzmq's ZMQStream on a plain asyncio loop, then on the
# green one, in a child interpreter: a libev watcher left on the closed FD
# aborted the process. Both must receive, log and warn the same, and go on.

STREAM_CLOSED_UNDERNEATH = """
import logging, os, re, sys, time, warnings

import gevent
import zmq as plain_zmq

import green_zmq

records = []


class Keep(logging.Handler):
    def emit(self, record):
        exc = record.exc_info[0].__name__ if record.exc_info else None
        # Messages name fds and addresses, which differ between the runs.
        records.append((record.name, record.levelname, re.sub(r"\\d+", "N", str(record.msg)), exc))


logging.getLogger().addHandler(Keep())


def fd_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def outcome(green, scenario):
    if green:
        z = green_zmq
        from green_zmq.eventloop.ioloop import IOLoop as Loop
        from green_zmq.eventloop.zmqstream import ZMQStream
        nap = gevent.sleep
    else:
        z = plain_zmq
        from tornado.platform.asyncio import AsyncIOLoop as Loop
        from zmq.eventloop.zmqstream import ZMQStream
        nap = time.sleep
    loop = Loop(make_current=False)
    del records[:]
    ctx = z.Context()
    a, b = ctx.socket(z.PAIR), ctx.socket(z.PAIR)
    a.linger = b.linger = 0
    # tcp: libzmq's reaper closes b's FD without waiting for a.
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b.connect(f"tcp://127.0.0.1:{port}")
    stream = ZMQStream(b, loop)
    got = []

    def on_recv(msg):
        got.append(msg)
        if scenario == "closed in on_recv":
            # The socket, not the stream; then a blocking call, during which
            # libzmq's reaper closes the FD the loop still watches.
            b.close()
            nap(0.1)

    stream.on_recv(on_recv)
    if scenario == "closed before the loop runs":
        # The hub does not run until libzmq's reaper has closed the FD
        # (time.sleep is gevent's only under monkey-patching).
        fd = b.FD
        b.close()
        until = time.monotonic() + 5
        while fd_open(fd) and time.monotonic() < until:
            time.sleep(0.001)
    else:
        a.send(b"one")
    loop.call_later(0.3, loop.stop)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Not the stream's: gevent's libuv loop (GEVENT_LOOP=libuv-cffi)
        # warns that its timers have whole milliseconds.
        warnings.filterwarnings("ignore", "libuv only supports millisecond")
        loop.start()
        stream.close()
    loop.close()
    ctx.destroy(linger=0)
    shown = [(w.category.__name__, re.sub(r"\\d+", "N", str(w.message))) for w in caught]
    return got, list(records), shown


print(repr(outcome(False, sys.argv[1])), flush=True)
print(repr(outcome(True, sys.argv[1])), flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scenario", ["closed in on_recv", "closed before the loop runs"])
def test_socket_closed_under_its_stream_is_logged_as_pyzmqs_stream_logs_it(scenario: str) -> None:
    result = run_python(STREAM_CLOSED_UNDERNEATH, scenario)
    plain, green = result.stdout.splitlines()
    assert green == plain
