"""A Poller over several sockets: one consumer greenlet, three producers.

The consumer waits on three PULL sockets at once with zmq.Poller; while it
waits, only its own greenlet is parked, so the producers (other greenlets
of the same thread) keep running. A poll timeout is in milliseconds, as in
plain pyzmq.
"""

import gevent
from gevent.event import Event

import green_zmq as zmq

PRODUCERS = {"orders": 0.002, "prices": 0.001, "alerts": 0.005}  # seconds between messages
PER_PRODUCER = 4

ctx = zmq.Context()
inboxes = {}
poller = zmq.Poller()
for name in PRODUCERS:
    sock = ctx.socket(zmq.PULL)
    sock.bind(f"inproc://{name}")
    inboxes[sock] = name
    poller.register(sock, zmq.POLLIN)

start = Event()


def produce(name, pause):
    with ctx.socket(zmq.PUSH) as sock:
        sock.connect(f"inproc://{name}")
        start.wait()
        for i in range(PER_PRODUCER):
            gevent.sleep(pause)  # pacing, so the sources interleave
            sock.send_string(f"{name} #{i}")


def consume():
    # Nothing has been sent yet: the poll times out and returns no events.
    idle = poller.poll(timeout=50)
    print(f"50 ms poll before anything was sent: {idle}")
    start.set()
    seen = {name: 0 for name in PRODUCERS}
    order = []
    while sum(seen.values()) < len(PRODUCERS) * PER_PRODUCER:
        for sock, _ in poller.poll(timeout=1000):
            # Drain each ready socket; one poll result may cover many messages.
            while sock.poll(0, zmq.POLLIN):
                sock.recv_string()
                seen[inboxes[sock]] += 1
                order.append(inboxes[sock][0])
    return seen, "".join(order)


producers = [gevent.spawn(produce, name, pause) for name, pause in PRODUCERS.items()]
consumer = gevent.spawn(consume)
gevent.joinall([*producers, consumer], raise_error=True)

seen, order = consumer.value
print(f"received per socket: {seen}")
print(f"arrival order (first letters): {order}")

for sock in inboxes:
    poller.unregister(sock)
    sock.close()
ctx.term()
