"""Shared fixtures: a green context per test, and the missed-edge check.

Unless GREEN_ZMQ_SWEEP_INTERVAL is set (CI also runs the suite with it set
to 0, the sweeper off, and GREEN_ZMQ_SPIN=0, the hub's spin off), the
sweeper runs every 50 ms so that it really looks at the sockets our tests
wait on; after every test its missed-edge counter must not have moved.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import Ticker

if "GREEN_ZMQ_SWEEP_INTERVAL" not in os.environ:
    zmq.set_sweep_interval(0.05)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here rather than in tests/stress/conftest.py: pytest reads a
    # subdirectory's options only when that directory is named on the
    # command line, and ``pytest --long`` should work from anywhere.
    parser.addoption(
        "--long",
        action="store_true",
        help="run the stress suite at full size (same as GREEN_ZMQ_STRESS=long)",
    )


@pytest.fixture(autouse=True)
def no_missed_edges() -> Iterator[None]:
    before = zmq.statistics().missed_edges
    yield
    assert zmq.statistics().missed_edges == before, "the sweeper found a lost wakeup"


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
