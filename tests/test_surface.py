"""The rest of pyzmq's surface, green: monitors, shadows, fork (trackers: test_trackers.py).

"Cooperative" is tested the same way throughout: a greenlet waits, and the
event it waits for can only happen if the test's own greenlet keeps running
meanwhile. If the wait blocked the thread, the test would hang and the
timeout would fail it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from green_zmq.utils.monitor import parse_monitor_message, recv_monitor_message
from helpers import run_python

REPO = Path(__file__).resolve().parent.parent

def waiting_greenlet(wait: Callable[[], Any]) -> gevent.Greenlet:
    """Spawn ``wait`` and return once it is parked (or finished)."""
    started = gevent.event.Event()

    def run() -> Any:
        started.set()
        return wait()

    greenlet = gevent.spawn(run)
    # set() resumes us only after `run` switched away, i.e. is inside wait().
    started.wait()
    return greenlet


def run_script(source: str, timeout: float = 50) -> str:
    return run_python(source, timeout=timeout).stdout


# -- monitor sockets ---------------------------------------------------------


@pytest.mark.timeout(10)
def test_get_monitor_socket_is_green(ctx: zmq.Context) -> None:
    socket = ctx.socket(zmq.PULL)
    assert isinstance(socket.get_monitor_socket(), zmq.Socket)


@pytest.mark.timeout(10)
def test_recv_monitor_message_waits_cooperatively(ctx: zmq.Context) -> None:
    socket = ctx.socket(zmq.PULL)
    monitor = socket.get_monitor_socket(zmq.EVENT_LISTENING)
    waiting = waiting_greenlet(lambda: recv_monitor_message(monitor))
    assert not waiting.ready()
    # Only this greenlet can produce the event the other one waits for.
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    event = waiting.get()
    assert event["event"] == zmq.EVENT_LISTENING
    assert event["endpoint"] == b"tcp://127.0.0.1:%d" % port


@pytest.mark.timeout(10)
def test_monitor_helpers_are_pyzmqs() -> None:
    import zmq.utils.monitor

    assert recv_monitor_message is zmq.utils.monitor.recv_monitor_message
    assert parse_monitor_message is zmq.utils.monitor.parse_monitor_message


# -- shadows -----------------------------------------------------------------


def assert_waits_cooperatively(receiver: zmq.Socket, sender: Any) -> None:
    assert isinstance(receiver, zmq.Socket)
    waiting = waiting_greenlet(receiver.recv)
    assert not waiting.ready()
    sender.send(b"ping")
    assert waiting.get() == b"ping"


@pytest.mark.timeout(10)
def test_socket_shadow_of_an_address_is_green(plain_pair: Any) -> None:
    _, a, b = plain_pair
    assert_waits_cooperatively(zmq.Socket.shadow(a.underlying), b)


@pytest.mark.timeout(10)
def test_socket_shadow_keyword_is_green(plain_pair: Any) -> None:
    _, a, b = plain_pair
    assert_waits_cooperatively(zmq.Socket(shadow=a), b)


@pytest.mark.timeout(10)
def test_socket_of_a_socket_is_a_green_shadow(plain_pair: Any) -> None:
    _, a, b = plain_pair
    green = zmq.Socket(a)
    assert green.context is a.context
    assert_waits_cooperatively(green, b)


@pytest.mark.timeout(10)
def test_copy_of_a_green_socket_is_green(ctx: zmq.Context) -> None:
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.bind("inproc://copied")
    b.connect("inproc://copied")
    assert_waits_cooperatively(copy.copy(a), b)


@pytest.mark.timeout(10)
def test_context_shadow_makes_green_sockets(plain_pair: Any) -> None:
    context, _, _ = plain_pair
    green = zmq.Context.shadow(context.underlying)
    assert isinstance(green, zmq.Context)
    a = green.socket(zmq.PAIR)
    b = context.socket(plain_zmq.PAIR)
    a.bind("inproc://green-shadow-context")
    b.connect("inproc://green-shadow-context")
    assert_waits_cooperatively(a, b)
    a.close()
    b.close()


# -- fork --------------------------------------------------------------------

_FORK_PRELUDE = """
import os, signal, sys
import gevent
import green_zmq as zmq

ctx = zmq.Context()
a = ctx.socket(zmq.PAIR)
b = ctx.socket(zmq.PAIR)
a.bind("inproc://forked")
b.connect("inproc://forked")
poller = zmq.Poller()
poller.register(b, zmq.POLLIN)

def fails_for_fork(call):
    try:
        call()
    except RuntimeError as e:
        return "fork" in str(e)
    return False

def child_checks():
    # If the child hangs after all, it must not outlive the test: the
    # subprocess timeout only ends the parent.
    signal.alarm(20)
    checks = {
        "recv": fails_for_fork(b.recv),
        "recv NOBLOCK": fails_for_fork(lambda: b.recv(zmq.NOBLOCK)),
        "send": fails_for_fork(lambda: a.send(b"from the child")),
        "poll": fails_for_fork(lambda: b.poll(1000)),
        "inherited Poller": fails_for_fork(lambda: poller.poll(1000)),
        "EVENTS": fails_for_fork(lambda: b.get(zmq.EVENTS)),
        "connect": fails_for_fork(lambda: a.connect("inproc://elsewhere")),
        "Context.socket": fails_for_fork(lambda: ctx.socket(zmq.PAIR)),
    }
    # Dropping inherited objects is allowed, as in pyzmq: it must not hang.
    a.close()
    ctx.term()
    # A context of the child's own works.
    own = zmq.Context()
    x, y = own.socket(zmq.PAIR), own.socket(zmq.PAIR)
    x.bind("inproc://child")
    y.connect("inproc://child")
    y.send(b"child's own")
    checks["own context"] = x.recv() == b"child's own"
    x.close(); y.close(); own.term()
    return checks

def parent_still_works():
    a.send(b"after the child")
    assert b.recv() == b"after the child"
    a.close(); b.close(); ctx.term()
"""


@pytest.mark.timeout(60)
def test_os_fork_child_gets_a_clear_error() -> None:
    out = run_script(
        _FORK_PRELUDE
        + """
pid = os.fork()
if pid == 0:
    checks = child_checks()
    print(checks, flush=True)
    os._exit(0 if all(checks.values()) else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
parent_still_works()
print("OK")
"""
    )
    assert out.strip().endswith("OK"), out


@pytest.mark.timeout(60)
def test_gevent_fork_child_gets_a_clear_error() -> None:
    out = run_script(
        _FORK_PRELUDE
        + """
# A greenlet already waiting when the process forks: in the child its copy
# must fail, not hang or spin in libzmq.
parked = gevent.spawn(b.recv)
gevent.sleep(0)
pid = gevent.fork()
if pid == 0:
    signal.alarm(20)
    parked.join()
    checks = child_checks()
    checks["parked greenlet"] = isinstance(parked.exception, RuntimeError)
    print(checks, flush=True)
    os._exit(0 if all(checks.values()) else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
a.send(b"for the parked greenlet")
assert parked.get() == b"for the parked greenlet"
parent_still_works()
print("OK")
"""
    )
    assert out.strip().endswith("OK"), out


@pytest.mark.timeout(60)
def test_multiprocessing_fork_child_gets_a_clear_error() -> None:
    out = run_script(
        _FORK_PRELUDE
        + """
import multiprocessing

def target():
    checks = child_checks()
    print(checks, flush=True)
    sys.exit(0 if all(checks.values()) else 1)

if __name__ == "__main__":
    process = multiprocessing.get_context("fork").Process(target=target)
    process.start()
    process.join()
    assert process.exitcode == 0, process.exitcode
    parent_still_works()
    print("OK")
"""
    )
    assert out.strip().endswith("OK"), out
