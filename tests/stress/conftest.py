"""The stress suite's size option (declared in tests/conftest.py) and its figures report.

Figures (message counts, durations, longest waits, counters) that the tests
record with the ``figures`` fixture are printed at the end of the run, and
written as JSON to the file named by ``GREEN_ZMQ_STRESS_REPORT`` if set;
docs/reliability.md quotes those of the last full-size run.
"""

from __future__ import annotations

from typing import Any

import pytest
import stress_mode
from figures_report import FiguresReport

_report = FiguresReport("stress figures", "GREEN_ZMQ_STRESS_REPORT")
figures = _report.fixture()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--long", default=False):
        stress_mode.LONG = True


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _report.summary(terminalreporter)
