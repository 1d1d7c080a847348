"""Every example runs to the end on its own, in a fresh interpreter, and says what happened."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import run_python

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LIMIT = 30  # seconds; each example finishes in about one


def run_example(name: str) -> str:
    result = run_python(None, str(EXAMPLES / name), timeout=LIMIT, cwd=EXAMPLES, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


@pytest.mark.timeout(LIMIT + 10)
def test_every_example_has_a_test() -> None:
    tested = {
        "reqrep.py",
        "pubsub.py",
        "poller.py",
        "worker_pool.py",
        "eventloop_echo.py",
        "curve_auth.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.timeout(LIMIT + 10)
def test_reqrep_serves_every_client_greenlet() -> None:
    out = run_example("reqrep.py")
    assert "50 clients x 5 requests: 250 replies, all matched: True" in out
    assert "missed edges: 0" in out


@pytest.mark.timeout(LIMIT + 10)
def test_pubsub_delivers_by_topic() -> None:
    out = run_example("pubsub.py")
    assert "weather: 5 messages on ['weather'], last '24 degrees'" in out
    assert "sport: 5 messages on ['sport'], last 'score 4-0'" in out
    assert "everything: 10 messages on ['sport', 'weather'], last 'score 4-0'" in out


@pytest.mark.timeout(LIMIT + 10)
def test_poller_times_out_then_reads_every_socket() -> None:
    out = run_example("poller.py")
    assert "50 ms poll before anything was sent: []" in out
    assert "received per socket: {'orders': 4, 'prices': 4, 'alerts': 4}" in out
    order = re.search(r"arrival order \(first letters\): (\w+)", out)
    assert order is not None
    assert sorted(order.group(1)) == sorted("opa" * 4)


@pytest.mark.timeout(LIMIT + 10)
def test_worker_pool_answers_through_the_green_proxy_and_stops_on_term() -> None:
    out = run_example("worker_pool.py")
    assert "10 clients got 30 replies through the proxy" in out
    counts = re.search(r"jobs per worker: \[([\d, ]+)\] \(total 30\)", out)
    assert counts is not None
    assert len(counts.group(1).split(",")) == 4


@pytest.mark.timeout(LIMIT + 10)
def test_eventloop_echo_serves_blocking_clients_while_timers_fire() -> None:
    pytest.importorskip("tornado")
    out = run_example("eventloop_echo.py")
    assert "20 blocking clients made 200 round trips" in out
    assert "meanwhile the loop's 5 ms timer fired: True" in out


@pytest.mark.timeout(LIMIT + 10)
def test_curve_auth_lets_the_trusted_client_in_and_keeps_the_stranger_out() -> None:
    pytest.importorskip("green_zmq.auth")
    out = run_example("curve_auth.py")
    assert "trusted client: welcome, hello" in out
    assert "stranger: no reply (refused)" in out
