"""The hub's short spin after a wait begins (set_spin): bounded, optional, harmless."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gevent
import pytest

import green_zmq as zmq
from green_zmq._waiting import registry
from green_zmq._waiting.registry import hub_waiting
from helpers import pair, run_python, spawn_parked, wait_until_parked

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
    # Spins far longer than a user may set (10 ms at most), so that a loaded
    # machine still sees the spin while it lasts.
    limit, registry._MAX_SPIN = registry._MAX_SPIN, max(registry._MAX_SPIN, seconds)
    previous = zmq.set_spin(seconds)
    try:
        yield
    finally:
        zmq.set_spin(previous)
        registry._MAX_SPIN = limit




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
    with _spin_set_to(0.001):
        reader = spawn_parked(b.recv)
    assert _spin_watcher().ref is False
    a.send(b"x")
    reader.get(timeout=5)


# Spin time for the adaptive tests: long enough that a wakeup sent by the test
# lands within it even on a loaded machine, short enough that the waits which
# must outlast it stay quick.
_WINDOW = 0.1
_CREDIT = registry._SPIN_CREDIT
_PROBE = registry._SPIN_PROBE


def _one_long_wait(a, b) -> bool:
    """A wait that outlasts the spin; return whether it spun."""
    reader = spawn_parked(b.recv)
    spun = _spinning()
    _until_the_spin_ends()
    a.send(b"late")
    assert reader.get(timeout=5) == b"late"
    return spun


@pytest.mark.slow
def test_waits_that_outlast_the_spin_stop_it_but_for_a_probe_now_and_then(ctx):
    a, b = pair(ctx)
    with _spin_set_to(_WINDOW):
        spun = [_one_long_wait(a, b) for _ in range(_CREDIT + 2 * _PROBE)]
    assert spun[:_CREDIT] == [True] * _CREDIT
    probes = ([False] * (_PROBE - 1) + [True]) * 2
    assert spun[_CREDIT:] == probes


@pytest.mark.slow
def test_a_wait_that_begins_within_the_spin_gives_the_spin_back(ctx):
    a, b = pair(ctx)
    with _spin_set_to(_WINDOW):
        for _ in range(_CREDIT):
            _one_long_wait(a, b)
        # Out of credit: the waits do not spin, until the probe.
        for _ in range(_PROBE - 1):
            assert not _one_long_wait(a, b)
        got: list[bytes] = []

        def twice() -> None:
            got.append(b.recv())
            got.append(b.recv())

        reader = spawn_parked(twice)
        assert _spinning(), "the probe"
        # The message comes within the probe's spin, and the reader waits
        # again at once: work cut the spin short.
        a.send(b"soon")
        with gevent.Timeout(5):
            while not got:
                gevent.sleep(0)
        wait_until_parked(1)
        _until_the_spin_ends()
        a.send(b"late")
        reader.get(timeout=5)
        assert got == [b"soon", b"late"]
        # The credit is back: a long wait spins again.
        assert _one_long_wait(a, b)


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
    assert "GREEN_ZMQ_SPIN must be a number of seconds >= 0" in out.stderr
    assert "'fast'" in out.stderr
