"""One role process of the multi-host suite, run inside a test host's namespace.

    python role.py ROLE --impl green_zmq|zmq.green --broker ADDRESS [options]

Roles (ports on the broker host: 5555 clients, 5559 clients on slow links,
5556 workers, 5557 publishers, 5558 subscribers):

- ``broker``: a ROUTER (clients) / DEALER (workers) proxy in a greenlet.
- ``forwarder``: an XSUB (publishers) / XPUB (subscribers) proxy in a greenlet.
- ``worker``: ``--greenlets`` greenlets, a DEALER each, answering requests
  (every ``--late-every``-th reply ``--late-by`` ms late).
- ``client``: ``--greenlets`` greenlets, a DEALER each, sending requests of
  ``--size`` bytes the lazy-pirate way (below).
- ``publisher``: a PUB sending a numbered tick every 10 ms.
- ``subscriber``: ``--greenlets`` greenlets, a SUB each, checking the ticks.

The proxy is ``green_zmq.proxy`` with green_zmq, and with ``zmq.green`` the
green ``zmq.green.device`` (``zmq.green.proxy`` is libzmq's blocking
proxy: it would freeze the process's hub).

Plain ZeroMQ reliability tools only. Every socket heartbeats
(HEARTBEAT_IVL/TIMEOUT/TTL), reconnects quickly (RECONNECT_IVL) and gives
up a connect the network swallows (CONNECT_TIMEOUT; the kernel would retry
a SYN for two minutes). Both ends of every connection send PINGs: the TTL
a peer announces alone would not do, as libzmq arms the TTL timer at a
PING and disarms it at the next message, so a peer that falls silent right
after a message is never timed out. A heartbeat counts only once the
message in front of it has arrived whole, and 64 KiB over a shared 1 Mbit
link takes seconds: clients on a slow link connect to a second endpoint of
the broker's client socket, bound after its heartbeat timeout was raised to
``--slow-heartbeat`` (each endpoint keeps the options it was bound with),
and announce as long a TTL. Monitor sockets record connects and
disconnects, with the peer's address on the bound side, on every socket
but the clients' (which the lazy pirate replaces at every timeout: the
broker's monitor sees their connections).

Lazy pirate: a client waits RCVTIMEO for the reply to request ``id``; on
timeout it closes the socket (dropping whatever would still come to it)
and sends the same request on a new one, waiting twice as long each time
(so that an outage costs a few reopened sockets, not a storm of them),
``--retries`` times, and then reports the request as timed out. A reply
whose id is not the one awaited would be a late reply: it is counted,
never delivered. ROUTER_MANDATORY is
not used: on the broker's client side it would turn each late reply (to a
socket the client has closed) into an error that ends the proxy, as it
ends libzmq's own.

Control: the process prints ``ready`` once its sockets are set up, then
``flowing`` at its first reply (client), request (worker) or tick
(subscriber). On SIGTERM it stops: clients finish the request at hand
(a greenlet that cannot is counted as stuck), the rest is killed, and the
process prints one JSON line of results (times are ``time.monotonic()``,
shared by every process of the machine) and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import sys
import time
from typing import Any

import gevent
from gevent.event import Event

FRONTEND, BACKEND, XSUB_PORT, XPUB_PORT, SLOW_FRONTEND = 5555, 5556, 5557, 5558, 5559
RECONNECT_IVL = 100
RECONNECT_IVL_MAX = 400
CONNECT_TIMEOUT = 500
TICK = 0.01

parser = argparse.ArgumentParser()
parser.add_argument("role")
parser.add_argument("--impl", choices=["green_zmq", "zmq.green"], required=True)
parser.add_argument("--broker", required=True)
parser.add_argument("--name", default="")
parser.add_argument("--greenlets", type=int, default=1)
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--timeout", type=int, default=1000, help="RCVTIMEO, ms")
parser.add_argument("--retries", type=int, default=2)
parser.add_argument("--heartbeat", type=int, required=True, help="HEARTBEAT_TIMEOUT, ms")
parser.add_argument("--ttl", type=int, default=0, help="HEARTBEAT_TTL, ms (0: the timeout)")
parser.add_argument("--slow-heartbeat", type=int, default=0,
                    help="broker: HEARTBEAT_TIMEOUT of the slow-link endpoint, ms")
parser.add_argument("--slow", action="store_true", help="client: use the slow-link endpoint")
parser.add_argument("--late-every", type=int, default=0, help="worker: every Nth reply late")
parser.add_argument("--late-by", type=int, default=0, help="worker: by this many ms")
parser.add_argument("--think", type=float, default=0.1, help="pause between requests, s")
args = parser.parse_args()
args.ttl = args.ttl or args.heartbeat

if args.impl == "green_zmq":
    import green_zmq as zmq

    proxy = zmq.proxy
else:
    import zmq.green as zmq  # type: ignore[no-redef]

    def proxy(frontend: Any, backend: Any) -> None:
        zmq.device(zmq.QUEUE, frontend, backend)


from zmq.utils.monitor import recv_monitor_message  # noqa: E402

ctx = zmq.Context()
stopping = Event()
events: list[list[Any]] = []  # [time, event name, endpoint, peer address or None]
result: dict[str, Any] = {"role": args.role, "name": args.name, "impl": args.impl}
_EVENT_NAMES = {
    zmq.EVENT_CONNECTED: "connected",
    zmq.EVENT_ACCEPTED: "accepted",
    zmq.EVENT_DISCONNECTED: "disconnected",
}


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def tuned(kind: int) -> Any:
    s = ctx.socket(kind)
    s.linger = 0
    # Four PINGs per timeout: one lost or late PING is not a death.
    s.heartbeat_ivl = args.heartbeat // 4
    s.heartbeat_timeout = args.heartbeat
    s.heartbeat_ttl = args.ttl
    s.reconnect_ivl = RECONNECT_IVL
    s.reconnect_ivl_max = RECONNECT_IVL_MAX
    s.connect_timeout = CONNECT_TIMEOUT
    return s


def peer_of(fd: int) -> str | None:
    """The address at the other end of libzmq's connection ``fd``, if still open."""
    try:
        with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as view:
            return view.getpeername()[0]
    except OSError:
        return None


def watch(s: Any) -> gevent.Greenlet:
    """Record the connects and disconnects of ``s`` until it closes."""
    monitor = s.get_monitor_socket(
        zmq.EVENT_CONNECTED | zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED
        | zmq.EVENT_MONITOR_STOPPED
    )

    def run() -> None:
        peers: dict[int, str | None] = {}
        try:
            while True:
                event = recv_monitor_message(monitor)
                kind = event["event"]
                if kind == zmq.EVENT_MONITOR_STOPPED:
                    return
                fd = event["value"]
                if kind == zmq.EVENT_ACCEPTED:
                    peers[fd] = peer_of(fd)
                peer = peers.pop(fd, None) if kind == zmq.EVENT_DISCONNECTED else peers.get(fd)
                endpoint = event["endpoint"].decode()
                events.append([time.monotonic(), _EVENT_NAMES[kind], endpoint, peer])
        finally:
            monitor.close()

    return gevent.spawn(run)


def broker() -> list[gevent.Greenlet]:
    front = tuned(zmq.ROUTER)
    back = tuned(zmq.DEALER)
    watchers = [watch(front), watch(back)]
    front.bind(f"tcp://{args.broker}:{FRONTEND}")
    if args.slow_heartbeat:
        front.heartbeat_timeout = front.heartbeat_ttl = args.slow_heartbeat
        front.bind(f"tcp://{args.broker}:{SLOW_FRONTEND}")
    back.bind(f"tcp://{args.broker}:{BACKEND}")
    return [*watchers, gevent.spawn(proxy, front, back)]


def forwarder() -> list[gevent.Greenlet]:
    xsub = tuned(zmq.XSUB)
    xpub = tuned(zmq.XPUB)
    watchers = [watch(xsub), watch(xpub)]
    xsub.bind(f"tcp://{args.broker}:{XSUB_PORT}")
    xpub.bind(f"tcp://{args.broker}:{XPUB_PORT}")
    return [*watchers, gevent.spawn(proxy, xsub, xpub)]


def worker() -> list[gevent.Greenlet]:
    handled: list[list[Any]] = []  # [time, request id]
    result["handled"] = handled

    late = [0]
    result["late"] = late

    def serve(s: Any) -> None:
        while True:
            route, rid, body = s.recv_multipart()
            if not handled:
                say("flowing")
            handled.append([time.monotonic(), rid.decode()])
            reply = [route, rid, b"%d" % len(body)]
            if args.late_every and len(handled) % args.late_every == 0:
                # A reply the client stops waiting for: it must be dropped,
                # never taken for the answer to the client's next request.
                late[0] += 1
                greenlets.append(gevent.spawn_later(args.late_by / 1000, s.send_multipart, reply))
            else:
                s.send_multipart(reply)

    greenlets = []
    for _ in range(args.greenlets):
        s = tuned(zmq.DEALER)
        greenlets.append(watch(s))
        s.connect(f"tcp://{args.broker}:{BACKEND}")
        greenlets.append(gevent.spawn(serve, s))
    return greenlets


def client() -> list[gevent.Greenlet]:
    ok: list[list[Any]] = []  # [time answered, request id, attempts, time first sent]
    timed_out: list[list[Any]] = []  # [time given up, request id]
    counts = {"sent": 0, "late": 0, "wrong": 0}
    result.update(ok=ok, timed_out=timed_out, counts=counts)
    endpoint = f"tcp://{args.broker}:{SLOW_FRONTEND if args.slow else FRONTEND}"
    body = b"x" * args.size

    def fresh(timeout: int) -> Any:
        s = tuned(zmq.DEALER)
        s.rcvtimeo = s.sndtimeo = timeout
        s.connect(endpoint)
        return s

    def ask(n: int) -> None:
        s = fresh(args.timeout)
        try:
            for seq in range(1, sys.maxsize):
                if stopping.is_set():
                    return
                rid = f"{args.name}.{n}.{seq}"
                counts["sent"] += 1
                s = request(s, rid.encode())
                gevent.sleep(args.think)
        finally:
            s.close()

    def request(s: Any, rid: bytes) -> Any:
        """Ask until answered or out of retries; the socket to go on with."""
        started = time.monotonic()
        for attempt in range(1, args.retries + 2):
            try:
                s.send_multipart([rid, body])
                while True:
                    got, answer = s.recv_multipart()
                    if got == rid:
                        break
                    counts["late"] += 1
            except zmq.Again:
                s.close()
                s = fresh(args.timeout << attempt)
                continue
            if answer != b"%d" % len(body):
                counts["wrong"] += 1
            if attempt > 1:
                s.rcvtimeo = s.sndtimeo = args.timeout
            if not ok:
                say("flowing")
            # What the application got: the id of the reply it was handed.
            ok.append([time.monotonic(), got.decode(), attempt, started])
            return s
        timed_out.append([time.monotonic(), rid.decode()])
        return s

    return [gevent.spawn(ask, n) for n in range(args.greenlets)]


def publisher() -> list[gevent.Greenlet]:
    s = tuned(zmq.PUB)
    watcher = watch(s)
    s.connect(f"tcp://{args.broker}:{XSUB_PORT}")
    sent = [0]
    result["sent"] = sent

    def publish() -> None:
        deadline = time.monotonic()
        while True:
            s.send_multipart([b"tick", b"%d" % sent[0]])
            sent[0] += 1
            deadline += TICK
            gevent.sleep(max(0.0, deadline - time.monotonic()))

    return [watcher, gevent.spawn(publish)]


def subscriber() -> list[gevent.Greenlet]:
    received: list[list[float]] = []  # per socket: arrival times
    faults = {"duplicated": 0, "out_of_order": 0, "gaps": 0}
    result.update(received=received, faults=faults)

    def listen(s: Any, times: list[float]) -> None:
        last = -1
        while True:
            _, seq = s.recv_multipart()
            n = int(seq)
            if n == last:
                faults["duplicated"] += 1
            elif n < last:
                faults["out_of_order"] += 1
            elif last >= 0 and n > last + 1:
                faults["gaps"] += 1
            last = n
            if not any(received):
                say("flowing")
            times.append(time.monotonic())

    greenlets = []
    for _ in range(args.greenlets):
        s = tuned(zmq.SUB)
        s.subscribe(b"tick")
        greenlets.append(watch(s))
        s.connect(f"tcp://{args.broker}:{XPUB_PORT}")
        times: list[float] = []
        received.append(times)
        greenlets.append(gevent.spawn(listen, s, times))
    return greenlets


def main() -> None:
    greenlets = globals()[args.role]()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    say("ready")
    stopping.wait()
    stopped = time.monotonic()
    if args.role == "client":
        # A client finishes the request at hand: at most all its attempts.
        grace = ((2 << args.retries) - 1) * args.timeout / 1000 + args.think + 2.0
        done = gevent.joinall(greenlets, timeout=grace)
        result["stuck"] = len(greenlets) - len(done)
        result["stop_s"] = time.monotonic() - stopped
    gevent.killall(greenlets, timeout=5)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["events"] = events
    if args.impl == "green_zmq":
        stats = zmq.statistics()
        result["stats"] = {name: getattr(stats, name) for name in stats.__dataclass_fields__}
    else:
        result["stats"] = None
    # os.write, not print: a signal landing in a write to a full pipe cuts it
    # short, and the buffered file would lose the rest without a word.
    report = (json.dumps(result) + "\n").encode()
    sys.stdout.flush()
    while report:
        report = report[os.write(sys.stdout.fileno(), report):]
    # The sockets die with the process; a term could wait on the io thread.
    os._exit(0)


if __name__ == "__main__":
    main()
