"""``python -m green_zmq.bench`` runs every implementation and checks what it measures.

No timing thresholds: figures depend on the machine; these tests only ask
that every workload produced a correct result, that its checks catch a
corrupted message, and that the summaries compute what they say.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import zmq

import green_zmq
from green_zmq.bench import measures, publish, report, runtimes, schedule, workloads
from green_zmq.bench.workloads import WORKLOADS, Corrupt, Goal
from helpers import python_path, run_python

ROOT = Path(__file__).resolve().parent.parent
CLI_WORKLOADS = ["tcp-64B", "dealers-10"]


@pytest.mark.timeout(180)
def test_quick_run_has_a_correct_result_for_every_implementation(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    plot = tmp_path / "bench.png"
    command = ["-m", "green_zmq.bench", "--quick", "--repeat", "1"]
    command += ["--only", ",".join(CLI_WORKLOADS), "--json", str(results), "--plot", str(plot)]
    # The sweeper keeps its default interval: run every few milliseconds it
    # also counts replies that land between its own select() and EVENTS
    # read, which would make the missed-edges check below flaky.
    keep_sweeper = {"GREEN_ZMQ_SWEEP_INTERVAL": None, "COLUMNS": "80"}
    proc = run_python(None, *command, env=keep_sweeper, cwd=tmp_path, timeout=170, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    document = json.loads(results.read_text())
    runs = document["runs"]
    assert {(r["impl"], r["workload"]) for r in runs} == {
        (impl, name)
        for impl in schedule.default_implementations()
        for name in CLI_WORKLOADS
        if WORKLOADS[name].runs(impl)
    }
    assert "zmq.asyncio" in {r["impl"] for r in runs}
    assert all(r["ok"] and r["rate"] > 0 for r in runs), [r for r in runs if not r["ok"]]
    assert all(r["missed_edges"] == 0 for r in runs if r["impl"] == "green_zmq")
    # Each green_zmq child says how it ran, and the footer says the same.
    accelerated = bool(getattr(green_zmq, "accelerated", False))
    assert {r["accelerated"] for r in runs if r["impl"] == "green_zmq"} == {accelerated}
    assert document["meta"]["accelerated"] is accelerated
    ran_as = "with its compiled accelerator" if accelerated else "as pure Python"
    assert f"green_zmq ran {ran_as} in every run." in proc.stdout
    assert all(r["rss_kib"] >= 0 for r in runs if r["workload"].startswith("dealers-"))
    summary = document["summary"]
    assert [(row["workload"], row["metric"]) for row in summary] == [
        (name, metric.key) for name in CLI_WORKLOADS for metric in WORKLOADS[name].shown_metrics
    ]
    assert all(not row["failures"] for row in summary)
    assert plot.stat().st_size > 0
    assert f"Chart: {plot}" in proc.stdout
    # At 80 columns the tables fit, each workload a row under its whole name
    # (the progress lines, one per measurement, may be longer).
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("[")]
    assert max(len(line) for line in lines) <= 80, proc.stdout
    assert "…" not in proc.stdout
    for name in CLI_WORKLOADS:
        assert any(line.startswith(f"{name} ") for line in lines), proc.stdout


@pytest.mark.timeout(60)
def test_a_child_over_its_time_limit_is_a_failure_not_a_stall(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", python_path())
    record = schedule.run_child("threads", "req-rep", 10**9, limit=1.0)
    assert not record["ok"]
    assert "hung" in record["error"]


# -- every workload, in this process, at its quick size -----------------------

# What each workload says it builds, counted by hand from its description.
SOCKETS: dict[str, dict[str, int]] = {
    "inproc-64B": {"PUSH": 1, "PULL": 1},
    "tcp-64B": {"PUSH": 1, "PULL": 1},
    "tcp-64KiB": {"PUSH": 1, "PULL": 1},
    "req-rep": {"REQ": 1, "REP": 1},
    "dealers-200": {"ROUTER": 1, "DEALER": 200},
    "multipart-5": {"PUSH": 1, "PULL": 1},
    "proxy": {"ROUTER": 1, "DEALER": 1, "REQ": 10, "REP": 4, "PAIR": 2},
    "zmqstream-echo": {"REQ": 1, "REP": 1},
    **{f"dealers-{n}": {"ROUTER": 1, "DEALER": n} for n in (10, 100, 1000, 10_000)},
    **{f"poll-many-{n}": {"PULL": n, "REQ": 1, "REP": 1} for n in (100, 1000, 10_000)},
    **{f"waiters-{n}": {"PUSH": 1, "PULL": 1} for n in (1, 100, 10_000)},
    "latency-idle": {"REQ": 1, "REP": 1},
    "latency-load": {"REQ": 1, "REP": 1, "ROUTER": 1, "DEALER": 200},
    "cpu-1k": {"PUSH": 1, "PULL": 1},
    "cpu-20k": {"PUSH": 1, "PULL": 1},
    "idle-1000": {"PUSH": 1000, "PULL": 1000},
}


# One implementation of each kind: green_zmq-py, green_zmq in another
# environment, runs the same code in this process.
KINDS = [impl for impl, spec in runtimes.IMPLEMENTATIONS.items() if spec.kind == impl]


def _cases() -> list[tuple[str, str]]:
    # Every workload under green_zmq; every implementation on the classic
    # workloads and on each family's smallest size (the roles do not depend
    # on the size), so every role of every runtime runs.
    cases = []
    for name, work in WORKLOADS.items():
        smallest = min(w.size for w in WORKLOADS.values() if w.group == work.group)
        for impl in KINDS:
            expected_to_fail = work.cannot_run(impl)
            if (
                work.runs(impl)
                and not expected_to_fail
                and (impl == "green_zmq" or work.size == smallest)
            ):
                cases.append((name, impl))
    return cases


class _Counting:
    """Mixed into a runtime: counts the sockets a workload creates, by kind;
    with ``corrupt``, every socket changes the first message it sends."""

    kinds: Counter[str]
    corrupt = False

    def socket(self, kind: int) -> Any:
        self.kinds[zmq.SocketType(kind).name] += 1
        if not self.corrupt:
            return super().socket(kind)  # type: ignore[misc]
        socket_class = _corrupting(self.ctx._socket_class)  # type: ignore[attr-defined]
        sock = self.ctx.socket(kind, socket_class=socket_class)  # type: ignore[attr-defined]
        self.sockets.append(sock)  # type: ignore[attr-defined]
        return sock


def _corrupting(base: type) -> type:
    class Corrupting(base):  # type: ignore[valid-type, misc]
        _changed = False

        def send(self, data: Any, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
            return super().send(self._change(data), flags, *args, **kwargs)

        def send_multipart(self, frames: Any, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
            frames = list(frames)
            frames[-1] = self._change(frames[-1])
            return super().send_multipart(frames, flags, *args, **kwargs)

        def _change(self, data: Any) -> Any:
            # +1 on the last byte, so two changes on one path do not cancel.
            if self._changed or not isinstance(data, bytes) or not data:
                return data
            self._changed = True
            return data[:-1] + bytes([(data[-1] + 1) % 256])

    return Corrupting


def _runtime(impl: str, corrupt: bool = False) -> Any:
    spec = runtimes.IMPLEMENTATIONS[impl]
    base = spec.runtime
    counting = type(f"Counting{base.__name__}", (_Counting, base), {"corrupt": corrupt})
    rt = counting(spec.kind, importlib.import_module(spec.module))
    rt.kinds = Counter()
    return rt


def test_every_workload_has_its_socket_count() -> None:
    assert set(SOCKETS) == set(WORKLOADS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "impl"), _cases())
def test_a_workload_runs_and_creates_the_sockets_its_name_says(
    name: str, impl: str, request: pytest.FixtureRequest
) -> None:
    work = WORKLOADS[name]
    if sum(SOCKETS[name].values()) >= 100:
        # The suite's sweeper runs every 50 ms. Over thousands of sockets
        # that would be most of the run, and with hundreds of short waits on
        # a loaded machine it also counts replies that land within its own
        # check (see test_scale); the CLI test above keeps the default 1 s.
        request.getfixturevalue("no_sweeper")
    rt = _runtime(impl)
    try:
        work.run(rt, work.quick_n)
    finally:
        rt.close()
    expected = dict(SOCKETS[name])
    if (name, impl) == ("proxy", "zmq.green"):
        del expected["PAIR"]  # zmq.green's device has no control socket
    assert rt.kinds == expected
    assert rt.elapsed > 0
    for metric in work.shown_metrics:
        if metric.key != "rate":
            assert rt.metrics[metric.key] >= 0


# One workload per set of roles: the smallest of each family, every classic one.
_CHECKED = [
    name
    for name, work in WORKLOADS.items()
    if work.size == min(w.size for w in WORKLOADS.values() if w.group == work.group)
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", _CHECKED)
def test_a_workload_reports_a_corrupted_message(name: str) -> None:
    rt = _runtime("green_zmq", corrupt=True)
    work = WORKLOADS[name]
    try:
        with pytest.raises(Corrupt):
            work.run(rt, work.quick_n)
    finally:
        rt.close()


# -- the checks and measurements, on synthetic data ---------------------------


@pytest.mark.timeout(10)
def test_a_message_out_of_order_is_reported() -> None:
    arrivals = iter([workloads.message(0, 64), workloads.message(2, 64)])
    role = workloads.recv_all(
        lambda flags: next(arrivals), 2, lambda i: workloads.message(i, 64), 0
    )
    with pytest.raises(Corrupt, match="message 1"):
        list(role)


def test_waiters_check_accepts_each_message_once_in_order_per_waiter() -> None:
    workloads.check_takes([[0, 2, 5], [1, 3], [4], []], 6)


@pytest.mark.parametrize(
    ("takes", "error"),
    [
        ([[0, 2], [1, 2]], "taken twice"),
        ([[0, 2], [3, 1]], "took message 1 after 3"),
        ([[0, 1], [3]], "message 2 never taken"),
        ([[0, 1, 2, 3, 7]], "never sent"),
    ],
)
def test_waiters_check_reports_a_lost_repeated_or_reordered_message(takes, error) -> None:
    with pytest.raises(Corrupt, match=error):
        workloads.check_takes(takes, 4)


def test_percentiles_are_nearest_rank() -> None:
    samples = list(range(1, 1001))
    random.Random(1).shuffle(samples)
    assert measures.percentile(samples, 50) == 500
    assert measures.percentile(samples, 99) == 990
    assert measures.percentile(samples, 99.9) == 999
    assert measures.percentile(samples, 100) == 1000
    assert measures.percentile([7], 99.9) == 7
    # One slow sample in a thousand moves p99.9, not p99.
    assert measures.percentile([10] * 999 + [5000], 99) == 10
    assert measures.percentile([10] * 998 + [5000] * 2, 99.9) == 5000
    with pytest.raises(ValueError):
        measures.percentile([], 50)


def test_cpu_is_per_100k_messages_and_as_a_share_of_a_core() -> None:
    assert measures.per_messages(0.3, 3_000) == pytest.approx(10.0)
    assert measures.per_messages(2.0, 40_000) == pytest.approx(5.0)
    assert measures.core_percent(0.05, 5.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        measures.per_messages(1.0, 0)


def test_a_busy_loop_shows_as_cpu_and_a_sleep_does_not() -> None:
    import time

    start = measures.cpu_seconds()
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        pass
    busy = measures.cpu_seconds() - start
    start = measures.cpu_seconds()
    time.sleep(0.05)
    asleep = measures.cpu_seconds() - start
    assert busy > asleep


def test_goals_compare_in_the_metrics_direction() -> None:
    assert Goal(0.9).met(0.95, higher_is_better=True)
    assert not Goal(0.9).met(0.85, higher_is_better=True)
    assert Goal(1.0, "threads", "p99_us").met(0.7, higher_is_better=False)
    assert not Goal(1.0, "threads", "p99_us").met(1.3, higher_is_better=False)
    assert Goal(1.0, None, "core_percent").met(0.4, higher_is_better=False)
    assert not Goal(1.0, None, "core_percent").met(1.0, higher_is_better=False)
    assert Goal(0.8, "workload:poll-many-1000").describe(True) == ">=0.8x poll-many-1000"
    assert Goal(1.0, "threads", "p99_us").describe(False) == "<=1x threads"


def _run(repeat: int, impl: str, value: float | None, name: str = "req-rep", key: str = "rate"):
    record: dict[str, Any] = {"workload": name, "impl": impl, "repeat": repeat}
    if value is None:
        return {**record, "ok": False, "error": "x"}
    return {**record, "ok": True, "rate": value, key: value}


def test_ratios_are_taken_within_each_repeat_then_the_median() -> None:
    # Repeat 2 caught green_zmq in a slow spell and the ceiling in a fast
    # one; the ratio of the columns' medians (55 / 100) would report that.
    runs = [
        _run(0, "green_zmq", 100.0), _run(0, "ceiling", 100.0),
        _run(1, "green_zmq", 50.0), _run(1, "ceiling", 50.0),
        _run(2, "green_zmq", 55.0), _run(2, "ceiling", 100.0),
    ]  # fmt: skip
    (row,) = report.summarise(runs, ["green_zmq", "ceiling"], ["req-rep"], {"req-rep": 1})
    assert row.medians == {"green_zmq": 55.0, "ceiling": 100.0}
    assert row.ratio("ceiling") == 1.0
    assert row.result == 1.0 and row.met


def test_a_failed_repeat_leaves_the_ratio_empty() -> None:
    runs = [
        _run(0, "green_zmq", 100.0), _run(0, "ceiling", 100.0), _run(0, "threads", None),
        _run(1, "green_zmq", 100.0), _run(1, "ceiling", 100.0), _run(1, "threads", 80.0),
    ]  # fmt: skip
    impls = ["green_zmq", "ceiling", "threads"]
    (row,) = report.summarise(runs, impls, ["req-rep"], {"req-rep": 1})
    assert row.ratio("ceiling") == 1.0
    assert row.ratio("threads") is None


def test_a_lower_is_better_goal_is_met_below_its_bound() -> None:
    runs = [
        _run(0, "green_zmq", 300.0, "latency-load", "p99_us"),
        _run(0, "threads", 200.0, "latency-load", "p99_us"),
    ]
    rows = report.summarise(runs, ["green_zmq", "threads"], ["latency-load"], {"latency-load": 1})
    (p99,) = [row for row in rows if row.metric.key == "p99_us"]
    assert p99.result == 1.5
    assert p99.met is False
    assert "MISSED" in report.goal_text(p99)


def test_a_goal_against_another_size_pairs_green_zmq_with_itself_per_repeat() -> None:
    small, big = "poll-many-1000", "poll-many-10000"
    runs = [
        _run(0, "green_zmq", 9000.0, small), _run(0, "green_zmq", 8100.0, big),
        _run(1, "green_zmq", 4000.0, small), _run(1, "green_zmq", 3000.0, big),
        _run(1, "threads", 1.0, big),
    ]  # fmt: skip
    rows = report.summarise(runs, ["green_zmq", "threads"], [small, big], {small: 1, big: 1})
    assert rows[-1].goal is not None and rows[-1].goal.against == f"workload:{small}"
    assert rows[-1].result == pytest.approx((0.9 + 0.75) / 2)
    assert rows[-1].met is True


def test_an_absolute_goal_is_on_green_zmqs_own_figure() -> None:
    runs = [
        _run(r, "green_zmq", v, "idle-1000", "core_percent") for r, v in enumerate([0.5, 2.5, 0.7])
    ]
    (row,) = report.summarise(runs, ["green_zmq"], ["idle-1000"], {"idle-1000": 5000})
    assert row.result == 0.7 and row.met is True


def test_a_default_run_has_the_sizes_goals_need_and_full_has_every_size() -> None:
    default = schedule.select_workloads(None, full=False)
    assert {"dealers-100", "dealers-1000", "poll-many-1000", "poll-many-10000"} <= set(default)
    assert {"waiters-1", "waiters-10000", "req-rep", "latency-load", "idle-1000"} <= set(default)
    assert "dealers-10" not in default
    assert schedule.select_workloads(None, full=True) == list(WORKLOADS)
    assert schedule.select_workloads("dealers", full=True) == [
        "dealers-10", "dealers-100", "dealers-1000", "dealers-10000"
    ]  # fmt: skip
    assert schedule.select_workloads("dealers-10,req-rep", full=False) == ["req-rep", "dealers-10"]
    with pytest.raises(SystemExit):
        schedule.select_workloads("dealers-7", full=False)


def test_implementations_that_cannot_hold_a_size_are_not_scheduled() -> None:
    jobs = schedule.schedule(list(runtimes.IMPLEMENTATIONS), ["dealers-10000", "waiters-100"], 1)
    assert ("dealers-10000", "threads") not in {(name, impl) for _, name, impl in jobs}
    assert ("waiters-100", "threads") not in {(name, impl) for _, name, impl in jobs}
    assert (0, "dealers-10000", "zmq.asyncio") in jobs


def test_a_once_workload_runs_in_the_first_repeat_only() -> None:
    jobs = schedule.schedule(["green_zmq", "threads"], ["req-rep", "latency-idle"], 3)
    assert [r for r, name, impl in jobs if name == "latency-idle"] == [0, 0]
    assert [r for r, name, impl in jobs if name == "req-rep"] == [0, 0, 1, 1, 2, 2]


def test_green_zmq_is_the_package_measured() -> None:
    assert runtimes.IMPLEMENTATIONS["green_zmq"].module == green_zmq.__name__


def test_waiters_time_the_message_phase_not_the_waiters_ending(monkeypatch) -> None:
    # Each waiter lingers after its STOP: work per waiter, which a rate per
    # message must not count.
    import gevent

    linger = 0.3
    taken = workloads._taken

    def lingering(got: bytes, into: list[int], phase: workloads.Phase) -> bool:
        more = taken(got, into, phase)
        if not more:
            gevent.sleep(linger)
        return more

    monkeypatch.setattr(workloads, "_taken", lingering)
    rt = runtimes.GreenRuntime("green_zmq", green_zmq)
    try:
        workloads.waiters(rt, 300, count=3)
    finally:
        rt.close()
    assert 0 < rt.elapsed < linger


# -- what a user reads: the tables, the progress, the notes, the messages -----


def _synthetic_rows(impls: list[str]) -> list[report.Row]:
    # Every workload and metric, with the widest figures a run can give:
    # rates in millions, ratios in hundreds of thousands, latencies in
    # thousands of microseconds, and zmq.green's expected failures.
    runs = []
    for name, work in WORKLOADS.items():
        for impl in impls:
            record: dict[str, Any] = {"workload": name, "impl": impl, "repeat": 0}
            if not work.runs(impl):
                continue
            if work.cannot_run(impl):
                runs.append({**record, "ok": False, "error": "AssertionError: x"})
                continue
            big = impl == "green_zmq"
            figures = {m.key: 98_765.0 if big else 1.0 for m in work.shown_metrics}
            runs.append({**record, "ok": True, **figures, "rate": 9_876_543.0 if big else 12.0})
    return report.summarise(runs, impls, list(WORKLOADS), {name: 100_000 for name in WORKLOADS})


def _render(tables: list[Any], width: int) -> str:
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), record=True)
    for table in tables:
        console.print(table)
    return console.export_text()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("accelerated", [False, True], ids=["pure", "accelerated"])
def test_the_default_tables_fit_80_columns_and_show_every_name_whole(accelerated: bool) -> None:
    impls = [i for i in runtimes.IMPLEMENTATIONS if accelerated or i != "green_zmq-py"]
    text = _render(report.tables(_synthetic_rows(impls), impls), width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    assert "…" not in text
    starts = {line.split(" ", 1)[0] for line in lines}
    # Every workload has its row, its name whole (dealers-100 is not dealers-1000).
    assert set(WORKLOADS) <= starts, text
    assert ("compiled against pure Python" in text) is accelerated
    # Directions never share a table, and the targets are for --wide.
    assert text.index("Higher is better") < text.index("Lower is better")
    for word in ("goal", "issue", "target", ">=1.5x"):
        assert word not in text


@pytest.mark.timeout(30)
def test_the_wide_tables_have_every_figure_and_the_targets() -> None:
    impls = list(runtimes.IMPLEMENTATIONS)
    text = _render(report.tables(_synthetic_rows(impls), impls, wide=True), width=250)
    header = next(line for line in text.splitlines() if line.startswith("workload"))
    for column in (*impls, "vs zmq.green", "vs pure Python", "target", "missed edges"):
        assert column in header
    assert ">=1.5x ceiling" in text
    assert "samples" in text  # a detail, for --wide only
    # On a terminal too narrow for them, the other cells give way; no name does.
    narrow = _render(report.tables(_synthetic_rows(impls), impls, wide=True), width=80)
    assert set(WORKLOADS) <= {line.split(" ", 1)[0] for line in narrow.splitlines()}


@pytest.mark.timeout(60)
def test_each_panel_of_the_chart_has_one_direction_and_says_which() -> None:
    impls = list(runtimes.IMPLEMENTATIONS)
    rows = _synthetic_rows(impls)
    fig = report.chart(rows, impls)
    rates = {row.metric.unit for row in rows if row.metric.higher_is_better}
    directions = []
    for ax in fig.axes:
        title = ax.get_title()
        higher, lower = "higher is better" in title, "lower is better" in title
        assert higher != lower, title
        directions.append(higher)
        if "green_zmq's" not in ax.get_ylabel():
            continue  # a scaling panel: rates against N
        # A ratio panel: every bar's measure is of the direction its title says.
        units = {tick.get_text().split("\n")[1] for tick in ax.get_xticklabels()}
        assert units and all((unit in rates) == higher for unit in units), (title, units)
    assert True in directions and False in directions


def _bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "green_zmq.bench", "--quick", "--repeat", "1", *args]


def _bench_env(**changes: str) -> dict[str, str]:
    env = dict(os.environ, **changes)
    env["PYTHONPATH"] = python_path()
    return env


@pytest.mark.timeout(120)
def test_piped_output_shows_each_measurement_as_it_ends_with_the_time_left(
    tmp_path: Path,
) -> None:
    command = _bench_command("--only", "req-rep,tcp-64B", "--impl", "green_zmq,threads,ceiling")
    stderr = tmp_path / "stderr"
    with stderr.open("w") as errors:
        proc = subprocess.Popen(
            [*command, "--no-plot"],
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=tmp_path,
            env=_bench_env(COLUMNS="80"),
        )
        assert proc.stdout is not None
        # Each read returns what the bench has written so far: a line
        # written as a measurement ends arrives before the tables do.
        chunks = []
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            chunks.append(chunk.decode())
        assert proc.wait(timeout=60) == 0, "".join(chunks) + stderr.read_text()
    text = "".join(chunks)
    first_line = next(i for i, chunk in enumerate(chunks) if "[1/6] " in chunk)
    tables = next(i for i, chunk in enumerate(chunks) if "Higher is better" in chunk)
    assert first_line < tables, chunks
    progress = [line for line in text.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == [f"[{i}/6" for i in range(1, 7)]
    for line in progress[:-1]:
        assert line.endswith(" left)") and "(about " in line, line
    assert progress[-1].endswith("(done)")


@pytest.mark.timeout(90)
def test_zmq_greens_expected_failure_reads_as_a_note_not_an_error(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    command = ["-m", "green_zmq.bench", "--quick", "--repeat", "1", "--only", "waiters-100"]
    command += ["--impl", "green_zmq,zmq.green", "--no-plot", "--json", str(results)]
    proc = run_python(None, *command, env={"COLUMNS": "80"}, cwd=tmp_path, timeout=80)
    # zmq.green really failed: its own error is kept for the JSON.
    (record,) = [r for r in json.loads(results.read_text())["runs"] if r["impl"] == "zmq.green"]
    assert not record["ok"] and "Only one greenlet can be waiting" in record["error"]
    # The user reads why, in words, as it happens and under the tables.
    assert re.search(r"zmq.green +cannot run this: 100 greenlets on one socket", proc.stdout)
    assert "zmq.green cannot run waiters-100: 100 greenlets on one socket." in proc.stdout
    for word in ("AssertionError", "Only one greenlet", "FAIL", "as expected"):
        assert word not in proc.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("missing", ["rich", "matplotlib", "tornado"])
def test_without_the_bench_extra_it_says_what_to_install(missing: str) -> None:
    # A None in sys.modules makes the import fail as if it were not installed.
    code = f"""
        import runpy, sys
        sys.modules[{missing!r}] = None
        sys.argv = ["green_zmq.bench", "--quick", "--only", "req-rep"]
        runpy.run_module("green_zmq.bench", run_name="__main__")
    """
    proc = run_python(code, check=False, timeout=50)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"python -m green_zmq.bench needs {missing} ")
    assert line.endswith("pip install 'green_zmq[bench]'")


@pytest.mark.timeout(10)
def test_the_time_left_counts_each_workload_at_its_own_pace() -> None:
    jobs = schedule.schedule(["green_zmq", "threads"], ["req-rep", "latency-idle"], 1)
    left = schedule.TimeLeft(jobs)
    assert left.seconds() is None and left.text() == ""
    left.finished("req-rep", 1.0)
    # One req-rep as long as the first; latency-idle unknown: the average.
    assert left.seconds() == pytest.approx(1.0 + 2 * 1.0)
    left.finished("req-rep", 3.0)
    left.finished("latency-idle", 10.0)
    assert left.seconds() == pytest.approx(10.0)
    assert left.text() == "about 10 s left"
    left.finished("latency-idle", 10.0)
    assert left.text() == "done"
    assert schedule.duration(200) == "3 min" and schedule.duration(3900) == "1 h 5 min"


# -- the accelerator: green_zmq both ways ----------------------------------------


@pytest.mark.timeout(10)
def test_pure_python_green_zmq_is_compared_only_where_there_is_an_accelerator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(green_zmq, "accelerated", False, raising=False)
    assert "green_zmq-py" not in schedule.default_implementations()
    monkeypatch.setattr(green_zmq, "accelerated", True, raising=False)
    assert "green_zmq-py" in schedule.default_implementations()
    for work in WORKLOADS.values():
        assert work.runs("green_zmq-py") == work.runs("green_zmq")


@pytest.mark.timeout(10)
def test_an_implementation_carries_its_environment_to_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, dict[str, str]] = {}

    def run(command: list[str], env: dict[str, str], **kwargs: Any) -> Any:
        seen[command[command.index("--child") + 1]] = env
        line = json.dumps({"ok": True, "rate": 1.0})
        return subprocess.CompletedProcess(command, 0, line + "\n", "")

    monkeypatch.delenv("GREEN_ZMQ_PURE_PYTHON", raising=False)
    monkeypatch.setattr(schedule.subprocess, "run", run)
    for impl in ("green_zmq", "green_zmq-py"):
        assert schedule.run_child(impl, "req-rep", 10, limit=5)["ok"]
    assert "GREEN_ZMQ_PURE_PYTHON" not in seen["green_zmq"]
    assert seen["green_zmq-py"]["GREEN_ZMQ_PURE_PYTHON"] == "1"


# -- the figures the docs quote come from one JSON -------------------------------

BENCH_JSON = ROOT / "docs" / "bench.json"


def _figures() -> publish.Figures:
    return publish.Figures(json.loads(BENCH_JSON.read_text()))


@pytest.mark.timeout(30)
def test_every_figure_the_docs_quote_is_what_docs_bench_json_gives() -> None:
    figures = _figures()
    for name in publish.DOCS:
        stale = publish.stale((ROOT / name).read_text(), figures)
        assert not stale, f"{name}: run python -m green_zmq.bench --publish docs/bench.json"
    # The quotes are there to check: the README's tables and ranges, the
    # migration guide's ratios, the benchmarks' tables.
    quoted = {name: publish.markers((ROOT / name).read_text()) for name in publish.DOCS}
    assert {"machine", "speed", "range zmq.green", "range threads"} <= set(quoted["README.md"])
    assert {"range zmq.green", "ratio req-rep zmq.green"} <= set(quoted["docs/migration.md"])
    assert {"machine", "results", "targets"} <= set(quoted["docs/benchmarks.md"])


@pytest.mark.timeout(10)
def test_the_speed_sections_quote_no_figure_of_their_own() -> None:
    # A ratio or a rate outside a marker would not follow the JSON.
    figure = re.compile(r"\b\d[\d.,]*(?:x|k|M)\b")
    for name, heading in (("README.md", "## Speed\n"), ("docs/migration.md", "## Speed\n")):
        text = (ROOT / name).read_text()
        section = text[text.index(heading) :].split("\n## ", 1)[0]
        outside = publish._MARKED.sub("", section)
        assert not figure.findall(outside), (name, figure.findall(outside))


@pytest.mark.timeout(10)
def test_a_quote_edited_by_hand_is_found_and_publishing_rewrites_it() -> None:
    figures = _figures()
    readme = (ROOT / "README.md").read_text()
    marker = "<!-- bench:range zmq.green -->"
    start = readme.index(marker) + len(marker)
    end = readme.index("<!-- /bench -->", start)
    right = readme[start:end]
    edited = readme[:start] + "99x to 100x" + readme[end:]
    assert publish.stale(edited, figures) == [("range zmq.green", "99x to 100x", right)]
    assert publish.update(edited, figures) == readme


@pytest.mark.timeout(60)
def test_publishing_writes_the_docs_and_the_chart_from_the_json(tmp_path: Path) -> None:
    for name in publish.DOCS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    document = json.loads(BENCH_JSON.read_text())
    (row,) = [r for r in document["summary"] if (r["workload"], r["metric"]) == ("req-rep", "rate")]
    row["ratios"]["zmq.green"] = 12.3
    source = tmp_path / "docs" / "bench.json"
    source.write_text(json.dumps(document))
    written = publish.publish(source, tmp_path)
    assert source.with_suffix(".png").stat().st_size > 0
    migration = (tmp_path / "docs" / "migration.md").read_text()
    assert "<!-- bench:ratio req-rep zmq.green -->12x<!-- /bench -->" in migration
    assert tmp_path / "docs" / "migration.md" in written
    # Nothing outside the quotes changed.
    for name in publish.DOCS:
        ours, theirs = (ROOT / name).read_text(), (tmp_path / name).read_text()
        assert publish._MARKED.sub("", ours) == publish._MARKED.sub("", theirs)


@pytest.mark.timeout(30)
def test_a_runs_summary_reads_back_from_its_json_as_it_was() -> None:
    runs = [
        _run(0, "green_zmq", 100.0), _run(0, "ceiling", 90.0), _run(0, "threads", 50.0),
        _run(1, "green_zmq", 80.0), _run(1, "ceiling", 100.0), _run(1, "threads", 40.0),
        _run(2, "green_zmq", 90.0), _run(2, "ceiling", 100.0), _run(2, "threads", 45.0),
    ]  # fmt: skip
    impls = ["green_zmq", "ceiling", "threads"]
    (row,) = report.summarise(runs, impls, ["req-rep"], {"req-rep": 3})
    assert row.spreads["ceiling"] == (0.8, pytest.approx(100 / 90))
    assert row.result_spread == row.spreads["ceiling"]
    (back,) = report.rows_from_json(json.loads(json.dumps([row.as_json()])))
    assert back == row
