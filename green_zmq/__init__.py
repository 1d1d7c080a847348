"""green_zmq: ZeroMQ for gevent, blocking only the calling greenlet.

``import green_zmq as zmq`` instead of ``import zmq``: every public name of
pyzmq is here, with Context, Socket, Poller, select, device, proxy,
proxy_steerable, MessageTracker and Frame (Message) replaced by green
versions that wait cooperatively and otherwise behave exactly like plain pyzmq (timeouts,
errors, many greenlets per socket). ``green_zmq.devices`` has the
background devices, in greenlets.
"""

from __future__ import annotations

import zmq as _zmq
from zmq import *  # noqa: F403  (the whole pyzmq namespace, green parts replaced below)

# pyzmq's submodules, as attributes (``zmq.error.ZMQError`` works); ``utils``
# is green_zmq's own package (its monitor helpers wait cooperatively).
from zmq import backend as backend, constants as constants, error as error, sugar as sugar

from . import _accelerator
from ._tracker import (
    Frame as Frame,
    Frame as Message,  # noqa: F401  (pyzmq's alias, in pyzmq's __all__)
    MessageTracker as MessageTracker,
)
from ._waiting import WaitStatistics, set_spin, set_sweep_interval, statistics
from .core import Context as Context, Socket as Socket
from .poll import Poller as Poller, select as select

# pyzmq's stubs type these sockets as backend sockets; ours need the sugar API.
from .proxying import (  # type: ignore[assignment]
    device as device,
    proxy as proxy,
    proxy_steerable as proxy_steerable,
)

__version__ = "0.1.0"

#: True when the compiled fast path runs, False when the pure-Python one
#: does (they behave the same); settled when .core imported the fast path.
accelerated: bool = _accelerator.accelerated
#: Why: "compiled, calling pyzmq's libzmq ..." or "pure Python: ...".
accelerated_reason: str = _accelerator.reason

__all__ = [
    *_zmq.__all__,
    "WaitStatistics",
    "accelerated",
    "accelerated_reason",
    "set_spin",
    "set_sweep_interval",
    "statistics",
]
