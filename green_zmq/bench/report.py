"""The report: per-workload summaries, the tables, the JSON summary and the chart.

Each workload's figures are medians over the repeats; a ratio is taken
within each repeat, where the implementations ran one after the other, and
its median over the repeats is reported (this machine swings between fast
and slow states for many seconds at a time: a ratio of the columns'
medians would compare a fast run of one with a slow run of the other).

Figures where higher is better (rates) and where lower is better (latency,
CPU, memory) are never shown side by side: each has its own table and its
own panel of the chart, titled with its direction.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .workloads import WORKLOADS, Goal, Metric, Workload

__all__ = [
    "RATIO_COLUMNS",
    "Row",
    "about",
    "cell",
    "chart",
    "expected_failures",
    "figure",
    "goal_text",
    "notes",
    "plot",
    "ratio_cell",
    "result_text",
    "rows_from_json",
    "summarise",
    "tables",
    "times",
]

#: The implementations green_zmq is compared with, in the tables' order.
RATIO_COLUMNS = ("zmq.green", "threads", "zmq.asyncio", "ceiling")

_EXPLAINED = (
    "green_zmq: its median; the other columns: green_zmq's figure over theirs"
    " in the same run ({example})"
)
_EXPLAINED_PURE = (
    "green_zmq-py: green_zmq's median with GREEN_ZMQ_PURE_PYTHON=1; pure Python:"
    " green_zmq's figure over green_zmq-py's in the same run ({example})"
)


@dataclass
class Row:
    """One figure of one workload: its median per implementation, failures,
    ratios, and the project's target for it (if any) with green_zmq's result."""

    workload: Workload
    metric: Metric
    n: int
    medians: dict[str, float | None]
    values: dict[str, list[float]]
    failures: dict[str, list[str]]
    missed_edges: int
    # Baseline -> median over the repeats of green_zmq's figure over the
    # baseline's in the same repeat (None: a column failed or is missing),
    # and the lowest and highest of those within-repeat ratios.
    ratios: dict[str, float | None]
    spreads: dict[str, tuple[float, float]]
    goal: Goal | None = None
    # The goal's ratio (or, for an absolute goal, green_zmq's median).
    result: float | None = None
    result_spread: tuple[float, float] | None = None

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
            "ratio_spreads": self.spreads,
            "ceiling_is": self.workload.ceiling,
            "not_applicable": dict(self.workload.not_applicable),
            "cannot": dict(self.workload.cannot),
            "goal": None if self.goal is None else self.goal.describe(self.metric.higher_is_better),
            "goal_result": self.result,
            "goal_spread": self.result_spread,
            "goal_met": self.met,
            "missed_edges": self.missed_edges,
        }


def rows_from_json(summary: Sequence[dict[str, Any]]) -> list[Row]:
    """The rows a bench JSON document's ``summary`` holds, for its tables and chart."""
    rows = []
    for item in summary:
        work = WORKLOADS.get(item["workload"])
        shown = work.shown_metrics if work else ()
        metric = next((m for m in shown if m.key == item["metric"]), None)
        if work is None or metric is None:
            raise ValueError(
                f"the JSON has {item['workload']} {item['metric']}, which the bench does not"
                " measure any more: run the bench again"
            )
        spreads = {b: (low, high) for b, (low, high) in item.get("ratio_spreads", {}).items()}
        result_spread = item.get("goal_spread")
        rows.append(
            Row(
                work,
                metric,
                item["n"],
                item["median"],
                item.get("values", {}),
                item.get("failures", {}),
                item.get("missed_edges", 0),
                item["ratios"],
                spreads,
                work.goal_for(metric.key),
                item.get("goal_result"),
                None if result_spread is None else (result_spread[0], result_spread[1]),
            )
        )
    return rows


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
            pairs = {
                b: []
                if b in failures or "green_zmq" in failures
                else _paired(runs, metric.key, name, b)
                for b in ran
                if b != "green_zmq"
            }
            goal = work.goal_for(metric.key)
            goal_pairs = [] if goal is None else _goal_pairs(runs, goal, name, failures)
            result = _median(goal_pairs)
            if goal is not None and goal.against is None:
                result = medians.get("green_zmq")
            row = Row(
                work,
                metric,
                counts[name],
                medians,
                values,
                failures,
                missed,
                {b: _median(p) for b, p in pairs.items()},
                {b: (min(p), max(p)) for b, p in pairs.items() if p},
                goal,
                result,
                (min(goal_pairs), max(goal_pairs)) if goal_pairs else None,
            )
            rows.append(row)
    return rows


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _goal_pairs(
    runs: list[dict[str, Any]], goal: Goal, name: str, failures: dict[str, list[str]]
) -> list[float]:
    # The within-repeat ratios behind a relative goal (none for an absolute one).
    if goal.against is None or "green_zmq" in failures:
        return []
    if goal.against.startswith("workload:"):
        return _paired(runs, goal.metric, name, "green_zmq", goal.against.removeprefix("workload:"))
    if goal.against in failures:
        return []
    return _paired(runs, goal.metric, name, goal.against)


def _paired(
    runs: list[dict[str, Any]], key: str, name: str, baseline: str, baseline_workload: str = ""
) -> list[float]:
    """green_zmq's ``key`` at workload ``name`` over ``baseline``'s (at
    ``baseline_workload``, by default the same), one ratio per repeat."""
    other = baseline_workload or name
    by_repeat: dict[int, dict[tuple[str, str], float]] = {}
    for r in runs:
        if r["workload"] in (name, other) and r["ok"] and key in r:
            by_repeat.setdefault(r.get("repeat", 0), {})[(r["workload"], r["impl"])] = r[key]
    return [
        figures[(name, "green_zmq")] / figures[(other, baseline)]
        for figures in by_repeat.values()
        if (name, "green_zmq") in figures and figures.get((other, baseline))
    ]


# -- words and numbers ---------------------------------------------------------


def figure(value: float, metric: Metric) -> str:
    """A figure as the tables and the docs show it: ``16.1k``, ``1.06M``, ``0.525``."""
    if metric.key == "rate":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M"
        if value >= 1e3:
            return f"{value / 1e3:.1f}k"
        return f"{value:.0f}"
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def times(value: float) -> str:
    """A ratio as the tables show it: ``0.85x``, ``8.87x``, ``26.4x``, ``263x``."""
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def about(value: float) -> str:
    """A ratio as prose quotes it, two digits at most: ``0.85x``, ``8.9x``, ``26x``."""
    if value >= 10:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def result_text(value: float) -> str:
    """A result against a target, to three digits: ``0.797`` is short of 0.8."""
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def goal_text(row: Row) -> str:
    """The target and green_zmq's result, e.g. ``0.86 >=0.9x ceiling MISSED``."""
    if row.goal is None:
        return ""
    wanted = row.goal.describe(row.metric.higher_is_better)
    if row.result is None:
        return f"- {wanted}"
    return f"{result_text(row.result)} {wanted} {'ok' if row.met else 'MISSED'}"


# -- the tables ------------------------------------------------------------------


def cell(row: Row, impl: str) -> str:
    """``impl``'s own figure, or why there is none: ``n/a`` (not run here),
    ``-`` (not for it), ``cannot`` (an expected failure), ``FAIL``."""
    work = row.workload
    if work.not_run(impl):
        return "n/a"
    if not work.runs(impl):
        return "-"
    if work.cannot_run(impl):
        return "cannot"
    value = row.medians.get(impl)
    return "FAIL" if value is None else figure(value, row.metric)


def ratio_cell(row: Row, baseline: str) -> str:
    """green_zmq's figure over ``baseline``'s, or why there is none (as :func:`cell`)."""
    work = row.workload
    value = row.ratio(baseline)
    if value is not None:
        return times(value)
    if work.not_run(baseline):
        return "n/a"
    if not work.runs(baseline):
        return "-"
    if work.cannot_run(baseline):
        return "cannot"
    if baseline in row.failures or "green_zmq" in row.failures:
        return "FAIL"
    return "-"  # a zero or missing figure: no ratio to take


_STYLES = {"FAIL": "bold red", "cannot": "yellow", "n/a": "yellow"}


def _styled(text: str) -> Any:
    from rich.text import Text

    return Text(text, style=_STYLES.get(text, ""))


def tables(rows: Sequence[Row], impls: list[str], wide: bool = False) -> list[Any]:
    """The tables printed after a run: the figures where higher is better,
    then those where lower is better.

    By default each row has green_zmq's figure and its ratios to the other
    implementations, in 80 columns, and green_zmq-py (when it ran) has its
    own pair of tables: green_zmq compiled against pure Python. ``wide``
    puts every implementation's own figure and every ratio in one pair, with
    the counts, the project's targets and the missed edges. Without
    green_zmq in ``impls`` there is nothing to take ratios of: each
    implementation's figure is shown.
    """
    shown = [row for row in rows if wide or not row.metric.detail]
    sets: list[tuple[str, str, list[str], list[str]]]
    if "green_zmq" not in impls:
        sets = [("", "each implementation's median", list(impls), [])]
    elif wide:
        every = [b for b in (*RATIO_COLUMNS, "green_zmq-py") if b in impls]
        sets = [("", _EXPLAINED, list(impls), every)]
    else:
        sets = [("", _EXPLAINED, ["green_zmq"], [b for b in RATIO_COLUMNS if b in impls])]
        if "green_zmq-py" in impls:
            pure = ["green_zmq", "green_zmq-py"]
            prefix = "green_zmq compiled against pure Python: "
            sets.append((prefix, _EXPLAINED_PURE, pure, ["green_zmq-py"]))
    made = []
    for prefix, caption, figures, ratios in sets:
        for title, higher, example in (
            ("higher is better", True, "2.00x: twice theirs"),
            ("lower is better", False, "0.50x: half theirs"),
        ):
            mine = [row for row in shown if row.metric.higher_is_better == higher]
            heading = f"{prefix}{title}" if prefix else title.capitalize()
            if mine:
                explained = caption.format(example=example)
                made.append(_table(heading, explained, mine, figures, ratios, wide))
    return made


def _table(
    title: str, caption: str, rows: Sequence[Row], figures: list[str], ratios: list[str], wide: bool
) -> Any:
    from rich import box
    from rich.table import Table

    grid = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption=caption,
        caption_justify="left",
        # One space between columns, none at the edges: the default fits 80.
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=0,
    )
    longest = max(len(row.workload.name) for row in rows)
    # A workload's name is never cut or folded: dealers-100 and dealers-1000
    # must stay apart however narrow the terminal.
    grid.add_column("workload", no_wrap=True, min_width=longest)
    grid.add_column("measure")
    if wide:
        grid.add_column("n", justify="right")
    for impl in figures:
        grid.add_column(impl, justify="right")
    for baseline in ratios:
        header = "pure Python" if baseline == "green_zmq-py" else baseline
        grid.add_column(f"vs {header}" if wide else header, justify="right")
    if wide:
        grid.add_column("target", no_wrap=True)
        grid.add_column("missed edges", justify="right")
    for row in rows:
        cells: list[Any] = [row.workload.name, row.metric.unit]
        if wide:
            cells.append(f"{row.n:,}")
        cells += [_styled(cell(row, impl)) for impl in figures]
        cells += [_styled(ratio_cell(row, b)) for b in ratios]
        if wide:
            text = goal_text(row)
            cells.append(f"[red]{text}[/]" if row.met is False else text)
            cells.append(f"[bold red]{row.missed_edges}[/]" if row.missed_edges else "0")
        grid.add_row(*cells)
    return grid


def expected_failures(rows: Sequence[Row], impls: Sequence[str]) -> list[str]:
    """Each implementation that fails a workload as expected, and why."""
    return [
        f"{impl} cannot run {work.name}: {work.cannot_run(impl)}."
        for work in dict.fromkeys(row.workload for row in rows)
        for impl in impls
        if work.cannot_run(impl)
    ]


def notes(rows: Sequence[Row], impls: list[str]) -> list[str]:
    """What the tables' columns mean where a workload departs from the usual:
    the expected failures, the implementations not run and why, what the
    ceiling is where it is not the usual loop."""
    works = list(dict.fromkeys(row.workload for row in rows))
    lines = expected_failures(rows, impls)
    skipped: dict[tuple[str, str], list[str]] = {}
    for work in works:
        for impl in impls:
            if work.not_run(impl):
                skipped.setdefault((impl, work.not_run(impl)), []).append(work.name)
    for (impl, reason), names in skipped.items():
        lines.append(f"{impl} not run ({', '.join(names)}): {reason}.")
    if "ceiling" in impls:
        for work in works:
            if work.ceiling != Workload.ceiling:
                lines.append(f"ceiling in {work.name}: {work.ceiling}.")
    return lines


# -- the chart -------------------------------------------------------------------

_COLOURS = {
    "green_zmq": "tab:green",
    "green_zmq-py": "tab:olive",
    "zmq.green": "tab:red",
    "threads": "tab:blue",
    "zmq.asyncio": "tab:purple",
    "ceiling": "tab:gray",
}


def plot(rows: Sequence[Row], impls: list[str], path: str) -> None:
    """Draw :func:`chart` into ``path`` (a PNG)."""
    chart(rows, impls).savefig(path)


def chart(rows: Sequence[Row], impls: list[str]) -> Any:
    """The chart, a matplotlib Figure: green_zmq's ratios where higher is
    better, those where lower is better, each in its own panel, and one
    scaling panel per family (each implementation's rate against N)."""
    # A Figure of its own, not pyplot's: no GUI backend, no global state.
    from matplotlib.figure import Figure

    shown = [row for row in rows if not row.metric.detail]
    # The families' rates are in their scaling panels.
    higher = [r for r in shown if r.metric.higher_is_better and not r.workload.family]
    lower = [r for r in shown if not r.metric.higher_is_better and _has_ratio(r)]
    top = [panel for panel in (higher, lower) if panel]
    families = sorted(
        {row.workload.family for row in shown if row.workload.size and row.metric.key == "rate"}
    )
    baselines = [b for b in (*RATIO_COLUMNS, "green_zmq-py") if b in impls]
    fig = Figure(
        figsize=(max(14.0, 0.9 * (len(higher) + len(lower)) + 4), 11 if families else 6),
        constrained_layout=True,
    )
    upper: Any = fig
    below: Any = fig
    if top and families:
        # An array of two; matplotlib types it as one SubFigure or an array.
        upper, below = fig.subfigures(2, 1)  # type: ignore[misc]
    if top:
        axes = upper.subplots(
            1, len(top), squeeze=False, gridspec_kw={"width_ratios": [len(p) for p in top]}
        )[0]
        for ax, panel in zip(axes, top):
            _ratio_panel(ax, panel, baselines)
    if families:
        for ax, family in zip(below.subplots(1, len(families), squeeze=False)[0], families):
            mine = [r for r in shown if r.workload.family == family and r.metric.key == "rate"]
            _scaling_panel(ax, family, mine, impls)
    return fig


def _has_ratio(row: Row) -> bool:
    return any(value is not None for value in row.ratios.values())


def _ratio_panel(ax: Any, rows: Sequence[Row], baselines: list[str]) -> None:
    # Grouped bars, one per baseline, on a log scale around 1 (as fast as it).
    width = 0.8 / max(1, len(baselines))
    for j, baseline in enumerate(baselines):
        label: str | None = baseline
        for i, row in enumerate(rows):
            x = i - 0.4 + width * (j + 0.5)
            ratio = row.ratio(baseline)
            if ratio is None or ratio <= 0:
                if row.workload.cannot_run(baseline):
                    ax.text(x, 1.0, f"{baseline} cannot run this", rotation=90, fontsize=7,
                            ha="center", va="bottom", color=_COLOURS[baseline])  # fmt: skip
                continue
            ax.bar(x, ratio, width, color=_COLOURS[baseline], label=label)
            label = None
            ax.text(x, ratio, about(ratio), ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(
        [f"{row.workload.name}\n{row.metric.unit}" for row in rows], rotation=45, ha="right",
        fontsize=8,
    )  # fmt: skip
    if rows[0].metric.higher_is_better:
        ax.set_title("Rates: higher is better (above 1: green_zmq faster)")
        ax.set_ylabel("green_zmq's rate / theirs (log scale)")
    else:
        ax.set_title("Latency, CPU, memory: lower is better (below 1: green_zmq lower)")
        ax.set_ylabel("green_zmq's figure / theirs (log scale)")
    ax.legend(fontsize=7, title="green_zmq against", title_fontsize=7, loc="best")


def _scaling_panel(ax: Any, family: str, rows: Sequence[Row], impls: list[str]) -> None:
    # Rate against N, both log: a flat line is a cost that does not grow with N.
    ordered = sorted(rows, key=lambda row: row.workload.size)
    for impl in impls:
        points = [
            (row.workload.size, row.medians[impl]) for row in ordered if row.medians.get(impl)
        ]
        if points:
            ax.plot(*zip(*points), marker="o", label=impl, color=_COLOURS.get(impl))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N")
    unit = ordered[0].metric.unit if ordered else ""
    ax.set_ylabel(unit)
    ax.set_title(f"{family}-N: {unit}, higher is better")
    ax.legend(fontsize=7)
