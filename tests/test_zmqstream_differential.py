"""green_zmq's ZMQStream against pyzmq's, scenario for scenario.

Each scenario of :mod:`stream_scenarios` runs twice: with pyzmq's
ZMQStream and plain pyzmq sockets on a plain asyncio loop in an OS thread
(the reference), and with green_zmq's on the green IOLoop. Every callback,
every message the peer received and every value the scenario noted must
be the same, in the same order.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("tornado")

from stream_scenarios import (  # noqa: E402
    SCENARIOS,
    Scenario,
    on_send_raises_when_a_late_peer_lets_the_queue_go,
    run_green,
    run_plain,
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_green_stream_does_what_pyzmqs_does(
    scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    # Raising callbacks are part of the scenarios: both streams log them.
    caplog.set_level(logging.CRITICAL)
    plain = run_plain(scenario)
    green = run_green(scenario)
    assert ("gave up waiting",) not in plain, "the reference run itself stalled"
    assert green == plain


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_green_stream_goes_on_where_pyzmqs_stalls(caplog: pytest.LogCaptureFixture) -> None:
    # The one known divergence: sends queued before there was room, the
    # first one's on_send raising. pyzmq's stream then waits forever for the
    # other two; green_zmq's never stalls after a raising callback.
    caplog.set_level(logging.CRITICAL)
    scenario = on_send_raises_when_a_late_peer_lets_the_queue_go
    plain = run_plain(scenario)
    green = run_green(scenario)
    sent = [("sent", "dealer", [body], None) for body in (b"one", b"two", b"three")]
    got = [("peer got", [body]) for body in (b"one", b"two", b"three")]
    stalled = [("gave up waiting",), ("sending", True), got[0], ("peer got nothing more",)]
    assert plain == [sent[0], *stalled]
    assert green == [*sent, ("sending", False), *got]
