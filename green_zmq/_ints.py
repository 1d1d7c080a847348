"""Plain ints for hot paths: pyzmq's constants, and flags converted as pyzmq converts them.

pyzmq's constants are IntFlag/IntEnum members, whose operators cost
microseconds in Python 3.11, more than a send (design.md, "Plain ints");
the package computes with these plain copies instead, and nowhere else
keeps copies. Green calls convert their ``flags`` argument with
:func:`int_flags`, which must accept and refuse what pyzmq's Cython layer
does: whatever has ``__int__`` (ints, IntFlags, floats truncated), and
nothing else, not even an object with only ``__index__``, refused with
pyzmq's own ``TypeError``.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = [
    "DEALER",
    "EFSM",
    "ENOTSOCK",
    "ETERM",
    "EVENTS",
    "FD",
    "NOBLOCK",
    "PAIR",
    "POLLERR",
    "POLLIN",
    "POLLOUT",
    "POLLPRI",
    "PUB",
    "PULL",
    "PUSH",
    "RCVTIMEO",
    "REP",
    "REQ",
    "ROUTER",
    "ROUTER_MANDATORY",
    "SNDMORE",
    "SNDTIMEO",
    "STREAM",
    "SUB",
    "TYPE",
    "XPUB",
    "XSUB",
    "int_flags",
]

EFSM = int(zmq.EFSM)
ENOTSOCK = int(zmq.ENOTSOCK)
ETERM = int(zmq.ETERM)
EVENTS = int(zmq.EVENTS)
FD = int(zmq.FD)
NOBLOCK = int(zmq.NOBLOCK)
POLLERR = int(zmq.POLLERR)
POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)
POLLPRI = int(zmq.POLLPRI)
RCVTIMEO = int(zmq.RCVTIMEO)
REP = int(zmq.REP)
REQ = int(zmq.REQ)
ROUTER = int(zmq.ROUTER)
ROUTER_MANDATORY = int(zmq.ROUTER_MANDATORY)
SNDMORE = int(zmq.SNDMORE)
SNDTIMEO = int(zmq.SNDTIMEO)
TYPE = int(zmq.TYPE)
DEALER = int(zmq.DEALER)
PAIR = int(zmq.PAIR)
PULL = int(zmq.PULL)
STREAM = int(zmq.STREAM)
SUB = int(zmq.SUB)
XPUB = int(zmq.XPUB)
XSUB = int(zmq.XSUB)
PUB = int(zmq.PUB)
PUSH = int(zmq.PUSH)


def int_flags(flags: Any) -> int:
    """``flags`` as a plain int; ``TypeError`` where pyzmq would raise it."""
    if flags.__class__ is int:
        return flags
    to_int = getattr(type(flags), "__int__", None)
    if to_int is None:
        raise TypeError("an integer is required")
    return int(to_int(flags))
