"""The size of the stress suite: short (CI, part of plain pytest) or long (full size).

The long run is asked for with ``GREEN_ZMQ_STRESS=long`` or ``pytest
--long``. Test modules read :func:`size` at import time, after the
conftest has looked at the command line.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

LONG = os.environ.get("GREEN_ZMQ_STRESS", "").lower() == "long"


def size(short: T, long: T) -> T:
    """The short or the full-size value of a parameter, for the run at hand."""
    return long if LONG else short
