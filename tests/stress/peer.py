"""A peer process for the peer-fault tests: run, killed with SIGKILL, restarted.

    python peer.py IMPL ROLE PORT EPOCH

IMPL is ``green`` (green_zmq, the loop in a greenlet) or ``plain`` (pyzmq).
ROLE ``echo`` binds a ROUTER on 127.0.0.1:PORT (0: any free port) and sends
every message back; ROLE ``push`` connects a PUSH to 127.0.0.1:PORT and
streams messages ``[EPOCH, seq, payload]`` as fast as it may. Once bound or
connected it prints ``ready PORT`` on stdout.
"""

from __future__ import annotations

import sys


def payload(seq: int) -> bytes:
    """The payload of message ``seq``: its size and bytes follow from seq."""
    return bytes([seq % 251]) * (seq * 7919 % 4096)


def main() -> None:
    impl, role, port, epoch = sys.argv[1:5]
    if impl == "green":
        import green_zmq as zmq
    else:
        import zmq  # type: ignore[no-redef]
    context = zmq.Context()
    if role == "echo":
        s = context.socket(zmq.ROUTER)
        if port == "0":
            port = str(s.bind_to_random_port("tcp://127.0.0.1"))
        else:
            s.bind(f"tcp://127.0.0.1:{port}")
        print("ready", port, flush=True)
        while True:
            s.send_multipart(s.recv_multipart())
    else:
        s = context.socket(zmq.PUSH)
        s.connect(f"tcp://127.0.0.1:{port}")
        print("ready", port, flush=True)
        seq = 0
        while True:
            s.send_multipart([epoch.encode(), b"%d" % seq, payload(seq)])
            seq += 1


if __name__ == "__main__":
    main()
