"""Thread-safe socket types: SERVER/CLIENT, RADIO/DISH, SCATTER/GATHER, PEER, CHANNEL.

libzmq gives these sockets no FD; green_zmq waits on them with a timer on
the hub instead (design.md, "Sockets without an FD"). Each scenario runs
twice, with plain pyzmq in OS threads and with green_zmq in greenlets, and
the two outcomes must be equal, errors included: what the libzmq at hand
cannot do (without libzmq's draft API there are no routing ids and no
groups) fails the same way in both. A type that this libzmq cannot make at
all is named in the reason of the skip. Run here with pyzmq's wheels
(27.3.0 in the venvs, 26.4.0 in tox's oldest envs), which have no draft
API; no libzmq built with it can be had on this machine (docs/guide.md,
"Thread-safe socket types"), so the draft branches of these scenarios
(routing ids, groups, polling) are written for it but not yet run.

Only inproc: a libzmq without the draft API aborts the process in its
handshake for these types over tcp or ipc, plain pyzmq as well.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any, Callable

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from green_zmq._waiting import existing_waiting
from green_zmq._waiting.timer_watch import FIRST_PAUSE, LONGEST_PAUSE
from helpers import spawn_parked, wait_until_parked

pytestmark = pytest.mark.timeout(30)

THREAD_SAFE_TYPES = ("SERVER", "CLIENT", "RADIO", "DISH", "SCATTER", "GATHER", "PEER", "CHANNEL")


def _why_plain_cannot_make(name: str) -> str | None:
    """Why plain pyzmq cannot make a socket of type ``name`` here; None if it can."""
    kind = getattr(plain_zmq, name, None)
    if kind is None:
        return f"pyzmq {plain_zmq.__version__} has no zmq.{name}"
    context = plain_zmq.Context()
    try:
        context.socket(kind).close()
    except Exception as exc:
        return f"libzmq {plain_zmq.zmq_version()} cannot make {name} sockets: {exc!r}"
    finally:
        context.term()
    return None


def needs(*names: str) -> None:
    """Skip, saying why, unless plain pyzmq can make sockets of all these types here."""
    for name in names:
        reason = _why_plain_cannot_make(name)
        if reason is not None:
            pytest.skip(reason)


def outcome(call: Callable[[], Any]) -> Any:
    """What ``call()`` returns, or the type and text of what it raises."""
    try:
        return call()
    except Exception as exc:
        return ["raised", type(exc).__name__, str(exc)]


class _Thread:
    """A call in an OS thread, with a greenlet's ``get`` and ``ready``."""

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._result: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(function, args, kwargs))
        self._thread.start()

    def _run(self, function: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            self._result["value"] = function(*args, **kwargs)
        except BaseException as exc:
            self._result["error"] = exc

    def ready(self) -> bool:
        return not self._thread.is_alive()

    def get(self, timeout: float) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "plain pyzmq hangs here"
        if "error" in self._result:
            raise self._result["error"]
        return self._result["value"]


class Plain:
    """Plain pyzmq, every waiting party an OS thread: the reference."""

    zmq = plain_zmq
    spawn = _Thread
    sleep = staticmethod(time.sleep)

    def until_waiting(self, count: int) -> None:
        """Plain pyzmq cannot tell, and its outcome does not depend on it."""


class Green:
    """green_zmq, every waiting party a greenlet of this thread."""

    zmq = zmq
    spawn = staticmethod(gevent.spawn)
    sleep = staticmethod(gevent.sleep)

    def __init__(self) -> None:
        self.parked = zmq.statistics().parked

    def until_waiting(self, count: int) -> None:
        """Return once ``count`` greenlets of the scenario wait: the waits really happen."""
        wait_until_parked(self.parked + count)


def plain_and_green(scenario: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """The scenario's outcome with plain pyzmq in threads, then with green_zmq."""
    return outcome(lambda: scenario(Plain(), *args)), outcome(lambda: scenario(Green(), *args))


def connected(run: Any, binder: str, connecter: str, address: str) -> tuple[Any, Any, Any]:
    """A context of ``run``'s module and two sockets: the first binds, the second connects."""
    ctx = run.zmq.Context()
    a = ctx.socket(getattr(run.zmq, binder))
    b = ctx.socket(getattr(run.zmq, connecter))
    for s in (a, b):
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = 5000
    a.bind(address)
    b.connect(address)
    return ctx, a, b


# -- making them ------------------------------------------------------------------


@pytest.mark.parametrize("name", (*THREAD_SAFE_TYPES, "DGRAM"))
def test_every_socket_type_is_made_as_plain_pyzmq_makes_it(name):
    def make(run: Any) -> Any:
        if not hasattr(run.zmq, name):
            return f"no zmq.{name}"

        def made(ctx: Any) -> str:
            sock = ctx.socket(getattr(run.zmq, name))
            events = sock.get(run.zmq.EVENTS)
            sock.close()
            return f"{sock.type!r}, EVENTS {events}"

        ctx = run.zmq.Context()
        # What it raised is gone by the time term() runs, with whatever it held.
        result = outcome(lambda: made(ctx))
        ctx.term()
        return result

    plain, green = plain_and_green(make)
    assert green == plain


def test_a_socket_whose_green_state_cannot_be_made_is_closed_so_term_returns(monkeypatch):
    import green_zmq.core

    def fail(socket: Any, new: bool = False) -> Any:
        raise RuntimeError("no waiting state today")

    monkeypatch.setattr(green_zmq.core, "socket_waiting", fail)
    ctx = zmq.Context()
    with pytest.raises(RuntimeError, match="no waiting state today") as raised:
        ctx.socket(zmq.PAIR)
    # The exception, kept alive here, holds the half-made socket.
    with gevent.Timeout(5, AssertionError("term() waits for a socket nobody can close")):
        ctx.term()
    assert raised.value is not None


def test_a_shadow_whose_green_state_cannot_be_made_leaves_its_owners_socket_open(monkeypatch):
    import green_zmq.core

    ctx = zmq.Context()
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.linger = b.linger = 0
    a.bind("inproc://shadow-state")
    b.connect("inproc://shadow-state")
    made = green_zmq.core.socket_waiting

    def fail_for_shadows(socket: Any, new: bool = False) -> Any:
        if not new:
            raise RuntimeError("no waiting state for shadows")
        return made(socket, new)

    monkeypatch.setattr(green_zmq.core, "socket_waiting", fail_for_shadows)
    with pytest.raises(RuntimeError, match="no waiting state for shadows"):
        zmq.Socket.shadow(b.underlying)
    a.send(b"still open")
    assert b.recv() == b"still open"
    a.close()
    b.close()
    with gevent.Timeout(5, AssertionError("term() hangs")):
        ctx.term()


# -- messages through them, against plain pyzmq in threads -------------------------


def scatter_to_gather(run: Any) -> Any:
    ctx, gather, scatter = connected(run, "GATHER", "SCATTER", "inproc://scatter-gather")
    try:
        receivers = [run.spawn(gather.recv) for _ in range(4)]
        run.until_waiting(4)
        for i in range(4):
            scatter.send(b"%d" % i)
        return sorted(r.get(timeout=10) for r in receivers)
    finally:
        ctx.destroy(linger=0)


def test_several_waiters_on_a_gather_get_what_a_scatter_sends(no_sweeper):
    needs("SCATTER", "GATHER")
    plain, green = plain_and_green(scatter_to_gather)
    assert plain == [b"0", b"1", b"2", b"3"]
    assert green == plain


def send_waits_for_a_peer(run: Any) -> Any:
    ctx = run.zmq.Context()
    try:
        scatter = ctx.socket(run.zmq.SCATTER)
        gather = ctx.socket(run.zmq.GATHER)
        scatter.linger = gather.linger = 0
        # libzmq's blocking send on a thread-safe socket is not woken by its
        # connect: it sees the new peer only when its wait times out, and
        # then sends. A second keeps the suite quick; green_zmq's wakes at once.
        scatter.sndtimeo = gather.rcvtimeo = 1000
        gather.bind("inproc://no-peer-yet")
        # No peer: the send waits until the scatter connects (from elsewhere).
        sender = run.spawn(scatter.send, b"waited for a peer")
        run.until_waiting(1)
        scatter.connect("inproc://no-peer-yet")
        return [sender.get(timeout=10), gather.recv()]
    finally:
        ctx.destroy(linger=0)


def test_a_send_waits_until_the_socket_has_a_peer(no_sweeper):
    needs("SCATTER", "GATHER")
    plain, green = plain_and_green(send_waits_for_a_peer)
    assert plain == [None, b"waited for a peer"]
    assert green == plain


def client_to_server_and_back(run: Any) -> Any:
    ctx, server, client = connected(run, "SERVER", "CLIENT", "inproc://client-server")
    client.rcvtimeo = 500
    try:
        request = run.spawn(server.recv, copy=False)
        reply = run.spawn(outcome, client.recv)
        run.until_waiting(2)
        client.send(b"request")
        frame = request.get(timeout=10)
        seen = {"request": frame.bytes}
        # Routing ids need libzmq's draft API: without it pyzmq refuses, and
        # the client's wait for a reply times out.
        seen["answer"] = outcome(
            lambda: server.send(b"reply to " + frame.bytes, routing_id=frame.routing_id)
        )
        seen["reply"] = reply.get(timeout=10)
        return seen
    finally:
        ctx.destroy(linger=0)


def test_a_server_gets_what_a_client_sends_and_answers_where_libzmq_allows(no_sweeper):
    needs("SERVER", "CLIENT")
    plain, green = plain_and_green(client_to_server_and_back)
    assert plain["request"] == b"request"
    assert green == plain


def radio_to_dish(run: Any) -> Any:
    ctx, dish, radio = connected(run, "DISH", "RADIO", "inproc://radio-dish")
    try:
        # Groups need libzmq's draft API: without it pyzmq refuses to join.
        joined = outcome(lambda: dish.join("news"))
        if joined is not None:
            return {"join": joined}
        listener = run.spawn(lambda: (lambda f: [f.bytes, f.group])(dish.recv(copy=False)))
        run.until_waiting(1)
        # A radio drops what nobody has joined yet: send until it arrives.
        for _ in range(500):
            if listener.ready():
                break
            radio.send(b"bulletin", group="news")
            run.sleep(0.01)
        return {"join": None, "heard": listener.get(timeout=10)}
    finally:
        ctx.destroy(linger=0)


def test_a_dish_hears_what_a_radio_sends_to_its_group_where_libzmq_allows(no_sweeper):
    needs("RADIO", "DISH")
    plain, green = plain_and_green(radio_to_dish)
    assert green == plain


def channel_both_ways(run: Any) -> Any:
    ctx, a, b = connected(run, "CHANNEL", "CHANNEL", "inproc://channel")
    try:
        there = run.spawn(a.recv)
        back = run.spawn(b.recv)
        run.until_waiting(2)
        b.send(b"there")
        got = [there.get(timeout=10)]
        a.send(b"back")
        got.append(back.get(timeout=10))
        return got
    finally:
        ctx.destroy(linger=0)


def test_channel_sockets_talk_both_ways(no_sweeper):
    needs("CHANNEL")
    plain, green = plain_and_green(channel_both_ways)
    assert plain == [b"there", b"back"]
    assert green == plain


def multipart_refused(run: Any) -> Any:
    ctx, gather, scatter = connected(run, "GATHER", "SCATTER", "inproc://no-multipart")
    try:
        return outcome(lambda: scatter.send_multipart([b"one", b"two"]))
    finally:
        ctx.destroy(linger=0)


def test_a_multipart_message_is_refused_as_plain_pyzmq_refuses_it():
    needs("SCATTER", "GATHER")
    plain, green = plain_and_green(multipart_refused)
    assert plain[0] == "raised"
    assert green == plain


# -- timeouts ----------------------------------------------------------------------

# (type, direction): every thread-safe type that can wait in that direction
# with no peer; DGRAM, which has an FD, for comparison.
WAITS = [
    ("GATHER", "recv"),
    ("SERVER", "recv"),
    ("CLIENT", "recv"),
    ("DISH", "recv"),
    ("PEER", "recv"),
    ("CHANNEL", "recv"),
    ("DGRAM", "recv"),
    ("SCATTER", "send"),
    ("CLIENT", "send"),
    ("CHANNEL", "send"),
]


def times_out(run: Any, name: str, direction: str) -> Any:
    ctx = run.zmq.Context()
    try:
        sock = ctx.socket(getattr(run.zmq, name))
        sock.linger = 0
        sock.rcvtimeo = sock.sndtimeo = 100
        began = time.monotonic()
        raised = outcome(sock.recv if direction == "recv" else lambda: sock.send(b"x"))
        # Not early. libzmq ends a thread-safe socket's timed wait by its
        # own millisecond clock: plain pyzmq's come back up to 1 ms short of
        # the 100 ms (0.0996 s, measured), on every Python.
        return [raised, time.monotonic() - began >= 0.099]
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize("name,direction", WAITS, ids=[f"{n}-{d}" for n, d in WAITS])
def test_a_wait_times_out_as_plain_pyzmq_times_out(name, direction, ticker, no_sweeper):
    needs(name)
    plain = outcome(lambda: times_out(Plain(), name, direction))
    ticks = ticker.ticks
    green = outcome(lambda: times_out(Green(), name, direction))
    assert plain == [["raised", "Again", "Resource temporarily unavailable"], True]
    assert green == plain
    assert ticker.ticks > ticks, "the wait held the thread"


# -- polling -------------------------------------------------------------------------


def _poller(run: Any, sock: Any, timeout: int) -> Any:
    poller = run.zmq.Poller()
    poller.register(sock, run.zmq.POLLIN)
    return [[s is sock, e] for s, e in poller.poll(timeout)]


def _socket_poll(run: Any, sock: Any, timeout: int) -> Any:
    return sock.poll(timeout)


def _select(run: Any, sock: Any, timeout: int) -> Any:
    readable, _, _ = run.zmq.select([sock], [], [], timeout / 1000)
    return [s is sock for s in readable]


POLLS = {"Poller": _poller, "Socket.poll": _socket_poll, "select": _select}


def poll_a_gather(run: Any, poll: Callable[..., Any]) -> Any:
    ctx, gather, scatter = connected(run, "GATHER", "SCATTER", "inproc://polled")
    try:
        # Without the draft API, libzmq's zmq_poll refuses a thread-safe
        # socket with EINVAL: then so must the green poll, at once.
        nothing = outcome(lambda: poll(run, gather, 0))
        if nothing and nothing[0] == "raised":
            return {"at once": nothing}
        polling = run.spawn(poll, run, gather, 5000)
        run.until_waiting(1)
        scatter.send(b"x")
        return {"at once": nothing, "woken": polling.get(timeout=10), "then": gather.recv()}
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize("how", POLLS)
def test_polling_a_thread_safe_socket_works_or_fails_as_in_plain_pyzmq(how, no_sweeper):
    needs("SCATTER", "GATHER")
    plain, green = plain_and_green(poll_a_gather, POLLS[how])
    assert green == plain


def poll_a_gather_among_many(run: Any) -> Any:
    # More sockets than a poll looks at without first asking which may be
    # ready (poll._FEW): the green poll then looks at their FDs, and the
    # GATHER has none.
    ctx, gather, scatter = connected(run, "GATHER", "SCATTER", "inproc://polled-among-many")
    try:
        pairs = [ctx.socket(run.zmq.PAIR) for _ in range(8)]
        poller = run.zmq.Poller()
        for sock in (*pairs, gather):
            poller.register(sock, run.zmq.POLLIN)
        scatter.send(b"x")
        return [[s is gather, e] for s, e in poller.poll(1000)]
    finally:
        ctx.destroy(linger=0)


def test_polling_a_thread_safe_socket_among_many_works_or_fails_as_in_plain_pyzmq(no_sweeper):
    needs("SCATTER", "GATHER")
    plain, green = plain_and_green(poll_a_gather_among_many)
    assert green == plain


# -- threads ---------------------------------------------------------------------------


def handed_between_threads(run: Any) -> Any:
    ctx, gather, scatter = connected(run, "GATHER", "SCATTER", "inproc://handed-over")
    received: list[bytes] = []

    def take(count: int) -> None:
        for _ in range(count):
            received.append(gather.recv())

    try:
        for round in range(20):
            if round % 2:
                # Waited on in an OS thread of its own (with its own hub).
                thread = threading.Thread(target=take, args=(2,))
                thread.start()
                scatter.send(b"%d.0" % round)
                scatter.send(b"%d.1" % round)
                thread.join(10)
            else:
                taker = run.spawn(take, 2)
                run.until_waiting(1)
                scatter.send(b"%d.0" % round)
                scatter.send(b"%d.1" % round)
                taker.get(timeout=10)
        return received
    finally:
        ctx.destroy(linger=0)


def test_a_thread_safe_socket_is_handed_from_thread_to_thread_as_in_plain_pyzmq(no_sweeper):
    needs("SCATTER", "GATHER")
    plain, green = plain_and_green(handed_between_threads)
    assert plain == [b"%d.%d" % (r, i) for r in range(20) for i in range(2)]
    assert green == plain


def test_two_threads_waiting_at_once_on_a_thread_safe_socket_are_refused(ctx, no_sweeper):
    # libzmq would allow it; green_zmq keeps its one rule for every socket:
    # a greenlet parked in one thread and a wait from another is refused.
    needs("SCATTER", "GATHER")
    gather = ctx.socket(zmq.GATHER)
    scatter = ctx.socket(zmq.SCATTER)
    gather.bind("inproc://two-threads")
    scatter.connect("inproc://two-threads")
    reader = spawn_parked(gather.recv)
    elsewhere: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: elsewhere.update(result=outcome(gather.recv)))
    thread.start()
    thread.join(10)
    assert elsewhere["result"][:2] == ["raised", "RuntimeError"]
    assert "two threads" in elsewhere["result"][2]
    scatter.send(b"still fine here")
    assert reader.get(timeout=5) == b"still fine here"


# -- what waiting costs --------------------------------------------------------------------


def test_an_idle_wait_looks_less_often_the_longer_nothing_comes(ctx, no_sweeper):
    needs("GATHER")
    gather = ctx.socket(zmq.GATHER)
    gather.rcvtimeo = 1000
    with pytest.raises(zmq.Again):
        gather.recv()
    looks = existing_waiting(gather).watch.fires
    # The pause doubles from FIRST_PAUSE up to LONGEST_PAUSE: one look per
    # longest pause, give or take the few short ones at the start. A pause
    # that never grew would look about 1000 times.
    steady = 1.0 / LONGEST_PAUSE
    assert steady / 2 <= looks <= steady + 10, looks
    assert FIRST_PAUSE < LONGEST_PAUSE


def test_a_waiter_looks_again_soon_after_news(ctx, no_sweeper):
    needs("SCATTER", "GATHER")
    gather = ctx.socket(zmq.GATHER)
    scatter = ctx.socket(zmq.SCATTER)
    gather.bind("inproc://soon")
    scatter.connect("inproc://soon")
    watch = existing_waiting(gather).watch
    waiting = spawn_parked(gather.recv)
    # Idle long enough for the pause to reach its longest.
    gevent.sleep(0.1)
    assert watch.pause() == LONGEST_PAUSE
    scatter.send(b"news")
    assert waiting.get(timeout=5) == b"news"
    assert watch.pause() == FIRST_PAUSE


def test_waiting_never_reads_the_fd_pyzmq_makes_up_with_the_draft_api(no_sweeper):
    # pyzmq built with the draft API answers FD for a thread-safe socket with
    # a zmq_poller's fd of its own, and warns (DraftFDWarning): that fd stays
    # readable once signalled, and lives with one Python object. Without
    # the draft API, reading FD raises.
    needs("SCATTER", "GATHER")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        green = outcome(lambda: scatter_to_gather(Green()))
    assert green == [b"0", b"1", b"2", b"3"]
