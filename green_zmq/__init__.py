"""green_zmq: ZeroMQ for gevent, blocking only the calling greenlet.

``import green_zmq as zmq`` instead of ``import zmq``: every public name of
pyzmq is here, with Context, Socket, Poller, select and MessageTracker
replaced by green versions that wait cooperatively and otherwise behave
exactly like plain pyzmq (timeouts, errors, many greenlets per socket).
"""

from __future__ import annotations

import zmq as _zmq
from zmq import *  # noqa: F403  (the whole pyzmq namespace, green parts replaced below)

from ._tracker import MessageTracker
from ._waiting import WaitStatistics, set_sweep_interval, statistics
from .core import Context, Socket
from .poll import Poller, select

__version__ = "0.1.0"

__all__ = [
    *_zmq.__all__,
    "WaitStatistics",
    "set_sweep_interval",
    "statistics",
]
