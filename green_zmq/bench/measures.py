"""What a workload measures besides its rate: latency percentiles, CPU, memory."""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Sequence

__all__ = ["core_percent", "cpu_seconds", "per_messages", "percentile", "peak_rss_kib"]


def percentile(samples: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile: the smallest sample that at least
    ``p`` percent of the samples are less than or equal to."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    ordered = sorted(samples)
    # Rounded first: 99.9 / 100 * 1000 is 999.0000000000001 in floats.
    rank = math.ceil(round(p * len(ordered) / 100, 6))
    return ordered[max(0, rank - 1)]


def cpu_seconds() -> float:
    """CPU time of the whole process so far, libzmq's I/O threads included."""
    return time.process_time()


def per_messages(cpu: float, messages: int, per: int = 100_000) -> float:
    """CPU seconds per ``per`` messages, from ``cpu`` seconds spent on ``messages``."""
    if messages <= 0:
        raise ValueError("no messages")
    return cpu * per / messages


def core_percent(cpu: float, wall: float) -> float:
    """CPU seconds over wall seconds, as a percentage of one core."""
    if wall <= 0:
        raise ValueError("no time passed")
    return 100 * cpu / wall


def peak_rss_kib() -> int:
    """The process's peak resident set so far, in KiB (Linux's ru_maxrss unit)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
