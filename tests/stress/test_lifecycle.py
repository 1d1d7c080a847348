"""Lifecycle under load: close and term with hundreds of waiters, open/close cycles.

Closing a socket wakes every greenlet waiting on it with plain pyzmq's
``ZMQError(ENOTSOCK)``; terminating the context wakes them with
``ContextTerminated`` (plain pyzmq, with threads blocked in zmq calls, gives
the same). Socket open/close cycles leave no file descriptor and no hub
watcher behind.
"""

from __future__ import annotations

import gc
import os
from typing import Any, Callable

import gevent
import pytest
import zmq as plain_zmq
from stress_mode import size

import green_zmq as zmq
from green_zmq._waiting import PollWaiting
from green_zmq._waiting.registry import hub_waiting
from helpers import wait_until_parked

pytestmark = pytest.mark.timeout(size(60, 300))

PER_KIND = 60
CYCLES = size(1_000, 10_000)





def contended_anywhere() -> list[Any]:
    """Socket states that some live poller still counts as waited on by others."""
    return [
        state
        for obj in gc.get_objects()
        if isinstance(obj, PollWaiting)
        for state in obj.contended
    ]

def poller_poll(s: zmq.Socket) -> Any:
    p = zmq.Poller()
    p.register(s, zmq.POLLIN)
    return p.poll()


SOCKET_WAITS: dict[str, Callable[[zmq.Socket], Any]] = {
    "recv": lambda s: s.recv(),
    "recv_multipart": lambda s: s.recv_multipart(),
    "recv_into": lambda s: s.recv_into(bytearray(8)),
    # A DEALER without peers cannot send: these wait too.
    "send": lambda s: s.send(b"x"),
    "send_multipart": lambda s: s.send_multipart([b"x", b"y"]),
}
POLL_WAITS: dict[str, Callable[[zmq.Socket], Any]] = {
    "Poller.poll": poller_poll,
    "Socket.poll": lambda s: s.poll(),
    "select": lambda s: zmq.select([s], [], []),
}


def outcome(wait: Callable[[zmq.Socket], Any], s: zmq.Socket) -> Any:
    """What a waiter ended with: its error as (type, errno, text), or its result."""
    try:
        return "returned", repr(wait(s))
    except zmq.ZMQError as exc:
        return type(exc).__name__, exc.errno, str(exc)


def plain_error(action: Callable[[Any], Any]) -> tuple[str, int, str]:
    """The error plain pyzmq raises for ``action(socket)`` on a closed socket."""
    context = plain_zmq.Context()
    s = context.socket(plain_zmq.DEALER)
    s.close()
    try:
        action(s)
    except plain_zmq.ZMQError as exc:
        return type(exc).__name__, exc.errno, str(exc)
    finally:
        context.term()
    raise AssertionError("plain pyzmq raised nothing")


def close_under_waiters(ctx: zmq.Context, waits: dict[str, Callable[[zmq.Socket], Any]]) -> None:
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.bind("inproc://closing")
    parked_before = zmq.statistics().parked
    waiters = {
        name: [gevent.spawn(outcome, wait, s) for _ in range(PER_KIND)]
        for name, wait in waits.items()
    }
    wait_until_parked(parked_before + PER_KIND * len(waits))
    s.close()
    expected = plain_error(lambda p: p.recv())
    for name, greenlets in waiters.items():
        done = gevent.joinall(greenlets, timeout=5)
        assert len(done) == len(greenlets), f"{name}: {len(greenlets) - len(done)} still waiting"
        got = {g.value for g in greenlets}
        assert got == {expected}, f"{name} waiters ended with {got}"
    assert zmq.statistics().parked == parked_before
    assert not contended_anywhere()


def test_close_wakes_hundreds_of_senders_and_receivers_with_enotsock(ctx):
    close_under_waiters(ctx, SOCKET_WAITS)
    # Everything else still works.
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.bind("inproc://after-close")
    b.connect("inproc://after-close")
    a.send(b"fine")
    assert b.recv() == b"fine"


def test_close_wakes_hundreds_of_pollers_with_enotsock(ctx):
    close_under_waiters(ctx, POLL_WAITS)


def test_close_wakes_a_mix_of_senders_receivers_and_pollers_with_enotsock(ctx):
    close_under_waiters(ctx, {**SOCKET_WAITS, **POLL_WAITS})


def test_term_wakes_hundreds_of_waiters_with_context_terminated():
    context = zmq.Context()
    sockets = []
    for i in range(4):
        s = context.socket(zmq.DEALER)
        s.linger = 0
        s.bind(f"inproc://term-{i}")
        sockets.append(s)
    parked_before = zmq.statistics().parked

    def waiter(wait: Callable[[zmq.Socket], Any], s: zmq.Socket) -> Any:
        # What a plain pyzmq program does on ETERM: close the socket.
        try:
            return outcome(wait, s)
        finally:
            s.close()

    waits = {**SOCKET_WAITS, **POLL_WAITS}
    greenlets = [
        gevent.spawn(waiter, wait, sockets[n % len(sockets)])
        for wait in waits.values()
        for n in range(PER_KIND)
    ]
    wait_until_parked(parked_before + len(greenlets))
    terminator = gevent.spawn(context.term)
    done = gevent.joinall([terminator, *greenlets], timeout=10)
    assert len(done) == len(greenlets) + 1, "term or some waiter never returned"
    terminator.get()
    # The first waiter of a socket gets ETERM and closes it; those it races
    # with may see the socket closed already, as threads in plain pyzmq may.
    allowed = {
        ("ContextTerminated", zmq.ETERM, "Context was terminated"),
        ("ZMQError", zmq.ENOTSOCK, "Socket operation on non-socket"),
    }
    got = {g.value for g in greenlets}
    assert got <= allowed, got
    assert ("ContextTerminated", zmq.ETERM, "Context was terminated") in got
    assert zmq.statistics().parked == parked_before


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_io_watchers() -> int:
    loop = gevent.get_hub().loop
    kind = type(loop.io(0, 1))
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind and o.active)


def test_open_close_cycles_leave_no_fds_and_no_watchers(tmp_path, figures):
    hub = gevent.get_hub()
    registry = hub_waiting(hub)
    # A term() first: libev makes its cross-thread wakeup pipe once per loop,
    # at the first wakeup from another thread (term runs in one).
    zmq.Context().term()
    fds = open_fds()
    watchers = live_io_watchers()
    active = hub.loop.activecnt
    context = zmq.Context()
    try:
        for i in range(CYCLES):
            transport = ("inproc", "ipc", "tcp")[i % 3]
            a = context.socket(zmq.PAIR)
            b = context.socket(zmq.PAIR)
            a.linger = b.linger = 0
            if transport == "inproc":
                a.bind(f"inproc://cycle-{i}")
                b.connect(f"inproc://cycle-{i}")
            elif transport == "ipc":
                address = f"ipc://{tmp_path}/c{i}"
                a.bind(address)
                b.connect(address)
            else:
                b.connect(f"tcp://127.0.0.1:{a.bind_to_random_port('tcp://127.0.0.1')}")
            # Each socket waits once (made its watcher), and is polled.
            reader = gevent.spawn(b.recv)
            wait_until_parked(1)
            a.send(b"cycle")
            assert reader.get(timeout=5) == b"cycle"
            assert a.poll(0, zmq.POLLOUT) == zmq.POLLOUT
            b.close()
            a.close()
            if i % 100 == 99:
                assert not registry.waiting and not contended_anywhere()
        during = open_fds()
        watchers_after = live_io_watchers()
        active_after = hub.loop.activecnt
    finally:
        context.term()
    fds_after = open_fds()
    figures.update(
        cycles=CYCLES,
        fds_before=fds,
        fds_with_context_alive=during,
        fds_after_term=fds_after,
        io_watchers_before=watchers,
        io_watchers_after=watchers_after,
    )
    assert watchers_after == watchers
    assert active_after == active
    assert fds_after == fds
