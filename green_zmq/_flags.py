"""Flags as plain ints, converted the way pyzmq's Cython layer converts them.

Hot paths compute with plain ints (pyzmq's IntFlag operators cost
microseconds), so green calls convert their ``flags`` argument first. The
conversion must accept and refuse what pyzmq does: integers and IntFlags
(``__index__``), floats truncated (``__int__``), and anything else refused
with pyzmq's own ``TypeError``.
"""

from __future__ import annotations

import operator
from typing import Any

__all__ = ["int_flags"]


def int_flags(flags: Any) -> int:
    """``flags`` as a plain int; ``TypeError`` where pyzmq would raise it."""
    try:
        return operator.index(flags)
    except TypeError:
        pass
    to_int = getattr(type(flags), "__int__", None)
    if to_int is None:
        raise TypeError("an integer is required") from None
    return int(to_int(flags))
