"""The differential test at length: thousands of longer generated scenarios.

tests/test_differential.py runs a bounded, derandomized set in every run;
this is the long run only (``GREEN_ZMQ_STRESS=long`` or ``pytest --long``),
from a random seed, which hypothesis prints with the shrunk failing
example. It is not marked as expected to fail: while any divergence
remains on main it finds one, and says which.
"""

from __future__ import annotations

import pytest
from differential import Scenario, run, scenarios
from hypothesis import HealthCheck, given, settings
from stress_mode import LONG

pytestmark = pytest.mark.skipif(
    not LONG, reason="long stress run only; the bounded run is tests/test_differential.py"
)


@pytest.mark.timeout(3600)
@settings(
    max_examples=3000,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenarios(max_steps=30))
def test_generated_scenarios_at_length(scenario: Scenario) -> None:
    run(scenario).assert_same()
