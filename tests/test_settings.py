"""The spin and the sweeper's interval: one validator, from the environment or a setter.

A duration is a number of seconds, or a string with an optional unit
(``50us``, ``0.5ms``, ``1s``); negative, infinite and NaN values are
refused, and a spin above 10 milliseconds (``GREEN_ZMQ_SPIN=50``, meant
as 50 microseconds, would burn a core). The same bad value gets the same
error whichever way it comes in.
"""

from __future__ import annotations

import json

import pytest

import green_zmq as zmq
from helpers import run_python

pytestmark = pytest.mark.timeout(30)

SETTINGS = {"spin": ("GREEN_ZMQ_SPIN", zmq.set_spin), "sweep": (
    "GREEN_ZMQ_SWEEP_INTERVAL", zmq.set_sweep_interval
)}

BAD = {
    "spin": ["-1", "nan", "inf", "-inf", "abc", "50", "0.02", "1e400", "5 parsecs", "us"],
    "sweep": ["-1", "nan", "inf", "abc", "-0.5s"],
}

# In a child, so that a value the parent's suite relies on is never replaced.
SETTER_PROGRAM = """
import json, sys, green_zmq
setter = getattr(green_zmq, sys.argv[1])
try:
    print(json.dumps(["ok", setter(sys.argv[2]), setter(0)]))
except Exception as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
"""


# Neither setting inherited from this run (CI runs the suite with both set).
UNSET = {"GREEN_ZMQ_SPIN": None, "GREEN_ZMQ_SWEEP_INTERVAL": None}


def from_setter(name: str, value: str) -> list[object]:
    setter = {"spin": "set_spin", "sweep": "set_sweep_interval"}[name]
    result = run_python(SETTER_PROGRAM, setter, value, env=UNSET)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def from_environment(name: str, value: str) -> list[object]:
    setter = {"spin": "set_spin", "sweep": "set_sweep_interval"}[name]
    code = f"""
import json
try:
    import green_zmq
except Exception as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
else:
    print(json.dumps(["ok", green_zmq.{setter}(0)]))
"""
    result = run_python(code, env={**UNSET, SETTINGS[name][0]: value})
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in BAD.items() for v in vs])
def test_a_bad_value_gets_the_same_error_from_the_environment_and_the_setter(name, value):
    setter = from_setter(name, value)
    environment = from_environment(name, value)
    assert setter[0] == environment[0] == "ValueError", (setter, environment)
    variable = SETTINGS[name][0]
    assert environment[1].startswith(variable)
    # The same words, but for whom they name.
    assert setter[1].split(" ", 1)[1] == environment[1].split(" ", 1)[1]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("50us", 5e-05), ("50µs", 5e-05), ("0.5ms", 0.0005), ("0.0002", 0.0002), (" 10ms ", 0.01),
     ("0", 0.0), ("0s", 0.0)],
)
def test_a_spin_may_carry_a_unit_either_way(value, seconds):
    assert from_environment("spin", value) == ["ok", pytest.approx(seconds)]
    assert from_setter("spin", value)[2] == pytest.approx(seconds)


def test_the_sweep_interval_may_carry_a_unit_and_has_no_upper_bound():
    assert from_environment("sweep", "250ms") == ["ok", pytest.approx(0.25)]
    assert from_setter("sweep", "3600") == ["ok", 1.0, 3600.0]


def test_a_spin_of_50_seconds_is_refused_with_a_hint_at_units():
    error = from_environment("spin", "50")
    assert error[0] == "ValueError"
    assert "at most 0.01 seconds" in error[1] and "50us" in error[1]


@pytest.mark.parametrize("value", [True, None, [1], float("nan")])
def test_the_setters_refuse_what_is_not_a_duration(value):
    for setter in (zmq.set_spin, zmq.set_sweep_interval):
        with pytest.raises(ValueError):
            setter(value)


def test_an_empty_variable_means_the_default():
    assert from_environment("spin", "") == ["ok", 5e-05]
    assert from_environment("sweep", " ") == ["ok", 1.0]
