"""The stress suite's size option (declared in tests/conftest.py) and its figures report.

Figures (message counts, durations, longest waits, counters) that the tests
record with the ``figures`` fixture are printed at the end of the run, and
written as JSON to the file named by ``GREEN_ZMQ_STRESS_REPORT`` if set;
docs/reliability.md quotes those of the last full-size run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import stress_mode

_figures: dict[str, dict[str, Any]] = {}


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--long", default=False):
        stress_mode.LONG = True


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the test fills with the figures it wants reported."""
    recorded: dict[str, Any] = {}
    yield recorded
    if recorded:
        _figures[request.node.nodeid] = recorded


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _figures:
        return
    mode = "long" if stress_mode.LONG else "short"
    terminalreporter.section(f"stress figures ({mode} run)")
    for test, values in _figures.items():
        terminalreporter.write_line(test)
        for name, value in values.items():
            terminalreporter.write_line(f"    {name}: {value}")
    path = os.environ.get("GREEN_ZMQ_STRESS_REPORT")
    if path:
        with open(path, "w") as report:
            json.dump({"mode": mode, "figures": _figures}, report, indent=2, sort_keys=True)
