"""Figures that long-running suites record, printed after the run and kept as JSON.

The stress and multi-host suites each make one :class:`FiguresReport`: its
``figures`` fixture hands a test a dict to fill (message counts, durations,
longest waits, counters), and :meth:`FiguresReport.summary` writes them to
the file an environment variable names, and prints them in the terminal
summary when asked (``pytest --figures``, or ``-v``). docs/reliability.md
quotes the reports of the last full-size runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import stress_mode


class FiguresReport:
    """One suite's recorded figures: ``title`` heads the summary, ``env`` names the JSON file."""

    def __init__(self, title: str, env: str) -> None:
        self.title = title
        self.env = env
        self.recorded: dict[str, dict[str, Any]] = {}

    def fixture(self) -> Any:
        report = self

        @pytest.fixture
        def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
            """A dict the test fills with the figures it wants reported."""
            values: dict[str, Any] = {}
            yield values
            if values:
                report.recorded[request.node.nodeid] = values

        return figures

    def summary(self, terminalreporter: Any) -> None:
        """Write the JSON file if asked for; print the figures with ``--figures`` or ``-v``."""
        if not self.recorded:
            return
        mode = "long" if stress_mode.LONG else "short"
        path = os.environ.get(self.env)
        if path:
            with open(path, "w") as out:
                json.dump({"mode": mode, "figures": self.recorded}, out, indent=2, sort_keys=True)
        config = terminalreporter.config
        if not (config.getoption("--figures", default=False) or config.get_verbosity() > 0):
            return
        terminalreporter.section(f"{self.title} ({mode} run)")
        for test, values in self.recorded.items():
            terminalreporter.write_line(test)
            for name, value in values.items():
                terminalreporter.write_line(f"    {name}: {value}")
