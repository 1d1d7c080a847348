"""``python -m green_zmq.bench``: green_zmq side by side with its peers.

Five implementations (six where green_zmq has a compiled accelerator) run
the same workloads, each measurement in a fresh child process, interleaved
and repeated. Rates are reported as medians;
a ratio is taken within each repeat, where the implementations ran one
after the other, and its median over the repeats is reported:

``green_zmq``   this package, sender and receiver in separate greenlets;
``zmq.green``   pyzmq's own gevent integration, the same greenlets;
``threads``     plain blocking pyzmq, each role in its own OS thread;
``ceiling``     plain pyzmq in one thread with NOBLOCK calls: every role
                sends (or receives) until EAGAIN, then the next role runs.
                No waiting primitive at all: the cost of the work itself
                through pyzmq's public API. green_zmq can pass it where it
                skips pyzmq's Python layers (send_multipart's enum
                arithmetic, getsockopt(RCVMORE)), or where the ceiling's
                busy loop competes with libzmq's I/O thread for the CPU.
``zmq.asyncio`` pyzmq's asyncio sockets, each role a task on one loop
                (the scaling families only).
``green_zmq-py`` green_zmq with its compiled accelerator turned off
                (``GREEN_ZMQ_PURE_PYTHON=1``), only where it has one.

Every workload checks that every message arrived intact and in order and
reports a failure instead of a rate otherwise; every child runs under a
hard time limit so a hang is a failure, not a stall.

The package's parts: :mod:`.runtimes` (how each implementation runs the
roles), :mod:`.workloads` (the roles, the checks and the registry; how to
add a workload is there), :mod:`.measures` (latency percentiles, CPU,
memory), :mod:`.schedule` (the child processes and the command line),
:mod:`.report` (the tables, the JSON summary and the chart) and
:mod:`.publish` (the figures the docs quote, from one bench JSON file).
"""

from __future__ import annotations

from .runtimes import IMPLEMENTATIONS, Runtime
from .schedule import main
from .workloads import WORKLOADS, Corrupt, Goal, Metric, Workload, bind, workload

__all__ = [
    "IMPLEMENTATIONS",
    "WORKLOADS",
    "Corrupt",
    "Goal",
    "Metric",
    "Runtime",
    "Workload",
    "bind",
    "main",
    "workload",
]
