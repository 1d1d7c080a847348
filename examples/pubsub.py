"""Publish/subscribe: one publisher, three subscriber greenlets with topic filters.

A PUB socket drops messages for subscribers whose subscription it has not
seen yet (ZeroMQ's "slow joiner"). Instead of sleeping and hoping, the
publisher is an XPUB: it receives every subscription as a message, so it
starts publishing only once all subscribers are known.
"""

import gevent

import green_zmq as zmq

PER_TOPIC = 5
SUBSCRIBERS = {"weather": [b"weather"], "sport": [b"sport"], "everything": [b""]}

ctx = zmq.Context()
publisher = ctx.socket(zmq.XPUB)
# Report every subscription, not just the first one per topic, so the count
# below is one message per subscriber.
publisher.XPUB_VERBOSE = 1
port = publisher.bind_to_random_port("tcp://127.0.0.1")


def subscriber(name, topics, expected):
    with ctx.socket(zmq.SUB) as sock:
        for topic in topics:
            sock.subscribe(topic)
        sock.connect(f"tcp://127.0.0.1:{port}")
        # Bounded: each subscriber knows how many messages match its filters.
        return [sock.recv_multipart() for _ in range(expected)]


def publish():
    for _ in SUBSCRIBERS:
        publisher.recv()  # b"\x01" + topic: a subscription arrived
    for i in range(PER_TOPIC):
        publisher.send_multipart([b"weather", b"%d degrees" % (20 + i)])
        publisher.send_multipart([b"sport", b"score %d-0" % i])


expected = {"weather": PER_TOPIC, "sport": PER_TOPIC, "everything": 2 * PER_TOPIC}
subs = {
    name: gevent.spawn(subscriber, name, topics, expected[name])
    for name, topics in SUBSCRIBERS.items()
}
gevent.joinall([*subs.values(), gevent.spawn(publish)], raise_error=True)

for name, greenlet in subs.items():
    topics = sorted({topic.decode() for topic, _ in greenlet.value})
    last = greenlet.value[-1][1].decode()
    print(f"{name}: {len(greenlet.value)} messages on {topics}, last {last!r}")

publisher.close()
ctx.term()
