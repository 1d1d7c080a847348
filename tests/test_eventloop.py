"""The green IOLoop: tornado's API, running in a greenlet among greenlets.

Every wait in these tests is bounded twice: by an event wait with a limit
(so a lost wakeup fails with a message) and by pytest-timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import gevent
import greenlet
import pytest
from gevent.event import Event

import green_zmq as zmq
from helpers import pair, run_python

pytest.importorskip("tornado")

import tornado.ioloop  # noqa: E402
from tornado.platform.asyncio import AsyncIOLoop  # noqa: E402

from green_zmq.asyncio import GreenEventLoop  # noqa: E402
from green_zmq.eventloop import ioloop  # noqa: E402
from green_zmq.eventloop.ioloop import (  # noqa: E402
    DelayedCallback,
    IOLoop,
    PeriodicCallback,
    ZMQPoller,
)

# Long enough never to fire on a working loop; short enough to fail fast.
LIMIT = 5.0


@contextlib.contextmanager
def running_idle(io_loop: IOLoop) -> Iterator[gevent.Greenlet]:
    """Run ``io_loop`` in a greenlet; hand control back once it is parked with nothing to do."""
    started = Event()
    io_loop.add_callback(started.set)
    runner = gevent.spawn(io_loop.start)
    assert started.wait(LIMIT), "loop did not start"
    # The precondition of every "wakes an idle loop" test.
    assert io_loop.asyncio_loop._selector.parked
    try:
        yield runner
    finally:
        if not runner.dead:
            io_loop.add_callback(io_loop.stop)
            runner.join(LIMIT)
        assert runner.dead, "loop did not stop"
        runner.get()


# -- packaging and import paths ------------------------------------------------


@pytest.mark.timeout(60)
def test_importing_green_zmq_does_not_import_tornado() -> None:
    code = "import sys, green_zmq; assert 'tornado' not in sys.modules, 'tornado imported'"
    result = run_python(code, check=False)
    assert result.returncode == 0, result.stderr


MONKEY_PATCHED_PROGRAM = """
from gevent import monkey
monkey.patch_all()
import asyncio, threading
import gevent
import green_zmq as zmq
from green_zmq.eventloop.ioloop import IOLoop
from green_zmq.eventloop.zmqstream import ZMQStream

ctx = zmq.Context()
loop = IOLoop.current()
rep = ctx.socket(zmq.REP)
port = rep.bind_to_random_port("tcp://127.0.0.1")
stream = ZMQStream(rep)
stream.on_recv(stream.send_multipart)
got = []

def client():
    req = ctx.socket(zmq.REQ)
    req.connect("tcp://127.0.0.1:%d" % port)
    for i in range(50):
        req.send(b"%d" % i)
        got.append(req.recv())
    req.close()
    # A patched thread is a greenlet: it must still reach the loop.
    threading.Thread(target=lambda: loop.add_callback(loop.stop)).start()

gevent.spawn(client)
loop.start()

async def main():
    await asyncio.sleep(0.001)
    return IOLoop.current() is loop

assert loop.run_sync(main, timeout=5)
assert got == [b"%d" % i for i in range(50)], got
stream.close()
ctx.destroy(linger=0)
print("ok")
"""


@pytest.mark.timeout(60)
def test_works_in_a_monkey_patched_program() -> None:
    result = run_python(MONKEY_PATCHED_PROGRAM, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.timeout(10)
def test_pyzmq_green_eventloop_import_paths_exist() -> None:
    import green_zmq.eventloop
    from green_zmq.eventloop import zmqstream

    assert green_zmq.eventloop.IOLoop is IOLoop
    assert ioloop.ZMQIOLoop is IOLoop
    assert issubclass(IOLoop, tornado.ioloop.IOLoop)
    assert issubclass(PeriodicCallback, tornado.ioloop.PeriodicCallback)
    assert callable(ioloop.install)
    assert zmqstream.ZMQStream.__module__ == "green_zmq.eventloop.zmqstream"
    assert (IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR) == (1, 4, 0x18)


# -- cooperation ---------------------------------------------------------------


@pytest.mark.timeout(10)
def test_other_greenlets_progress_while_loop_runs(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    seen_running = []

    def ping() -> None:
        for i in range(100):
            a.send(b"%d" % i)
            seen_running.append(loop.asyncio_loop.is_running())

    def pong() -> None:
        for _ in range(100):
            b.recv()
        # Nothing else wakes the loop: this stop must.
        loop.stop()

    workers = [gevent.spawn(ping), gevent.spawn(pong)]
    loop.start()
    gevent.joinall(workers, timeout=LIMIT, raise_error=True)
    assert seen_running == [True] * 100


@pytest.mark.timeout(10)
def test_callback_may_block_greenly_without_deadlock(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    about_to_block = Event()
    got = []

    def callback() -> None:
        about_to_block.set()
        got.append(a.recv())  # blocks the loop's greenlet only
        loop.stop()

    def sender() -> None:
        assert about_to_block.wait(LIMIT)
        b.send(b"while the callback waits")

    helper = gevent.spawn(sender)
    loop.add_callback(callback)
    loop.start()
    helper.get(timeout=LIMIT)
    assert got == [b"while the callback waits"]


# -- work handed over from another greenlet wakes an idle loop ------------------


def _hand_over(kind: str, io_loop: IOLoop, done: Event) -> None:
    aio = io_loop.asyncio_loop
    if kind == "add_callback":
        io_loop.add_callback(done.set)
    elif kind == "spawn_callback":
        io_loop.spawn_callback(done.set)
    elif kind == "call_later":
        io_loop.call_later(0.01, done.set)
    elif kind == "call_at":
        io_loop.call_at(io_loop.time() + 0.01, done.set)
    elif kind == "add_timeout":
        io_loop.add_timeout(datetime.timedelta(milliseconds=10), done.set)
    elif kind == "asyncio_call_soon":
        aio.call_soon(done.set)
    elif kind == "asyncio_call_later":
        aio.call_later(0.01, done.set)
    elif kind == "asyncio_call_at":
        aio.call_at(aio.time() + 0.01, done.set)
    elif kind == "future_completed":
        future = aio.create_future()
        io_loop.add_future(future, lambda f: done.set())
        gevent.sleep(0)  # the loop stays parked: nothing was handed to it yet
        future.set_result(None)
    elif kind == "task_created":

        async def task() -> None:
            done.set()

        aio.create_task(task())
    else:  # pragma: no cover
        raise AssertionError(kind)


HAND_OVERS = [
    "add_callback",
    "spawn_callback",
    "call_later",
    "call_at",
    "add_timeout",
    "asyncio_call_soon",
    "asyncio_call_later",
    "asyncio_call_at",
    "future_completed",
    "task_created",
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", HAND_OVERS)
def test_work_from_another_greenlet_wakes_idle_loop(loop: IOLoop, kind: str) -> None:
    done = Event()
    with running_idle(loop):
        # The calling greenlet is not the loop's: the loop has nothing else
        # to do, so only a wakeup can make this happen.
        _hand_over(kind, loop, done)
        assert done.wait(LIMIT), f"{kind} from another greenlet never ran"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("stop", ["ioloop_stop", "asyncio_stop"])
def test_stop_from_another_greenlet_stops_idle_loop(loop: IOLoop, stop: str) -> None:
    with running_idle(loop) as runner:
        if stop == "ioloop_stop":
            loop.stop()
        else:
            loop.asyncio_loop.stop()
        runner.join(LIMIT)
        assert runner.dead


@pytest.mark.timeout(10)
def test_add_handler_from_another_greenlet_is_watched_at_once(loop: IOLoop) -> None:
    r, w = socket.socketpair()
    events = []
    done = Event()

    def handler(fd: socket.socket, mask: int) -> None:
        events.append((fd, mask))
        fd.recv(1)
        done.set()

    try:
        with running_idle(loop):
            loop.add_handler(r, handler, IOLoop.READ)
            w.send(b"x")
            assert done.wait(LIMIT), "handler added from another greenlet never fired"
            loop.remove_handler(r)
    finally:
        r.close()
        w.close()
    assert events == [(r, IOLoop.READ)]


@pytest.mark.timeout(10)
def test_handler_narrowed_from_another_greenlet_keeps_watching(loop: IOLoop) -> None:
    # Dropping WRITE re-registers READ with the selector, which only starts
    # watching it at the next select(): the loop must be woken for that.
    w, r = socket.socketpair()
    w.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            w.send(b"x" * 65536)  # full: w is not writable
    done = Event()
    try:
        loop.add_handler(w, lambda fd, mask: (done.set(), loop.remove_handler(fd)), 0)
        with running_idle(loop):
            loop.update_handler(w, IOLoop.READ | IOLoop.WRITE)
            cycled = Event()
            loop.add_callback(cycled.set)
            assert cycled.wait(LIMIT)
            gevent.sleep(0)  # the loop parks again, watching both directions
            assert loop.asyncio_loop._selector.parked
            loop.update_handler(w, IOLoop.READ)
            r.send(b"y")
            assert done.wait(LIMIT), "READ was not watched after WRITE was dropped"
    finally:
        r.close()
        w.close()


@pytest.mark.timeout(10)
def test_add_callback_from_another_thread(loop: IOLoop) -> None:
    ran_in = []

    def from_thread() -> None:
        loop.add_callback(lambda: (ran_in.append(gevent.getcurrent()), loop.stop()))

    thread = threading.Thread(target=from_thread)
    loop.add_callback(thread.start)  # once the loop runs, and is idle
    loop.start()
    thread.join(LIMIT)
    assert ran_in == [gevent.getcurrent()]


@pytest.mark.timeout(10)
def test_add_future_with_a_future_finished_in_another_thread(loop: IOLoop) -> None:
    got = []
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: release.wait(LIMIT) and 7)
        loop.add_future(future, lambda f: (got.append(f.result()), loop.stop()))
        loop.add_callback(release.set)  # the result arrives while the loop runs
        loop.start()
    assert got == [7]


@pytest.mark.timeout(10)
def test_run_in_executor_result_reaches_the_idle_loop(loop: IOLoop) -> None:
    assert loop.run_sync(lambda: loop.run_in_executor(None, sum, [1, 2, 3])) == 6


@pytest.mark.timeout(10)
def test_add_callback_from_signal(loop: IOLoop) -> None:
    with warnings.catch_warnings():
        # tornado 6.4 deprecated it; older versions do not warn.
        warnings.simplefilter("ignore", DeprecationWarning)
        loop.add_callback_from_signal(loop.stop)
    loop.start()  # returns: the callback ran


@pytest.mark.timeout(10)
def test_loop_started_in_another_thread_is_refused(loop: IOLoop) -> None:
    errors = []

    def start() -> None:
        try:
            loop.start()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(LIMIT)
    assert len(errors) == 1 and "thread" in str(errors[0])


# -- coroutines and the current loop ------------------------------------------


@pytest.mark.timeout(10)
def test_run_sync_runs_coroutine_function_and_coroutine(loop: IOLoop) -> None:
    async def main(value: int) -> tuple[int, bool, bool]:
        await asyncio.sleep(0.001)
        return (
            value,
            IOLoop.current() is loop,
            asyncio.get_running_loop() is loop.asyncio_loop,
        )

    assert loop.run_sync(lambda: main(1)) == (1, True, True)
    assert loop.run_sync(main(2)) == (2, True, True)


@pytest.mark.timeout(10)
def test_run_sync_timeout_raises(loop: IOLoop) -> None:
    with pytest.raises(ioloop.TimeoutError):
        loop.run_sync(lambda: asyncio.sleep(3600), timeout=0.01)


@pytest.mark.timeout(10)
def test_async_callback_runs_on_the_loop(loop: IOLoop) -> None:
    result = []

    async def callback() -> None:
        await asyncio.sleep(0)
        result.append(asyncio.get_running_loop())
        loop.stop()

    loop.add_callback(callback)
    loop.start()
    assert result == [loop.asyncio_loop]


@pytest.mark.timeout(10)
def test_current_inside_callback_is_the_running_loop(loop: IOLoop) -> None:
    other = IOLoop(make_current=False)
    seen = []
    try:
        other.add_callback(lambda: (seen.append(IOLoop.current()), other.stop()))
        other.start()
    finally:
        other.close()
    assert seen == [other]
    assert IOLoop.current() is loop


@pytest.mark.timeout(10)
def test_current_and_instance_outside_a_loop_are_this_threads_green_loop() -> None:
    IOLoop.clear_instance()
    first = IOLoop.current()
    try:
        assert isinstance(first, IOLoop)
        assert IOLoop.instance() is first
        assert IOLoop.current() is first
        assert tornado.ioloop.IOLoop.current() is first
        IOLoop.clear_instance()
        assert IOLoop.current(instance=False) is None
        second = IOLoop.current()
        assert second is not first
        first.install()
        assert IOLoop.current() is first
        second.close()
    finally:
        first.close()
    assert IOLoop.current(instance=False) is None


@pytest.mark.timeout(10)
def test_current_in_another_greenlet_is_not_the_running_loop(loop: IOLoop) -> None:
    other = IOLoop(make_current=False)
    seen = {}
    try:
        with running_idle(other):

            def look() -> None:
                seen["current"] = IOLoop.current()
                with pytest.raises(RuntimeError):
                    asyncio.get_running_loop()

            gevent.spawn(look).get(timeout=LIMIT)
    finally:
        other.close()
    assert seen["current"] is loop


@pytest.mark.timeout(10)
def test_a_loop_leaves_no_plain_asyncio_loop_behind() -> None:
    IOLoop.clear_instance()
    asyncio.set_event_loop(None)
    io_loop = IOLoop()
    assert asyncio.get_event_loop_policy().get_event_loop() is io_loop.asyncio_loop
    io_loop.close()
    # tornado itself would restore a plain loop it made on the side.
    with pytest.raises(RuntimeError):
        asyncio.get_event_loop_policy().get_event_loop()


@pytest.mark.timeout(10)
def test_install_makes_green_loop_tornados_default() -> None:
    IOLoop.clear_instance()
    try:
        ioloop.install()
        installed = IOLoop.current()
        assert tornado.ioloop.IOLoop.current() is installed
        made = tornado.ioloop.IOLoop(make_current=False)
        assert isinstance(made, IOLoop)
        made.close()
    finally:
        tornado.ioloop.IOLoop.configure(None)
        IOLoop.current().close()


@pytest.mark.timeout(10)
def test_asyncio_run_in_another_greenlet_while_loop_runs(loop: IOLoop) -> None:
    async def answer() -> int:
        return 42

    with running_idle(loop):
        # A plain asyncio.run would refuse: the thread "has a running loop".
        assert gevent.spawn(asyncio.run, answer()).get(timeout=LIMIT) == 42


@pytest.mark.timeout(10)
def test_two_loops_in_two_greenlets_each_see_their_own(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    second = IOLoop(make_current=False)
    waiting = Event()
    log = []

    async def first_loop() -> None:
        waiting.set()
        msg = a.recv()  # parks the first loop's greenlet mid-coroutine
        await asyncio.sleep(0)  # must find its own loop again
        log.append(("first", msg, asyncio.get_running_loop() is loop.asyncio_loop))

    async def second_loop() -> None:
        await asyncio.sleep(0)
        log.append(("second", IOLoop.current() is second))
        b.send(b"go")

    def run_second() -> None:
        assert waiting.wait(LIMIT)
        second.run_sync(second_loop)

    helper = gevent.spawn(run_second)
    try:
        loop.run_sync(first_loop, timeout=LIMIT)
        helper.get(timeout=LIMIT)
    finally:
        second.close()
    assert log == [("second", True), ("first", b"go", True)]


@pytest.mark.timeout(10)
def test_switch_tracer_is_removed_when_loops_stop(loop: IOLoop) -> None:
    before = greenlet.gettrace()
    loop.add_callback(lambda: (seen.append(greenlet.gettrace()), loop.stop()))
    seen: list[object] = []
    loop.start()
    assert seen[0] is not None
    assert greenlet.gettrace() is before


@pytest.mark.timeout(10)
def test_tracer_installed_on_top_of_ours_keeps_chaining(loop: IOLoop) -> None:
    # E.g. gevent's monitor thread installs its own tracer, which calls the
    # one it found. Ours must neither be dropped from under it nor recurse.
    before = greenlet.gettrace()
    switches = []
    chained: dict[str, object] = {}

    def other_tracer(event: str, args: object) -> None:
        switches.append(event)
        chained["next"](event, args)  # type: ignore[operator]

    def install_other() -> None:
        chained["next"] = greenlet.settrace(other_tracer)
        loop.stop()

    try:
        loop.add_callback(install_other)
        loop.start()
        assert greenlet.gettrace() is other_tracer
        # Started again, with the other tracer still on top, and after it
        # was taken off: asyncio's running loop still follows the greenlets.
        for _ in range(2):
            with running_idle(loop):
                with pytest.raises(RuntimeError):
                    gevent.spawn(asyncio.get_running_loop).get(timeout=LIMIT)
            assert loop.run_sync(lambda: asyncio.sleep(0.001, "ok")) == "ok"
            greenlet.settrace(before)
        assert switches
    finally:
        greenlet.settrace(before)


@pytest.mark.timeout(10)
def test_killing_the_loops_greenlet_stops_it_cleanly(loop: IOLoop) -> None:
    before = greenlet.gettrace()
    with running_idle(loop) as runner:
        runner.kill(block=True, timeout=LIMIT)
        assert runner.dead
    assert greenlet.gettrace() is before
    assert not loop.asyncio_loop.is_running()
    # Still usable: it can run again.
    assert loop.run_sync(lambda: asyncio.sleep(0, "again")) == "again"


@pytest.mark.timeout(10)
def test_green_event_loop_runs_plain_asyncio_code() -> None:
    aio = GreenEventLoop()
    ticks = []

    def ticker() -> None:
        while True:
            ticks.append(None)
            gevent.sleep(0)

    async def main() -> int:
        await asyncio.sleep(0.01)
        return len(ticks)

    helper = gevent.spawn(ticker)
    try:
        assert aio.run_until_complete(main()) > 0
    finally:
        helper.kill()
        aio.close()


# -- timeouts, handlers and the rest of the IOLoop API --------------------------


@pytest.mark.timeout(10)
def test_timeouts_fire_in_order_and_removed_ones_do_not(loop: IOLoop) -> None:
    fired = []
    now = loop.time()
    loop.call_at(now + 0.03, fired.append, "call_at")
    loop.add_timeout(now + 0.01, fired.append, "add_timeout")
    loop.add_timeout(datetime.timedelta(seconds=0.02), fired.append, "timedelta")
    removed = loop.call_later(0.015, fired.append, "removed")
    loop.remove_timeout(removed)
    loop.call_later(0.04, loop.stop)
    loop.start()
    assert fired == ["add_timeout", "timedelta", "call_at"]


@pytest.mark.timeout(10)
def test_time_is_wall_clock(loop: IOLoop) -> None:
    before = time.time()
    now = loop.time()
    assert before <= now <= time.time()


@pytest.mark.timeout(10)
def test_fd_handlers_add_update_remove(loop: IOLoop) -> None:
    r, w = socket.socketpair()
    events: list[int] = []

    def handler(fd: socket.socket, mask: int) -> None:
        events.append(mask)
        if mask & IOLoop.READ:
            fd.recv(16)
            loop.update_handler(fd, IOLoop.WRITE)
        else:
            loop.remove_handler(fd)
            loop.stop()

    try:
        loop.add_handler(r, handler, IOLoop.READ)
        w.send(b"x")
        loop.start()
    finally:
        r.close()
        w.close()
    assert events == [IOLoop.READ, IOLoop.WRITE]


@pytest.mark.timeout(10)
def test_zmq_socket_handler_gets_socket_and_read(ctx: zmq.Context, loop: IOLoop) -> None:
    a, b = pair(ctx)
    got = []

    def handler(sock: zmq.Socket, mask: int) -> None:
        # The FD says "check EVENTS", not "readable" (design.md, "The FD is an edge").
        while sock.get(zmq.EVENTS) & zmq.POLLIN:
            got.append((sock, mask, sock.recv()))
        if got:
            loop.remove_handler(sock)
            loop.stop()

    loop.add_handler(a, handler, IOLoop.READ)
    gevent.spawn(b.send, b"hello")
    loop.start()
    assert got == [(a, IOLoop.READ, b"hello")]


@pytest.mark.timeout(10)
def test_close_all_fds_closes_registered_files() -> None:
    io_loop = IOLoop(make_current=False)
    r, w = socket.socketpair()
    io_loop.add_handler(r, lambda fd, mask: None, IOLoop.READ)
    io_loop.close(all_fds=True)
    w.close()
    assert r.fileno() == -1
    # tornado's rule: callbacks handed to a closed loop are dropped silently.
    io_loop.add_callback(lambda: None)


# -- PeriodicCallback, DelayedCallback ---------------------------------------


@pytest.mark.timeout(10)
def test_periodic_callback_repeats_until_stopped(loop: IOLoop) -> None:
    calls = []

    def tick() -> None:
        calls.append(loop.time())
        if len(calls) == 3:
            periodic.stop()
            loop.add_callback(loop.stop)

    periodic = PeriodicCallback(tick, 5)
    periodic.start()
    assert periodic.is_running()
    loop.start()
    assert len(calls) == 3
    assert not periodic.is_running()
    assert calls == sorted(calls)


@pytest.mark.timeout(10)
def test_periodic_callback_io_loop_keyword_binds_the_loop(loop: IOLoop) -> None:
    other = IOLoop(make_current=False)
    try:
        periodic = PeriodicCallback(other.stop, 1, io_loop=other)
        periodic.start()
        assert periodic.io_loop is other
        other.start()
        periodic.stop()
    finally:
        other.close()


@pytest.mark.timeout(10)
def test_delayed_callback_fires_once(loop: IOLoop) -> None:
    calls = []
    delayed = DelayedCallback(lambda: calls.append(1), 5)
    delayed.start()
    assert delayed.is_running()
    loop.call_later(0.05, loop.stop)
    loop.start()
    assert calls == [1]
    assert not delayed.is_running()


@pytest.mark.timeout(10)
def test_delayed_callback_stop_cancels_and_restart_reschedules(loop: IOLoop) -> None:
    calls = []
    cancelled = DelayedCallback(lambda: calls.append("cancelled"), 1, io_loop=loop)
    cancelled.start()
    cancelled.stop()
    restarted = DelayedCallback(lambda: calls.append("restarted"), 1, io_loop=loop)
    restarted.start()
    restarted.start()
    loop.call_later(0.05, loop.stop)
    loop.start()
    assert calls == ["restarted"]


@pytest.mark.timeout(10)
def test_delayed_callback_rejects_negative_time() -> None:
    with pytest.raises(ValueError):
        DelayedCallback(lambda: None, -1)


# -- ZMQPoller ------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_zmq_poller_masks_and_seconds(ctx: zmq.Context) -> None:
    a, b = pair(ctx)
    poller = ZMQPoller()
    poller.register(a, IOLoop.READ)
    assert poller.poll(0) == []
    b.send(b"x")
    assert poller.poll(LIMIT) == [(a, IOLoop.READ)]
    poller.modify(a, IOLoop.READ | IOLoop.WRITE)
    assert poller.poll(0) == [(a, IOLoop.READ | IOLoop.WRITE)]
    poller.modify(a, IOLoop.WRITE)
    assert poller.poll(0) == [(a, IOLoop.WRITE)]
    poller.unregister(a)
    assert poller.poll(0) == []
    with pytest.raises(KeyError):
        poller.unregister(a)
    poller.close()


@pytest.mark.timeout(10)
def test_zmq_poller_times_out_with_nothing_ready(ctx: zmq.Context) -> None:
    a, _ = pair(ctx)
    poller = ZMQPoller()
    poller.register(a, IOLoop.READ)
    assert poller.poll(0.01) == []
    poller.close()


@pytest.mark.timeout(10)
def test_zmq_poller_wait_blocks_only_the_calling_greenlet(ctx: zmq.Context) -> None:
    a, b = pair(ctx)
    poller = ZMQPoller()
    poller.register(a, IOLoop.READ)
    parked = zmq.statistics().parked
    waiter = gevent.spawn(poller.poll, None)
    gevent.sleep(0)  # it runs first, and parks
    assert zmq.statistics().parked == parked + 1
    b.send(b"x")  # this greenlet runs while the poller waits
    assert waiter.get(timeout=LIMIT) == [(a, IOLoop.READ)]
    poller.close()


# -- a loop that is not running does not hold the hub ----------------------------

HUB_RELEASE_PROGRAM = """
import sys
import gevent
import green_zmq as zmq
from green_zmq.eventloop.ioloop import IOLoop
from green_zmq.eventloop.zmqstream import ZMQStream

ctx = zmq.Context()
a = ctx.socket(zmq.PAIR)
a.bind("inproc://a")
b = ctx.socket(zmq.PAIR)
b.connect("inproc://a")
loop = IOLoop()
stream = ZMQStream(a, loop)
how = sys.argv[1]
if how == "start":
    stream.on_recv(lambda msg: loop.stop())
    b.send(b"stop")
    loop.start()
elif how == "run_sync":
    loop.run_sync(lambda: None)
stream.close()
b.close()
ctx.term()
# True when nothing keeps the hub busy any more; the loop is still open.
print(gevent.wait(timeout=5))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["never run", "start", "run_sync"])
def test_a_loop_that_is_not_running_lets_gevent_wait_return(how: str) -> None:
    result = run_python(HUB_RELEASE_PROGRAM, how, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True", "the idle loop kept the hub alive"


@pytest.mark.timeout(10)
def test_a_running_loop_still_holds_the_hub(loop: IOLoop) -> None:
    # Its runner parks in select() with no timer, and the stop comes from
    # another thread: the loop's io watchers are all that keep the hub (and
    # gevent.wait) going until then.
    refused = []

    def start_again() -> None:
        # A refused second start must not let go of the running loop's hub.
        try:
            loop.start()
        except RuntimeError as e:
            refused.append(e)

    loop.add_callback(start_again)
    runner = gevent.spawn(loop.start)
    stopper = threading.Timer(0.2, loop.add_callback, (loop.stop,))
    stopper.start()
    try:
        gevent.wait([runner])
        assert runner.dead
    finally:
        stopper.cancel()
    runner.get()
    assert len(refused) == 1


# -- add_reader / add_handler refuse what asyncio's own selector refuses -----------


def registration_outcome(loop: asyncio.AbstractEventLoop, method: str, fd: int) -> Any:
    try:
        getattr(loop, method)(fd, lambda: None)
    except Exception as exc:
        return type(exc), getattr(exc, "errno", None)
    return "accepted"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("what", ["closed fd", "regular file", "directory", "socket", "huge fd"])
def test_fd_registration_errors_match_a_plain_asyncio_loop(what: str, tmp_path: Any) -> None:
    plain = asyncio.SelectorEventLoop()
    green = GreenEventLoop()
    files: list[Any] = []
    try:
        # Made after the loops, so that a closed fd's number is not reused by them.
        if what == "closed fd":
            r, w = os.pipe()
            os.close(r)
            os.close(w)
            fd = r
        elif what == "regular file":
            files.append(open(tmp_path / "regular", "wb"))
            fd = files[-1].fileno()
        elif what == "directory":
            fd = os.open(tmp_path, os.O_RDONLY)
            files.append(_Fd(fd))
        elif what == "socket":
            files.extend(socket.socketpair())
            fd = files[-1].fileno()
        else:
            fd = 1_000_000
        for method in ("add_reader", "add_writer"):
            expected = registration_outcome(plain, method, fd)
            assert registration_outcome(green, method, fd) == expected, method
            # A refused fd is not left half-registered: the same error again.
            assert registration_outcome(green, method, fd) == expected, method
            if expected == "accepted":
                getattr(plain, "remove_" + method[4:])(fd)
                getattr(green, "remove_" + method[4:])(fd)
    finally:
        for f in files:
            f.close()
        plain.close()
        green.close()


class _Fd:
    """A raw fd that closes like a file."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


@pytest.mark.timeout(10)
def test_add_handler_on_a_regular_file_raises_as_tornado_on_asyncio(
    loop: IOLoop, tmp_path: Any
) -> None:
    with open(tmp_path / "regular", "wb") as regular:
        with pytest.raises(PermissionError) as green_error:
            loop.add_handler(regular.fileno(), lambda fd, events: None, IOLoop.READ)
        plain_loop = AsyncIOLoop(make_current=False)
        try:
            with pytest.raises(PermissionError) as plain_error:
                plain_loop.add_handler(regular.fileno(), lambda fd, events: None, IOLoop.READ)
        finally:
            plain_loop.close()
    assert green_error.value.errno == plain_error.value.errno


# -- an fd closed while registered (design.md, "Closed file descriptors") ----------------

# A plain asyncio loop, then the green one, in a child interpreter: a libev
# watcher left on the closed fd aborted the process. ``reused``: the next
# pipe takes the closed fd's number, and has data.
FD_CLOSED_WHILE_REGISTERED = """
import asyncio, os, sys

import gevent

from green_zmq.asyncio import GreenEventLoop


def attempt(call):
    try:
        return call()
    except Exception as exc:
        return type(exc).__name__, getattr(exc, "errno", None)


def run_briefly(loop):
    loop.call_later(0.05, loop.stop)
    loop.run_forever()


def outcome(loop, reused):
    calls = []
    r, w = os.pipe()
    loop.add_reader(r, calls.append, "closed pipe")
    os.close(r)
    os.close(w)
    if reused:
        r2, w2 = os.pipe()
        assert r2 == r
        os.write(w2, b"x")
    run_briefly(loop)
    # Which callbacks ran (a level-triggered fd nobody reads calls back
    # on every loop iteration: how often is a matter of speed).
    steps = [sorted(set(calls))]
    steps.append(attempt(lambda: loop.add_writer(r, calls.append, "writer")))
    steps.append(attempt(lambda: loop.remove_reader(r)))
    steps.append(attempt(lambda: loop.remove_writer(r)))
    # Registered afresh: the file that has the number now, if any.
    steps.append(attempt(lambda: loop.add_reader(r, calls.append, "registered afresh")))
    run_briefly(loop)
    steps.append(sorted(set(calls)))
    steps.append(attempt(lambda: loop.remove_reader(r)))
    loop.close()
    if reused:
        os.close(r2)
        os.close(w2)
    return steps


reused = sys.argv[1] == "reused"
print(repr(outcome(asyncio.SelectorEventLoop(), reused)), flush=True)
print(repr(outcome(GreenEventLoop(), reused)), flush=True)
# The hub runs on: nothing of the loop may be left on the closed fd.
gevent.sleep(0.05)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reused", ["closed", "reused"])
def test_fd_closed_while_registered_does_what_it_does_to_a_plain_asyncio_loop(
    reused: str,
) -> None:
    result = run_python(FD_CLOSED_WHILE_REGISTERED, reused)
    plain, green = result.stdout.splitlines()
    assert green == plain


# -- the green asyncio loop on its own ---------------------------------------------

NO_TORNADO_PROGRAM = """
import sys
sys.modules["tornado"] = None  # as if the eventloop extra were not installed
import asyncio, gevent
from green_zmq.asyncio import GreenEventLoop

ticks = []
def ticker():
    while True:
        ticks.append(1)
        gevent.sleep(0.001)

async def main():
    await asyncio.sleep(0.05)
    return "done"

other = gevent.spawn(ticker)
loop = GreenEventLoop()
print(loop.run_until_complete(main()), len(ticks) > 5)
other.kill()
loop.close()
"""


@pytest.mark.timeout(30)
def test_the_green_asyncio_loop_needs_no_tornado_and_lets_greenlets_run() -> None:
    assert run_python(NO_TORNADO_PROGRAM).stdout.split() == ["done", "True"]
