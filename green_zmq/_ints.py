"""Plain ints for hot paths: pyzmq's constants, and flags converted as pyzmq converts them.

pyzmq's constants are IntFlag/IntEnum members, whose operators cost
microseconds in Python 3.11, more than a send (design.md, "Plain ints");
the package computes with these plain copies instead, and nowhere else
keeps copies. Green calls convert their ``flags`` argument with
:func:`int_flags`, which must accept and refuse what pyzmq's Cython layer
does, and that depends on how the installed pyzmq was built (see
:data:`_CONVERTS_WITH_INT`).
"""

from __future__ import annotations

import warnings
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
    "PEER",
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
    "SERVER",
    "SNDMORE",
    "SNDTIMEO",
    "STREAM",
    "SUB",
    "THREAD_SAFE",
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
THREAD_SAFE = int(zmq.THREAD_SAFE)
DEALER = int(zmq.DEALER)
PAIR = int(zmq.PAIR)
PULL = int(zmq.PULL)
STREAM = int(zmq.STREAM)
SUB = int(zmq.SUB)
XPUB = int(zmq.XPUB)
XSUB = int(zmq.XSUB)
PUB = int(zmq.PUB)
PUSH = int(zmq.PUSH)
SERVER = int(zmq.SERVER)
PEER = int(zmq.PEER)


class _IndexOnly:
    def __index__(self) -> int:
        return 0


def _converts_with_int() -> bool:
    # Any function of pyzmq's Cython layer with a C int argument converts it
    # as send and recv convert their flags; strerror has no side effect.
    try:
        zmq.strerror(_IndexOnly())  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


# How pyzmq's Cython layer turns a non-int into a C int. A build that uses
# CPython's type slots (pyzmq's wheels for Python 3.11 and older) calls the
# type's ``__int__`` and refuses anything without one, even an object with
# only ``__index__``. A build for the stable ABI (its wheels for 3.12 and
# newer) calls ``int()`` on anything but an exact str or bytes, with
# ``int()``'s own errors. Asked of pyzmq at import, not inferred from the
# Python version: a pyzmq built from source may do either.
_CONVERTS_WITH_INT = _converts_with_int()


def int_flags(flags: Any) -> int:
    """``flags`` as a plain int, converted as pyzmq converts it, with pyzmq's errors.

    A value too large for a C int is returned as it is: pyzmq's own call
    raises its ``OverflowError`` for it.
    """
    if flags.__class__ is int:
        return flags
    if _CONVERTS_WITH_INT:
        if flags.__class__ is str or flags.__class__ is bytes:
            raise TypeError("an integer is required")
        return int(flags)
    to_int = getattr(type(flags), "__int__", None)
    if to_int is None:
        raise TypeError("an integer is required")
    value = to_int(flags)
    if value.__class__ is int:
        return value  # type: ignore[no-any-return]
    if isinstance(value, int):
        # CPython's own rule and words, which the Cython layer follows.
        warnings.warn(
            f"__int__ returned non-int (type {type(value).__name__}).  The ability to return an "
            "instance of a strict subclass of int is deprecated, and may be removed in a future "
            "version of Python.",
            DeprecationWarning,
            stacklevel=3,
        )
        return int(value)
    raise TypeError(f"__int__ returned non-int (type {type(value).__name__})")
