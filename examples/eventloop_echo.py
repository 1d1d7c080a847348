"""The green IOLoop: a ZMQStream echo server next to ordinary greenlets.

Callback-style code (tornado's IOLoop, pyzmq's ZMQStream) runs in one
greenlet; blocking-style clients run in others. With pyzmq's
zmq.green.eventloop the loop would sleep in epoll and starve the clients;
green_zmq's loop waits on the gevent hub, so both styles share the thread.
Needs tornado (the `eventloop` extra).
"""

import gevent

import green_zmq as zmq
from green_zmq.eventloop.ioloop import IOLoop, PeriodicCallback
from green_zmq.eventloop.zmqstream import ZMQStream

CLIENTS = 20
ROUND_TRIPS = 10  # per client

ctx = zmq.Context()
loop = IOLoop()

server = ctx.socket(zmq.ROUTER)
port = server.bind_to_random_port("tcp://127.0.0.1")
stream = ZMQStream(server, io_loop=loop)
# A ROUTER message is [identity, body]: sending it back as is echoes it.
stream.on_recv(stream.send_multipart)

loop_ticks = []
timer = PeriodicCallback(lambda: loop_ticks.append(1), 5, io_loop=loop)  # every 5 ms
timer.start()


def client(n):
    with ctx.socket(zmq.DEALER) as sock:
        sock.connect(f"tcp://127.0.0.1:{port}")
        for i in range(ROUND_TRIPS):
            sock.send(b"%d:%d" % (n, i))
            assert sock.recv() == b"%d:%d" % (n, i)  # blocks this greenlet only
            gevent.sleep(0.001)  # pacing, so the run lasts a few loop ticks
    return ROUND_TRIPS


runner = gevent.spawn(loop.start)  # loop.start() blocks only this greenlet
clients = [gevent.spawn(client, n) for n in range(CLIENTS)]
gevent.joinall(clients, raise_error=True)

# The timer stops first: a tick already under way then finishes before the
# loop's stop, instead of being left pending when the loop closes.
timer.stop()
# Handing work to the loop from another greenlet wakes it at once.
loop.add_callback(loop.stop)
runner.get(timeout=5)
print(f"{CLIENTS} blocking clients made {sum(c.value for c in clients)} round trips")
print(f"meanwhile the loop's 5 ms timer fired: {len(loop_ticks) > 0}")

stream.close()
loop.close()
ctx.term()
