"""A worker pool: client greenlets -> green ROUTER/DEALER proxy -> worker greenlets.

pyzmq's zmq.proxy is libzmq's C loop: it would hold the OS thread, and so
every greenlet, until it returns. green_zmq.proxy_steerable runs the same
loop in its own greenlet, so clients, proxy and workers share one thread.
The proxy stops on a TERMINATE command; the workers stop when the context
is terminated, as blocking pyzmq workers would.
"""

import gevent

import green_zmq as zmq

WORKERS = 4
CLIENTS = 10
REQUESTS = 3  # per client

ctx = zmq.Context()
frontend = ctx.socket(zmq.ROUTER)
port = frontend.bind_to_random_port("tcp://127.0.0.1")
backend = ctx.socket(zmq.DEALER)
backend.bind("inproc://workers")
control_in = ctx.socket(zmq.PAIR)
control_in.bind("inproc://control")
control_out = ctx.socket(zmq.PAIR)
control_out.connect("inproc://control")


def worker(n):
    handled = 0
    with ctx.socket(zmq.REP) as sock:
        sock.connect("inproc://workers")
        try:
            while True:
                job = sock.recv()
                gevent.sleep(0.005)  # stands in for green I/O: a database, an HTTP call
                sock.send(b"worker %d did %s" % (n, job))
                handled += 1
        except zmq.ContextTerminated:
            # term() below: leave the loop; `with` closes the socket so term can finish.
            return handled


def client(n):
    with ctx.socket(zmq.REQ) as sock:
        sock.connect(f"tcp://127.0.0.1:{port}")
        for i in range(REQUESTS):
            sock.send(b"job %d.%d" % (n, i))
            sock.recv()
    return REQUESTS


workers = [gevent.spawn(worker, n) for n in range(WORKERS)]
proxy = gevent.spawn(zmq.proxy_steerable, frontend, backend, None, control_in)
clients = [gevent.spawn(client, n) for n in range(CLIENTS)]
gevent.joinall(clients, raise_error=True)
print(f"{CLIENTS} clients got {sum(c.value for c in clients)} replies through the proxy")

control_out.send(b"TERMINATE")
proxy.get(timeout=5)  # raises if the proxy failed
for sock in (frontend, backend, control_in, control_out):
    sock.close()
# Blocks only this greenlet: the workers get ContextTerminated and close.
ctx.term()

counts = [w.get(timeout=5) for w in workers]
print(f"jobs per worker: {counts} (total {sum(counts)})")
