"""Monitor-socket helpers, as :mod:`zmq.utils.monitor`, waiting only the calling greenlet.

``socket.get_monitor_socket()`` on a socket of a green context returns a
green PAIR socket, so receiving events from it blocks only the calling
greenlet. pyzmq's helpers only call ``recv_multipart`` on the socket they
are given and parse the frames, so they are re-exported unchanged: on a
green socket they wait cooperatively (on a plain pyzmq socket they block
the thread, as in pyzmq).
"""

from __future__ import annotations

from zmq.utils.monitor import parse_monitor_message, recv_monitor_message

__all__ = ["parse_monitor_message", "recv_monitor_message"]
