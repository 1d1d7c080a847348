"""Shared fixtures: a green context per test, and the missed-edge check.

Unless GREEN_ZMQ_SWEEP_INTERVAL is set (CI also runs the suite with it set
to 0, the sweeper off, and GREEN_ZMQ_SPIN=0, the hub's spin off), the
sweeper runs every 50 ms so that it really looks at the sockets our tests
wait on; after every test its missed-edge counter must not have moved.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import gevent
import greenlet
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from green_zmq._waiting import turns
from helpers import Ticker, left_running

if "GREEN_ZMQ_SWEEP_INTERVAL" not in os.environ:
    zmq.set_sweep_interval(0.05)
# The suite's settings, which every test must leave as it found them.
_spin = zmq.set_spin(0)
zmq.set_spin(_spin)
_sweep_interval = zmq.set_sweep_interval(0)
zmq.set_sweep_interval(_sweep_interval)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here rather than in tests/stress/conftest.py: pytest reads a
    # subdirectory's options only when that directory is named on the
    # command line, and ``pytest --long`` should work from anywhere.
    parser.addoption(
        "--long",
        action="store_true",
        help="run the stress suite at full size (same as GREEN_ZMQ_STRESS=long)",
    )
    parser.addoption(
        "--figures",
        action="store_true",
        help="print the figures the stress and multi-host tests record (so does -v)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Each suite by the folder it lives in: ``pytest -m "not stress"``.
    for item in items:
        parts = item.path.parts
        for folder in ("stress", "hosts"):
            if folder in parts:
                item.add_marker(folder)


@pytest.fixture(autouse=True)
def no_missed_edges() -> Iterator[None]:
    before = zmq.statistics().missed_edges
    yield
    assert zmq.statistics().missed_edges == before, "the sweeper found a lost wakeup"


def _parked_greenlets() -> list[Any]:
    """Greenlets of this thread parked in green_zmq's waiting machinery (found the slow way)."""
    parked = []
    for obj in gc.get_objects():
        if isinstance(obj, greenlet.greenlet) and obj and not obj.dead:
            frame = obj.gr_frame
            while frame is not None:
                if frame.f_code is _park_code:
                    parked.append(obj)
                    break
                frame = frame.f_back
    return parked


_park_code = turns.park.__code__


@pytest.fixture(autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """Each test leaves the settings as it found them, and no greenlet parked.

    A greenlet a test left waiting (it failed half way, say) would count in
    every later test's ``statistics()``, and a setting it changed would hold
    for every later test: the tests would depend on their order. The
    greenlets woken by the test's own clean-up (its context destroyed) get
    a few rounds of the hub to leave; what is still parked then is killed,
    and the test fails.
    """
    # A fresh start for the hub's spin credit and sweeper timer too.
    zmq.set_spin(_spin)
    zmq.set_sweep_interval(_sweep_interval)
    parked = zmq.statistics().parked
    yield
    spin, sweep = zmq.set_spin(_spin), zmq.set_sweep_interval(_sweep_interval)
    assert (spin, sweep) == (_spin, _sweep_interval), "the test changed the spin or the sweeper"
    for _ in range(100):
        if zmq.statistics().parked <= parked:
            return
        gevent.sleep(0.001)
    left = _parked_greenlets()
    for g in left:
        g.throw(gevent.GreenletExit) if not isinstance(g, gevent.Greenlet) else g.kill()
    pytest.fail(f"the test left {len(left)} greenlet(s) parked: {left}", pytrace=False)


class KeepingContext(zmq.Context):
    """Holds its sockets until destroy(), so none is collected unclosed mid-test."""

    kept: list[zmq.Socket]

    def socket(self, *args: Any, **kwargs: Any) -> zmq.Socket:  # type: ignore[override]
        sock = super().socket(*args, **kwargs)
        self.kept.append(sock)
        return sock


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = KeepingContext()
    context.kept = []
    yield context
    context.destroy(linger=0)


@pytest.fixture
def plain_ctx() -> Iterator[plain_zmq.Context]:
    """A plain pyzmq context, for the reference run of a scenario (see helpers.in_thread)."""
    context = plain_zmq.Context()
    yield context
    if any(thread.is_alive() for thread in left_running):
        # libzmq aborts the process when a socket is closed under a thread
        # blocked in it: leave this context to the process's end.
        return
    context.destroy(linger=0)


@pytest.fixture
def plain_pair() -> Iterator[tuple[plain_zmq.Context, plain_zmq.Socket, plain_zmq.Socket]]:
    """A plain pyzmq context and two connected PAIR sockets of it, for shadows."""
    context = plain_zmq.Context()
    a = context.socket(plain_zmq.PAIR)
    b = context.socket(plain_zmq.PAIR)
    a.bind("inproc://shadowed")
    b.connect("inproc://shadowed")
    yield context, a, b
    context.destroy(linger=0)


@pytest.fixture
def loop() -> Iterator[Any]:
    """A green IOLoop (the eventloop extra), closed after the test."""
    pytest.importorskip("tornado")
    from green_zmq.eventloop.ioloop import IOLoop

    io_loop = IOLoop()
    yield io_loop
    if not io_loop.asyncio_loop.is_closed():
        io_loop.close()
    IOLoop.clear_current()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """An OS pipe (read end, write end), closed after the test unless the test closed it."""
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def no_sweeper() -> Iterator[None]:
    """Turn the safety net off, so a lost wakeup hangs the test instead of healing."""
    saved = zmq.set_sweep_interval(0)
    yield
    zmq.set_sweep_interval(saved)


@pytest.fixture
def ticker() -> Iterator[Ticker]:
    t = Ticker()
    yield t
    t.stop()
