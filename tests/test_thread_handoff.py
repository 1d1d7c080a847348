"""Sockets handed from one thread to another, as libzmq and plain pyzmq allow.

A socket may move between OS threads as long as two never use it at once.
Its waits go through the hub of the thread that waits on it now; only two
threads waiting on it at the same time are refused, with an error naming
both. Each scenario runs in a child interpreter, with green_zmq and with
plain pyzmq in threads, and the two must print the same.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import run_python

pytestmark = pytest.mark.timeout(60)

# The preamble of every scenario: ``zmq`` is green_zmq or plain pyzmq; with
# green_zmq, every thread that waits runs a hub of its own, and the main
# thread keeps a ticker greenlet, so that a wait that held the thread shows.
PREAMBLE = """
import json, sys, threading, time
which = sys.argv[1]
if which == "green":
    import gevent
    import green_zmq as zmq
    zmq.set_sweep_interval(0)
    ticks = [0]
    def _tick():
        while True:
            ticks[0] += 1
            gevent.sleep(0.001)
    _ticker = gevent.spawn(_tick)
    def ticked():
        before = ticks[0]
        gevent.sleep(0.01)
        return ticks[0] > before
else:
    import zmq
    def ticked():
        return True

# A context and both ends of a PAIR pipe, connected, lingering 0.
def pipe(name):
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.linger = b.linger = 0
    a.bind("inproc://" + name)
    b.connect("inproc://" + name)
    return ctx, a, b

# What sock.recv() gets when elsewhere() runs in another thread meanwhile.
# With green_zmq, a greenlet is parked on the recv before the thread
# starts, and the main thread is held in join() while it runs (no hub runs
# there); with plain pyzmq the recv follows the thread.
def recv_while(sock, elsewhere):
    if which == "green":
        reader = gevent.spawn(sock.recv)
        while not zmq.statistics().parked:
            gevent.sleep(0)
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(10)
    return (reader.get(timeout=5) if which == "green" else sock.recv()).decode()
"""

ACTOR = """
# pyre's actor, after CZMQ's: the parent makes both ends of a PAIR pipe,
# starts a thread and hands it one end; the actor waits on it in its own
# thread (and hub), answers, closes its end and ends.
ctx, parent, child = pipe("pipe")

def actor():
    child.send(b"READY")
    while True:
        command = child.recv_multipart()
        if command == [b"$TERM"]:
            break
        child.send_multipart([b"ECHO", *command])
    child.close()

thread = threading.Thread(target=actor)
thread.start()
seen = [parent.recv()]
for i in range(20):
    parent.send_multipart([b"PING", b"%d" % i])
    seen.append(b" ".join(parent.recv_multipart()))
parent.send(b"$TERM")
thread.join(10)
print(json.dumps({
    "seen": [m.decode() for m in seen],
    "actor ended": not thread.is_alive(),
    "others ran": ticked(),
}))
parent.close()
ctx.term()
"""

BACK_AND_FORTH = """
# One socket waited on by the main thread, then by another, and back, many
# times; every message arrives once, in order.
ctx, a, b = pipe("moves")
received = []

def take(count):
    for _ in range(count):
        received.append(b.recv())

for round in range(100):
    if round % 2:
        thread = threading.Thread(target=take, args=(3,))
        thread.start()
        for i in range(3):
            a.send(b"%d.%d" % (round, i))
        thread.join(10)
    else:
        for i in range(3):
            a.send(b"%d.%d" % (round, i))
        take(3)
expected = [b"%d.%d" % (r, i) for r in range(100) for i in range(3)]
print(json.dumps({"all in order": received == expected, "count": len(received),
                  "others ran": ticked()}))
a.close(); b.close()
ctx.term()
"""

ONE_AFTER_THE_OTHER = """
# Pollers in two threads over the same socket, one after the other, and a
# poller whose socket was waited on by another thread in between.
ctx, a, b = pipe("polled")
here = zmq.Poller()
here.register(b, zmq.POLLIN)
outcome = {}

def poll_there(name):
    there = zmq.Poller()
    there.register(b, zmq.POLLIN)
    outcome[name] = [(s is b, e) for s, e in there.poll(5000)]
    outcome[name + " message"] = b.recv().decode()

for round in range(3):
    thread = threading.Thread(target=poll_there, args=(f"there {round}",))
    thread.start()
    a.send(b"for there %d" % round)
    thread.join(10)
    a.send(b"for here %d" % round)
    outcome[f"here {round}"] = [(s is b, e) for s, e in here.poll(5000)]
    outcome[f"here {round} message"] = b.recv().decode()
outcome["others ran"] = ticked()
print(json.dumps(outcome))
a.close(); b.close()
ctx.term()
"""

NEVER_WAITING_CALLS = """
# Calls that never wait, from a thread other than the one that made the
# socket (and whose greenlet waits on its peer meanwhile).
ctx, a, b = pipe("never")
outcome = {}

def elsewhere():
    outcome["poll(0) empty"] = b.poll(0)
    outcome["Poller.poll(0) empty"] = len(zmq.Poller().poll(0))
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN | zmq.POLLOUT)
    outcome["Poller.poll(0) registered"] = [e for _, e in poller.poll(0)]
    try:
        b.recv(zmq.NOBLOCK)
    except zmq.Again:
        outcome["recv NOBLOCK"] = "Again"
    b.send(b"from elsewhere", zmq.NOBLOCK)
    outcome["select(0)"] = [len(x) for x in zmq.select([b], [b], [], 0)]

outcome["peer got"] = recv_while(a, elsewhere)
outcome["others ran"] = ticked()
print(json.dumps(outcome))
a.close(); b.close()
ctx.term()
"""

WAKEUP_TAKEN_ELSEWHERE = """
# A call that never waits, in another thread, takes the edge of the FD that
# a parked greenlet's hub watches: the send on ``a`` processes ``a``'s
# commands, among them the news of the message from ``b``, and so drains
# the FD. The main thread is blocked in join() meanwhile (no hub runs), and
# the sweeper is off: only the re-check handed to the main thread's hub
# wakes the reader.
ctx, a, b = pipe("taken")
outcome = {}

def elsewhere():
    b.send(b"to the reader", zmq.NOBLOCK)
    a.send(b"back", zmq.NOBLOCK)

outcome["reader got"] = recv_while(a, elsewhere)
outcome["peer got"] = b.recv().decode()
outcome["others ran"] = ticked()
print(json.dumps(outcome))
a.close(); b.close()
ctx.term()
"""

POLLER_COLLECTED_ELSEWHERE = """
# A poller's last reference goes in another thread, after its socket
# closed: nothing to report, as with plain pyzmq. (That thread's hub is
# made first, so that its own fds cannot take the number of the socket's.)
import gc, os
unraisable = []
sys.unraisablehook = lambda u: unraisable.append(repr(u.exc_value))
ctx, a, b = pipe("collected")
fd = b.get(zmq.FD)
pollers = [zmq.Poller()]
pollers[0].register(b, zmq.POLLIN)
a.send(b"x")
outcome = {"polled": len(pollers[0].poll(5000))}
ready, go = threading.Event(), threading.Event()

def elsewhere():
    if which == "green":
        gevent.get_hub().loop  # the loop opens its fds when first used
    ready.set()
    go.wait(10)
    pollers.pop()
    gc.collect()

thread = threading.Thread(target=elsewhere)
thread.start()
ready.wait(10)
a.close()  # else b's end of the pipe waits for a to let go, and its FD stays open
b.close()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        os.fstat(fd)  # until libzmq's reaper has closed the socket's FD
    except OSError:
        break
    time.sleep(0.001)
go.set()
thread.join(10)
outcome["unraisable"] = unraisable
print(json.dumps(outcome))
ctx.term()
"""

SCENARIOS = {
    "actor": ACTOR,
    "back and forth": BACK_AND_FORTH,
    "pollers one after the other": ONE_AFTER_THE_OTHER,
    "calls that never wait": NEVER_WAITING_CALLS,
    "a wakeup taken in another thread": WAKEUP_TAKEN_ELSEWHERE,
    "a poller collected in another thread": POLLER_COLLECTED_ELSEWHERE,
}


def outcome(program: str, which: str) -> dict[str, Any]:
    result = run_python(PREAMBLE + program, which, timeout=40)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=list(SCENARIOS))
def test_a_socket_handed_to_another_thread_works_as_in_plain_pyzmq(scenario):
    plain = outcome(SCENARIOS[scenario], "plain")
    assert outcome(SCENARIOS[scenario], "green") == plain


def test_the_actor_pattern_passes_its_messages_both_ways():
    seen = outcome(ACTOR, "green")
    assert seen["seen"] == ["READY"] + [f"ECHO PING {i}" for i in range(20)]
    assert seen["actor ended"] and seen["others ran"]


TWO_AT_ONCE = """
import json, threading
import gevent
import green_zmq as zmq

zmq.set_sweep_interval(0)
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.linger = b.linger = 0
a.bind("inproc://both")
b.connect("inproc://both")
reader = gevent.spawn(b.recv)
while zmq.statistics().parked < 1:
    gevent.sleep(0)
errors = {}

def wait_there(name, wait):
    try:
        wait()
    except RuntimeError as exc:
        errors[name] = str(exc)

waits = {
    "recv": b.recv,
    "poll": lambda: b.poll(5000),
    "Poller": lambda: (lambda p: (p.register(b, zmq.POLLIN), p.poll(5000)))(zmq.Poller()),
}
for name, wait in waits.items():
    thread = threading.Thread(target=wait_there, args=(name, wait), name=f"other-{name}")
    thread.start()
    thread.join(10)
a.send(b"for the first")
print(json.dumps({"errors": errors, "first got": reader.get(timeout=5).decode()}))
a.close(); b.close()
ctx.term()
"""


def test_two_threads_waiting_at_once_is_refused_naming_both_and_harms_nothing():
    result = json.loads(run_python(TWO_AT_ONCE, timeout=40).stdout)
    assert result["first got"] == "for the first"
    assert set(result["errors"]) == {"recv", "poll", "Poller"}
    for name, message in result["errors"].items():
        assert f"'other-{name}'" in message and "'MainThread'" in message, message


DEAD_THREAD = """
# A thread that made and left open a socket, then ended: term() waits for
# its close, as plain pyzmq's does; closing it (or destroy) ends the wait.
import json, sys, threading
which = sys.argv[1]
if which == "green":
    import gevent
    import green_zmq as zmq
else:
    import zmq

ctx = zmq.Context()
left = []
thread = threading.Thread(target=lambda: left.append(ctx.socket(zmq.PAIR)))
thread.start()
thread.join()
done = threading.Event()
waiter = threading.Thread(target=lambda: (ctx.term(), done.set()))
waiter.start()
still_waiting = not done.wait(0.3)
left[0].close(linger=0)
waiter.join(10)
print(json.dumps({"term waited for the close": still_waiting, "then returned": done.is_set()}))
"""


def test_term_waits_for_a_socket_a_dead_thread_left_open_as_plain_pyzmq_does():
    plain = json.loads(run_python(DEAD_THREAD, "plain", timeout=40).stdout)
    assert plain == {"term waited for the close": True, "then returned": True}
    assert json.loads(run_python(DEAD_THREAD, "green", timeout=40).stdout) == plain
