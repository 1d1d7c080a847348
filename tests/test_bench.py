"""``python -m green_zmq.bench`` runs every implementation and checks what it measures.

No timing thresholds: rates depend on the machine; these tests only ask
that every implementation produced a correct result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import zmq

from green_zmq import bench

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ["tcp-64B", "dealers-200"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    # The sweeper keeps its default interval: run every few milliseconds it
    # also counts replies that land between its own select() and EVENTS
    # read, which would make the missed-edges check below flaky.
    env.pop("GREEN_ZMQ_SWEEP_INTERVAL", None)
    return env


@pytest.mark.timeout(180)
def test_quick_run_has_a_correct_result_for_every_implementation(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    plot = tmp_path / "bench.png"
    command = [sys.executable, "-m", "green_zmq.bench", "--quick", "--repeat", "1"]
    command += ["--only", ",".join(WORKLOADS), "--json", str(results), "--plot", str(plot)]
    proc = subprocess.run(
        command, env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=170
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    document = json.loads(results.read_text())
    runs = document["runs"]
    assert {(r["impl"], r["workload"]) for r in runs} == {
        (impl, name) for impl in bench.IMPLEMENTATIONS for name in WORKLOADS
    }
    assert all(r["ok"] and r["rate"] > 0 for r in runs), [r for r in runs if not r["ok"]]
    assert all(r["missed_edges"] == 0 for r in runs if r["impl"] == "green_zmq")
    assert [row["workload"] for row in document["summary"]] == WORKLOADS
    assert all(not row["failures"] for row in document["summary"])
    assert plot.stat().st_size > 0
    for name in WORKLOADS:
        assert name in proc.stdout


@pytest.mark.timeout(60)
def test_a_child_over_its_time_limit_is_a_failure_not_a_stall(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    record = bench._run_child("threads", "req-rep", 10**9, limit=1.0)
    assert not record["ok"]
    assert "hung" in record["error"]


@pytest.mark.timeout(10)
def test_a_message_out_of_order_is_reported() -> None:
    arrivals = iter([bench.message(0, 64), bench.message(2, 64)])
    role = bench.recv_all(lambda flags: next(arrivals), 2, lambda i: bench.message(i, 64), 0)
    with pytest.raises(bench.Corrupt, match="message 1"):
        list(role)


def _run(repeat: int, impl: str, rate: float | None) -> dict:
    if rate is None:
        return {"workload": "req-rep", "impl": impl, "repeat": repeat, "ok": False, "error": "x"}
    return {"workload": "req-rep", "impl": impl, "repeat": repeat, "ok": True, "rate": rate}


def test_ratios_are_taken_within_each_repeat_then_the_median() -> None:
    # Repeat 2 caught green_zmq in a slow spell and the ceiling in a fast
    # one; the ratio of the columns' medians (55 / 100) would report that.
    runs = [
        _run(0, "green_zmq", 100.0), _run(0, "ceiling", 100.0),
        _run(1, "green_zmq", 50.0), _run(1, "ceiling", 50.0),
        _run(2, "green_zmq", 55.0), _run(2, "ceiling", 100.0),
    ]  # fmt: skip
    (row,) = bench._summarise(runs, ["green_zmq", "ceiling"], ["req-rep"], {"req-rep": 1})
    assert row.medians == {"green_zmq": 55.0, "ceiling": 100.0}
    assert row.ratio("ceiling") == 1.0


def test_a_failed_repeat_leaves_the_ratio_empty() -> None:
    runs = [
        _run(0, "green_zmq", 100.0), _run(0, "ceiling", 100.0), _run(0, "threads", None),
        _run(1, "green_zmq", 100.0), _run(1, "ceiling", 100.0), _run(1, "threads", 80.0),
    ]  # fmt: skip
    impls = ["green_zmq", "ceiling", "threads"]
    (row,) = bench._summarise(runs, impls, ["req-rep"], {"req-rep": 1})
    assert row.ratio("ceiling") == 1.0
    assert row.ratio("threads") is None


class _CountingCeiling(bench.CeilingRuntime):
    """The ceiling runtime, counting the sockets a workload creates by kind."""

    def __init__(self) -> None:
        super().__init__("ceiling", zmq)
        self.kinds: Counter[str] = Counter()

    def socket(self, kind: int):
        self.kinds[zmq.SocketType(kind).name] += 1
        return super().socket(kind)


# What each workload says it builds, counted by hand from its description.
SOCKETS = {
    "inproc-64B": {"PUSH": 1, "PULL": 1},
    "tcp-64B": {"PUSH": 1, "PULL": 1},
    "tcp-64KiB": {"PUSH": 1, "PULL": 1},
    "req-rep": {"REQ": 1, "REP": 1},
    "dealers-200": {"ROUTER": 1, "DEALER": 200},
    "multipart-5": {"PUSH": 1, "PULL": 1},
    "poll-many": {"PULL": 1000, "REQ": 1, "REP": 1},
    "proxy": {"ROUTER": 1, "DEALER": 1, "REQ": 10, "REP": 4, "PAIR": 2},
    "zmqstream-echo": {"REQ": 1, "REP": 1},
}


def test_every_workload_has_its_socket_count() -> None:
    assert set(SOCKETS) == set(bench.WORKLOADS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(SOCKETS))
def test_a_workload_creates_the_sockets_its_name_says(name: str) -> None:
    rt = _CountingCeiling()
    try:
        bench.WORKLOADS[name].run(rt, bench.WORKLOADS[name].quick_n)
    finally:
        rt.close()
    assert rt.kinds == SOCKETS[name]
