"""The report: per-workload summaries, the table, the JSON document and the chart.

Each workload's figures are medians over the repeats; a ratio is taken
within each repeat, where the implementations ran one after the other, and
its median over the repeats is reported (this machine swings between fast
and slow states for many seconds at a time: a ratio of the columns'
medians would compare a fast run of one with a slow run of the other).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .workloads import WORKLOADS, Goal, Metric, Workload

__all__ = ["Row", "plot", "summarise", "table"]

_BASELINES = ("ceiling", "zmq.green", "threads", "zmq.asyncio")


@dataclass
class Row:
    """One figure of one workload: its median per implementation, failures,
    ratios, and its goal (if the issue set one) with green_zmq's result."""

    workload: Workload
    metric: Metric
    n: int
    medians: dict[str, float | None]
    values: dict[str, list[float]]
    failures: dict[str, list[str]]
    missed_edges: int
    # Baseline -> median over the repeats of green_zmq's figure over the
    # baseline's in the same repeat (None: a column failed or is missing).
    ratios: dict[str, float | None]
    goal: Goal | None = None
    # The goal's ratio (or, for an absolute goal, green_zmq's median).
    result: float | None = None

    def ratio(self, baseline: str) -> float | None:
        return self.ratios.get(baseline)

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.result is None:
            return None
        return self.goal.met(self.result, self.metric.higher_is_better)

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "metric": self.metric.key,
            "unit": self.metric.unit,
            "higher_is_better": self.metric.higher_is_better,
            "n": self.n,
            "median": self.medians,
            "values": self.values,
            "failures": self.failures,
            "ratios": self.ratios,
            "ceiling_is": self.workload.ceiling,
            "not_applicable": dict(self.workload.not_applicable),
            "goal": None if self.goal is None else self.goal.describe(self.metric.higher_is_better),
            "goal_result": self.result,
            "goal_met": self.met,
            "missed_edges": self.missed_edges,
        }


def summarise(
    runs: list[dict[str, Any]], impls: list[str], names: list[str], counts: dict[str, int]
) -> list[Row]:
    """One row per workload and metric, from every child's record."""
    rows = []
    for name in names:
        work = WORKLOADS[name]
        mine = [r for r in runs if r["workload"] == name]
        failures: dict[str, list[str]] = {}
        for impl in impls:
            errors = [r.get("error", "?") for r in mine if r["impl"] == impl and not r["ok"]]
            if errors:
                failures[impl] = errors
        missed = sum(r.get("missed_edges", 0) for r in mine)
        ran = [impl for impl in impls if work.runs(impl)]
        for metric in work.shown_metrics:
            values = {
                impl: [r[metric.key] for r in mine if r["impl"] == impl and metric.key in r]
                for impl in ran
            }
            # One failed repeat spoils the column: a figure that is only
            # sometimes correct is not a figure.
            medians = {
                impl: None
                if impl in failures or not values[impl]
                else statistics.median(values[impl])
                for impl in ran
            }
            ratios = {
                b: None
                if b in failures or "green_zmq" in failures
                else _paired(runs, metric.key, name, b)
                for b in ran
                if b != "green_zmq"
            }
            goal = work.goal_for(metric.key)
            result = None if goal is None else _goal_result(runs, goal, name, medians, failures)
            row = Row(
                work, metric, counts[name], medians, values, failures, missed, ratios, goal, result
            )
            rows.append(row)
    return rows


def _goal_result(
    runs: list[dict[str, Any]],
    goal: Goal,
    name: str,
    medians: dict[str, float | None],
    failures: dict[str, list[str]],
) -> float | None:
    if goal.against is None:
        return medians.get("green_zmq")
    if "green_zmq" in failures:
        return None
    if goal.against.startswith("workload:"):
        return _paired(runs, goal.metric, name, "green_zmq", goal.against.removeprefix("workload:"))
    if goal.against in failures:
        return None
    return _paired(runs, goal.metric, name, goal.against)


def _paired(
    runs: list[dict[str, Any]], key: str, name: str, baseline: str, baseline_workload: str = ""
) -> float | None:
    """Median over the repeats of green_zmq's ``key`` at workload ``name``
    over ``baseline``'s (at ``baseline_workload``, by default the same) in
    that repeat."""
    other = baseline_workload or name
    by_repeat: dict[int, dict[tuple[str, str], float]] = {}
    for r in runs:
        if r["workload"] in (name, other) and r["ok"] and key in r:
            by_repeat.setdefault(r.get("repeat", 0), {})[(r["workload"], r["impl"])] = r[key]
    pairs = [
        figures[(name, "green_zmq")] / figures[(other, baseline)]
        for figures in by_repeat.values()
        if (name, "green_zmq") in figures and figures.get((other, baseline))
    ]
    return statistics.median(pairs) if pairs else None


def _figure(value: float | None, metric: Metric) -> str:
    if value is None:
        return "[bold red]FAIL[/]"
    if metric.key == "rate":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M"
        if value >= 1e3:
            return f"{value / 1e3:.1f}k"
        return f"{value:.0f}"
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cell(row: Row, impl: str) -> str:
    reasons = dict(row.workload.not_applicable)
    if impl in reasons:
        return "[yellow]n/a[/]"
    if impl not in row.workload.impls:
        return "-"
    cannot = dict(row.workload.cannot)
    if impl in cannot:
        return f"[yellow]{cannot[impl]}[/]"
    return _figure(row.medians.get(impl), row.metric)


def goal_text(row: Row) -> str:
    """The goal and green_zmq's result, e.g. ``0.86 >=0.9x ceiling MISSED``."""
    if row.goal is None:
        return ""
    wanted = row.goal.describe(row.metric.higher_is_better)
    if row.result is None:
        return f"- {wanted}"
    return f"{row.result:.2f} {wanted} {'ok' if row.met else 'MISSED'}"


def table(rows: Sequence[Row], impls: list[str], repeat: int) -> Any:
    """The rich table printed at the end of a run."""
    from rich.table import Table

    grid = Table(
        title=f"median over {repeat} run(s), each in a fresh process",
        caption=(
            "ratios are green_zmq / baseline within each run, median over the runs;"
            " goal: the issue's bound on green_zmq's figure or ratio"
        ),
    )
    grid.add_column("workload")
    grid.add_column("measure")
    grid.add_column("n", justify="right")
    for impl in impls:
        grid.add_column(impl, justify="right")
    baselines = [b for b in _BASELINES if "green_zmq" in impls and b in impls]
    for baseline in baselines:
        grid.add_column(f"gz/{baseline}", justify="right")
    grid.add_column("goal")
    if "green_zmq" in impls:
        grid.add_column("missed edges", justify="right")
    for row in rows:
        cells = [row.workload.name, row.metric.unit, f"{row.n:,}"]
        cells += [_cell(row, impl) for impl in impls]
        cells += [_ratio(row.ratio(b)) for b in baselines]
        text = goal_text(row)
        cells.append(f"[red]{text}[/]" if row.met is False else text)
        if "green_zmq" in impls:
            cells.append(f"[bold red]{row.missed_edges}[/]" if row.missed_edges else "0")
        grid.add_row(*cells)
    return grid


def notes(rows: Sequence[Row]) -> list[str]:
    """What the table's columns mean where a workload departs from the usual."""
    lines = []
    for work in dict.fromkeys(row.workload for row in rows):
        if work.ceiling != Workload.ceiling:
            lines.append(f"* {work.name}: ceiling column = {work.ceiling}")
        for impl, reason in work.not_applicable:
            lines.append(f"* {work.name}: {impl} n/a ({reason})")
    return lines


def plot(rows: Sequence[Row], impls: list[str], path: str) -> None:
    """Goals, green_zmq against zmq.green, and one scaling chart per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    goals = [row for row in rows if row.goal is not None]
    rates = [row for row in rows if row.metric.key == "rate" and not row.workload.family]
    families = sorted(
        {row.workload.family for row in rows if row.workload.size and row.metric.key == "rate"}
    )
    width = max(12.0, 0.7 * (len(goals) + len(rates)) + 4)
    fig = plt.figure(figsize=(width, 10))
    grid = fig.add_gridspec(2, max(1, len(families)) * 2)
    top = grid[0, :] if not rates else grid[0, : grid.ncols // 2 + grid.ncols % 2]
    _goal_panel(fig.add_subplot(top), goals)
    if rates:
        _peer_panel(fig.add_subplot(grid[0, grid.ncols // 2 + grid.ncols % 2 :]), rates)
    for i, family in enumerate(families):
        mine = [r for r in rows if r.workload.family == family and r.metric.key == "rate"]
        _scaling_panel(fig.add_subplot(grid[1, 2 * i : 2 * i + 2]), family, mine, impls)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _goal_panel(ax: Any, rows: Sequence[Row]) -> None:
    # Each goal's figure on a log scale, its bound dashed: green met, red missed.
    for i, row in enumerate(rows):
        if row.result is None or row.result <= 0:
            ax.text(i, 1, "n/a", ha="center", rotation=90)
            continue
        ax.bar(i, row.result, 0.6, color="tab:green" if row.met else "tab:red")
        assert row.goal is not None
        ax.hlines(row.goal.bound, i - 0.4, i + 0.4, colors="black", linestyles="--")
        ax.text(i, row.result, f"{row.result:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)))
    labels = [
        f"{row.workload.name}\n{row.metric.unit}\n"
        f"{row.goal.describe(row.metric.higher_is_better) if row.goal else ''}"
        for row in rows
    ]
    ax.set_xticklabels(labels, rotation=60, fontsize=7, ha="right")
    ax.set_ylabel("green_zmq's ratio (or figure) for the goal; dashes: the bound")
    ax.set_title("each goal: green = met, red = missed")


def _peer_panel(ax: Any, rows: Sequence[Row]) -> None:
    for i, row in enumerate(rows):
        ratio = row.ratio("zmq.green")
        if ratio is None:
            label = dict(row.workload.cannot).get("zmq.green", "FAIL")
            ax.text(i, 1.1, f"zmq.green: {label}", ha="center", va="bottom", rotation=90)
            continue
        ax.bar(i, ratio, 0.6, color="tab:blue")
        ax.text(i, ratio, f"{ratio:.1f}x", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([row.workload.name for row in rows], rotation=30)
    ax.set_ylabel("green_zmq rate / zmq.green rate")
    ax.set_title("green_zmq against pyzmq's zmq.green")


def _scaling_panel(ax: Any, family: str, rows: Sequence[Row], impls: list[str]) -> None:
    # Rate against N, both log: a flat line is a cost that does not grow with N.
    ordered = sorted(rows, key=lambda row: row.workload.size)
    for impl in impls:
        points = [
            (row.workload.size, row.medians[impl]) for row in ordered if row.medians.get(impl)
        ]
        if points:
            ax.plot(*zip(*points), marker="o", label=impl)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N")
    unit = ordered[0].metric.unit if ordered else ""
    ax.set_ylabel(unit)
    ax.set_title(f"{family}-N")
    ax.legend(fontsize=7)
