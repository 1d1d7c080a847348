"""ZAP authentication for green_zmq: pyzmq's :mod:`zmq.auth`, served in a greenlet.

:class:`GreenAuthenticator` has the API of pyzmq's
:class:`zmq.auth.thread.ThreadAuthenticator` and the same policies (it *is*
pyzmq's :class:`zmq.auth.base.Authenticator`); only the loop that answers
ZAP requests is ours, and it runs in a greenlet on a green socket, so it
works the same with and without ``gevent.monkey.patch_all()``.

pyzmq's certificate helpers and :data:`CURVE_ALLOW_ANY` are re-exported
unchanged, so ``import green_zmq.auth`` can stand in for ``import zmq.auth``.
"""

from __future__ import annotations

from zmq.auth.base import CURVE_ALLOW_ANY, Authenticator
from zmq.auth.certs import create_certificates, load_certificate, load_certificates

from .green import GreenAuthenticator

__all__ = [
    "CURVE_ALLOW_ANY",
    "Authenticator",
    "GreenAuthenticator",
    "create_certificates",
    "load_certificate",
    "load_certificates",
]
