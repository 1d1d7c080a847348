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

from stream_scenarios import SCENARIOS, Scenario, run_green, run_plain  # noqa: E402


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
