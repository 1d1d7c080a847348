"""A stand-in for a library that uses plain ``import zmq`` and blocking calls (tests only)."""

from __future__ import annotations

import zmq


def fetch(address: str) -> bytes:
    """One request/reply with the server at ``address``, blocking in recv()."""
    sock = zmq.Context.instance().socket(zmq.REQ)
    try:
        sock.connect(address)
        sock.send(b"fetch")
        return sock.recv()
    finally:
        sock.close(linger=0)
