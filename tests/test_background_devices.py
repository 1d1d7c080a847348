"""Background devices in greenlets: pyzmq's zmq.devices API on the caller's hub.

The classes of green_zmq.devices, and monitored_queue as that module offers
it; the device, proxy and proxy_steerable functions: test_proxying.py.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import pytest
import zmq as plain_zmq
import zmq.devices  # pyzmq's thread devices, the reference: plain_zmq.devices

import green_zmq as zmq
import green_zmq.devices
from green_zmq.devices import (
    GreenDevice,
    GreenMonitoredQueue,
    GreenProxy,
    GreenProxySteerable,
    monitored_queue,
)

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def started(ctx: zmq.Context) -> Iterator[list[GreenDevice]]:
    """Devices to stop (their greenlets killed) before the context goes."""
    devices: list[GreenDevice] = []
    yield devices
    for device in devices:
        if device.launcher is not None:
            device.launcher.kill()


def start(device: GreenDevice, ctx: zmq.Context, started: list[GreenDevice]) -> GreenDevice:
    device.context_factory = lambda: ctx
    device.start()
    started.append(device)
    return device


def sock(ctx: zmq.Context, kind: int, connect: str | None = None) -> zmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    if connect:
        s.connect(connect)
    return s


# -- the module ------------------------------------------------------------------


def test_devices_module_exports_the_green_classes():
    assert set(green_zmq.devices.__all__) == {
        "GreenDevice",
        "GreenMonitoredQueue",
        "GreenProxy",
        "GreenProxySteerable",
        "monitored_queue",
    }


# -- GreenDevice -----------------------------------------------------------------


def test_device_runs_in_a_greenlet_while_others_run(ctx, started):
    device = GreenDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER)
    front_port = device.bind_in_to_random_port("tcp://127.0.0.1")
    back_port = device.bind_out_to_random_port("tcp://127.0.0.1")
    start(device, ctx, started)
    assert isinstance(device.launcher, gevent.Greenlet)
    ticked = gevent.event.Event()
    gevent.spawn(ticked.set)

    client = sock(ctx, zmq.REQ, connect=f"tcp://127.0.0.1:{front_port}")
    worker = sock(ctx, zmq.REP, connect=f"tcp://127.0.0.1:{back_port}")
    client.send(b"ping")
    assert worker.recv() == b"ping"
    worker.send(b"pong")
    assert client.recv() == b"pong"
    assert ticked.wait(timeout=5)
    assert not device.done


def test_device_sockets_are_green_from_a_green_context(ctx, started):
    device = GreenDevice(zmq.STREAMER, zmq.PULL, zmq.PUSH)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    start(device, ctx, started)
    producer = sock(ctx, zmq.PUSH, connect="inproc://front")
    consumer = sock(ctx, zmq.PULL, connect="inproc://back")
    producer.send(b"one")
    assert consumer.recv() == b"one"
    assert device._context is ctx
    assert all(isinstance(s, zmq.Socket) for s in device._sockets)


def test_default_context_is_the_green_instance():
    assert GreenDevice.context_factory() is zmq.Context.instance()
    assert isinstance(zmq.Context.instance(), zmq.Context)


def test_device_applies_sockopts_and_connects(ctx, started):
    backend = sock(ctx, zmq.ROUTER)
    backend.bind("inproc://workers")
    client = sock(ctx, zmq.DEALER)
    client.bind("inproc://clients")
    device = GreenDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER)
    device.connect_in("inproc://clients")
    device.connect_out("inproc://workers")
    device.setsockopt_out(zmq.ROUTING_ID, b"the-device")
    start(device, ctx, started)
    client.send(b"job")
    assert backend.recv_multipart()[0] == b"the-device"


def test_join_with_timeout_returns_while_the_device_runs(ctx, started):
    device = GreenDevice(zmq.STREAMER, zmq.PULL, zmq.PUSH)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    start(device, ctx, started)
    device.join(0.01)
    assert not device.done


def test_join_before_start_is_an_error():
    with pytest.raises(RuntimeError):
        GreenDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER).join()


def test_context_termination_stops_the_device_and_closes_its_sockets(started):
    context = zmq.Context()
    device = GreenDevice(zmq.STREAMER, zmq.PULL, zmq.PUSH)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    start(device, context, started)
    producer = sock(context, zmq.PUSH, connect="inproc://front")
    consumer = sock(context, zmq.PULL, connect="inproc://back")
    producer.send(b"one")
    assert consumer.recv() == b"one"
    producer.close()
    consumer.close()
    context.term()  # returns once the device greenlet closed its sockets
    device.join()
    assert device.done
    assert all(s.closed for s in device._sockets)
    # The device treats ETERM as a clean shutdown, as pyzmq's do.
    assert device.launcher.successful()


def test_killing_the_launcher_closes_the_sockets(ctx, started):
    device = GreenDevice(zmq.STREAMER, zmq.PULL, zmq.PUSH)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    start(device, ctx, started)
    producer = sock(ctx, zmq.PUSH, connect="inproc://front")
    consumer = sock(ctx, zmq.PULL, connect="inproc://back")
    producer.send(b"one")
    assert consumer.recv() == b"one"
    device.launcher.kill()
    assert device.done
    assert all(s.closed for s in device._sockets)


# -- GreenProxy ------------------------------------------------------------------


def _round_trip_through(
    device: GreenDevice, ctx: zmq.Context, started: list[GreenDevice]
) -> zmq.Socket:
    """Start a ROUTER/DEALER ``device`` with a monitor, pass one request and
    its reply through it, and return the socket reading the monitor copies."""
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    device.bind_mon("inproc://mon")
    start(device, ctx, started)
    client = sock(ctx, zmq.DEALER)
    client.routing_id = b"client"
    client.connect("inproc://front")
    worker = sock(ctx, zmq.DEALER, connect="inproc://back")
    monitor = sock(ctx, zmq.PULL, connect="inproc://mon")

    client.send(b"request")
    assert worker.recv_multipart() == [b"client", b"request"]
    worker.send_multipart([b"client", b"reply"])
    assert client.recv() == b"reply"
    return monitor


def test_proxy_copies_every_message_to_the_monitor_socket(ctx, started):
    device = GreenProxy(zmq.ROUTER, zmq.DEALER, zmq.PUSH)
    device.setsockopt_mon(zmq.SNDHWM, 0)
    monitor = _round_trip_through(device, ctx, started)
    assert monitor.recv_multipart() == [b"client", b"request"]
    assert monitor.recv_multipart() == [b"client", b"reply"]


def test_proxy_connect_mon(ctx, started):
    monitor = sock(ctx, zmq.PULL)
    monitor.bind("inproc://mon")
    device = GreenProxy(zmq.PULL, zmq.PUSH, zmq.PUSH)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    device.connect_mon("inproc://mon")
    start(device, ctx, started)
    producer = sock(ctx, zmq.PUSH, connect="inproc://front")
    consumer = sock(ctx, zmq.PULL, connect="inproc://back")
    producer.send(b"seen")
    assert consumer.recv() == b"seen"
    assert monitor.recv() == b"seen"


# -- GreenProxySteerable ---------------------------------------------------------


def test_steerable_proxy_reports_statistics_and_terminates(ctx, started):
    device = GreenProxySteerable(zmq.PULL, zmq.PUSH, zmq.PUSH, zmq.PAIR)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    device.bind_mon("inproc://mon")
    device.bind_ctrl("inproc://ctrl")
    start(device, ctx, started)
    producer = sock(ctx, zmq.PUSH, connect="inproc://front")
    consumer = sock(ctx, zmq.PULL, connect="inproc://back")
    monitor = sock(ctx, zmq.PULL, connect="inproc://mon")
    steer = sock(ctx, zmq.PAIR, connect="inproc://ctrl")

    producer.send_multipart([b"abc", b"de"])
    assert consumer.recv_multipart() == [b"abc", b"de"]
    assert monitor.recv_multipart() == [b"abc", b"de"]
    steer.send(b"STATISTICS")
    counters = [struct.unpack("=Q", f)[0] for f in steer.recv_multipart()]
    assert counters == [2, 5, 0, 0, 0, 0, 2, 5]
    steer.send(b"TERMINATE")
    assert steer.recv() == b""
    device.join()
    assert device.done
    assert device.launcher.successful()
    assert all(s.closed for s in device._sockets)


def test_steerable_proxy_pause_and_resume(ctx, started):
    # A PUB monitor nobody listens to: captures are dropped, not waited on.
    device = GreenProxySteerable(zmq.PULL, zmq.PUSH, zmq.PUB, zmq.REP)
    device.bind_in("inproc://front")
    device.bind_out("inproc://back")
    device.bind_mon("inproc://mon")
    device.bind_ctrl("inproc://ctrl")
    start(device, ctx, started)
    producer = sock(ctx, zmq.PUSH, connect="inproc://front")
    consumer = sock(ctx, zmq.PULL, connect="inproc://back")
    steer = sock(ctx, zmq.REQ, connect="inproc://ctrl")

    steer.send(b"PAUSE")
    assert steer.recv() == b""
    producer.send(b"later")
    steer.send(b"STATISTICS")
    assert struct.unpack("=Q", steer.recv_multipart()[0])[0] == 0
    assert consumer.poll(0) == 0
    steer.send(b"RESUME")
    assert steer.recv() == b""
    assert consumer.recv() == b"later"


# -- GreenMonitoredQueue and monitored_queue ---------------------------------------


def test_monitored_queue_prefixes_the_monitor_copies(ctx, started):
    device = GreenMonitoredQueue(zmq.ROUTER, zmq.DEALER, zmq.PUSH, b"to", b"from")
    monitor = _round_trip_through(device, ctx, started)
    assert monitor.recv_multipart() == [b"to", b"client", b"request"]
    assert monitor.recv_multipart() == [b"from", b"client", b"reply"]


def test_monitored_queue_between_two_routers_swaps_the_routing_ids(ctx):
    inbound = sock(ctx, zmq.ROUTER)
    inbound.bind("inproc://in")
    outbound = sock(ctx, zmq.ROUTER)
    outbound.bind("inproc://out")
    monitor = sock(ctx, zmq.PULL)
    monitor.bind("inproc://mon")
    mon_in = sock(ctx, zmq.PUSH, connect="inproc://mon")
    alice = sock(ctx, zmq.DEALER)
    alice.routing_id = b"alice"
    alice.connect("inproc://in")
    bob = sock(ctx, zmq.DEALER)
    bob.routing_id = b"bob"
    bob.connect("inproc://out")
    queue = gevent.spawn(monitored_queue, inbound, outbound, mon_in)
    try:
        # Alice addresses bob; bob sees who it came from, and can answer.
        alice.send_multipart([b"bob", b"hello bob"])
        assert bob.recv_multipart() == [b"alice", b"hello bob"]
        bob.send_multipart([b"alice", b"hello alice"])
        assert alice.recv_multipart() == [b"bob", b"hello alice"]
        assert monitor.recv_multipart() == [b"in", b"bob", b"alice", b"hello bob"]
        assert monitor.recv_multipart() == [b"out", b"alice", b"bob", b"hello alice"]
    finally:
        queue.kill()


class _Bytes(bytes):
    pass


# Prefixes pyzmq's monitored_queue refuses (its Cython signature takes exact
# bytes), by position: (in_prefix, out_prefix).
BAD_PREFIXES = {
    "str": ("in", b"out"),
    "bytearray": (bytearray(b"in"), b"out"),
    "None": (None, b"out"),
    "int": (1, b"out"),
    "memoryview": (memoryview(b"in"), b"out"),
    "bytes subclass": (_Bytes(b"in"), b"out"),
    "out str": (b"in", "out"),
    "out None": (b"in", None),
}


def refused_queue(module: Any, call: Any, prefixes: tuple[Any, Any], run: Any) -> tuple[Any, ...]:
    """``call`` (a monitored_queue) with a message waiting on its in socket and bad ``prefixes``.

    ``run(function)`` calls it and returns once it ended, or raises if it
    did not end at once. Returns what it raised, and whether the waiting
    message is still there to read.
    """
    context = module.Context()
    ins, peer, outs, mons = (context.socket(kind) for kind in (module.PAIR,) * 3 + (module.PUB,))
    for s in (ins, peer, outs, mons):
        s.linger = 0
    ins.bind("inproc://refused-in")
    peer.connect("inproc://refused-in")
    peer.send(b"first")
    try:
        raised = run(lambda: call(ins, outs, mons, *prefixes))
    finally:
        still_there = ins.poll(1000) and ins.recv(module.NOBLOCK)
        context.destroy(linger=0)
    return (type(raised).__name__, str(raised), still_there)


def _in_thread_at_once(function: Any) -> BaseException | None:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "plain pyzmq's monitored_queue started"
    return raised[0] if raised else None


def _in_greenlet_at_once(function: Any) -> BaseException | None:
    greenlet = gevent.spawn(function)
    greenlet.join(2)
    if not greenlet.ready():
        greenlet.kill()
        raise AssertionError("green monitored_queue started")
    return greenlet.exception


@pytest.mark.parametrize("bad", sorted(BAD_PREFIXES))
def test_monitored_queue_refuses_prefixes_at_once_as_plain_does(bad: str) -> None:
    # Refused before it starts, in pyzmq's words, and the first message is
    # left where it was (green_zmq took it, and failed sending the copy).
    prefixes = BAD_PREFIXES[bad]
    plain = refused_queue(
        plain_zmq, plain_zmq.devices.monitored_queue, prefixes, _in_thread_at_once
    )
    assert plain[0] == "TypeError" and plain[2] == b"first"
    assert refused_queue(zmq, monitored_queue, prefixes, _in_greenlet_at_once) == plain


def refused_device(
    module: Any, make: Any, prefixes: tuple[Any, Any], ended: Any
) -> tuple[Any, ...]:
    """A background monitored queue with bad ``prefixes``: what ended it, and its state then."""
    context = module.Context()
    device = make(module.PAIR, module.PAIR, module.PUB, *prefixes)
    device.context_factory = lambda: context
    device.bind_in("inproc://refused-device")
    device.start()
    try:
        raised = ended(device)
        return (type(raised).__name__, str(raised), device.done)
    finally:
        context.destroy(linger=0)


def test_green_monitored_queue_refuses_prefixes_as_pyzmqs_thread_device_does(monkeypatch):
    thread_errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))

    def thread_ended(device: Any) -> BaseException:
        device.join(5)
        assert not device.launcher.is_alive(), "pyzmq's device started"
        return thread_errors[0]

    def greenlet_ended(device: Any) -> BaseException:
        device.join(2)
        assert device.launcher.ready(), "the green device started"
        return device.launcher.exception

    prefixes = BAD_PREFIXES["str"]
    plain = refused_device(
        plain_zmq, plain_zmq.devices.ThreadMonitoredQueue, prefixes, thread_ended
    )
    assert plain[0] == "TypeError" and plain[2] is True
    assert refused_device(zmq, GreenMonitoredQueue, prefixes, greenlet_ended) == plain


# -- a device whose in and out socket are one (out_type < 0) ---------------------


def background_echo(module: Any, classes: Any, kind: str, name: str) -> dict:
    """Requests through a background device of ``name`` whose out socket is its in socket.

    ``classes`` is pyzmq's ``zmq.devices`` (ThreadDevice...) or
    ``green_zmq.devices`` (GreenDevice...). Returns what the client got,
    what the monitor got, and the STATISTICS of the steerable kind.
    """
    context = module.Context()
    kind_value = getattr(module, kind)
    make = getattr(classes, name)
    if name.endswith("Device"):
        device = make(module.QUEUE, kind_value, -1)
    elif name.endswith("ProxySteerable"):
        device = make(kind_value, -1, module.PUSH, module.PAIR)
        device.bind_ctrl("inproc://ctrl")
    else:
        device = make(kind_value, -1, module.PUSH)
    device.context_factory = lambda: context
    device.bind_in("inproc://echo")
    monitor = None
    if not name.endswith("Device"):
        device.bind_mon("inproc://mon")
    device.start()
    client = context.socket(module.REQ if kind == "REP" else module.DEALER)
    client.linger = 0
    client.routing_id = b"client"
    client.connect("inproc://echo")
    if not name.endswith("Device"):
        monitor = context.socket(module.PULL)
        monitor.linger = 0
        monitor.connect("inproc://mon")
    result: dict[str, Any] = {"replies": [], "copies": []}
    for body in (b"one", b"two"):
        client.send(body)
        result["replies"].append(client.recv_multipart())
    if monitor is not None:
        result["copies"] = [monitor.recv_multipart() for _ in range(2)]
        monitor.close()
    if name.endswith("ProxySteerable"):
        steer = context.socket(module.PAIR)
        steer.connect("inproc://ctrl")
        steer.send(b"STATISTICS")
        result["statistics"] = [struct.unpack("=Q", f)[0] for f in steer.recv_multipart()]
        steer.send(b"TERMINATE")
        assert steer.recv() == b""
        steer.close()
        device.join(10)
        result["done"] = device.done
    client.close()
    if not name.endswith("ProxySteerable"):
        context.term()  # ends the device (ContextTerminated), which closes its sockets
        device.join(10)
    return result


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["Device", "Proxy", "ProxySteerable"])
@pytest.mark.parametrize("kind", ["REP", "ROUTER", "DEALER"])
def test_background_device_on_one_socket_echoes_as_pyzmqs_thread_device(kind, name):
    plain = background_echo(plain_zmq, plain_zmq.devices, kind, "Thread" + name)
    green = background_echo(zmq, green_zmq.devices, kind, "Green" + name)
    assert plain["replies"] == [[b"one"], [b"two"]]
    assert green == plain
