"""Green Poller and select: plain pyzmq's results, only the calling greenlet waits."""

from __future__ import annotations

import gc
import os
import socket
import time
from typing import Any

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from green_zmq._waiting import existing_waiting, socket_statistics
from green_zmq._waiting.fd_watch import FdWatch
from helpers import in_thread, pair, run_python, spawn_parked, wait_until_parked

pytestmark = pytest.mark.timeout(20)


def same_results(poller_green, poller_plain, timeout=0):
    return poller_green.poll(timeout) == poller_plain.poll(timeout)


# -- the API and its results -------------------------------------------------


def test_register_modify_unregister_follow_pyzmq(ctx):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    assert b in poller
    poller.modify(b, zmq.POLLIN | zmq.POLLOUT)
    assert poller.poll(0) == [(b, zmq.POLLOUT)]
    poller.register(b, 0)
    assert b not in poller
    assert poller.poll(0) == []
    with pytest.raises(KeyError):
        poller.unregister(b)


def test_results_equal_plain_pyzmq_for_sockets_fds_and_filenos(ctx, pipe):
    a, b = pair(ctx)
    r, w = pipe
    left, right = socket.socketpair()
    try:
        a.send(b"x")
        os.write(w, b"y")
        right.send(b"z")
        green, plain = zmq.Poller(), plain_zmq.Poller()
        for p in (green, plain):
            p.register(a, zmq.POLLIN | zmq.POLLOUT)
            p.register(b, zmq.POLLIN)
            p.register(r, zmq.POLLIN)
            p.register(w, zmq.POLLOUT)
            p.register(left, zmq.POLLIN | zmq.POLLERR)
        ready = green.poll(1000)
        assert ready == plain.poll(1000)
        assert dict(ready) == {a: zmq.POLLOUT, b: zmq.POLLIN, r: zmq.POLLIN, w: zmq.POLLOUT,
                               left.fileno(): zmq.POLLIN}
    finally:
        left.close()
        right.close()


def test_poll_zero_never_blocks(ctx, ticker):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    ticks = ticker.ticks
    assert poller.poll(0) == []
    assert ticker.ticks == ticks  # it did not even yield


@pytest.mark.parametrize("forever", [None, -1])
def test_none_or_negative_timeout_waits_until_an_event(ctx, forever):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    waiting = spawn_parked(poller.poll, forever)
    assert not waiting.ready()
    a.send(b"x")
    assert waiting.get(timeout=5) == [(b, zmq.POLLIN)]


def test_timeout_in_milliseconds_returns_empty(ctx, ticker):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    assert poller.poll(30) == []
    assert poller.poll(30.5) == []
    assert ticker.ticks > 0


def test_garbage_registration_fails_in_poll_like_plain_pyzmq():
    for module in (plain_zmq, zmq):
        poller = module.Poller()
        poller.register("not a socket", zmq.POLLIN)
        with pytest.raises(TypeError):
            poller.poll(0)


def test_plain_pyzmq_socket_can_be_polled_cooperatively(ticker):
    context = plain_zmq.Context()
    try:
        a = context.socket(plain_zmq.PAIR)
        b = context.socket(plain_zmq.PAIR)
        a.bind("inproc://plain")
        b.connect("inproc://plain")
        poller = zmq.Poller()
        poller.register(b, zmq.POLLIN)
        waiting = spawn_parked(poller.poll, 5000)
        assert not waiting.ready()
        a.send(b"x")
        assert waiting.get(timeout=5) == [(b, zmq.POLLIN)]
        assert ticker.ticks > 0
    finally:
        context.destroy(linger=0)


def test_raw_fd_readiness_wakes_the_poller(pipe, ticker):
    r, w = pipe
    poller = zmq.Poller()
    poller.register(r, zmq.POLLIN)
    waiting = spawn_parked(poller.poll, 5000)
    assert not waiting.ready()
    os.write(w, b"!")
    assert waiting.get(timeout=5) == [(r, zmq.POLLIN)]
    assert ticker.ticks > 0


@pytest.mark.parametrize("timeout", [500, None, -1])
def test_an_empty_poller_returns_at_once_as_plain_does(timeout):
    assert in_thread(lambda: plain_zmq.Poller().poll(timeout if timeout else 0)) == []
    start = time.monotonic()
    assert zmq.Poller().poll(timeout) == []
    emptied = zmq.Poller()
    emptied.register(0, zmq.POLLIN)
    emptied.unregister(0)
    assert emptied.poll(timeout) == []
    assert time.monotonic() - start < 0.1


def test_select_of_nothing_returns_at_once_as_plain_does():
    start = time.monotonic()
    assert zmq.select([], [], [], 0.5) == plain_zmq.select([], [], [], 0.5) == ([], [], [])
    assert time.monotonic() - start < 0.2


@pytest.mark.parametrize("timeout", [2**31, 2**40])
def test_a_poll_timeout_too_large_for_a_c_int_raises_overflow_error_as_plain_does(timeout):
    def scenario(module: Any) -> str:
        with pytest.raises(OverflowError) as raised:
            module.Poller().poll(timeout)
        return str(raised.value)

    assert scenario(zmq) == scenario(plain_zmq)


# -- registrations are keyed by the registered object, not by its fd --------


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_socket_and_its_shadow_register_and_unregister_independently(ctx):
    a, b = pair(ctx)
    shadow = zmq.Socket.shadow(b.underlying)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    poller.register(shadow, zmq.POLLIN)
    a.send(b"x")
    assert dict(poller.poll(1000)) == {b: zmq.POLLIN, shadow: zmq.POLLIN}
    poller.unregister(b)
    assert poller.poll(1000) == [(shadow, zmq.POLLIN)]
    poller.unregister(shadow)
    assert poller.poll(0) == []


def test_unregister_works_after_a_closed_sockets_fd_number_is_reused(ctx):
    poller = zmq.Poller()
    old = ctx.socket(zmq.PAIR)
    poller.register(old, zmq.POLLIN)
    fd = old.FD
    old.close()
    # libzmq's reaper closes the old FD soon after; the next socket takes
    # the number.
    with gevent.Timeout(5, AssertionError("the old FD stays open")):
        while fd_is_open(fd):
            gevent.sleep(0.001)
    new = ctx.socket(zmq.PAIR)
    assert new.FD == fd, "the FD number was not reused; the test shows nothing"
    poller.register(new, zmq.POLLIN)
    poller.unregister(old)
    poller.unregister(new)
    assert poller.poll(0) == []


# -- cooperation ------------------------------------------------------------


def test_only_the_calling_greenlet_waits(ctx, ticker):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    waiting = spawn_parked(poller.poll)
    ticker.wait_for(5)
    a.send(b"x")
    assert waiting.get(timeout=5) == [(b, zmq.POLLIN)]


def test_many_greenlets_poll_their_own_pollers_over_overlapping_sockets(ctx):
    sockets = [pair(ctx) for _ in range(3)]
    receivers = [b for _, b in sockets]

    def poll_two(i):
        poller = zmq.Poller()
        poller.register(receivers[i % 3], zmq.POLLIN)
        poller.register(receivers[(i + 1) % 3], zmq.POLLIN)
        return {s for s, _ in poller.poll(5000)}

    pollers = [gevent.spawn(poll_two, i) for i in range(6)]
    wait_until_parked(6)
    assert not any(p.ready() for p in pollers)
    sockets[1][0].send(b"wake")
    watching_1 = [p for i, p in enumerate(pollers) if 1 in (i % 3, (i + 1) % 3)]
    others = [p for p in pollers if p not in watching_1]
    gevent.joinall(watching_1, timeout=5, raise_error=True)
    assert [p.value for p in watching_1] == [{receivers[1]}] * 4
    assert not any(p.ready() for p in others)
    sockets[2][0].send(b"wake")
    gevent.joinall(others, timeout=5, raise_error=True)
    assert [p.value for p in others] == [{receivers[2]}] * 2


def test_a_poller_and_a_blocked_reader_share_a_socket(ctx, no_sweeper):
    a, b = pair(ctx)
    reader = gevent.spawn(b.recv)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    polling = spawn_parked(poller.poll, 5000)
    a.send(b"one")
    assert reader.get(timeout=5) == b"one"
    a.send(b"two")
    assert polling.get(timeout=5) == [(b, zmq.POLLIN)]
    assert b.recv() == b"two"


def test_select_is_green_and_matches_plain(ctx, ticker):
    a, b = pair(ctx)
    waiting = spawn_parked(zmq.select, [b], [], [], 5)
    assert not waiting.ready()
    a.send(b"x")
    assert waiting.get(timeout=5) == ([b], [], [])
    assert zmq.select([b], [a], [], 0) == plain_zmq.select([b], [a], [], 0)
    b.recv()
    assert zmq.select([b], [], [], 0.02) == ([], [], [])
    assert ticker.ticks > 0


def test_socket_poll_uses_the_green_poller(ctx):
    a, b = pair(ctx)
    assert b._poller_class is zmq.Poller
    assert b.poll(10) == 0
    a.send(b"x")
    assert b.poll(1000, zmq.POLLIN | zmq.POLLOUT) == zmq.POLLIN | zmq.POLLOUT


def test_a_poller_polled_by_two_greenlets_wakes_both(ctx, no_sweeper):
    a1, b = pair(ctx)
    a2, c = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    poller.register(c, zmq.POLLIN)
    first = spawn_parked(poller.poll, 5000)
    second = spawn_parked(poller.poll, 5000)
    a1.send(b"for b")
    # Both calls see b, as two plain polls of the same sockets would.
    assert first.get(timeout=2) == [(b, zmq.POLLIN)]
    assert second.get(timeout=2) == [(b, zmq.POLLIN)]
    assert b.recv() == b"for b"
    third = spawn_parked(poller.poll, 5000)
    fourth = spawn_parked(poller.poll, 5000)
    a2.send(b"for c")
    assert third.get(timeout=2) == [(c, zmq.POLLIN)]
    assert fourth.get(timeout=2) == [(c, zmq.POLLIN)]


def test_a_poll_that_finds_readiness_hands_it_to_the_parked_poll_of_the_same_poller(
    ctx, no_sweeper
):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    parked = spawn_parked(poller.poll, 5000)
    a.send(b"x")
    # This poll's zmq_poll drains b's FD before the hub has run.
    assert poller.poll(0) == [(b, zmq.POLLIN)]
    assert parked.get(timeout=2) == [(b, zmq.POLLIN)]


# -- edges, spin and watchers -----------------------------------------------


@pytest.mark.parametrize("idle", [0, 8], ids=["few sockets", "many sockets"])
def test_edge_consumed_outside_the_poller_still_reports_queued_messages(ctx, no_sweeper, idle):
    a, b = pair(ctx)
    poller = zmq.Poller()
    for _ in range(idle):
        poller.register(pair(ctx)[1], zmq.POLLIN)
    poller.register(b, zmq.POLLIN)
    assert poller.poll(0) == []  # looked at: nothing new to see until told
    a.send(b"one")
    a.send(b"two")
    assert b.recv() == b"one"  # drains the FD: no edge left for "two"
    assert poller.poll(5000) == [(b, zmq.POLLIN)]
    assert b.recv() == b"two"


def test_calls_between_polls_leave_the_events_read_to_the_next_poll(ctx, no_sweeper):
    """A poller's greenlet serving its socket between polls reads EVENTS only in its polls."""
    a, b = pair(ctx)
    poller = zmq.Poller()
    for _ in range(8):
        poller.register(pair(ctx)[1], zmq.POLLIN)
    poller.register(b, zmq.POLLIN)
    a.send(b"one")
    a.send(b"two")
    assert poller.poll(1000) == [(b, zmq.POLLIN)]
    before = zmq.statistics().rechecks
    assert b.recv() == b"one"
    b.send(b"reply")
    assert zmq.statistics().rechecks == before
    assert poller.poll(0) == [(b, zmq.POLLIN)]
    assert a.recv() == b"reply"


def test_edge_consumed_while_the_poller_waits_is_rechecked(ctx, no_sweeper):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    polling = spawn_parked(poller.poll, 5000)
    a.send(b"one")
    a.send(b"two")
    assert b.recv(zmq.NOBLOCK) == b"one"  # before the poller ran
    assert polling.get(timeout=5) == [(b, zmq.POLLIN)]


def test_a_stuck_readable_fd_does_not_spin(ctx, ticker, pipe):
    """An FD readable while zmq says "no events" (pyzmq #2167) must not busy-loop."""
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    state = existing_waiting(b)
    # Stand-in for libzmq leaving its FD readable: watch a pipe nobody drains.
    r, w = pipe
    os.write(w, b"stuck")
    state.watch.close()
    state.fd = r
    state.watch = FdWatch(state, r, gevent.get_hub())
    state.watch.start()
    before = zmq.statistics().fd_wakeups
    assert poller.poll(300) == []
    wakeups = zmq.statistics().fd_wakeups - before
    # Unguarded, libev calls back every loop iteration: tens of thousands.
    assert wakeups < 100
    assert ticker.ticks > 10
    a.send(b"real news")
    assert poller.poll(5000) == [(b, zmq.POLLIN)]


def test_watchers_persist_across_polls(ctx, pipe):
    a, b = pair(ctx)
    r, _ = pipe
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    poller.register(r, zmq.POLLIN)
    poller.poll(1)
    socket_watcher = existing_waiting(b).watch._watcher
    fd_watcher = poller._waiting._raw._watcher
    for _ in range(3):
        assert poller.poll(1) == []
    assert existing_waiting(b).watch._watcher is socket_watcher
    assert poller._waiting._raw._watcher is fd_watcher


def test_unregister_and_collection_release_the_sockets(ctx):
    a, b = pair(ctx)
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    assert socket_statistics(b).interests == 1
    poller.unregister(b)
    assert socket_statistics(b).interests == 0
    poller.register(b, zmq.POLLIN)
    del poller
    assert socket_statistics(b).interests == 0


@pytest.mark.parametrize("idle", [0, 8], ids=["few sockets", "many sockets"])
def test_a_message_that_arrived_before_the_hub_ran_is_reported_at_once(ctx, no_sweeper, idle):
    a, b = pair(ctx)
    poller = zmq.Poller()
    for _ in range(idle):
        poller.register(pair(ctx)[1], zmq.POLLIN)
    poller.register(b, zmq.POLLIN)
    assert poller.poll(0) == []
    a.send(b"no yield in between")
    assert poller.poll(0) == [(b, zmq.POLLIN)]
    assert poller.poll(0) == [(b, zmq.POLLIN)]  # still ready until read
    b.recv()
    assert poller.poll(0) == []


def test_an_idle_registered_socket_is_reported_after_a_quiet_spell(ctx, no_sweeper):
    a, b = pair(ctx)
    others = [pair(ctx) for _ in range(5)]
    poller = zmq.Poller()
    for _, s in others:
        poller.register(s, zmq.POLLIN)
    poller.register(b, zmq.POLLIN)
    assert poller.poll(0) == []
    a.send(b"x")
    gevent.sleep(0.01)  # the hub sees the FD while nobody polls
    assert poller.poll(1000) == [(b, zmq.POLLIN)]
    others[2][0].send(b"y")
    assert poller.poll(1000) == [(others[2][1], zmq.POLLIN), (b, zmq.POLLIN)]


# -- raw fds wanted only for errors (POLLERR, POLLPRI, select's xlist) ------


@pytest.mark.slow
@pytest.mark.parametrize("how", ["Poller POLLERR", "Poller POLLPRI", "select xlist"])
def test_an_fd_wanted_only_for_errors_costs_no_cpu_while_readable(how, pipe):
    r, w = pipe
    os.write(w, b"readable, but nobody asked")
    cpu = time.process_time()
    if how == "select xlist":
        assert zmq.select([], [], [r], 0.5) == plain_zmq.select([], [], [r], 0.5) == ([], [], [])
    else:
        flag = zmq.POLLERR if how == "Poller POLLERR" else zmq.POLLPRI
        poller = zmq.Poller()
        poller.register(r, flag)
        plain = plain_zmq.Poller()
        plain.register(r, flag)
        assert poller.poll(500) == plain.poll(500) == []
    # Plain pyzmq used none in its 0.5 s; a hub woken for the readable fd
    # again and again used 0.18 s.
    assert time.process_time() - cpu < 0.05


def test_an_fd_wanted_only_for_errors_reports_a_hang_up(pipe):
    r, w = pipe
    poller = zmq.Poller()
    poller.register(r, zmq.POLLERR)
    waiting = spawn_parked(poller.poll, 5000)
    os.close(w)
    plain = plain_zmq.Poller()
    plain.register(r, zmq.POLLERR)
    assert waiting.get(timeout=2) == plain.poll(0)


# -- fds and sockets closed while polled (design.md, "Closed file descriptors") --------

# Plain pyzmq polls in a thread while the main thread closes the fd; then
# green_zmq polls in a greenlet while another greenlet closes it, before the
# hub runs again. In a child interpreter: the libev watcher started for the
# poll aborted the process when the hub registered it. A plain poll is not
# woken by the close (poll(2) holds the file); it finds the fd closed when it
# next looks, at its deadline, and reports POLLERR. ``how``: a Poller, or
# select(), or a Poller whose fd's number the next pipe takes, with data
# (libev watched that pipe, and the poll returned at once).
FD_CLOSED_WHILE_POLLED = """
import os, sys, threading, time

import gevent
import zmq as plain_zmq

import green_zmq

TIMEOUT = 0.3


def wait_on(z, fd, how):
    if how == "select":
        return z.select([fd], [], [], TIMEOUT)
    poller = z.Poller()
    poller.register(fd, z.POLLIN)
    return poller.poll(TIMEOUT * 1000)


def close_it(fd, how):
    os.close(fd)
    if how == "reused":
        r, w = os.pipe()
        assert r == fd
        os.write(w, b"x")
        return r, w
    return ()


def outcome(green, how):
    r, w = os.pipe()
    done = []

    def waiter():
        start = time.monotonic()
        result = wait_on(green_zmq if green else plain_zmq, r, how)
        done.append((result, time.monotonic() - start >= TIMEOUT * 0.9))

    if green:
        # The poll parks, then the close runs, in one round of the hub.
        poll = gevent.spawn(waiter)
        closer = gevent.spawn(close_it, r, how)
        poll.join()
        left = closer.get()
    else:
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.05)  # in its poll(2) by now
        left = close_it(r, how)
        thread.join()
    for fd in (w, *left):
        os.close(fd)
    return done


how = sys.argv[1]
print(repr(outcome(False, how)), flush=True)
print(repr(outcome(True, how)), flush=True)
gevent.sleep(0.05)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["poll", "select", "reused"])
def test_fd_closed_while_polled_is_reported_as_plain_pyzmq_reports_it(how):
    result = run_python(FD_CLOSED_WHILE_POLLED, how)
    plain, green = result.stdout.splitlines()
    assert green == plain


def test_fd_number_reused_between_polls_is_watched_as_plain_pyzmq_polls_it():
    # plain pyzmq polls fd numbers: after a close, whatever file took the
    # number. A poll that parks watches that file, so its data wakes it.
    r, w = os.pipe()
    try:
        poller = zmq.Poller()
        poller.register(r, zmq.POLLIN)
        assert poller.poll(0) == []
        os.close(r)
        os.close(w)
        r2, w = os.pipe()
        assert r2 == r
        waiting = spawn_parked(poller.poll, 5000)
        os.write(w, b"x")
        assert waiting.get(timeout=2) == [(r, zmq.POLLIN)]
        plain = plain_zmq.Poller()
        plain.register(r, zmq.POLLIN)
        assert plain.poll(5000) == [(r, zmq.POLLIN)]
    finally:
        for fd in (r, w):
            os.close(fd)


def test_a_raw_fd_registered_during_a_poll_is_not_watched_once_it_returns(ctx, pipe):
    # Else the hub would call back for the readable fd on every iteration,
    # and never go idle.
    a, b = pair(ctx)
    r, w = pipe
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    waiting = spawn_parked(poller.poll, 5000)
    os.write(w, b"x")
    poller.register(r, zmq.POLLIN)
    assert waiting.get(timeout=2) == [(r, zmq.POLLIN)]
    with gevent.Timeout(2, AssertionError("the hub never went idle")):
        gevent.idle()


# A plain pyzmq socket registered in a green poller, closed by its own
# close() once its FD had fired with nobody polling (which stops the
# watcher): the next poll restarted the watcher on the FD that libzmq's
# reaper had closed, and libev aborted the process. Plain pyzmq's own poll
# would poll fd 0 (a closed socket's handle is NULL); green_zmq raises
# ENOTSOCK, as for a green socket closed while registered.
PLAIN_SOCKET_CLOSED_WHILE_REGISTERED = """
import os, time

import gevent
import zmq as plain_zmq

import green_zmq as zmq

zmq.set_sweep_interval(0)
# What zmq_poll polls in place of a closed socket: a pipe nobody writes to,
# whatever the test run's stdin is.
quiet, _ = os.pipe()
os.dup2(quiet, 0)


def closed_while_registered(z):
    ctx = z.Context()
    a, b = ctx.socket(z.PAIR), ctx.socket(z.PAIR)
    a.linger = b.linger = 0
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b.connect(f"tcp://127.0.0.1:{port}")
    poller = zmq.Poller()
    poller.register(b, zmq.POLLIN)
    assert poller.poll(20) == []
    a.send(b"x")
    gevent.sleep(0.1)  # b's FD fires; nobody polls
    fd = b.FD
    b.close()
    until = time.monotonic() + 5
    while time.monotonic() < until:
        try:
            os.fstat(fd)
        except OSError:
            break
        time.sleep(0.001)
    try:
        poller.poll(50)
    except zmq.ZMQError as exc:
        result = exc.errno == zmq.ENOTSOCK
    else:
        result = "no error"
    gevent.sleep(0.05)
    a.close()
    ctx.term()
    return result


print(closed_while_registered(zmq), closed_while_registered(plain_zmq))
"""


@pytest.mark.timeout(60)
def test_a_plain_socket_closed_while_registered_raises_enotsock_as_a_green_one():
    assert run_python(PLAIN_SOCKET_CLOSED_WHILE_REGISTERED).stdout.split() == ["True", "True"]


def test_a_plain_socket_closed_while_registered_has_its_watcher_closed_when_unregistered():
    # Left to the garbage collector, the watcher of its FD stayed in gevent's
    # libuv loop, which hands it to the next watcher of that fd number: the
    # socket (or epoll set) that took the number next never woke anybody.
    context = plain_zmq.Context()
    try:
        a = context.socket(plain_zmq.PAIR)
        b = context.socket(plain_zmq.PAIR)
        a.bind("inproc://closed-behind")
        b.connect("inproc://closed-behind")
        poller = zmq.Poller()
        poller.register(b, zmq.POLLIN)
        assert poller.poll(0) == []
        state = existing_waiting(b)
        b.close()
        poller.unregister(b)
        assert state.statistics().closed
    finally:
        context.destroy(linger=0)


# The spin guard's backoff (see test_a_stuck_readable_fd_does_not_spin, whose
# stand-in it uses) restarted the watcher when it ended. A socket closed
# behind green_zmq's back meanwhile, through a plain pyzmq object, has lost
# its FD to libzmq's reaper (here: the stand-in's pipe is closed), and libev
# aborted the process.
CLOSED_DURING_THE_SPIN_BACKOFF = """
import os

import gevent
import zmq as plain_zmq

import green_zmq as zmq
from green_zmq._waiting import existing_waiting
from green_zmq._waiting.fd_watch import FdWatch

zmq.set_sweep_interval(0)
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.linger = b.linger = 0
a.bind("inproc://backoff")
b.connect("inproc://backoff")
poller = zmq.Poller()
poller.register(b, zmq.POLLIN)
state = existing_waiting(b)
r, w = os.pipe()
os.write(w, b"stuck")
state.watch.close()
state.fd = r
state.watch = FdWatch(state, r, gevent.get_hub())
state.watch.start()
waiting = gevent.spawn(poller.poll, 5000)
with gevent.Timeout(5):
    while not state.watch.backing_off:
        gevent.sleep(0.001)
plain_zmq.Socket.shadow(b.underlying).close()
os.close(r)
try:
    waiting.get(timeout=5)
except zmq.ZMQError as exc:
    print("woken:", exc.errno == zmq.ENOTSOCK)
gevent.sleep(0.05)
print("alive")
"""


@pytest.mark.timeout(60)
def test_a_socket_closed_behind_our_back_during_the_spin_backoff_is_not_watched_again():
    result = run_python(CLOSED_DURING_THE_SPIN_BACKOFF)
    assert result.stdout.splitlines() == ["woken: True", "alive"]


def test_a_poller_whose_init_never_ran_is_finalized_quietly_as_pyzmqs():
    # An exception (from a signal handler, say) can interrupt __init__ before
    # the waiting state exists; the finalizer must not raise then. pytest's
    # configuration makes an exception raised in a finalizer fail the test.
    for module in (plain_zmq, zmq):
        poller = module.Poller.__new__(module.Poller)
        del poller
        gc.collect()
