"""Bad input: every misuse gets the exception plain pyzmq gives, and breaks nothing else.

Each entry of the table runs once with plain pyzmq and once with green_zmq,
the same way (main thread, a fresh context, a function that makes sockets);
the exception type, errno and text must match (object addresses and the
class name in a socket's repr aside). Afterwards the context still makes
working sockets and nobody is left parked. Where plain pyzmq would hang
(waiting from the wrong thread) green_zmq raises RuntimeError instead.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Callable

import gevent
import pytest
import zmq as plain_zmq
from stress_mode import size

import green_zmq as zmq
from green_zmq._waiting import socket_statistics
from helpers import run_python, spawn_parked

pytestmark = pytest.mark.timeout(size(60, 120))

Make = Callable[[int], Any]
Action = Callable[[Any, Make], Any]


def closed(m: Any, make: Make, kind: int | None = None) -> Any:
    s = make(kind or m.PAIR)
    s.close()
    return s


def ready_pair(m: Any, make: Make) -> Any:
    """A PAIR with a message waiting in it."""
    a, b = make(m.PAIR), make(m.PAIR)
    a.bind("inproc://ready")
    b.connect("inproc://ready")
    a.send(b"x")
    return b


def poller_of(m: Any, thing: Any, flags: Any = None) -> Any:
    p = m.Poller()
    p.register(thing, m.POLLIN if flags is None else flags)
    return p


def poll_closed_registered(m: Any, make: Make) -> Any:
    s = make(m.PULL)
    p = poller_of(m, s)
    s.close()
    return p.poll(10)


def socket_after_term(m: Any, make: Make) -> Any:
    c = m.Context()
    c.term()
    return c.socket(m.PUSH)


MISUSE: dict[str, Action] = {
    # non-bytes frames
    "send int": lambda m, mk: mk(m.PUSH).send(123),
    "send None": lambda m, mk: mk(m.PUSH).send(None),
    "send list": lambda m, mk: mk(m.PUSH).send([b"a"]),
    "send float": lambda m, mk: mk(m.PUSH).send(1.5),
    "send str": lambda m, mk: mk(m.PUSH).send("text"),
    "send_string bytes": lambda m, mk: mk(m.PUSH).send_string(b"x"),
    "send_json unserialisable": lambda m, mk: mk(m.PUSH).send_json(object()),
    "send_multipart int frame": lambda m, mk: mk(m.PUSH).send_multipart([b"a", 3]),
    "send_multipart None": lambda m, mk: mk(m.PUSH).send_multipart(None),
    "send_multipart bytes": lambda m, mk: mk(m.PUSH).send_multipart(b"ab"),
    "send_multipart str": lambda m, mk: mk(m.PUSH).send_multipart("ab"),
    "send_multipart set": lambda m, mk: mk(m.PUSH).send_multipart({b"a"}),
    "send_multipart dict": lambda m, mk: mk(m.PUSH).send_multipart({b"a": 1}),
    "send_multipart generator": lambda m, mk: mk(m.PUSH).send_multipart(x for x in [b"a", b"b"]),
    "send_multipart empty": lambda m, mk: mk(m.PUSH).send_multipart([]),
    "recv_into bytes": lambda m, mk: mk(m.PULL).recv_into(b"immutable"),
    "recv_into nbytes too big": lambda m, mk: mk(m.PULL).recv_into(bytearray(4), nbytes=10),
    "recv_into negative nbytes": lambda m, mk: mk(m.PULL).recv_into(bytearray(4), nbytes=-1),
    # flags that are not ints
    "send str flags": lambda m, mk: mk(m.PUSH).send(b"x", "x"),
    "send None flags": lambda m, mk: mk(m.PUSH).send(b"x", None),
    "recv str flags": lambda m, mk: mk(m.PULL).recv("x"),
    "recv None flags": lambda m, mk: mk(m.PULL).recv(None),
    "send_multipart str flags": lambda m, mk: mk(m.PUSH).send_multipart([b"a", b"b"], "x"),
    "send_multipart one frame str flags": lambda m, mk: mk(m.PUSH).send_multipart([b"a"], "x"),
    "recv_multipart str flags": lambda m, mk: mk(m.PULL).recv_multipart("x"),
    "Socket.poll str flags": lambda m, mk: mk(m.PULL).poll(0, "x"),
    "Poller.register str flags": lambda m, mk: poller_of(m, mk(m.PULL), "x").poll(0),
    # wrong types for options, unknown options
    "LINGER str": lambda m, mk: mk(m.PUSH).setsockopt(m.LINGER, "x"),
    "LINGER float": lambda m, mk: mk(m.PUSH).setsockopt(m.LINGER, 1.5),
    "linger attribute str": lambda m, mk: setattr(mk(m.PUSH), "linger", "x"),
    "SUBSCRIBE int": lambda m, mk: mk(m.SUB).setsockopt(m.SUBSCRIBE, 5),
    "IDENTITY int": lambda m, mk: mk(m.DEALER).set(m.IDENTITY, 5),
    "SNDHWM negative": lambda m, mk: mk(m.PUSH).set(m.SNDHWM, -1),
    "set EVENTS": lambda m, mk: mk(m.PUSH).set(m.EVENTS, 1),
    "get option by name": lambda m, mk: mk(m.PUSH).get("linger"),
    "setsockopt unknown": lambda m, mk: mk(m.PUSH).setsockopt(9999, 1),
    "getsockopt unknown": lambda m, mk: mk(m.PUSH).getsockopt(9999),
    "get unknown": lambda m, mk: mk(m.PUSH).get(9999),
    "unknown attribute": lambda m, mk: mk(m.PUSH).nosuchoption,
    "unknown attribute set": lambda m, mk: setattr(mk(m.PUSH), "nosuchoption", 1),
    "socket type unknown": lambda m, mk: mk(9999),
    "socket type str": lambda m, mk: mk("x"),
    # invalid endpoints
    "bind garbage": lambda m, mk: mk(m.PUSH).bind("garbage"),
    "bind unknown transport": lambda m, mk: mk(m.PUSH).bind("udpx://127.0.0.1:1"),
    "bind unknown host": lambda m, mk: mk(m.PUSH).bind("tcp://nosuch.invalid:1"),
    "bind None": lambda m, mk: mk(m.PUSH).bind(None),
    "bind int": lambda m, mk: mk(m.PUSH).bind(5),
    "bind ipc path too long": lambda m, mk: mk(m.PUSH).bind("ipc:///tmp/" + "x" * 200),
    "bind inproc twice": lambda m, mk: [mk(m.PUSH).bind("inproc://dup") for _ in range(2)],
    "bind_to_random_port garbage": lambda m, mk: mk(m.PUSH).bind_to_random_port("garbage"),
    "connect garbage": lambda m, mk: mk(m.PUSH).connect("garbage"),
    "connect without port": lambda m, mk: mk(m.PUSH).connect("tcp://127.0.0.1"),
    "unbind unknown": lambda m, mk: mk(m.PUSH).unbind("tcp://127.0.0.1:5"),
    "disconnect unknown": lambda m, mk: mk(m.PUSH).disconnect("tcp://127.0.0.1:5"),
    # operations on closed sockets (and contexts)
    "closed send": lambda m, mk: closed(m, mk).send(b"x"),
    "closed send NOBLOCK": lambda m, mk: closed(m, mk).send(b"x", m.NOBLOCK),
    "closed recv": lambda m, mk: closed(m, mk).recv(),
    "closed recv NOBLOCK": lambda m, mk: closed(m, mk).recv(m.NOBLOCK),
    "closed send_multipart": lambda m, mk: closed(m, mk).send_multipart([b"a", b"b"]),
    "closed recv_multipart": lambda m, mk: closed(m, mk).recv_multipart(),
    "closed recv_into": lambda m, mk: closed(m, mk).recv_into(bytearray(3)),
    "closed send_json": lambda m, mk: closed(m, mk).send_json({}),
    "closed Socket.poll": lambda m, mk: closed(m, mk).poll(10),
    "closed bind": lambda m, mk: closed(m, mk).bind("tcp://127.0.0.1:*"),
    "closed connect": lambda m, mk: closed(m, mk).connect("tcp://127.0.0.1:5555"),
    "closed setsockopt": lambda m, mk: closed(m, mk).setsockopt(m.LINGER, 0),
    "closed getsockopt": lambda m, mk: closed(m, mk).getsockopt(m.LINGER),
    "closed get EVENTS": lambda m, mk: closed(m, mk).get(m.EVENTS),
    "closed option attribute": lambda m, mk: closed(m, mk).rcvtimeo,
    "closed get_monitor_socket": lambda m, mk: closed(m, mk).get_monitor_socket(),
    "socket of a terminated context": socket_after_term,
    "proxy of garbage": lambda m, mk: m.proxy("a", "b"),
    "device of garbage": lambda m, mk: m.device(m.QUEUE, "a", "b"),
    "proxy of closed sockets": lambda m, mk: m.proxy(closed(m, mk), closed(m, mk)),
    # timeouts: negative waits forever (so a ready socket: the same result), non-numbers fail
    "Poller.poll str timeout": lambda m, mk: poller_of(m, mk(m.PULL)).poll("x"),
    "Poller.poll NaN timeout": lambda m, mk: poller_of(m, mk(m.PULL)).poll(float("nan")),
    "Poller.poll inf timeout": lambda m, mk: poller_of(m, mk(m.PULL)).poll(float("inf")),
    "Poller.poll negative timeout": lambda m, mk: poller_of(m, ready_pair(m, mk)).poll(-5),
    "Socket.poll str timeout": lambda m, mk: mk(m.PULL).poll("x"),
    "Socket.poll negative timeout": lambda m, mk: ready_pair(m, mk).poll(-3),
    "select str timeout": lambda m, mk: m.select([mk(m.PULL)], [], [], "x"),
    "select negative timeout": lambda m, mk: m.select([ready_pair(m, mk)], [], [], -1),
    "RCVTIMEO -2": lambda m, mk: setattr(mk(m.PULL), "rcvtimeo", -2),
    "RCVTIMEO str": lambda m, mk: setattr(mk(m.PULL), "rcvtimeo", "x"),
    "RCVTIMEO float": lambda m, mk: setattr(mk(m.PULL), "rcvtimeo", 1.5),
    "SNDTIMEO too big": lambda m, mk: setattr(mk(m.PUSH), "sndtimeo", 2**40),
    # garbage in a Poller
    "Poller.register str": lambda m, mk: poller_of(m, "garbage").poll(0),
    "Poller.register None": lambda m, mk: poller_of(m, None).poll(0),
    "Poller.register object": lambda m, mk: poller_of(m, object()).poll(0),
    "Poller.register float": lambda m, mk: poller_of(m, 1.5).poll(0),
    "Poller.unregister unknown": lambda m, mk: m.Poller().unregister(mk(m.PULL)),
    "select garbage": lambda m, mk: m.select(["garbage"], [], [], 0),
    "select None list": lambda m, mk: m.select(None, [], [], 0),
}

# Misuse that plain pyzmq does not report: it polls a closed socket as fd 0
# (stdin) and reports that fd's readiness, or waits out the timeout. green_zmq
# raises ZMQError(ENOTSOCK), as plain pyzmq does for every other use of a
# closed socket.
GARBAGE_IN_PLAIN: dict[str, Action] = {
    "select on a closed socket": lambda m, mk: m.select([closed(m, mk)], [], [], 0.01),
    "Poller.register a closed socket": lambda m, mk: poller_of(m, closed(m, mk)).poll(10),
    "poll a registered socket closed since": poll_closed_registered,
}


def normalised(text: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x?", text.replace("green_zmq.Socket", "zmq.Socket"))


def outcome_of(module: Any, action: Action) -> tuple[Any, ...]:
    """The exception ``action`` raises with ``module`` (or what it returns, if it
    is not an error there); then check that the context still works."""
    context = module.Context()
    made: list[Any] = []

    def make(kind: int) -> Any:
        made.append(context.socket(kind))
        made[-1].linger = 0
        return made[-1]

    try:
        outcome: tuple[Any, ...] = ("returned", normalised(repr(action(module, make))))
    except Exception as exc:
        errno = getattr(exc, "errno", None)
        outcome = type(exc).__name__, None if errno is None else int(errno), normalised(str(exc))
    try:
        # Everything else still works.
        a, b = make(module.PAIR), make(module.PAIR)
        a.bind("inproc://still-working")
        b.connect("inproc://still-working")
        a.send_multipart([b"still", b"working"])
        assert b.recv_multipart() == [b"still", b"working"]
    finally:
        for s in made:
            s.close(linger=0)
        context.term()
    return outcome


@pytest.mark.parametrize("misuse", MISUSE, ids=list(MISUSE))
def test_misuse_raises_what_plain_pyzmq_raises(misuse):
    expected = outcome_of(plain_zmq, MISUSE[misuse])
    assert outcome_of(zmq, MISUSE[misuse]) == expected
    assert zmq.statistics().parked == 0


@pytest.mark.parametrize("misuse", GARBAGE_IN_PLAIN, ids=list(GARBAGE_IN_PLAIN))
def test_polling_a_closed_socket_raises_enotsock(misuse):
    assert outcome_of(zmq, GARBAGE_IN_PLAIN[misuse]) == (
        "ZMQError",
        zmq.ENOTSOCK,
        "Socket operation on non-socket",
    )
    assert zmq.statistics().parked == 0


# -- two threads waiting at once: plain pyzmq would corrupt the socket; we raise -----

WRONG_THREAD: dict[str, Callable[[zmq.Socket], Any]] = {
    "recv": lambda s: s.recv(),
    "recv_multipart": lambda s: s.recv_multipart(),
    "recv_into": lambda s: s.recv_into(bytearray(4)),
    "send on a full queue": lambda s: [s.send(b"fill") for _ in range(10_000)],
    "Socket.poll": lambda s: s.poll(5000),
    "Poller.poll": lambda s: poller_of(zmq, s).poll(5000),
    "select": lambda s: zmq.select([s], [], [], 5),
}


@pytest.mark.parametrize("use", WRONG_THREAD, ids=list(WRONG_THREAD))
def test_waiting_from_another_thread_while_one_waits_here_raises_and_harms_nothing(ctx, use):
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.linger = b.linger = 0
    b.sndhwm = a.rcvhwm = 1
    a.bind("inproc://wrong-thread")
    b.connect("inproc://wrong-thread")
    # A greenlet of this thread waits on b: no other thread may wait on it now.
    waiting_here = spawn_parked(b.poll, 10_000)
    outcome: dict[str, BaseException] = {}

    def other_thread() -> None:
        try:
            WRONG_THREAD[use](b)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the other thread hangs"
    error = outcome.get("error")
    assert isinstance(error, RuntimeError) and "thread" in str(error), repr(error)
    # Nothing was left behind, and the socket works in this thread.
    state = socket_statistics(b)
    assert (state.receivers, state.senders) == (0, 0)
    while a.poll(0):
        a.recv()
    a.send(b"for the waiter here")
    assert waiting_here.get(timeout=5) == zmq.POLLIN
    assert b.recv() == b"for the waiter here"
    assert zmq.statistics().parked == 0
    reader = gevent.spawn(a.recv)
    b.send(b"own thread")
    assert reader.get(timeout=5) == b"own thread"
    a.send(b"back")
    assert b.recv() == b"back"


# -- flags that are not ints: converted as pyzmq's build on this Python converts them --

# In a child interpreter: with a plain socket, flags that convert to 0 would
# block for good, and a plain socket closed under a blocked thread aborts
# the process. Every value here converts to NOBLOCK where it converts at all.
ODD_FLAGS_PROGRAM = """
import json
import warnings

import zmq as plain
import green_zmq as green

warnings.simplefilter("error")


class IndexOnly:
    def __index__(self):
        return 1


class IntOnly:
    def __int__(self):
        return 1


class IntReturnsFloat:
    def __int__(self):
        return 1.5


class IntSubclass(int):
    pass


class IntReturnsSubclass:
    def __int__(self):
        return IntSubclass(1)


class Text(str):
    pass


VALUES = {
    "index only": IndexOnly, "int only": IntOnly, "float": lambda: 1.9, "None": lambda: None,
    "str": lambda: "1", "str subclass": lambda: Text("1"), "bytes": lambda: b"1",
    "bytearray": lambda: bytearray(b"1"), "True": lambda: True, "2**40": lambda: 2**40,
    "__int__ returns a float": IntReturnsFloat,
    "__int__ returns an int subclass": IntReturnsSubclass,
}
CALLS = {
    "send": lambda s, f: s.send(b"x", f),
    "recv": lambda s, f: s.recv(f),
    "send_multipart": lambda s, f: s.send_multipart([b"a", b"b"], f),
    "recv_multipart": lambda s, f: s.recv_multipart(f),
    "recv_into": lambda s, f: s.recv_into(bytearray(4), flags=f),
}


def outcomes(module):
    context = module.Context()
    found = {}
    for name, call in CALLS.items():
        for value, make in VALUES.items():
            socket = context.socket(module.PAIR)
            try:
                call(socket, make())
                found[f"{name} {value}"] = "returned"
            except Exception as exc:
                found[f"{name} {value}"] = f"{type(exc).__name__}: {exc}"
            finally:
                socket.close(linger=0)
    context.term()
    return found


print(json.dumps([outcomes(plain), outcomes(green)]))
"""


def test_odd_flags_are_converted_and_refused_as_plain_pyzmq_does_on_this_python():
    result = run_python(ODD_FLAGS_PROGRAM)
    plain, green = json.loads(result.stdout)
    assert len(plain) == 60
    assert green == plain
