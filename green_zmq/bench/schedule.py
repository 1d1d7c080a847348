"""The scheduling of child processes, and the command line.

Every measurement runs in a fresh child (``--child IMPL WORKLOAD N``) that
prints one JSON record; the parent interleaves the children (each repeat
runs every workload on every implementation in turn), says as each one
finishes what it measured and about how long the rest will take, and
summarises.
"""

from __future__ import annotations

import argparse
import datetime
import faulthandler
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import zmq

import green_zmq

from . import report
from .runtimes import IMPLEMENTATIONS, accelerated
from .workloads import WORKLOADS

__all__ = [
    "TimeLeft",
    "default_implementations",
    "main",
    "run_child",
    "schedule",
    "select_workloads",
]

# What the bench extra brings, and what for; the names users would miss.
_EXTRA = (("rich", "the tables"), ("tornado", "zmqstream-echo"), ("matplotlib", "the chart"))


# -- the child: one measurement, one JSON line -------------------------------


def _child(impl: str, name: str, n: int, limit: float) -> int:
    # A hang must end as a failure: dump every thread's stack and exit.
    faulthandler.dump_traceback_later(limit, exit=True)
    spec = IMPLEMENTATIONS[impl]
    result: dict[str, Any] = {"impl": impl, "workload": name, "n": n, "ok": False}
    if spec.kind == "green_zmq":
        result["accelerated"] = accelerated()
    try:
        rt = spec.runtime(spec.kind, importlib.import_module(spec.module))
        WORKLOADS[name].run(rt, n)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(result), flush=True)
        # Other roles may still be blocked on their sockets: no teardown.
        os._exit(1)
    rt.close()
    result.update(ok=True, seconds=rt.elapsed, rate=n / rt.elapsed, **rt.metrics)
    if spec.kind == "green_zmq":
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
    env.update(IMPLEMENTATIONS[impl].env)
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


class TimeLeft:
    """About how long the measurements not yet made will take.

    Each is taken to last as long as the finished ones of the same workload
    did on average (the implementations of a workload take similar times, the
    workloads very different ones), or, for a workload not measured yet, as
    long as the average finished measurement.
    """

    def __init__(self, jobs: Sequence[tuple[int, str, str]]) -> None:
        self._left = Counter(name for _, name, _ in jobs)
        self._took: dict[str, list[float]] = {}

    def finished(self, name: str, seconds: float) -> None:
        self._left[name] -= 1
        self._took.setdefault(name, []).append(seconds)

    def seconds(self) -> float | None:
        """The estimate; None before anything finished."""
        every = [s for took in self._took.values() for s in took]
        if not every:
            return None
        usual = statistics.mean(every)
        return sum(
            count * statistics.mean(self._took.get(name) or [usual])
            for name, count in self._left.items()
        )

    def text(self) -> str:
        left = self.seconds()
        if left is None:
            return ""
        if not left:
            return "done"
        return f"about {duration(left)} left"


def duration(seconds: float) -> str:
    """``12 s``, ``4 min``, ``1 h 5 min``: as precise as a person needs."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _pick(given: str | None, known: Iterable[str], what: str) -> list[str]:
    known = list(known)
    if not given:
        return known
    picked = [name.strip() for name in given.split(",") if name.strip()]
    unknown = [name for name in picked if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return picked


def default_implementations() -> list[str]:
    """The implementations a run without ``--impl`` compares: green_zmq-py
    only where green_zmq has an accelerator to turn off."""
    return [name for name, spec in IMPLEMENTATIONS.items() if spec.available()]


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
            "Benchmark green_zmq against zmq.green, plain pyzmq in threads, plain pyzmq"
            " in one thread that never waits (the ceiling) and zmq.asyncio."
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
    parser.add_argument(
        "--wide",
        action="store_true",
        help="every implementation's own figures, the counts and the project's targets",
    )
    parser.add_argument("--json", metavar="FILE", help="write every run and the summary here")
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        default="green_zmq-bench.png",
        help="where to draw the chart (default: green_zmq-bench.png)",
    )
    parser.add_argument("--no-plot", action="store_true", help="draw no chart")
    parser.add_argument(
        "--publish",
        metavar="FILE.json",
        help="rewrite the figures the docs quote, and their chart, from a bench JSON file",
    )
    parser.add_argument(
        "--limit", type=float, default=None, help="seconds before a child counts as hung"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("IMPL", "WORKLOAD", "N"), help=argparse.SUPPRESS
    )
    return parser


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'s' * (number != 1)}"


def _missing(names: Iterable[str]) -> str:
    """The first of ``names`` that cannot be imported ("" if none)."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one measurement); return the exit status."""
    args = _parser().parse_args(argv)
    if args.child:
        impl, name, n = args.child
        return _child(impl, name, int(n), args.limit or 120.0)

    needed = [name for name, _ in _EXTRA if not (args.no_plot and name == "matplotlib")]
    missing = _missing(needed)
    if missing:
        what = dict(_EXTRA)[missing]
        print(
            f"python -m green_zmq.bench needs {missing} (for {what}), which is not installed:"
            " pip install 'green_zmq[bench]'",
            file=sys.stderr,
        )
        return 2
    if args.publish:
        from . import publish

        return publish.main(args.publish)
    return _run(args)


def _versions() -> dict[str, Any]:
    import gevent
    import tornado

    return {
        "green_zmq": green_zmq.__version__,
        "accelerated": accelerated(),
        "python": platform.python_version(),
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "gevent": gevent.__version__,
        "tornado": tornado.version,
        "system": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
    }


def _accelerator() -> str:
    """How green_zmq runs in this process, in words."""
    if not hasattr(green_zmq, "accelerated"):
        return "pure Python (this version has no compiled accelerator)"
    if accelerated():
        return "with its compiled accelerator, and beside it as pure Python (green_zmq-py)"
    if os.environ.get("GREEN_ZMQ_PURE_PYTHON") == "1":
        return "pure Python (GREEN_ZMQ_PURE_PYTHON=1)"
    return "pure Python (its compiled accelerator is not available here)"


def _ran_as(runs: Sequence[dict[str, Any]]) -> str:
    """How green_zmq's children ran, from their own records."""
    flags = [r["accelerated"] for r in runs if r["impl"] == "green_zmq" and "accelerated" in r]
    if not flags:
        return ""
    if all(flags):
        return "green_zmq ran with its compiled accelerator in every run."
    if not any(flags):
        return "green_zmq ran as pure Python in every run."
    return f"green_zmq ran with its compiled accelerator in {sum(flags)} of {len(flags)} runs."


def _outcome(record: dict[str, Any]) -> tuple[str, bool]:
    """What one finished measurement showed, in words, and whether it was a
    failure nobody expected."""
    from rich.markup import escape

    work = WORKLOADS[record["workload"]]
    if record["ok"]:
        metric = work.shown_metrics[0]
        return f"{report.figure(record[metric.key], metric)} {metric.unit}", False
    reason = work.cannot_run(record["impl"])
    if reason:
        return f"[yellow]cannot run this: {escape(reason)}[/]", False
    return f"[bold red]FAILED:[/] {escape(record.get('error', '?'))}", True


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    impls = _pick(args.impl, IMPLEMENTATIONS, "implementation") if args.impl else None
    impls = impls or default_implementations()
    names = select_workloads(args.only, args.full)
    limit = args.limit or (30.0 if args.quick else 120.0)
    counts = {w: WORKLOADS[w].quick_n if args.quick else WORKLOADS[w].n for w in names}
    repeat = max(1, args.repeat)
    jobs = schedule(impls, names, repeat)
    console = Console()
    if args.wide and not console.is_terminal:
        # Rich assumes 80 columns when piped; the wide table needs more.
        console = Console(width=200)
    versions = _versions()
    console.print(
        f"green_zmq {versions['green_zmq']}, {_accelerator()}\n"
        f"pyzmq {versions['pyzmq']} (libzmq {versions['libzmq']}), gevent {versions['gevent']},"
        f" Python {versions['python']}, {versions['cpus']} CPUs\n"
        f"{_count(len(jobs), 'measurement')} in fresh processes:"
        f" {_count(len(names), 'workload')}, {_count(len(impls), 'implementation')},"
        f" {_count(repeat, 'run')} of each",
        highlight=False,
    )
    load_before = os.getloadavg()
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    problems = 0
    time_left = TimeLeft(jobs)
    width = max(len(name) for name in names)
    impl_width = max(len(impl) for impl in impls)
    counter = len(str(len(jobs)))
    # The live bar only on a terminal; piped, the lines below are the progress.
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[left]}"),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("", total=len(jobs), left="")
        for done, (r, name, impl) in enumerate(jobs, 1):
            progress.update(task, description=f"{name} {impl} (run {r + 1})")
            start = time.perf_counter()
            record = run_child(impl, name, counts[name], limit)
            time_left.finished(name, time.perf_counter() - start)
            record["repeat"] = r
            runs.append(record)
            outcome, unexpected = _outcome(record)
            problems += unexpected
            left = time_left.text()
            line = f"[{done:>{counter}}/{len(jobs)}] {name:<{width}} {impl:<{impl_width}} {outcome}"
            if not console.is_terminal:
                line += f"  ({left})"
            # One line per measurement, however long: a log to read, or grep.
            progress.console.print(line, highlight=False, soft_wrap=True)
            progress.update(task, advance=1, left=left)

    rows = report.summarise(runs, impls, names, counts)
    for grid in report.tables(rows, impls, args.wide):
        console.print()
        console.print(grid)
    notes = report.notes(rows, impls)
    if notes:
        console.print()
    for note in notes:
        console.print(note, highlight=False, markup=False)
    console.print()
    ran_as = _ran_as(runs)
    if ran_as:
        console.print(ran_as, highlight=False)
    missed = sum(r.get("missed_edges", 0) for r in runs)
    if missed:
        console.print(
            f"[bold red]green_zmq's sweeper found {missed} lost wakeup(s) (missed edges):"
            " a bug in green_zmq, please report it[/]"
        )
    if problems:
        console.print(f"[bold red]{problems} measurement(s) failed[/] (their errors are above)")
    seconds = time.perf_counter() - started

    if args.json:
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            **versions,
            "quick": args.quick,
            "full": args.full,
            "repeat": repeat,
            "limit_seconds": limit,
            "seconds": round(seconds),
            # Other work on the machine skews figures: this says how busy it was.
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "implementations": impls,
            "workloads": names,
            "counts": counts,
        }
        document = {"meta": meta, "runs": runs, "summary": [row.as_json() for row in rows]}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        console.print(f"Every run and the summary: {os.path.abspath(args.json)}", highlight=False)
    if not args.no_plot:
        report.plot(rows, impls, args.plot)
        console.print(f"Chart: {os.path.abspath(args.plot)}", highlight=False)
    console.print(f"Took {duration(seconds)}.", highlight=False)
    return 1 if problems or missed else 0
