"""``python -m green_zmq.bench``: green_zmq side by side with its peers.

Four implementations run the same workloads, each measurement in a fresh
child process, interleaved and repeated. Rates are reported as medians;
a ratio is taken within each repeat, where the implementations ran one
after the other, and its median over the repeats is reported:

``green_zmq``   this package, sender and receiver in separate greenlets;
``zmq.green``   pyzmq's own gevent integration, the same greenlets;
``threads``     plain blocking pyzmq, each role in its own OS thread;
``ceiling``     plain pyzmq in one thread with NOBLOCK calls: every role
                sends (or receives) until EAGAIN, then the next role runs.
                No waiting primitive at all: the cost of the work itself
                through pyzmq's public API. green_zmq can pass it where it
                skips pyzmq's Python layers (send_multipart's enum
                arithmetic, getsockopt(RCVMORE)), or where the ceiling's
                busy loop competes with libzmq's I/O thread for the CPU.

Every workload checks that every message arrived intact and in order and
reports a failure instead of a rate otherwise; every child runs under a
hard time limit so a hang is a failure, not a stall.

Adding a workload is a few lines: write its roles as generators that make
their socket calls with ``rt.flags`` and ``yield`` whenever a call raises
``zmq.Again`` (that happens only in the ceiling, where it means "let the
other roles run"), then register a function that builds the sockets and
hands the roles to ``rt.run``::

    @workload("my-echo", n=100_000, quick_n=2_000, unit="round trip")
    def _my_echo(rt: Runtime, n: int) -> None:
        server, client = rt.socket(zmq.REP), rt.socket(zmq.REQ)
        client.connect(bind(server, "tcp"))
        rt.run([echo(server, n, rt.flags), ask(client, n, rt.flags)])

The same function then runs under every implementation: green runtimes run
each role in a greenlet, the threads runtime in a thread, the ceiling
round-robins the generators in one thread.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from time import perf_counter
from types import ModuleType
from typing import Any, Callable

import zmq

__all__ = [
    "IMPLEMENTATIONS",
    "WORKLOADS",
    "Corrupt",
    "Runtime",
    "Workload",
    "bind",
    "main",
    "workload",
]

# Plain ints in the roles' loops: pyzmq's IntFlag operators cost microseconds.
_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)

Role = Iterator[None]


class Corrupt(AssertionError):
    """A message arrived changed, out of order, or where none was expected."""


# -- runtimes: how one implementation runs a workload's roles ---------------


class Runtime:
    """One implementation: its zmq module, its context, and how roles run.

    ``flags`` is what roles pass to every send/recv: 0 (a blocking call) for
    the green and threads runtimes, NOBLOCK for the ceiling. ``elapsed`` is
    the time spent inside :meth:`run`, i.e. excluding setup and teardown.
    """

    flags = 0
    single_thread = False

    def __init__(self, name: str, zmq_module: ModuleType) -> None:
        self.name = name
        self.zmq = zmq_module
        self.ctx = zmq_module.Context()
        # poll-many needs more than libzmq's default of 1023 sockets.
        self.ctx.set(zmq.MAX_SOCKETS, 4096)
        self.sockets: list[Any] = []
        self.elapsed = 0.0

    def socket(self, kind: int) -> Any:
        """A socket of this implementation, closed by :meth:`close`."""
        sock = self.ctx.socket(kind)
        self.sockets.append(sock)
        return sock

    def poller(self) -> Any:
        return self.zmq.Poller()

    def run(self, roles: Sequence[Role]) -> None:
        """Run the roles concurrently until all are done; time it."""
        start = perf_counter()
        self._run(roles)
        self.elapsed += perf_counter() - start

    def _run(self, roles: Sequence[Role]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.ctx.term()


def _exhaust(role: Role) -> None:
    # A blocking runtime's calls wait instead of raising EAGAIN, so its
    # roles never yield; if one does, a call returned early.
    for _ in role:
        raise RuntimeError("a blocking call raised EAGAIN")


class GreenRuntime(Runtime):
    """Each role in its own greenlet, blocking only itself."""

    def _run(self, roles: Sequence[Role]) -> None:
        import gevent

        # raise_error: the first failing role ends the run (the others may
        # be blocked for good on a message that will never come).
        gevent.joinall([gevent.spawn(_exhaust, role) for role in roles], raise_error=True)


class ThreadRuntime(Runtime):
    """Each role in its own OS thread, making blocking pyzmq calls."""

    def _run(self, roles: Sequence[Role]) -> None:
        errors: list[BaseException] = []
        left = [len(roles)]
        lock = threading.Lock()
        finished = threading.Event()

        def play(role: Role) -> None:
            try:
                _exhaust(role)
            except BaseException as exc:
                errors.append(exc)
                finished.set()
                return
            with lock:
                left[0] -= 1
                if not left[0]:
                    finished.set()

        for role in roles:
            threading.Thread(target=play, args=(role,), daemon=True).start()
        # An event rather than join(): a failing role must end the run even
        # while the others stay blocked.
        finished.wait()
        if errors:
            raise errors[0]


class CeilingRuntime(Runtime):
    """All roles in this thread, round-robin, with NOBLOCK calls.

    Each role calls until EAGAIN and then yields to the next: the cost of
    the work itself through pyzmq, with no waiting primitive at all.
    """

    flags = _NOBLOCK
    single_thread = True

    def _run(self, roles: Sequence[Role]) -> None:
        active = list(roles)
        done = object()
        while active:
            active = [role for role in active if next(role, done) is not done]


#: Implementation name -> (how it runs roles, the module providing its zmq API).
#: Modules are imported only in the child that measures them.
IMPLEMENTATIONS: dict[str, tuple[type[Runtime], str]] = {
    "green_zmq": (GreenRuntime, "green_zmq"),
    "zmq.green": (GreenRuntime, "zmq.green"),
    "threads": (ThreadRuntime, "zmq"),
    "ceiling": (CeilingRuntime, "zmq"),
}


# -- messages and checks --------------------------------------------------


def message(seq: int, size: int) -> bytes:
    """``size`` bytes carrying ``seq`` at both ends, so loss, reordering and
    truncation all change it."""
    head = seq.to_bytes(8, "little")
    return head + _filler(size - 16) + head


_fillers: dict[int, bytes] = {}


def _filler(size: int) -> bytes:
    filler = _fillers.get(size)
    if filler is None:
        filler = _fillers[size] = bytes(range(251)) * (size // 251) + bytes(size % 251)
    return filler


def _expect(got: Any, wanted: Any, what: str) -> None:
    if got != wanted:
        raise Corrupt(f"{what}: expected {_show(wanted)}, got {_show(got)}")


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


# -- roles: one generator per side, shared by every runtime ----------------
#
# Each loop is "try the call; on EAGAIN yield and try again". With blocking
# calls EAGAIN never happens and the try costs nothing (Python >= 3.11), so
# the green and threads runtimes run exactly the loop users would write.
#
# The loops are ``for`` and ``while True``, never ``while i < n``: CPython
# 3.11 warms a code object up (to specialize its bytecode) on calls,
# generator resumes and unconditional backward jumps only. A ``while i < n``
# loop ends in a conditional jump, so a role that never yields (every
# blocking runtime's) would run generic bytecode to the end, while the
# ceiling's, resumed once per batch, gets specialized. On inproc PUSH/PULL
# that cost the green runtime 1,800 of its 17,200 instructions per message:
# a handicap of the harness, not of the implementation.


def send_all(
    send: Callable[[Any, int], Any], n: int, make: Callable[[int], Any], flags: int
) -> Role:
    """Send ``make(0) .. make(n-1)`` in order with ``send`` (send or send_multipart)."""
    again = zmq.Again
    for i in range(n):
        data = make(i)
        while True:
            try:
                send(data, flags)
                break
            except again:
                yield


def recv_all(recv: Callable[[int], Any], n: int, make: Callable[[int], Any], flags: int) -> Role:
    """Receive ``n`` messages with ``recv`` and check each equals ``make(i)``."""
    again = zmq.Again
    for i in range(n):
        while True:
            try:
                got = recv(flags)
                break
            except again:
                yield
        if got != make(i):
            _expect(got, make(i), f"message {i}")


def echo(sock: Any, n: int, flags: int, size: int | None = 64) -> Role:
    """REP side: receive ``n`` requests, check their order, send each back.

    ``size=None``: requests come from many clients, so their order is not
    checked here (each client checks its replies).
    """
    again = zmq.Again
    for i in range(n):
        while True:
            try:
                got = sock.recv(flags)
                break
            except again:
                yield
        if size is not None and got != message(i, size):
            _expect(got, message(i, size), f"request {i}")
        while True:
            try:
                sock.send(got, flags)
                break
            except again:
                yield


def ask(
    sock: Any,
    n: int,
    flags: int,
    make: Callable[[int], bytes] = lambda i: message(i, 64),
    who: str = "",
) -> Role:
    """REQ/DEALER side: ``n`` round trips, each reply checked against its request."""
    again = zmq.Again
    for i in range(n):
        sent = make(i)
        while True:
            try:
                sock.send(sent, flags)
                break
            except again:
                yield
        while True:
            try:
                got = sock.recv(flags)
                break
            except again:
                yield
        if got != sent:
            _expect(got, sent, f"{who}reply {i}")


def _client_message(client: int, seq: int) -> bytes:
    return client.to_bytes(4, "little") + message(seq, 60)


def dealer_client(sock: Any, client: int, n: int, flags: int) -> Role:
    """One DEALER: ``n`` round trips tagged with its number, replies checked."""
    return ask(sock, n, flags, lambda i: _client_message(client, i), f"client {client} ")


def router_echo(sock: Any, clients: int, per_client: int, flags: int) -> Role:
    """The ROUTER: echo every request, checking each client's requests stay in order."""
    again = zmq.Again
    following = [0] * clients
    for _ in range(clients * per_client):
        while True:
            try:
                frames = sock.recv_multipart(flags)
                break
            except again:
                yield
        if len(frames) != 2:
            _expect(len(frames), 2, "frames in a request")
        client = int.from_bytes(frames[1][:4], "little")
        if client >= clients:
            raise Corrupt(f"request from unknown client {client}: {_show(frames[1])}")
        wanted = _client_message(client, following[client])
        if frames[1] != wanted:
            _expect(frames[1], wanted, f"client {client} request {following[client]}")
        following[client] += 1
        while True:
            try:
                sock.send_multipart(frames, flags)
                break
            except again:
                yield


def poll_serve(poller: Any, server: Any, n: int, flags: int) -> Role:
    """Serve ``n`` requests on ``server``, waiting for each in ``poller.poll()``."""
    again = zmq.Again
    for i in range(n):
        while True:
            ready = poller.poll()
            if not ready:
                continue
            if len(ready) != 1 or ready[0][0] is not server:
                _expect(ready, [(server, _POLLIN)], f"poll before request {i}")
            try:
                got = server.recv(flags)
                break
            except again:
                yield
        if got != message(i, 64):
            _expect(got, message(i, 64), f"request {i}")
        server.send(got, flags)


def poll_alone(poller: Any, server: Any, client: Any, n: int) -> Role:
    """Client and polled server in turn in one thread, plain blocking calls.

    Nothing can deadlock: each call waits only for a message already sent.
    """
    for i in range(n):
        sent = message(i, 64)
        client.send(sent)
        ready = poller.poll()
        if len(ready) != 1 or ready[0][0] is not server:
            _expect(ready, [(server, _POLLIN)], f"poll before request {i}")
        server.send(server.recv())
        got = client.recv()
        if got != sent:
            _expect(got, sent, f"reply {i}")
        yield


# -- the workload registry ---------------------------------------------------


# The issues' usual goal: green_zmq at >= 0.8x the target baseline.
_GOAL = 0.8


@dataclass(frozen=True)
class Workload:
    """A named benchmark: ``run(rt, n)`` builds sockets and calls ``rt.run`` once.

    ``n`` counts ``unit``s (messages or round trips); rates are ``n`` over
    the time spent in ``rt.run``. ``ceiling`` says what the ceiling column
    measures when it is not the usual NOBLOCK loop, and ``target`` which
    column the issue's goal compares green_zmq against.
    """

    name: str
    run: Callable[[Runtime, int], None]
    n: int
    quick_n: int
    unit: str = "msg"
    ceiling: str = "one thread, NOBLOCK until EAGAIN"
    target: str = "ceiling"
    goal: float = _GOAL
    # Implementations that cannot run the workload, and the word shown for
    # that: the expected result, not a failure of the run.
    cannot: tuple[tuple[str, str], ...] = ()


WORKLOADS: dict[str, Workload] = {}


def workload(
    name: str, *, n: int, quick_n: int, unit: str = "msg", **details: Any
) -> Callable[[Callable[[Runtime, int], None]], Callable[[Runtime, int], None]]:
    """Register the decorated ``run(rt, n)`` as workload ``name``."""

    def register(run: Callable[[Runtime, int], None]) -> Callable[[Runtime, int], None]:
        WORKLOADS[name] = Workload(name, run, n, quick_n, unit, **details)
        return run

    return register


_inproc_names = count()


def bind(sock: Any, transport: str) -> str:
    """Bind ``sock`` to a fresh ``inproc`` name or loopback ``tcp`` port; return the address."""
    if transport == "inproc":
        address = f"inproc://green-zmq-bench-{next(_inproc_names)}"
        sock.bind(address)
        return address
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return f"tcp://127.0.0.1:{port}"


def push_pull(rt: Runtime, n: int, transport: str, size: int, frames: int = 1) -> None:
    """PUSH to PULL, ``n`` messages of ``frames`` frames of ``size`` bytes."""
    pull = rt.socket(zmq.PULL)
    push = rt.socket(zmq.PUSH)
    push.connect(bind(pull, transport))
    if frames == 1:
        rt.run(
            [
                send_all(push.send, n, lambda i: message(i, size), rt.flags),
                recv_all(pull.recv, n, lambda i: message(i, size), rt.flags),
            ]
        )
        return
    # Only the first frame carries the sequence number; the others are
    # distinct constants, so lost, duplicated or interleaved frames show.
    rest = [bytes([k]) * size for k in range(1, frames)]
    rt.run(
        [
            send_all(push.send_multipart, n, lambda i: [message(i, size), *rest], rt.flags),
            recv_all(pull.recv_multipart, n, lambda i: [message(i, size), *rest], rt.flags),
        ]
    )


@workload("inproc-64B", n=200_000, quick_n=5_000)
def _inproc_64(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "inproc", 64)


@workload("tcp-64B", n=200_000, quick_n=5_000)
def _tcp_64(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "tcp", 64)


@workload("tcp-64KiB", n=20_000, quick_n=500)
def _tcp_64k(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "tcp", 64 * 1024)


@workload("req-rep", n=20_000, quick_n=500, unit="round trip")
def _req_rep(rt: Runtime, n: int) -> None:
    server = rt.socket(zmq.REP)
    client = rt.socket(zmq.REQ)
    client.connect(bind(server, "tcp"))
    rt.run([echo(server, n, rt.flags), ask(client, n, rt.flags)])


@workload("dealers-200", n=30_000, quick_n=2_000, unit="round trip")
def _dealers(rt: Runtime, n: int) -> None:
    clients = 200
    router = rt.socket(zmq.ROUTER)
    # 200 simultaneous connects overflow libzmq's default listen backlog
    # (100); the dropped SYNs are retried after a second, which would then
    # dominate the measurement.
    router.set(zmq.BACKLOG, 1024)
    address = bind(router, "tcp")
    per_client = max(1, n // clients)
    roles = [router_echo(router, clients, per_client, rt.flags)]
    for client in range(clients):
        dealer = rt.socket(zmq.DEALER)
        dealer.connect(address)
        roles.append(dealer_client(dealer, client, per_client, rt.flags))
    rt.run(roles)


@workload("multipart-5", n=60_000, quick_n=3_000, goal=1.0)
def _multipart(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "inproc", 64, frames=5)


@workload(
    "poll-many",
    n=2_000,
    quick_n=300,
    unit="round trip",
    ceiling="plain zmq.Poller, one thread, client and server in turn",
    target="threads",
)
def _poll_many(rt: Runtime, n: int) -> None:
    # 1000 registered sockets that never become ready, and one REP over tcp
    # whose requests come one at a time, so every poll waits and wakes.
    idle_sockets = 1000
    poller = rt.poller()
    for _ in range(idle_sockets):
        idle = rt.socket(zmq.PULL)
        bind(idle, "inproc")
        poller.register(idle, _POLLIN)
    server = rt.socket(zmq.REP)
    client = rt.socket(zmq.REQ)
    client.connect(bind(server, "tcp"))
    poller.register(server, _POLLIN)
    if rt.single_thread:
        rt.run([poll_alone(poller, server, client, n)])
    else:
        rt.run([poll_serve(poller, server, n, rt.flags), ask(client, n, rt.flags)])


@workload(
    "proxy",
    n=20_000,
    quick_n=1_000,
    unit="round trip",
    ceiling="libzmq's C proxy in a thread; clients and workers NOBLOCK in one thread",
    target="zmq.green",
    goal=3.0,
)
def _proxy(rt: Runtime, n: int) -> None:
    # REQ clients (tcp) -> ROUTER/DEALER proxy -> REP workers (inproc). The
    # workers connect before any traffic, so the DEALER's round-robin gives
    # each exactly n / workers requests. The proxy is this implementation's:
    # green_zmq's in a greenlet, zmq.green's device in a greenlet, libzmq's C
    # proxy in a thread for plain pyzmq.
    clients, workers = 10, 4
    frontend = rt.socket(zmq.ROUTER)
    backend = rt.socket(zmq.DEALER)
    address = bind(frontend, "tcp")
    backend_address = bind(backend, "inproc")
    roles: list[Role] = []
    for _ in range(workers):
        worker = rt.socket(zmq.REP)
        worker.connect(backend_address)
        roles.append(echo(worker, n // workers, rt.flags, size=None))
    for _ in range(clients):
        client = rt.socket(zmq.REQ)
        client.connect(address)
        roles.append(ask(client, n // clients, rt.flags))
    if rt.name == "zmq.green":
        import gevent

        device = gevent.spawn(rt.zmq.device, zmq.QUEUE, frontend, backend)
        rt.run(roles)
        device.kill()
        return
    control = rt.socket(zmq.PAIR)
    steer = rt.socket(zmq.PAIR)
    steer.connect(bind(control, "inproc"))
    if rt.name == "green_zmq":
        import gevent

        device = gevent.spawn(rt.zmq.proxy_steerable, frontend, backend, None, control)
        rt.run(roles)
        steer.send(b"TERMINATE")
        device.get()
        return
    thread = threading.Thread(
        target=zmq.proxy_steerable, args=(frontend, backend, None, control), daemon=True
    )
    thread.start()
    rt.run(roles)
    steer.send(b"TERMINATE")
    thread.join()


# How long zmq.green's eventloop gets to serve a client greenlet: it cannot
# (its loop never yields to other greenlets), and this shows it.
_STARVED_AFTER = 2.0


@workload(
    "zmqstream-echo",
    n=20_000,
    quick_n=500,
    unit="round trip",
    ceiling="plain tornado loop, REQ and REP both ZMQStreams, one thread",
    target="threads",
    goal=1.0,
    cannot=(("zmq.green", "starved"),),
)
def _zmqstream_echo(rt: Runtime, n: int) -> None:
    # A REP ZMQStream echoes; a REQ client makes n checked round trips. The
    # "threads" column is pyzmq's ZMQStream on plain tornado/asyncio with
    # the client in a thread; green implementations run the client in a
    # greenlet next to their eventloop.
    server = rt.socket(zmq.REP)
    client = rt.socket(zmq.REQ)
    client.connect(bind(server, "tcp"))
    if rt.single_thread:
        _echo_streams_alone(rt, server, client, n)
        return
    green = rt.name != "threads"
    if green:
        ioloop = importlib.import_module(rt.zmq.__name__ + ".eventloop.ioloop")
        zmqstream = importlib.import_module(rt.zmq.__name__ + ".eventloop.zmqstream")
        loop = ioloop.IOLoop()
        stream = zmqstream.ZMQStream(server, loop)
    else:
        from tornado.ioloop import IOLoop
        from zmq.eventloop.zmqstream import ZMQStream

        loop = IOLoop()
        stream = ZMQStream(server, loop)
    stream.on_recv(stream.send_multipart)
    finished: list[bool] = []

    def client_side() -> None:
        _exhaust(ask(client, n, 0))
        finished.append(True)
        loop.add_callback(loop.stop)

    start = perf_counter()
    if green:
        import gevent

        runner = gevent.spawn(client_side)
        loop.call_later(_STARVED_AFTER if rt.name == "zmq.green" else 3600, loop.stop)
        loop.start()
        if finished:
            runner.get()
    else:
        threading.Thread(target=client_side, daemon=True).start()
        loop.start()
    rt.elapsed += perf_counter() - start
    stream.close(linger=0)
    loop.close()
    if not finished:
        raise RuntimeError(
            f"starved: the client greenlet did not finish in {_STARVED_AFTER:g}s"
            " while the loop ran"
        )


def _echo_streams_alone(rt: Runtime, server: Any, client: Any, n: int) -> None:
    from tornado.ioloop import IOLoop
    from zmq.eventloop.zmqstream import ZMQStream

    loop = IOLoop()
    echo_stream = ZMQStream(server, loop)
    echo_stream.on_recv(echo_stream.send_multipart)
    ask_stream = ZMQStream(client, loop)
    done = [0]

    def on_reply(frames: list[bytes]) -> None:
        _expect(frames, [message(done[0], 64)], f"reply {done[0]}")
        done[0] += 1
        if done[0] == n:
            loop.stop()
        else:
            ask_stream.send(message(done[0], 64))

    ask_stream.on_recv(on_reply)
    ask_stream.send(message(0, 64))
    start = perf_counter()
    loop.start()
    rt.elapsed += perf_counter() - start
    echo_stream.close(linger=0)
    ask_stream.close(linger=0)
    loop.close()


# -- the child: one measurement, one JSON line -------------------------------


def _runtime(impl: str) -> Runtime:
    runtime, module = IMPLEMENTATIONS[impl]
    return runtime(impl, importlib.import_module(module))


def _child(impl: str, name: str, n: int, limit: float) -> int:
    # A hang must end as a failure: dump every thread's stack and exit.
    faulthandler.dump_traceback_later(limit, exit=True)
    result: dict[str, Any] = {"impl": impl, "workload": name, "n": n, "ok": False}
    try:
        rt = _runtime(impl)
        WORKLOADS[name].run(rt, n)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(result), flush=True)
        # Other roles may still be blocked on their sockets: no teardown.
        os._exit(1)
    rt.close()
    result.update(ok=True, seconds=rt.elapsed, rate=n / rt.elapsed)
    if impl == "green_zmq":
        stats = rt.zmq.statistics()
        result.update(
            missed_edges=stats.missed_edges,
            fd_wakeups=stats.fd_wakeups,
            rechecks=stats.rechecks,
            sweeps=stats.sweeps,
        )
    print(json.dumps(result), flush=True)
    return 0


# -- the parent: schedule children, summarise ---------------------------------


def _run_child(impl: str, name: str, n: int, limit: float) -> dict[str, Any]:
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "green_zmq.bench", "--child", impl, name, str(n)]
    command += ["--limit", str(limit)]
    failed: dict[str, Any] = {"impl": impl, "workload": name, "n": n, "ok": False}
    try:
        # The child stops itself at ``limit``; this is the backstop.
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit + 30)
    except subprocess.TimeoutExpired:
        return {**failed, "error": f"no answer within {limit + 30:.0f}s (killed)"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            record: dict[str, Any] = json.loads(line)
            if not record.get("ok"):
                record["stderr"] = proc.stderr[-4000:]
            return record
    if "Timeout (" in proc.stderr:
        error = f"hung (or too slow): still running at the {limit:g}s limit"
    else:
        tail = proc.stderr.strip().splitlines()
        error = f"exit {proc.returncode}: {tail[-1] if tail else 'no output'}"
    return {**failed, "error": error, "stderr": proc.stderr[-4000:]}


def _schedule(impls: list[str], names: list[str], repeat: int) -> list[tuple[int, str, str]]:
    """Interleave: each repeat runs every workload on every implementation in
    turn, the implementations' order rotated so none is always first."""
    jobs: list[tuple[int, str, str]] = []
    for r in range(repeat):
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        for name in names:
            jobs.extend((r, name, impl) for impl in order)
    return jobs


@dataclass
class Row:
    """One workload's summary: median rate per implementation, failures, ratios."""

    workload: Workload
    n: int
    medians: dict[str, float | None]
    rates: dict[str, list[float]]
    failures: dict[str, list[str]]
    missed_edges: int
    # Baseline -> median over the repeats of green_zmq's rate over the
    # baseline's in the same repeat (None: a column failed or is missing).
    ratios: dict[str, float | None]

    def ratio(self, baseline: str) -> float | None:
        return self.ratios.get(baseline)

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "unit": self.workload.unit,
            "n": self.n,
            "median_rate": self.medians,
            "rates": self.rates,
            "failures": self.failures,
            "ratios": {b: self.ratio(b) for b in ("ceiling", "zmq.green", "threads")},
            "ceiling_is": self.workload.ceiling,
            "target_baseline": self.workload.target,
            "missed_edges": self.missed_edges,
        }


def _summarise(
    runs: list[dict[str, Any]], impls: list[str], names: list[str], counts: dict[str, int]
) -> list[Row]:
    rows = []
    for name in names:
        medians: dict[str, float | None] = {}
        rates: dict[str, list[float]] = {}
        failures: dict[str, list[str]] = {}
        for impl in impls:
            mine = [r for r in runs if r["workload"] == name and r["impl"] == impl]
            rates[impl] = [r["rate"] for r in mine if r["ok"]]
            errors = [r.get("error", "?") for r in mine if not r["ok"]]
            if errors:
                failures[impl] = errors
            # One failed repeat spoils the column: a rate that is only
            # sometimes correct is not a rate.
            medians[impl] = None if errors else statistics.median(rates[impl])
        missed = sum(r.get("missed_edges", 0) for r in runs if r["workload"] == name)
        # As for the medians: a column with a failed repeat has no ratio.
        ratios = {
            b: None if b in failures or "green_zmq" in failures else _paired_ratio(runs, name, b)
            for b in impls
            if b != "green_zmq"
        }
        rows.append(Row(WORKLOADS[name], counts[name], medians, rates, failures, missed, ratios))
    return rows


def _paired_ratio(runs: list[dict[str, Any]], name: str, baseline: str) -> float | None:
    """Median over the repeats of green_zmq's rate over ``baseline``'s in that repeat.

    A repeat runs the implementations of a workload back to back, so they
    share the machine's state; this machine swings between a fast and a
    slow state for many seconds at a time, and a ratio of the columns'
    medians would compare a fast run of one with a slow run of the other.
    """
    by_repeat: dict[int, dict[str, float]] = {}
    for r in runs:
        if r["workload"] == name and r["ok"]:
            by_repeat.setdefault(r.get("repeat", 0), {})[r["impl"]] = r["rate"]
    pairs = [
        rates["green_zmq"] / rates[baseline]
        for rates in by_repeat.values()
        if "green_zmq" in rates and rates.get(baseline)
    ]
    return statistics.median(pairs) if pairs else None


def _rate(value: float | None) -> str:
    if value is None:
        return "[bold red]FAIL[/]"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _ratio(value: float | None, flag_below: float | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.2f}"
    if flag_below is not None and value < flag_below:
        return f"[red]{text}[/]"
    return text


def _table(rows: list[Row], impls: list[str], repeat: int) -> Any:
    from rich.table import Table

    table = Table(
        title=f"median rate per second over {repeat} run(s), each in a fresh process",
        caption=(
            "ratios are green_zmq / baseline within each run, median over the runs;"
            " red: below the workload's goal (0.8x unless noted) against its target (*)"
        ),
    )
    table.add_column("workload")
    table.add_column("unit")
    table.add_column("n", justify="right")
    for impl in impls:
        table.add_column(impl, justify="right")
    for baseline in ("ceiling", "zmq.green", "threads"):
        if "green_zmq" in impls and baseline in impls:
            table.add_column(f"gz/{baseline}", justify="right")
    if "green_zmq" in impls:
        table.add_column("missed edges", justify="right")
    for row in rows:
        cells = [row.workload.name, row.workload.unit, f"{row.n:,}"]
        cannot = dict(row.workload.cannot)
        cells += [
            f"[yellow]{cannot[impl]}[/]" if impl in cannot else _rate(row.medians[impl])
            for impl in impls
        ]
        for baseline in ("ceiling", "zmq.green", "threads"):
            if "green_zmq" in impls and baseline in impls:
                target = baseline == row.workload.target
                text = _ratio(row.ratio(baseline), row.workload.goal if target else None)
                cells.append(text + ("*" if target else ""))
        if "green_zmq" in impls:
            cells.append(f"[bold red]{row.missed_edges}[/]" if row.missed_edges else "0")
        table.add_row(*cells)
    return table


def _plot(rows: list[Row], impls: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Left: green_zmq against each workload's own target, its goal marked.
    # Right: green_zmq against zmq.green, on a log scale.
    names = [row.workload.name for row in rows]
    fig, (goals, peer) = plt.subplots(1, 2, figsize=(2 * len(rows) + 4, 5))
    for i, row in enumerate(rows):
        ratio = row.ratio(row.workload.target)
        if ratio is None:
            goals.text(i, 0.05, "n/a", ha="center", rotation=90)
            continue
        met = ratio >= row.workload.goal
        goals.bar(i, ratio, 0.6, color="tab:green" if met else "tab:red")
        goals.hlines(row.workload.goal, i - 0.4, i + 0.4, colors="black", linestyles="--")
        goals.text(i, ratio, f"{ratio:.2f}x", ha="center", va="bottom", fontsize=8)
    goals.set_xticks(range(len(rows)))
    targets = [f"{row.workload.name}\nvs {row.workload.target}" for row in rows]
    goals.set_xticklabels(targets, rotation=30)
    goals.set_ylabel("green_zmq rate / target baseline (dashes: goal)")
    goals.set_title("green_zmq against each workload's target")
    for i, row in enumerate(rows):
        ratio = row.ratio("zmq.green")
        if ratio is None:
            label = dict(row.workload.cannot).get("zmq.green", "FAIL")
            peer.text(i, 1.1, f"zmq.green: {label}", ha="center", va="bottom", rotation=90)
            continue
        peer.bar(i, ratio, 0.6, color="tab:blue")
        peer.text(i, ratio, f"{ratio:.1f}x", ha="center", va="bottom", fontsize=8)
    peer.set_yscale("log")
    peer.set_xlim(-0.6, len(rows) - 0.4)
    peer.axhline(1.0, color="black", linewidth=0.8)
    peer.set_xticks(range(len(rows)))
    peer.set_xticklabels(names, rotation=30)
    peer.set_ylabel("green_zmq rate / zmq.green rate")
    peer.set_title("green_zmq against pyzmq's zmq.green")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pick(given: str | None, known: Iterable[str], what: str) -> list[str]:
    known = list(known)
    if not given:
        return known
    picked = [name.strip() for name in given.split(",") if name.strip()]
    unknown = [name for name in picked if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return picked


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m green_zmq.bench",
        description="Benchmark green_zmq against zmq.green, threads and the one-thread ceiling.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for smoke tests")
    # 5, not 3: on a noisy machine three runs let one slow spell decide a ratio.
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--only", metavar="WORKLOAD[,..]", help=f"of: {', '.join(WORKLOADS)}")
    parser.add_argument("--impl", metavar="IMPL[,..]", help=f"of: {', '.join(IMPLEMENTATIONS)}")
    parser.add_argument("--json", metavar="FILE", help="write every run and the summary here")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of rates / ceiling")
    parser.add_argument(
        "--limit", type=float, default=None, help="seconds before a child counts as hung"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("IMPL", "WORKLOAD", "N"), help=argparse.SUPPRESS
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one measurement); return the exit status."""
    args = _parser().parse_args(argv)
    if args.child:
        impl, name, n = args.child
        return _child(impl, name, int(n), args.limit or 120.0)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    impls = _pick(args.impl, IMPLEMENTATIONS, "implementation")
    names = _pick(args.only, WORKLOADS, "workload")
    limit = args.limit or (30.0 if args.quick else 120.0)
    counts = {w: WORKLOADS[w].quick_n if args.quick else WORKLOADS[w].n for w in names}
    jobs = _schedule(impls, names, max(1, args.repeat))
    console = Console()
    if not console.is_terminal:
        # Rich assumes 80 columns when piped; the table needs more to be read.
        console = Console(width=160)
    runs: list[dict[str, Any]] = []
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("starting", total=len(jobs))
        for r, name, impl in jobs:
            progress.update(task, description=f"{name:<12} {impl:<10} run {r + 1}")
            record = _run_child(impl, name, counts[name], limit)
            record["repeat"] = r
            runs.append(record)
            if not record["ok"]:
                expected = impl in dict(WORKLOADS[name].cannot)
                label = "[yellow]as expected[/]" if expected else "[red]FAIL[/]"
                progress.console.print(f"{label} {name} {impl}: {record['error']}")
            progress.advance(task)

    rows = _summarise(runs, impls, names, counts)
    console.print(_table(rows, impls, max(1, args.repeat)))
    for row in rows:
        if row.workload.ceiling != Workload.ceiling or row.workload.target != "ceiling":
            console.print(
                f"* {row.workload.name}: ceiling column = {row.workload.ceiling};"
                f" target baseline = {row.workload.target}"
            )
    problems = sum(
        len(errors)
        for row in rows
        for impl, errors in row.failures.items()
        if impl not in dict(row.workload.cannot)
    )
    missed = sum(row.missed_edges for row in rows)
    if missed:
        console.print(f"[bold red]green_zmq's sweeper found {missed} missed edge(s)[/]")

    if args.json:
        document = {
            "meta": {
                "python": sys.version.split()[0],
                "pyzmq": zmq.__version__,
                "libzmq": zmq.zmq_version(),
                "cpus": os.cpu_count(),
                "quick": args.quick,
                "repeat": max(1, args.repeat),
                "limit_seconds": limit,
                # Other work on the machine skews rates: this says how busy it was.
                "load_average_after": os.getloadavg(),
            },
            "runs": runs,
            "summary": [row.as_json() for row in rows],
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    if args.plot:
        _plot(rows, impls, args.plot)
    return 1 if problems or missed else 0


if __name__ == "__main__":
    sys.exit(main())
