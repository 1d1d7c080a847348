"""Peer faults: a peer process on 127.0.0.1 killed with SIGKILL mid-stream, then restarted.

The surviving side's greenlets keep waiting with RCVTIMEO/SNDTIMEO set, so
they get ``zmq.Again`` as plain pyzmq would, neither hang nor spin while the
peer is gone (the process's CPU time over the outage stays well below its
wall time: a spin check, not a speed limit), and traffic resumes when the
peer is back on the same port.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from time import monotonic, process_time
from typing import Any

import gevent
import pytest
from gevent import subprocess
from gevent.event import Event
from stress_mode import size

import green_zmq as zmq

pytestmark = [pytest.mark.timeout(size(60, 300)), pytest.mark.slow]

PEER = Path(__file__).with_name("peer.py")
ROOT = Path(zmq.__file__).resolve().parent.parent
CLIENTS = size(10, 50)
# Replies (or messages) wanted before the kill and again after the restart.
WANTED = size(200, 5_000)
# How long the peer stays dead: the survivors wait through all of it.
OUTAGE = size(1.0, 5.0)
TIMEOUT_MS = 100
# The spin check: CPU time over the outage, as a share of its wall time.
MAX_CPU_SHARE = 0.5


def start_peer(impl: str, role: str, port: int, epoch: int) -> tuple[Any, int]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, str(PEER), impl, role, str(port), str(epoch)],
        stdout=subprocess.PIPE,
        env=env,
    )
    with gevent.Timeout(30, AssertionError("the peer never got ready")):
        line = proc.stdout.readline()
    assert line.startswith(b"ready "), line
    return proc, int(line.split()[1])


def kill(proc: Any) -> None:
    proc.kill()  # SIGKILL
    proc.wait()
    proc.stdout.close()


def tune(s: zmq.Socket) -> None:
    """Timeouts and heartbeats on the surviving side, as a careful plain pyzmq program sets them."""
    s.linger = 0
    s.rcvtimeo = s.sndtimeo = TIMEOUT_MS
    s.reconnect_ivl = 50
    s.heartbeat_ivl = 100
    s.heartbeat_timeout = 300


def outage(proc: Any) -> tuple[float, float]:
    """Kill the peer and stay without it for OUTAGE seconds; return (wall, cpu) of that time."""
    kill(proc)
    wall, cpu = monotonic(), process_time()
    gevent.sleep(OUTAGE)
    return monotonic() - wall, process_time() - cpu


class Counts:
    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.done = 0
        self.timeouts = 0
        self.enough = Event()

    def one(self) -> None:
        self.done += 1
        if self.done >= self.wanted:
            self.enough.set()


@pytest.mark.parametrize("impl", ["green", "plain"])
def test_dealers_survive_an_echo_peer_killed_and_restarted(ctx, impl, figures):
    proc, port = start_peer(impl, "echo", 0, 1)
    phases = {"before": Counts(WANTED), "outage": Counts(0), "after": Counts(WANTED)}
    phase = ["before"]
    stop = Event()

    def client(i: int) -> None:
        s = ctx.socket(zmq.DEALER)
        tune(s)
        s.connect(f"tcp://127.0.0.1:{port}")
        outstanding: set[bytes] = set()
        n = 0
        while not stop.is_set():
            sent_in = phase[0].encode()
            n += 1
            request = b"%d.%d" % (i, n)
            try:
                s.send_multipart([request, sent_in])
                outstanding.add(request)
                reply = s.recv_multipart()
            except zmq.Again:
                phases[phase[0]].timeouts += 1
                continue
            # An echo of one of ours, whole, and only once.
            assert reply[0] in outstanding and len(reply) == 2, reply
            outstanding.discard(reply[0])
            received_in = phase[0]
            if received_in == "outage":
                # Only replies that were on their way when the peer died.
                assert reply[1] == b"before", reply
            if reply[1] == received_in.encode():
                phases[received_in].one()

    clients = [gevent.spawn(client, i) for i in range(CLIENTS)]
    try:
        assert phases["before"].enough.wait(30), "no traffic before the kill"
        phase[0] = "outage"
        wall, cpu = outage(proc)
        # Before the restart: the new peer answers the requests queued in
        # the outage while start_peer still waits for its "ready" line.
        phase[0] = "after"
        proc, _ = start_peer(impl, "echo", port, 2)
        assert phases["after"].enough.wait(30), "traffic did not resume after the restart"
        stop.set()
        gevent.joinall(clients, timeout=10, raise_error=True)
        assert all(c.successful() for c in clients), "a client is stuck"
    finally:
        gevent.killall(clients)
        kill(proc)
    figures.update(
        peer=impl,
        clients=CLIENTS,
        outage_s=round(wall, 2),
        outage_cpu_s=round(cpu, 3),
        timeouts_during_outage=phases["outage"].timeouts,
        replies_before=phases["before"].done,
        replies_after=phases["after"].done,
    )
    # Every waiting client timed out (Again) during the outage, and kept
    # waiting rather than spinning.
    assert phases["outage"].timeouts >= CLIENTS
    assert cpu < MAX_CPU_SHARE * wall, f"{cpu:.2f} s of CPU over a {wall:.2f} s outage"


def test_pull_readers_survive_a_pushing_peer_killed_and_restarted(ctx, figures):
    sys.path.insert(0, str(PEER.parent))
    from peer import payload

    pull = ctx.socket(zmq.PULL)
    tune(pull)
    pull.rcvhwm = 100
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    received: dict[bytes, list[int]] = {b"1": [], b"2": []}
    counts = {b"1": Counts(WANTED * CLIENTS), b"2": Counts(WANTED * CLIENTS)}
    timeouts = [0]
    stop = Event()

    def got(frames: list[bytes]) -> None:
        epoch, seq, data = frames
        n = int(seq)
        assert data == payload(n), (epoch, n, len(data))
        received[epoch].append(n)
        counts[epoch].one()

    def reader() -> None:
        while not stop.is_set():
            try:
                got(pull.recv_multipart())
            except zmq.Again:
                timeouts[0] += 1

    def polling_reader() -> None:
        while not stop.is_set():
            if pull.poll(TIMEOUT_MS):
                try:
                    got(pull.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    pass  # a reader was first
            else:
                timeouts[0] += 1

    readers = [gevent.spawn(reader) for _ in range(3)] + [gevent.spawn(polling_reader)]
    proc, _ = start_peer("plain", "push", port, 1)
    try:
        assert counts[b"1"].enough.wait(30), "no traffic before the kill"
        before = timeouts[0]
        wall, cpu = outage(proc)
        during = timeouts[0] - before
        proc, _ = start_peer("plain", "push", port, 2)
        assert counts[b"2"].enough.wait(30), "traffic did not resume after the restart"
        stop.set()
        gevent.joinall(readers, timeout=10, raise_error=True)
        assert all(r.successful() for r in readers), "a reader is stuck"
    finally:
        gevent.killall(readers)
        kill(proc)
    figures.update(
        outage_s=round(wall, 2),
        outage_cpu_s=round(cpu, 3),
        timeouts_during_outage=during,
        messages_before=len(received[b"1"]),
        messages_after=len(received[b"2"]),
    )
    # Per stream, in order, none twice and none missing, except those the
    # kill cut off at the end of the first stream.
    for epoch, seqs in received.items():
        assert seqs == list(range(len(seqs))), f"stream {epoch!r} out of order or with gaps"
    assert during >= 1
    assert cpu < MAX_CPU_SHARE * wall, f"{cpu:.2f} s of CPU over a {wall:.2f} s outage"
