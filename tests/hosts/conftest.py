"""The multi-host suite's gate, its network fixture and its figures report.

The suite needs root and half a minute per fault, so the plain ``pytest``
run leaves it out: it is collected only when named (``pytest tests/hosts``,
as ``.ci/hosts`` does). Where namespaces cannot be made, every test skips
with one line saying why.

Figures recorded with the ``figures`` fixture are printed at the end of the
run, and written as JSON to the file named by ``GREEN_ZMQ_HOSTS_REPORT``;
docs/reliability.md quotes those of the last full-size run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "stress"))

import stress_mode  # noqa: E402
from figures_report import FiguresReport  # noqa: E402
from netns import Network, NetworkUnavailable  # noqa: E402

_report = FiguresReport("multi-host figures", "GREEN_ZMQ_HOSTS_REPORT")
figures = _report.fixture()


def _named(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and not _named(config):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--long", default=False):
        stress_mode.LONG = True


@pytest.fixture
def network_of() -> Iterator[Any]:
    """``network_of(hosts)``: a started :class:`Network`, closed after the test."""
    made: list[Network] = []

    def make(hosts: dict[str, int]) -> Network:
        network = Network(hosts)
        made.append(network)
        try:
            return network.start()
        except NetworkUnavailable as exc:
            pytest.skip(f"no test hosts: network namespaces cannot be made here ({exc})")

    yield make
    for network in made:
        network.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _report.summary(terminalreporter)
