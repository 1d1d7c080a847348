"""Request/reply: many client greenlets, one server, one OS thread.

Each client greenlet owns a REQ socket and blocks in recv() waiting for its
reply; only that greenlet waits, so all of them are in flight at once while
the server greenlet answers them one by one.
"""

import gevent

import green_zmq as zmq

CLIENTS = 50
REQUESTS = 5  # per client

ctx = zmq.Context()
server = ctx.socket(zmq.REP)
port = server.bind_to_random_port("tcp://127.0.0.1")


def client(n):
    # `with` closes the socket even if the greenlet fails, so term() below
    # cannot wait for a forgotten socket.
    with ctx.socket(zmq.REQ) as sock:
        sock.connect(f"tcp://127.0.0.1:{port}")
        replies = []
        for i in range(REQUESTS):
            sock.send_string(f"{n}:{i}")
            replies.append(sock.recv_string())  # blocks this greenlet only
        return replies


def serve(count):
    # A bounded loop: the example knows how many requests will come.
    for _ in range(count):
        request = server.recv_string()
        server.send_string(request.upper().replace(":", "-"))


clients = [gevent.spawn(client, n) for n in range(CLIENTS)]
server_greenlet = gevent.spawn(serve, CLIENTS * REQUESTS)
gevent.joinall([*clients, server_greenlet], raise_error=True)

expected = [[f"{n}-{i}" for i in range(REQUESTS)] for n in range(CLIENTS)]
ok = [c.value for c in clients] == expected
print(f"{CLIENTS} clients x {REQUESTS} requests: {CLIENTS * REQUESTS} replies, all matched: {ok}")
# The sweeper is a safety net; it should never have found a lost wakeup.
print(f"missed edges: {zmq.statistics().missed_edges}")

server.close()
ctx.term()
