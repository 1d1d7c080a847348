"""``green_zmq.auth.thread`` stands in for :mod:`zmq.auth.thread`.

Code written for pyzmq (``zmq.auth.thread.ThreadAuthenticator(ctx)``) gets
the green authenticator when ``zmq`` is ``green_zmq``: a real thread cannot
serve ZAP for greenlets of a monkey-patched program, a greenlet can.
"""

from __future__ import annotations

from .green import GreenAuthenticator

# The same class under pyzmq's name, not a second implementation.
ThreadAuthenticator = GreenAuthenticator

__all__ = ["ThreadAuthenticator"]
