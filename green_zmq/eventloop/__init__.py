"""Tornado-style eventloop for green_zmq: IOLoop and ZMQStream among greenlets.

The same import paths as pyzmq's ``zmq.green.eventloop``:
``green_zmq.eventloop.ioloop`` (:class:`~green_zmq.eventloop.ioloop.IOLoop`,
``PeriodicCallback``, ``DelayedCallback``, ``ZMQPoller``, ``install``) and
``green_zmq.eventloop.zmqstream`` (:class:`~green_zmq.eventloop.zmqstream.ZMQStream`).
Unlike pyzmq's, the loop waits on the gevent hub, so other greenlets keep
running while it does. Needs tornado (``pip install 'green_zmq[eventloop]'``);
``import green_zmq`` alone never imports it.
"""

from __future__ import annotations

from .ioloop import IOLoop

__all__ = ["IOLoop"]
