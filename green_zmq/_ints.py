"""Plain ints for hot paths: pyzmq's constants, and flags converted as pyzmq converts them.

pyzmq's constants are IntFlag/IntEnum members, whose operators cost
microseconds in Python 3.11, more than a send (DESIGN.md fact 3); the
package computes with these plain copies instead. Green calls convert
their ``flags`` argument with :func:`int_flags`, which must accept and
refuse what pyzmq's Cython layer does: integers and IntFlags
(``__index__``), floats truncated (``__int__``), anything else refused with
pyzmq's own ``TypeError``.
"""

from __future__ import annotations

import operator
from typing import Any

import zmq

__all__ = [
    "ENOTSOCK",
    "EVENTS",
    "NOBLOCK",
    "POLLERR",
    "POLLIN",
    "POLLOUT",
    "RCVTIMEO",
    "ROUTER",
    "SNDMORE",
    "SNDTIMEO",
    "TYPE",
    "int_flags",
]

ENOTSOCK = int(zmq.ENOTSOCK)
EVENTS = int(zmq.EVENTS)
NOBLOCK = int(zmq.NOBLOCK)
POLLERR = int(zmq.POLLERR)
POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)
RCVTIMEO = int(zmq.RCVTIMEO)
ROUTER = int(zmq.ROUTER)
SNDMORE = int(zmq.SNDMORE)
SNDTIMEO = int(zmq.SNDTIMEO)
TYPE = int(zmq.TYPE)


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
