"""The scheduling of child processes, and the command line.

Every measurement runs in a fresh child (``--child IMPL WORKLOAD N``) that
prints one JSON record; the parent interleaves the children (each repeat
runs every workload on every implementation in turn) and summarises.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import zmq

from . import report
from .runtimes import IMPLEMENTATIONS, Runtime
from .workloads import WORKLOADS

__all__ = ["main", "run_child", "schedule", "select_workloads"]


# -- the child: one measurement, one JSON line -------------------------------


def _runtime(impl: str) -> Runtime:
    runtime, module = IMPLEMENTATIONS[impl]
    return runtime(impl, importlib.import_module(module))


def _child(impl: str, name: str, n: int, limit: float) -> int:
    # A hang must end as a failure: dump every thread's stack and exit.
    faulthandler.dump_traceback_later(limit, exit=True)
    result: dict[str, Any] = {"impl": impl, "workload": name, "n": n, "ok": False}
    try:
        rt = _runtime(impl)
        WORKLOADS[name].run(rt, n)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(result), flush=True)
        # Other roles may still be blocked on their sockets: no teardown.
        os._exit(1)
    rt.close()
    result.update(ok=True, seconds=rt.elapsed, rate=n / rt.elapsed, **rt.metrics)
    if impl == "green_zmq":
        stats = rt.zmq.statistics()
        result.update(
            missed_edges=stats.missed_edges,
            fd_wakeups=stats.fd_wakeups,
            rechecks=stats.rechecks,
            sweeps=stats.sweeps,
        )
    print(json.dumps(result), flush=True)
    return 0


# -- the parent: schedule children, summarise ---------------------------------


def run_child(impl: str, name: str, n: int, limit: float) -> dict[str, Any]:
    """Measure workload ``name`` on ``impl`` in a fresh process; its record."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "green_zmq.bench", "--child", impl, name, str(n)]
    command += ["--limit", str(limit)]
    failed: dict[str, Any] = {"impl": impl, "workload": name, "n": n, "ok": False}
    start = time.perf_counter()
    try:
        # The child stops itself at ``limit``; this is the backstop.
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit + 30)
    except subprocess.TimeoutExpired:
        return {**failed, "error": f"no answer within {limit + 30:.0f}s (killed)"}
    # The child's whole life, start-up and teardown included: what a run costs.
    failed["wall"] = time.perf_counter() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            record: dict[str, Any] = json.loads(line)
            record["wall"] = failed["wall"]
            if not record.get("ok"):
                record["stderr"] = proc.stderr[-4000:]
            return record
    if "Timeout (" in proc.stderr:
        error = f"hung (or too slow): still running at the {limit:g}s limit"
    else:
        tail = proc.stderr.strip().splitlines()
        error = f"exit {proc.returncode}: {tail[-1] if tail else 'no output'}"
    return {**failed, "error": error, "stderr": proc.stderr[-4000:]}


def schedule(impls: list[str], names: list[str], repeat: int) -> list[tuple[int, str, str]]:
    """Interleave: each repeat runs every workload (a ``once`` workload in the
    first only) on every implementation that runs it, the implementations'
    order rotated so none is always first."""
    jobs: list[tuple[int, str, str]] = []
    for r in range(repeat):
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        for name in names:
            work = WORKLOADS[name]
            if r == 0 or not work.once:
                jobs.extend((r, name, impl) for impl in order if work.runs(impl))
    return jobs


def _pick(given: str | None, known: Iterable[str], what: str) -> list[str]:
    known = list(known)
    if not given:
        return known
    picked = [name.strip() for name in given.split(",") if name.strip()]
    unknown = [name for name in picked if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return picked


def select_workloads(given: str | None, full: bool) -> list[str]:
    """The workloads ``--only`` names (workloads or families), in registry
    order; a family, like no ``--only``, means its default sizes unless ``full``."""
    groups = {work.group for work in WORKLOADS.values()}
    picked = _pick(given, [*WORKLOADS, *sorted(groups - set(WORKLOADS))], "workload or group")
    if not given:
        picked = sorted(groups)
    return [
        name
        for name, work in WORKLOADS.items()
        if name in picked or (work.group in picked and (full or work.default))
    ]


def _parser() -> argparse.ArgumentParser:
    groups = sorted({w.family for w in WORKLOADS.values() if w.family})
    parser = argparse.ArgumentParser(
        prog="python -m green_zmq.bench",
        description=(
            "Benchmark green_zmq against zmq.green, threads, the one-thread ceiling"
            " and zmq.asyncio."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for smoke tests")
    parser.add_argument("--full", action="store_true", help="every size of every family")
    # 3 keeps a default run near 5 minutes; on a noisy machine, where one
    # slow spell can decide a ratio of three, --repeat 5 is steadier.
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument(
        "--only",
        metavar="WORKLOAD[,..]",
        help=f"workloads, or groups: {', '.join(groups)} (of: {', '.join(WORKLOADS)})",
    )
    parser.add_argument("--impl", metavar="IMPL[,..]", help=f"of: {', '.join(IMPLEMENTATIONS)}")
    parser.add_argument("--json", metavar="FILE", help="write every run and the summary here")
    parser.add_argument("--plot", metavar="FILE.png", help="charts of the goals and the scaling")
    parser.add_argument(
        "--limit", type=float, default=None, help="seconds before a child counts as hung"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("IMPL", "WORKLOAD", "N"), help=argparse.SUPPRESS
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one measurement); return the exit status."""
    args = _parser().parse_args(argv)
    if args.child:
        impl, name, n = args.child
        return _child(impl, name, int(n), args.limit or 120.0)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    impls = _pick(args.impl, IMPLEMENTATIONS, "implementation")
    names = select_workloads(args.only, args.full)
    limit = args.limit or (30.0 if args.quick else 120.0)
    counts = {w: WORKLOADS[w].quick_n if args.quick else WORKLOADS[w].n for w in names}
    repeat = max(1, args.repeat)
    jobs = schedule(impls, names, repeat)
    console = Console()
    if not console.is_terminal:
        # Rich assumes 80 columns when piped; the table needs more to be read.
        console = Console(width=200)
    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("starting", total=len(jobs))
        for r, name, impl in jobs:
            progress.update(task, description=f"{name:<14} {impl:<11} run {r + 1}")
            record = run_child(impl, name, counts[name], limit)
            record["repeat"] = r
            runs.append(record)
            if not record["ok"]:
                expected = impl in dict(WORKLOADS[name].cannot)
                label = "[yellow]as expected[/]" if expected else "[red]FAIL[/]"
                progress.console.print(f"{label} {name} {impl}: {record['error']}")
            progress.advance(task)

    rows = report.summarise(runs, impls, names, counts)
    console.print(report.table(rows, impls, repeat))
    for line in report.notes(rows):
        console.print(line)
    problems = sum(
        1 for r in runs if not r["ok"] and r["impl"] not in dict(WORKLOADS[r["workload"]].cannot)
    )
    missed = sum(r.get("missed_edges", 0) for r in runs)
    if missed:
        console.print(f"[bold red]green_zmq's sweeper found {missed} missed edge(s)[/]")

    if args.json:
        document = {
            "meta": {
                "python": sys.version.split()[0],
                "pyzmq": zmq.__version__,
                "libzmq": zmq.zmq_version(),
                "cpus": os.cpu_count(),
                "quick": args.quick,
                "full": args.full,
                "repeat": repeat,
                "limit_seconds": limit,
                # Other work on the machine skews figures: this says how busy it was.
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            },
            "runs": runs,
            "summary": [row.as_json() for row in rows],
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    if args.plot:
        report.plot(rows, impls, args.plot)
    return 1 if problems or missed else 0
