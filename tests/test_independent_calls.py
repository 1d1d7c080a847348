"""One greenlet's wait holds up no other greenlet's call, as no thread's holds up another's.

Greenlets waiting on one socket take turns first come, first served. But
in plain pyzmq each thread's call is its own: a call that can go through,
or that fails for reasons of its own, does so at once, whoever else waits.
Where the turns would make a call wait for a reason that is not its own,
they must not: sends on a ROUTER with ROUTER_MANDATORY (each peer has room
or not) and calls with bad arguments.
"""

from __future__ import annotations

import json
from typing import Any

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import in_thread, run_python, spawn_parked

pytestmark = pytest.mark.timeout(30)


# -- ROUTER_MANDATORY: readiness belongs to each peer -------------------------------

# Run in a child interpreter, once with plain pyzmq in threads and once with
# green_zmq in greenlets: a plain ROUTER used by two threads at once is
# libzmq's undefined behaviour, which must not take the test run with it.
# One thread waits, so that the reference is sound: with two threads
# blocked on one plain socket, libzmq can lose the wakeup of one (both
# waiting for their own peer is tests/test_differential.py's
# test_router_senders_waiting_for_different_peers_each_go_when_theirs_has_room).
ROUTER_PROGRAM = """
import json, sys, threading, time
which = sys.argv[1]
if which == "plain":
    import zmq
    def start(function):
        thread = threading.Thread(target=function)
        thread.start()
        return thread
    def waiting(count):
        pass  # a thread's call is its own whether or not the other waits yet
else:
    import gevent
    import green_zmq as zmq
    zmq.set_sweep_interval(0)
    def start(function):
        return gevent.spawn(function)
    def waiting(count):
        with gevent.Timeout(5):
            while zmq.statistics().parked < count:
                gevent.sleep(0)

ctx = zmq.Context()
router = ctx.socket(zmq.ROUTER)
router.router_mandatory = 1
router.sndhwm = 1
router.linger = 0
router.bind("inproc://mandatory")
peers = {}
for name, hwm in ((b"full", 1), (b"ready", 1000)):
    peer = ctx.socket(zmq.DEALER)
    peer.routing_id, peer.rcvhwm, peer.linger = name, hwm, 0
    peer.connect("inproc://mandatory")
    peer.send(b"hello")
    peers[name] = peer
for _ in peers:
    router.recv_multipart()
filled = {}
for name in (b"full",):
    filled[name] = 0
    while True:
        try:
            router.send_multipart([name, b"fill"], zmq.NOBLOCK)
        except zmq.Again:
            break
        filled[name] += 1

done = []
def send_to(name):
    def send():
        router.send_multipart([name, b"last"])
        done.append(name.decode())
    return send

first = start(send_to(b"full"))
waiting(1)
outcome = {}
began = time.monotonic()
router.send_multipart([b"ready", b"go"])
outcome["ready peer"] = "sent"
try:
    router.send_multipart([b"nobody", b"x"])
except zmq.ZMQError as exc:
    outcome["unknown peer"] = zmq.ZMQError(exc.errno).strerror
outcome["at once"] = time.monotonic() - began < 1
outcome["got"] = peers[b"ready"].recv_multipart()[0].decode()
outcome["before the full peer drained"] = list(done)
# From here no other call uses the ROUTER until the waiting send is done.
for _ in range(filled[b"full"] + 1):
    peers[b"full"].recv_multipart()
first.join(5)
outcome["after it drained"] = list(done)
print(json.dumps(outcome))
ctx.destroy(linger=0)
"""


def router_outcome(which: str) -> dict[str, Any]:
    return json.loads(run_python(ROUTER_PROGRAM, which, timeout=20).stdout)  # type: ignore[no-any-return]


@pytest.mark.timeout(60)
def test_router_mandatory_sends_to_other_peers_go_or_fail_at_once_while_one_waits():
    plain = router_outcome("plain")
    assert plain == {
        "ready peer": "sent",
        "unknown peer": "Host unreachable",
        "at once": True,
        "got": "go",
        "before the full peer drained": [],
        "after it drained": ["full"],
    }
    assert router_outcome("green") == plain


# -- calls that fail at once for reasons of their own --------------------------------

def push_pull(module: Any, context: Any) -> tuple[Any, Any]:
    """A connected PUSH and PULL (high-water marks of one message)."""
    push, pull = context.socket(module.PUSH), context.socket(module.PULL)
    for s in (push, pull):
        s.linger, s.sndhwm, s.rcvhwm = 0, 1, 1
    pull.bind(f"inproc://push-pull-{id(push)}")
    push.connect(f"inproc://push-pull-{id(push)}")
    return push, pull


def filled(module: Any, push: Any) -> Any:
    """``push``, its queue full."""
    while True:
        try:
            push.send(b"fill", module.NOBLOCK)
        except module.Again:
            return push


BAD_SENDS = {
    "str": lambda s: s.send("text"),
    "int": lambda s: s.send(123),
    "None": lambda s: s.send(None),
    "flags too large": lambda s: s.send(b"x", 2**40),
    "an untracked Frame, tracked": lambda s: s.send(
        plain_zmq.Frame(b"x" * 100_000), copy=False, track=True
    ),
    "track with a str": lambda s: s.send("text", copy=False, track=True),
    "send_string of bytes": lambda s: s.send_string(b"x"),
}

BAD_RECVS = {
    "recv_into bytes": lambda s: s.recv_into(b"read-only"),
    "recv_into negative nbytes": lambda s: s.recv_into(bytearray(4), nbytes=-1),
    "recv_into nbytes too large": lambda s: s.recv_into(bytearray(4), nbytes=10),
    "recv flags too large": lambda s: s.recv(2**40),
}


def error_of(action: Any, sock: Any) -> tuple[str, str]:
    try:
        action(sock)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "returned", ""


@pytest.mark.parametrize("bad", BAD_SENDS, ids=list(BAD_SENDS))
def test_a_send_with_bad_arguments_fails_at_once_while_others_wait_to_send(ctx, plain_ctx, bad):
    push = filled(plain_zmq, push_pull(plain_zmq, plain_ctx)[0])
    expected = in_thread(lambda: error_of(BAD_SENDS[bad], push))
    assert expected[0] != "returned"

    push = filled(zmq, push_pull(zmq, ctx)[0])
    waiter = spawn_parked(push.send, b"waits for room")
    # No hub turn: a call that waited behind the other would never see one.
    with gevent.Timeout(0, AssertionError("it waited")):
        assert error_of(BAD_SENDS[bad], push) == expected
    waiter.kill()


@pytest.mark.parametrize("bad", BAD_RECVS, ids=list(BAD_RECVS))
def test_a_recv_with_bad_arguments_fails_at_once_while_others_wait_to_receive(
    ctx, plain_ctx, bad
):
    pull = push_pull(plain_zmq, plain_ctx)[1]
    expected = in_thread(lambda: error_of(BAD_RECVS[bad], pull))
    assert expected[0] != "returned"

    pull = push_pull(zmq, ctx)[1]
    waiter = spawn_parked(pull.recv)
    with gevent.Timeout(0, AssertionError("it waited")):
        assert error_of(BAD_RECVS[bad], pull) == expected
    waiter.kill()
