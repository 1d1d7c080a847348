"""The hub's short spin after a wait begins (set_spin): bounded, optional, harmless."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gevent
import pytest

import green_zmq as zmq
from green_zmq._waiting.registry import hub_waiting
from helpers import pair, run_python, spawn_parked

pytestmark = pytest.mark.timeout(20)


def _spin_watcher():
    return hub_waiting(gevent.get_hub()).spin_watcher


def _spinning() -> bool:
    watcher = _spin_watcher()
    return watcher is not None and watcher.active


def _until_the_spin_ends() -> None:
    with gevent.Timeout(5):
        while _spinning():
            gevent.sleep(0.01)


@contextmanager
def _spin_set_to(seconds: float) -> Iterator[None]:
    previous = zmq.set_spin(seconds)
    try:
        yield
    finally:
        zmq.set_spin(previous)




def test_a_wait_keeps_the_loop_polling_for_the_spin_time_then_lets_it_sleep(ctx):
    a, b = pair(ctx)
    with _spin_set_to(0.3):
        reader = spawn_parked(b.recv)
        assert _spinning()
        _until_the_spin_ends()
        # Still parked after the spin ended; the FD watcher wakes it as ever.
        assert not reader.ready()
        a.send(b"after the spin")
        assert reader.get(timeout=5) == b"after the spin"


def test_spin_zero_never_starts_the_spin(ctx):
    a, b = pair(ctx)
    with _spin_set_to(0):
        _until_the_spin_ends()  # one left by an earlier wait
        reader = spawn_parked(b.recv)
        assert not _spinning()
        a.send(b"x")
        assert reader.get(timeout=5) == b"x"


def test_the_spin_never_keeps_the_loop_alive(ctx):
    a, b = pair(ctx)
    reader = spawn_parked(b.recv)
    assert _spin_watcher().ref is False
    a.send(b"x")
    reader.get(timeout=5)


def test_set_spin_returns_the_previous_value():
    previous = zmq.set_spin(0.001)
    try:
        assert zmq.set_spin(0.002) == 0.001
    finally:
        zmq.set_spin(previous)


def test_negative_spin_is_rejected():
    with pytest.raises(ValueError):
        zmq.set_spin(-1)


@pytest.mark.parametrize(("value", "expected"), [("0", "0.0"), ("0.0002", "0.0002")])
def test_spin_is_read_from_the_environment(value, expected):
    code = "import green_zmq; print(green_zmq.set_spin(0))"
    out = run_python(code, env={"GREEN_ZMQ_SPIN": value})
    assert out.stdout.strip() == expected


def test_a_bad_spin_in_the_environment_fails_the_import_clearly():
    out = run_python("import green_zmq", env={"GREEN_ZMQ_SPIN": "fast"}, check=False)
    assert out.returncode != 0
    assert "GREEN_ZMQ_SPIN must be a number of seconds, not 'fast'" in out.stderr
