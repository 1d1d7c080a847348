"""green_zmq: ZeroMQ for gevent, blocking only the calling greenlet.

``import green_zmq as zmq`` instead of ``import zmq``: every public name of
pyzmq is here, with Context, Socket, Poller and select replaced by green
versions that wait cooperatively and otherwise behave exactly like plain
pyzmq (timeouts, errors, many greenlets per socket).
"""

from __future__ import annotations

import zmq as _zmq
from zmq import *  # noqa: F403  (the whole pyzmq namespace, green parts replaced below)

from ._waiting import WaitStatistics, set_sweep_interval, statistics
from .core import Context as Context
from .core import Socket as Socket
from .poll import Poller as Poller
from .poll import select as select

__version__ = "0.1.0"

__all__ = [
    *_zmq.__all__,
    "WaitStatistics",
    "set_sweep_interval",
    "statistics",
]
