"""The figures the docs quote, written from one bench JSON file.

README.md, docs/benchmarks.md and docs/migration.md quote the bench only
between marker comments, so that every figure they give comes from one run
and none can drift from the others::

    REQ/REP round trips: <!-- bench:ratio req-rep zmq.green -->2.7x<!-- /bench --> zmq.green's

``python -m green_zmq.bench --publish docs/bench.json`` rewrites the text
between every pair from that JSON (written by a run's ``--json``) and draws
the chart beside it (``docs/bench.png``); ``tests/test_bench.py`` fails when
a quoted text is not what the JSON gives. What a marker quotes (METRIC is
``rate`` unless given):

``machine``                          the run: when, how, on what
``figure WORKLOAD IMPL [METRIC]``    IMPL's median: ``9.6k``
``ratio WORKLOAD BASELINE [METRIC]`` green_zmq's figure over BASELINE's: ``8.9x``
``range BASELINE [METRIC]``          the lowest and the highest of those
                                     ratios over the workloads: ``0.96x to 26x``
``result WORKLOAD [METRIC]``         green_zmq's result for the project's target
``spread WORKLOAD [METRIC]``         the lowest and highest within-run ratio
                                     behind that result: ``0.84-0.90``
``speed``                            the README's tables, for users
``results``                          every figure of the run, with the targets
``targets``                          the project's targets, met or not
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from . import report
from .report import Row

__all__ = ["DOCS", "Figures", "main", "publish"]

#: The files that quote the bench, relative to the checkout.
DOCS = ("README.md", "docs/benchmarks.md", "docs/migration.md")

_MARKED = re.compile(r"<!-- bench:(?P<spec>[^>]*?) -->(?P<text>.*?)<!-- /bench -->", re.S)


class Figures:
    """What one bench JSON document says, in the words and tables the docs quote."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.meta = document["meta"]
        self.rows = report.rows_from_json(document["summary"])
        self.impls: list[str] = self.meta["implementations"]
        self._kinds: dict[str, Callable[..., str]] = {
            "machine": self.machine,
            "figure": self.figure,
            "ratio": self.ratio,
            "range": self.range,
            "result": self.result,
            "spread": self.spread,
            "speed": self.speed,
            "results": self.results,
            "targets": self.targets,
        }

    def quote(self, spec: str) -> str:
        """The text a marker ``<!-- bench:SPEC -->`` holds."""
        kind, *args = spec.split()
        render = self._kinds.get(kind)
        if render is None:
            raise ValueError(f"unknown marker bench:{spec} (known: {', '.join(self._kinds)})")
        try:
            inspect.signature(render).bind(*args)
        except TypeError:
            raise ValueError(f"bench:{spec}: wrong arguments (see bench/publish.py)") from None
        return render(*args)

    def row(self, workload: str, metric: str = "rate") -> Row:
        for row in self.rows:
            if row.workload.name == workload and row.metric.key == metric:
                return row
        raise ValueError(f"the bench JSON has no {metric} of {workload}")

    # -- inline quotes ---------------------------------------------------------

    def machine(self) -> str:
        meta = self.meta
        kind = "`--full`" if meta.get("full") else "`--quick`" if meta.get("quick") else "default"
        repeat = meta["repeat"]
        text = (
            f"one {kind} run on {meta['date']}, {repeat} run{'s' * (repeat > 1)} of each"
            " measurement (latency, CPU and idle once), on a"
            f" {meta['cpus']}-CPU {meta['system']} machine with a load average of"
            f" {meta['load_average_before'][0]:g} before and {meta['load_average_after'][0]:g}"
            f" after; Python {meta['python']}, pyzmq {meta['pyzmq']}, libzmq {meta['libzmq']},"
            f" gevent {meta['gevent']}, tornado {meta['tornado']}, green_zmq"
            f" {meta['green_zmq']} {'compiled' if meta['accelerated'] else 'as pure Python'}"
        )
        if meta.get("placeholder"):
            text += f" (**placeholder figures**: {meta['placeholder']})"
        return text

    def figure(self, workload: str, impl: str, metric: str = "rate") -> str:
        return report.cell(self.row(workload, metric), impl)

    def ratio(self, workload: str, baseline: str, metric: str = "rate") -> str:
        value = self.row(workload, metric).ratio(baseline)
        if value is None:
            raise ValueError(f"the bench JSON has no ratio of {workload} to {baseline}")
        return report.about(value)

    def range(self, baseline: str, metric: str = "rate") -> str:
        ratios = [row.ratio(baseline) for row in self.rows if row.metric.key == metric]
        known = [value for value in ratios if value is not None]
        if not known:
            raise ValueError(f"the bench JSON has no ratio to {baseline}")
        return f"{report.about(min(known))} to {report.about(max(known))}"

    def result(self, workload: str, metric: str = "rate") -> str:
        result = self.row(workload, metric).result
        if result is None:
            raise ValueError(f"the bench JSON has no target result for {workload}")
        return report.result_text(result)

    def spread(self, workload: str, metric: str = "rate") -> str:
        text = _spread(self.row(workload, metric))
        if not text:
            raise ValueError(f"the bench JSON has no spread for {workload}")
        return text

    # -- blocks ------------------------------------------------------------------

    def speed(self) -> str:
        # For users: the sizes a default run has, green_zmq against what they
        # would use instead (the ceiling is for the project: benchmarks.md).
        rows = [row for row in self.rows if row.workload.default and not row.metric.detail]
        against = [b for b in ("zmq.green", "threads", "zmq.asyncio") if b in self.impls]
        higher = [row for row in rows if row.metric.higher_is_better]
        lower = [row for row in rows if not row.metric.higher_is_better and _has_ratio(row)]
        parts = []
        for title, mine in (
            ("**Higher is better**: green_zmq's rate, and green_zmq's over each other's", higher),
            ("**Lower is better**: green_zmq's figure, and green_zmq's over each other's", lower),
        ):
            lines = [
                f"{title} in the same run:",
                "",
                _line(["workload", "measure", "green_zmq", *against]),
                _line(["---", "---", "--:", *["--:"] * len(against)]),
            ]
            for row in mine:
                cells = [row.workload.name, row.metric.unit, report.cell(row, "green_zmq")]
                lines.append(_line(cells + [report.ratio_cell(row, b) for b in against]))
            parts.append("\n".join(lines))
        cannot = report.expected_failures(rows, against)
        if cannot:
            parts.append("\n".join(f"- {note}" for note in cannot))
        return _block("\n\n".join(parts))

    def results(self) -> str:
        header = ["workload", "measure", "n", *self.impls, "target", "green_zmq's result"]
        lines = [
            _line([*header, "spread"]),
            _line(["---", "---", "--:", *["--:"] * len(self.impls), "---", "--:", "--:"]),
        ]
        for row in self.rows:
            cells = [row.workload.name, row.metric.unit, f"{row.n:,}"]
            cells += [report.cell(row, impl) for impl in self.impls]
            cells += [_target(row), _result(row), _spread(row)]
            lines.append(_line(cells))
        notes = [f"- {note}" for note in report.notes(self.rows, self.impls)]
        return _block("\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else ""))

    def targets(self) -> str:
        lines = [
            _line(["workload", "measure", "target", "green_zmq's result", "spread"]),
            _line(["---", "---", "---", "--:", "--:"]),
        ]
        aimed = [row for row in self.rows if row.goal is not None]
        for row in aimed:
            cells = [row.workload.name, row.metric.unit, _target(row), _result(row), _spread(row)]
            lines.append(_line(cells))
        met = sum(1 for row in aimed if row.met)
        lines += ["", f"green_zmq met {met} of the {len(aimed)} targets in this run."]
        return _block("\n".join(lines))


def _has_ratio(row: Row) -> bool:
    return any(value is not None for value in row.ratios.values())


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _block(text: str) -> str:
    # Blank lines around it: a table or a list is a block of its own in Markdown.
    return f"\n\n{text}\n\n"


def _target(row: Row) -> str:
    return "" if row.goal is None else row.goal.describe(row.metric.higher_is_better)


def _result(row: Row) -> str:
    if row.goal is None:
        return ""
    if row.result is None:
        return "-"
    return f"**{report.result_text(row.result)}** {'met' if row.met else 'MISSED'}"


def _spread(row: Row) -> str:
    if row.result_spread is None:
        return ""
    low, high = row.result_spread
    return f"{low:.2f}-{high:.2f}"


def stale(text: str, figures: Figures) -> list[tuple[str, str, str]]:
    """Every marker of ``text`` whose quote is not what ``figures`` gives:
    (its spec, what it says, what it should say)."""
    found = []
    for match in _MARKED.finditer(text):
        wanted = figures.quote(match["spec"])
        if match["text"] != wanted:
            found.append((match["spec"], match["text"], wanted))
    return found


def markers(text: str) -> list[str]:
    """The specs of ``text``'s markers, in order."""
    return [match["spec"] for match in _MARKED.finditer(text)]


def update(text: str, figures: Figures) -> str:
    """``text`` with every marker's quote rewritten from ``figures``."""

    def quoted(match: re.Match[str]) -> str:
        spec = match["spec"]
        return f"<!-- bench:{spec} -->{figures.quote(spec)}<!-- /bench -->"

    return _MARKED.sub(quoted, text)


def publish(source: Path, root: Path) -> list[Path]:
    """Rewrite the docs under ``root`` from the bench JSON ``source`` and draw
    its chart beside it; the files written."""
    figures = Figures(json.loads(source.read_text()))
    written = []
    for name in DOCS:
        path = root / name
        text = path.read_text()
        new = update(text, figures)
        if new != text:
            path.write_text(new)
            written.append(path)
    chart = source.with_suffix(".png")
    report.plot(figures.rows, figures.impls, str(chart))
    return [*written, chart]


def main(source: str) -> int:
    """``--publish``: rewrite this checkout's docs from ``source``."""
    root = Path(__file__).resolve().parents[2]
    if not all((root / name).exists() for name in DOCS):
        print(f"--publish rewrites a checkout's docs; {root} is not one", file=sys.stderr)
        return 2
    try:
        written = publish(Path(source), root)
    except (OSError, ValueError, KeyError) as exc:
        print(f"--publish {source}: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0
