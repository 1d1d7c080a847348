"""The differential test at length: many more, and longer, generated scenarios.

tests/test_differential.py runs a bounded, derandomized set in every run.
Here the short run (part of plain pytest) adds a few dozen scenarios from
another fixed seed; the long run (``GREEN_ZMQ_STRESS=long``) thousands from
a random seed, which hypothesis prints with a failing example. Unlike the
bounded run, this one is not marked as expected to fail: the short run's
seed meets none of the divergences still on main (issue 12), the long run
does meet them until they are fixed.
"""

from __future__ import annotations

import pytest
from differential import Scenario, run, scenarios
from hypothesis import HealthCheck, given, seed, settings
from stress_mode import LONG, size

EXAMPLES = size(30, 3000)
STEPS = size(16, 30)


def _fixed_seed_unless_long(test: object) -> object:
    return test if LONG else seed(20261201)(test)


@pytest.mark.timeout(size(240, 3600))
@_fixed_seed_unless_long
@settings(
    max_examples=EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios(max_steps=STEPS))
def test_generated_scenarios_at_length(scenario: Scenario) -> None:
    run(scenario).assert_same()
