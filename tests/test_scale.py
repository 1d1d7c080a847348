"""Many greenlets with a socket each."""

from __future__ import annotations

import resource

import gevent
import pytest

import green_zmq as zmq

pytestmark = pytest.mark.timeout(120)

CLIENTS = 2000


# Without the sweeper a lost wakeup hangs the test, which is the stricter
# check here: with 2000 long waits, the sweeper's count could also take in a
# reply that lands within the microseconds of its own check.
@pytest.mark.usefixtures("no_sweeper")
def test_2000_greenlets_each_with_a_dealer_to_one_router():
    # Each tcp DEALER costs a mailbox fd plus both ends of a connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CLIENTS * 4 + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"open-file limit {hard} is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    context = zmq.Context()
    context.MAX_SOCKETS = CLIENTS + 100
    router = context.socket(zmq.ROUTER)
    router.backlog = 1024
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def client(n):
        with context.socket(zmq.DEALER) as s:
            s.linger = 0
            s.connect(f"tcp://127.0.0.1:{port}")
            s.send(b"%d" % n)
            return s.recv()

    def serve():
        for _ in range(CLIENTS):
            ident, body = router.recv_multipart()
            router.send_multipart([ident, b"re:" + body])

    try:
        server = gevent.spawn(serve)
        clients = [gevent.spawn(client, n) for n in range(CLIENTS)]
        gevent.joinall(clients, timeout=100, raise_error=True)
        server.get(timeout=10)
        assert [c.value for c in clients] == [b"re:%d" % n for n in range(CLIENTS)]
    finally:
        context.destroy(linger=0)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
