"""Green background devices: pyzmq's ``zmq.devices`` API, running in greenlets.

:class:`GreenDevice`, :class:`GreenProxy`, :class:`GreenProxySteerable` and
:class:`GreenMonitoredQueue` are pyzmq's ``ThreadDevice``, ``ThreadProxy``,
``ThreadProxySteerable`` and ``ThreadMonitoredQueue`` with the thread
replaced by a greenlet of the hub of the thread that calls :meth:`start`.
They reuse pyzmq's base classes for the configuration methods
(``bind_in``, ``bind_in_to_random_port``, ``connect_in``, ``setsockopt_in``,
their ``_out``, ``_mon`` and ``_ctrl`` counterparts); the sockets come from a
green :class:`~green_zmq.Context` (``Context.instance()`` unless
``context_factory`` says otherwise), and the device runs the green loops of
:mod:`green_zmq.proxying`, so it shares the hub with the rest of the program.

Lifecycle, as with a thread device::

    configure (bind_in, connect_out, ...) -> start() -> greenlet makes the
    sockets and runs the device -> context terminated, TERMINATE, or
    greenlet killed -> sockets closed, done = True -> join() returns
"""

from __future__ import annotations

from typing import Any, Callable

import gevent
from zmq.devices.basedevice import Device
from zmq.devices.monitoredqueuedevice import MonitoredQueueBase
from zmq.devices.proxydevice import ProxyBase
from zmq.devices.proxysteerabledevice import ProxySteerableBase

from . import _compat
from .core import Context
from .proxying import device, monitored_queue, proxy, proxy_steerable

__all__ = [
    "GreenDevice",
    "GreenMonitoredQueue",
    "GreenProxy",
    "GreenProxySteerable",
    "monitored_queue",
]


class GreenDevice(Device):
    """A :class:`zmq.devices.ThreadDevice` that runs in a greenlet instead of a thread.

    See :class:`zmq.devices.Device` for the configuration methods. The
    device's sockets are created in its greenlet, from
    ``context_factory()`` (by default the green ``Context.instance()``).
    ``daemon`` is accepted and has no effect: a greenlet never keeps the
    process alive. Killing :attr:`launcher` stops the device and closes its
    sockets.
    """

    context_factory: Callable[[], Any] = Context.instance

    launcher: gevent.Greenlet | None = None

    def start(self) -> None:
        """Start the device in a new greenlet of the calling thread's hub."""
        self.launcher = gevent.spawn(self.run)

    def join(self, timeout: float | None = None) -> None:
        """Wait (this greenlet only) until the device has stopped, or ``timeout`` seconds."""
        if self.launcher is None:
            raise RuntimeError("cannot join a device that was not started")
        self.launcher.join(timeout)

    def run_device(self) -> None:
        """Make the sockets and run the device in this greenlet (:meth:`start` calls it)."""
        ins, outs = _compat.device_sockets(self)
        device(self.device_type, ins, outs)


class GreenProxy(ProxyBase, GreenDevice):
    """A :class:`zmq.devices.ThreadProxy` in a greenlet: a device with a capture (``_mon``) socket.

    See :class:`GreenDevice` and :class:`zmq.devices.Proxy`.
    """

    def run_device(self) -> None:
        """Make the sockets and run the device in this greenlet (:meth:`start` calls it)."""
        ins, outs, mons = _compat.device_sockets(self)
        proxy(ins, outs, mons)


class GreenProxySteerable(ProxySteerableBase, GreenProxy):
    """A :class:`zmq.devices.ThreadProxySteerable` in a greenlet: a proxy with a control socket.

    See :class:`GreenProxy` and :class:`zmq.devices.ProxySteerable`; a
    TERMINATE on the control socket ends the greenlet.
    """

    def run_device(self) -> None:
        """Make the sockets and run the device in this greenlet (:meth:`start` calls it)."""
        ins, outs, mons, ctrls = _compat.device_sockets(self)
        proxy_steerable(ins, outs, mons, ctrls)


class GreenMonitoredQueue(MonitoredQueueBase, GreenProxy):
    """A :class:`zmq.devices.ThreadMonitoredQueue` in a greenlet.

    See :class:`GreenProxy` and :class:`zmq.devices.MonitoredQueue`: copies on
    the monitor socket start with ``in_prefix`` or ``out_prefix``.
    """

    def run_device(self) -> None:
        """Make the sockets and run the device in this greenlet (:meth:`start` calls it)."""
        ins, outs, mons = _compat.device_sockets(self)
        monitored_queue(ins, outs, mons, *_compat.device_prefixes(self))
