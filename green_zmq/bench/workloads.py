"""The roles and the workloads: what each benchmark does, under every runtime.

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

The same function then runs under every implementation the workload lists.
zmq.asyncio cannot run a blocking loop, so a workload that it runs also
has each role as a coroutine (``ask_async`` beside ``ask``), making the
same calls and the same checks with ``await``; ``rt.coroutines`` says
which to hand over.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from time import perf_counter, perf_counter_ns
from typing import Any, Callable

import zmq

from green_zmq import _ints

from .measures import core_percent, cpu_seconds, peak_rss_kib, per_messages, percentile
from .runtimes import IMPLEMENTATIONS, AnyRole, Role, Runtime, exhaust

__all__ = [
    "WORKLOADS",
    "Corrupt",
    "Goal",
    "Metric",
    "Workload",
    "bind",
    "message",
    "workload",
]


class Corrupt(AssertionError):
    """A message arrived changed, out of order, or where none was expected."""


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


def _client_message(client: int, seq: int) -> bytes:
    return client.to_bytes(4, "little") + message(seq, 60)


def _follow(frames: list[bytes], clients: int, following: list[int]) -> None:
    """Check a ROUTER's request is the next one its client should send."""
    if len(frames) != 2:
        _expect(len(frames), 2, "frames in a request")
    client = int.from_bytes(frames[1][:4], "little")
    if client >= clients:
        raise Corrupt(f"request from unknown client {client}: {_show(frames[1])}")
    wanted = _client_message(client, following[client])
    if frames[1] != wanted:
        _expect(frames[1], wanted, f"client {client} request {following[client]}")
    following[client] += 1


# What ends a waiter (waiters-N) and a paced client's stream (latency-load).
STOP = b"stop"


def check_takes(takes: Sequence[Sequence[int]], n: int) -> None:
    """Waiters on one socket: every message taken exactly once, each
    waiter's in the order they were sent."""
    seen = bytearray(n)
    for waiter, taken in enumerate(takes):
        for before, after in zip(taken, taken[1:]):
            if after <= before:
                raise Corrupt(f"waiter {waiter} took message {after} after {before}")
        for seq in taken:
            if seq >= n or seen[seq]:
                raise Corrupt(f"message {seq} taken twice or never sent")
            seen[seq] = 1
    if sum(seen) != n:
        raise Corrupt(f"message {seen.index(0)} never taken")


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


async def send_all_async(send: Callable[[Any], Any], n: int, make: Callable[[int], Any]) -> None:
    for i in range(n):
        await send(make(i))


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


async def recv_all_async(recv: Callable[[], Any], n: int, make: Callable[[int], Any]) -> None:
    for i in range(n):
        got = await recv()
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


def echo_until_stop(sock: Any, flags: int) -> Role:
    """REP side of the latency workloads: echo requests, checking their
    order, until STOP (the client decides how many it times)."""
    again = zmq.Again
    for i in count():
        while True:
            try:
                got = sock.recv(flags)
                break
            except again:
                yield
        if got == STOP:
            return
        if got != message(i, 64):
            _expect(got, message(i, 64), f"request {i}")
        while True:
            try:
                sock.send(got, flags)
                break
            except again:
                yield


async def echo_until_stop_async(sock: Any) -> None:
    for i in count():
        got = await sock.recv()
        if got == STOP:
            return
        if got != message(i, 64):
            _expect(got, message(i, 64), f"request {i}")
        await sock.send(got)


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


async def ask_async(
    sock: Any, n: int, make: Callable[[int], bytes] = lambda i: message(i, 64), who: str = ""
) -> None:
    for i in range(n):
        sent = make(i)
        await sock.send(sent)
        got = await sock.recv()
        if got != sent:
            _expect(got, sent, f"{who}reply {i}")


def dealer_client(sock: Any, client: int, n: int, flags: int) -> Role:
    """One DEALER: ``n`` round trips tagged with its number, replies checked."""
    return ask(sock, n, flags, lambda i: _client_message(client, i), f"client {client} ")


def dealer_client_async(sock: Any, client: int, n: int) -> Any:
    return ask_async(sock, n, lambda i: _client_message(client, i), f"client {client} ")


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
        _follow(frames, clients, following)
        while True:
            try:
                sock.send_multipart(frames, flags)
                break
            except again:
                yield


async def router_echo_async(sock: Any, clients: int, per_client: int) -> None:
    following = [0] * clients
    for _ in range(clients * per_client):
        frames = await sock.recv_multipart()
        _follow(frames, clients, following)
        await sock.send_multipart(frames)


def poll_serve(poller: Any, server: Any, n: int, flags: int) -> Role:
    """Serve ``n`` requests on ``server``, waiting for each in ``poller.poll()``."""
    again = zmq.Again
    for i in range(n):
        while True:
            ready = poller.poll()
            if not ready:
                continue
            if len(ready) != 1 or ready[0][0] is not server:
                _expect(ready, [(server, _ints.POLLIN)], f"poll before request {i}")
            try:
                got = server.recv(flags)
                break
            except again:
                yield
        if got != message(i, 64):
            _expect(got, message(i, 64), f"request {i}")
        server.send(got, flags)


async def poll_serve_async(poller: Any, server: Any, n: int) -> None:
    for i in range(n):
        ready = await poller.poll()
        if len(ready) != 1 or ready[0][0] is not server:
            _expect(ready, [(server, _ints.POLLIN)], f"poll before request {i}")
        got = await server.recv()
        if got != message(i, 64):
            _expect(got, message(i, 64), f"request {i}")
        await server.send(got)


def poll_alone(poller: Any, server: Any, client: Any, n: int) -> Role:
    """Client and polled server in turn in one thread, plain blocking calls.

    Nothing can deadlock: each call waits only for a message already sent.
    """
    for i in range(n):
        sent = message(i, 64)
        client.send(sent)
        ready = poller.poll()
        if len(ready) != 1 or ready[0][0] is not server:
            _expect(ready, [(server, _ints.POLLIN)], f"poll before request {i}")
        server.send(server.recv())
        got = client.recv()
        if got != sent:
            _expect(got, sent, f"reply {i}")
        yield


class Phase:
    """The message phase of waiters-N: from the first send to the last message taken.

    Setting up ``count`` waiters (spawning them, each parking once) and
    ending them (a STOP each) is work per waiter, not per message; timing
    only this phase keeps a rate per message at every N.
    """

    def __init__(self, n: int) -> None:
        self.left = n
        self.start = 0.0
        self.end = 0.0

    def seconds(self) -> float:
        if not self.end:
            raise Corrupt(f"{self.left} messages never taken")
        return self.end - self.start


def _taken(got: bytes, taken: list[int], phase: Phase) -> bool:
    """Record a waiter's message; False at STOP."""
    if got == STOP:
        return False
    seq = int.from_bytes(got[:8], "little")
    if got != message(seq, 64):
        _expect(got, message(seq, 64), f"message {seq}")
    taken.append(seq)
    phase.left -= 1
    if not phase.left:
        phase.end = perf_counter()
    return True


def take(recv: Callable[[int], bytes], taken: list[int], phase: Phase, flags: int) -> Role:
    """One of many waiters on a socket: receive until STOP, noting what it took."""
    again = zmq.Again
    while True:
        while True:
            try:
                got = recv(flags)
                break
            except again:
                yield
        if not _taken(got, taken, phase):
            return


async def take_async(recv: Callable[[], Any], taken: list[int], phase: Phase) -> None:
    while _taken(await recv(), taken, phase):
        pass


def feed(role: Role, phase: Phase) -> Role:
    """The sender of waiters-N: the message phase starts at its first send."""
    phase.start = perf_counter()
    yield from role


async def feed_async(role: Coroutine[Any, Any, None], phase: Phase) -> None:
    phase.start = perf_counter()
    await role


# The latency workloads sample for at most this long: under load, on this
# shared machine, 100,000 round trips can take minutes for the slowest
# implementations. The number taken is reported beside the percentiles.
_SAMPLING = 10.0


def timed_ask(
    sock: Any, n: int, warmup: int, samples: list[int], done: list[bool], flags: int
) -> Role:
    """REQ side of the latency workloads: ``warmup`` then ``n`` timed round
    trips (nanoseconds into ``samples``), fewer if they take more than
    ``_SAMPLING`` seconds after the warm-up; then ``done`` is set and STOP sent (see
    :func:`echo_until_stop`)."""
    again = zmq.Again
    clock = perf_counter_ns
    stop = 0
    for i in range(warmup + n):
        sent = message(i, 64)
        start = clock()
        if i == warmup:
            stop = start + int(_SAMPLING * 1e9)
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
        end = clock()
        if got != sent:
            _expect(got, sent, f"reply {i}")
        if i >= warmup:
            samples.append(end - start)
            if end > stop:
                break
    done.append(True)
    while True:
        try:
            sock.send(STOP, flags)
            break
        except again:
            yield


async def timed_ask_async(
    sock: Any, n: int, warmup: int, samples: list[int], done: list[bool]
) -> None:
    clock = perf_counter_ns
    stop = 0
    for i in range(warmup + n):
        sent = message(i, 64)
        start = clock()
        if i == warmup:
            stop = start + int(_SAMPLING * 1e9)
        await sock.send(sent)
        got = await sock.recv()
        end = clock()
        if got != sent:
            _expect(got, sent, f"reply {i}")
        if i >= warmup:
            samples.append(end - start)
            if end > stop:
                break
    done.append(True)
    await sock.send(STOP)


def paced_dealer(
    sock: Any,
    client: int,
    clients: int,
    interval: float,
    done: list[bool],
    sleep: Callable[[float], Any],
) -> Role:
    """Background load: a round trip every ``interval`` until ``done``, then
    STOP; the clients' first trips spread over the interval (blocking runtimes)."""
    sleep(interval * client / clients)
    i = 0
    while not done:
        sent = _client_message(client, i)
        sock.send(sent)
        got = sock.recv()
        if got != sent:
            _expect(got, sent, f"client {client} reply {i}")
        i += 1
        sleep(interval)
    sock.send(STOP)
    return
    yield  # a generator, like every role


async def paced_dealer_async(
    sock: Any,
    client: int,
    clients: int,
    interval: float,
    done: list[bool],
    sleep: Callable[[float], Any],
) -> None:
    await sleep(interval * client / clients)
    i = 0
    while not done:
        sent = _client_message(client, i)
        await sock.send(sent)
        got = await sock.recv()
        if got != sent:
            _expect(got, sent, f"client {client} reply {i}")
        i += 1
        await sleep(interval)
    await sock.send(STOP)


def _routed(frames: list[bytes], clients: int, following: list[int]) -> bool:
    """A request for router_until_stop: checked; False if it is a client's STOP."""
    if len(frames) == 2 and frames[1] == STOP:
        return False
    _follow(frames, clients, following)
    return True


def router_until_stop(sock: Any, clients: int) -> Role:
    """Echo requests until every client has sent STOP (blocking runtimes)."""
    following = [0] * clients
    stopped = 0
    while stopped < clients:
        frames = sock.recv_multipart()
        if _routed(frames, clients, following):
            sock.send_multipart(frames)
        else:
            stopped += 1
    return
    yield  # a generator, like every role


async def router_until_stop_async(sock: Any, clients: int) -> None:
    following = [0] * clients
    stopped = 0
    while stopped < clients:
        frames = await sock.recv_multipart()
        if _routed(frames, clients, following):
            await sock.send_multipart(frames)
        else:
            stopped += 1


# The pacer sleeps at least this long: libev (gevent's loop) and asyncio
# both round shorter timers to about a millisecond, so every implementation
# sends in the same millisecond batches at 20k/s.
_PACE_TICK = 0.001


def paced_send(
    send: Callable[[bytes], Any], n: int, rate: float, sleep: Callable[[float], Any]
) -> Role:
    """Send ``message(i, 64)`` at ``rate`` per second on average (blocking runtimes)."""
    start = perf_counter()
    for i in range(n):
        ahead = start + i / rate - perf_counter()
        if ahead > 0:
            sleep(max(ahead, _PACE_TICK))
        send(message(i, 64))
    return
    yield  # a generator, like every role


async def paced_send_async(
    send: Callable[[bytes], Any], n: int, rate: float, sleep: Callable[[float], Any]
) -> None:
    start = perf_counter()
    for i in range(n):
        ahead = start + i / rate - perf_counter()
        if ahead > 0:
            await sleep(max(ahead, _PACE_TICK))
        await send(message(i, 64))


# How long the idle workload lets its receivers park before it measures
# (at most: a quick run's window is shorter).
_SETTLE = 0.5


def watch_idle(
    pushes: Sequence[Any], window: float, metrics: dict[str, float], sleep: Callable[[float], Any]
) -> Role:
    """Measure the process's CPU over ``window`` seconds while nothing moves,
    then wake every parked receiver with its one message (blocking runtimes)."""
    sleep(min(_SETTLE, window))
    cpu, wall = cpu_seconds(), perf_counter()
    sleep(window)
    metrics["core_percent"] = core_percent(cpu_seconds() - cpu, perf_counter() - wall)
    for push in pushes:
        push.send(message(0, 64))
    return
    yield  # a generator, like every role


async def watch_idle_async(
    pushes: Sequence[Any], window: float, metrics: dict[str, float], sleep: Callable[[float], Any]
) -> None:
    await sleep(min(_SETTLE, window))
    cpu, wall = cpu_seconds(), perf_counter()
    await sleep(window)
    metrics["core_percent"] = core_percent(cpu_seconds() - cpu, perf_counter() - wall)
    for push in pushes:
        await push.send(message(0, 64))


# -- the workload registry ---------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One figure a workload reports: ``key`` in the child's result.

    A ``detail`` is in the JSON and the ``--wide`` table only: it tells how
    the measurement went, not how fast.
    """

    key: str
    unit: str
    higher_is_better: bool = True
    detail: bool = False


@dataclass(frozen=True)
class Goal:
    """The project's target for green_zmq on one metric (docs/benchmarks.md).

    ``against`` is an implementation (green_zmq's figure over its, within
    each repeat), ``"workload:NAME"`` (green_zmq here over green_zmq at
    workload NAME, within each repeat), or None (green_zmq's own figure).
    The goal is met at or above ``bound`` for a metric where higher is
    better, at or below it otherwise; below it for an absolute goal.
    """

    bound: float
    against: str | None = "ceiling"
    metric: str = "rate"

    def met(self, value: float, higher_is_better: bool) -> bool:
        if self.against is None:
            return value < self.bound
        return value >= self.bound if higher_is_better else value <= self.bound

    def describe(self, higher_is_better: bool) -> str:
        if self.against is None:
            return f"<{self.bound:g}"
        sign = ">=" if higher_is_better else "<="
        return f"{sign}{self.bound:g}x {self.against.removeprefix('workload:')}"


CLASSIC = ("green_zmq", "zmq.green", "threads", "ceiling")
WITH_ASYNCIO = (*CLASSIC, "zmq.asyncio")


@dataclass(frozen=True)
class Workload:
    """A named benchmark: ``run(rt, n)`` builds sockets and calls ``rt.run`` once.

    ``n`` counts ``unit``s (messages or round trips); the rate is ``n`` over
    the time spent in ``rt.run``, and ``metrics`` say which figures the
    table shows. ``ceiling`` says what the ceiling column measures when it
    is not the usual NOBLOCK loop. ``impls`` run it (by their kind, see
    :class:`~.runtimes.Implementation`); those in ``not_applicable`` are not
    run and show ``n/a`` with the reason in the notes; those in ``cannot``
    run and fail as expected, the reason (for users: "zmq.green cannot run
    this: REASON") shown instead of their error.
    ``family`` names its ``--only`` group and ``size`` its place in the
    family (the scaling chart's N); ``default`` says whether a run without
    ``--full`` includes it. ``once``: run in the first repeat only, for the
    long measurements whose figure is already a distribution (100k latency
    samples, seconds of CPU), so that a default run stays near 5 minutes.
    """

    name: str
    run: Callable[[Runtime, int], None]
    n: int
    quick_n: int
    unit: str = "msg"
    metrics: tuple[Metric, ...] = ()
    goals: tuple[Goal, ...] = (Goal(0.8),)
    ceiling: str = "one thread, NOBLOCK until EAGAIN"
    impls: tuple[str, ...] = CLASSIC
    not_applicable: tuple[tuple[str, str], ...] = ()
    cannot: tuple[tuple[str, str], ...] = ()
    family: str = ""
    size: int = 0
    default: bool = True
    once: bool = False
    shown_metrics: tuple[Metric, ...] = field(init=False)

    def __post_init__(self) -> None:
        shown = self.metrics or (Metric("rate", f"{self.unit}/s"),)
        object.__setattr__(self, "shown_metrics", shown)

    def goal_for(self, metric: str) -> Goal | None:
        return next((goal for goal in self.goals if goal.metric == metric), None)

    @property
    def group(self) -> str:
        return self.family or self.name

    def runs(self, impl: str) -> bool:
        kind = IMPLEMENTATIONS[impl].kind
        return kind in self.impls and kind not in dict(self.not_applicable)

    def not_run(self, impl: str) -> str:
        """Why ``impl`` is not run here ("" where it is, or the workload is not for it)."""
        return dict(self.not_applicable).get(IMPLEMENTATIONS[impl].kind, "")

    def cannot_run(self, impl: str) -> str:
        """Why ``impl`` fails here as expected ("" where it should not fail)."""
        return dict(self.cannot).get(IMPLEMENTATIONS[impl].kind, "")


WORKLOADS: dict[str, Workload] = {}


def workload(
    name: str, *, n: int, quick_n: int, unit: str = "msg", **details: Any
) -> Callable[[Callable[[Runtime, int], None]], Callable[[Runtime, int], None]]:
    """Register the decorated ``run(rt, n)`` as workload ``name``."""

    def register(run: Callable[[Runtime, int], None]) -> Callable[[Runtime, int], None]:
        WORKLOADS[name] = Workload(name, run, n, quick_n, unit, **details)
        return run

    return register


def _register(name: str, run: Callable[..., None], **details: Any) -> None:
    WORKLOADS[name] = Workload(name, run, **details)


_inproc_names = count()


def bind(sock: Any, transport: str) -> str:
    """Bind ``sock`` to a fresh ``inproc`` name or loopback ``tcp`` port; return the address."""
    if transport == "inproc":
        address = f"inproc://green-zmq-bench-{next(_inproc_names)}"
        sock.bind(address)
        return address
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return f"tcp://127.0.0.1:{port}"


# -- the classic workloads: one size each ------------------------------------


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


# The compiled fast path's targets: green greenlets faster than the ceiling,
# one thread that never waits (docs/benchmarks.md, "Goals").
_AT_LEAST_CEILING = (Goal(1.0),)


@workload("inproc-64B", n=100_000, quick_n=5_000, goals=(Goal(1.5),))
def _inproc_64(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "inproc", 64)


@workload("tcp-64B", n=100_000, quick_n=5_000, goals=(Goal(1.3),))
def _tcp_64(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "tcp", 64)


@workload("tcp-64KiB", n=20_000, quick_n=500)
def _tcp_64k(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "tcp", 64 * 1024)


@workload("req-rep", n=20_000, quick_n=500, unit="round trip", goals=_AT_LEAST_CEILING)
def _req_rep(rt: Runtime, n: int) -> None:
    server = rt.socket(zmq.REP)
    client = rt.socket(zmq.REQ)
    client.connect(bind(server, "tcp"))
    rt.run([echo(server, n, rt.flags), ask(client, n, rt.flags)])


def dealers(rt: Runtime, n: int, clients: int, transport: str) -> None:
    """``clients`` DEALERs, each in a closed loop of ``n / clients`` round
    trips to one echoing ROUTER; notes the peak RSS added per DEALER."""
    rss = peak_rss_kib()
    router = rt.socket(zmq.ROUTER)
    # 200 simultaneous tcp connects overflow libzmq's default listen backlog
    # (100); the dropped SYNs are retried after a second, which would then
    # dominate the measurement.
    router.set(zmq.BACKLOG, 1024)
    address = bind(router, transport)
    per_client = max(1, n // clients)
    socks = []
    for _ in range(clients):
        dealer = rt.socket(zmq.DEALER)
        dealer.connect(address)
        socks.append(dealer)
    roles: list[AnyRole]
    if rt.coroutines:
        roles = [router_echo_async(router, clients, per_client)]
        roles += [dealer_client_async(s, c, per_client) for c, s in enumerate(socks)]
    else:
        roles = [router_echo(router, clients, per_client, rt.flags)]
        roles += [dealer_client(s, c, per_client, rt.flags) for c, s in enumerate(socks)]
    rt.run(roles)
    rt.metrics["rss_kib"] = (peak_rss_kib() - rss) / clients


_register("dealers-200", partial(dealers, clients=200, transport="tcp"), n=30_000,
          quick_n=2_000, unit="round trip", goals=_AT_LEAST_CEILING)  # fmt: skip


@workload("multipart-5", n=30_000, quick_n=3_000, goals=(Goal(1.0),))
def _multipart(rt: Runtime, n: int) -> None:
    push_pull(rt, n, "inproc", 64, frames=5)


@workload(
    "proxy",
    n=20_000,
    quick_n=1_000,
    unit="round trip",
    ceiling="libzmq's C proxy in a thread; clients and workers NOBLOCK in one thread",
    goals=(Goal(1.0, "threads"),),
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
    goals=(Goal(1.0, "threads"),),
    cannot=(("zmq.green", "its eventloop lets no other greenlet run"),),
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
    errors: list[BaseException] = []

    def client_side() -> None:
        # A failed check must stop the loop too, or the run would hang.
        try:
            exhaust(ask(client, n, 0))
            finished.append(True)
        except BaseException as exc:
            errors.append(exc)
        loop.add_callback(loop.stop)

    start = perf_counter()
    if green:
        import gevent

        gevent.spawn(client_side)
        loop.call_later(_STARVED_AFTER if rt.name == "zmq.green" else 3600, loop.stop)
        loop.start()
    else:
        threading.Thread(target=client_side, daemon=True).start()
        loop.start()
    rt.elapsed += perf_counter() - start
    stream.close(linger=0)
    loop.close()
    if errors:
        raise errors[0]
    if not finished:
        raise RuntimeError(
            f"starved: the client greenlet did not finish in {_STARVED_AFTER:g}s while the loop ran"
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


# -- the scaling families: the same work at growing sizes ---------------------
#
# They run zmq.asyncio beside the others. A size is in the default run when
# a goal needs it; ``--full`` runs every size.

_THREADS_MAX = 1000  # more OS threads than this make a thread-per-socket server absurd
_TOO_MANY_THREADS = (("threads", f"more than {_THREADS_MAX:,} OS threads"),)

# 10,000 tcp DEALERs would need 30,000 fds (both ends and a mailbox each),
# more than an unprivileged process may open here (hard limit 20,000), so
# the family runs over inproc: one fd, the mailbox, per socket.
for _clients, _n, _default in ((10, 20_000, False), (100, 20_000, True),
                               (1000, 30_000, True), (10_000, 40_000, False)):  # fmt: skip
    _register(
        f"dealers-{_clients}",
        partial(dealers, clients=_clients, transport="inproc"),
        n=_n,
        quick_n=_clients * 2,
        unit="round trip",
        metrics=(Metric("rate", "round trip/s"), Metric("rss_kib", "KiB RSS/socket", False)),
        impls=WITH_ASYNCIO,
        not_applicable=_TOO_MANY_THREADS if _clients > _THREADS_MAX else (),
        family="dealers",
        size=_clients,
        default=_default,
    )


# Round trips of poll-many-N before the timed ones.
_POLL_WARMUP = 10


def poll_many(rt: Runtime, n: int, idle_sockets: int) -> None:
    """``idle_sockets`` registered sockets that never become ready, and one
    REP over tcp whose requests come one at a time, so every poll waits and wakes."""
    poller = rt.poller()
    for _ in range(idle_sockets):
        idle = rt.socket(zmq.PULL)
        bind(idle, "inproc")
        poller.register(idle, _ints.POLLIN)
    server = rt.socket(zmq.REP)
    client = rt.socket(zmq.REQ)
    client.connect(bind(server, "tcp"))
    poller.register(server, _ints.POLLIN)

    def rounds(count: int) -> None:
        if rt.coroutines:
            rt.run([poll_serve_async(poller, server, count), ask_async(client, count)])
        elif rt.single_thread:
            rt.run([poll_alone(poller, server, client, count)])
        else:
            rt.run([poll_serve(poller, server, count, rt.flags), ask(client, count, rt.flags)])

    # The first polls look at every socket just registered (green_zmq's
    # poller starts with all of them to check): a cost per socket, paid
    # once, not per poll. A few untimed round trips first, for everyone.
    timed_before = rt.elapsed
    rounds(_POLL_WARMUP)
    rt.elapsed = timed_before
    rounds(n)


# Plain pollers rebuild their list of 10,000 sockets at every poll (zmq.green
# at about 20 polls/s): fewer round trips keep that size's run in seconds.
for _idle, _n, _default in ((100, 1_000, False), (1000, 1_000, True), (10_000, 300, True)):
    _register(
        f"poll-many-{_idle}",
        partial(poll_many, idle_sockets=_idle),
        n=_n,
        quick_n=5,
        unit="round trip",
        ceiling="plain zmq.Poller, one thread, client and server in turn",
        goals=(Goal(0.8, "workload:poll-many-1000"),)
        if _idle == 10_000
        else (Goal(0.8, "threads"),),
        impls=WITH_ASYNCIO,
        # Measured here: zmq.asyncio's Poller adds and removes a reader per
        # socket at every poll, 9 polls/s over 1,000 sockets.
        not_applicable=(("zmq.asyncio", "9 polls/s at 1,000: minutes per run"),)
        if _idle > 100
        else (),
        cannot=(("zmq.green", f"a Poller over {_idle:,} sockets (its select() stops at fd 1023)"),)
        if _idle > 1000
        else (),
        family="poll-many",
        size=_idle,
        default=_default,
    )


def waiters(rt: Runtime, n: int, count: int) -> None:
    """``count`` receivers on one PULL fed ``n`` messages by one PUSH (inproc),
    then one STOP each; every message must be taken once, in order per waiter.

    The sender is the last role, so the waiters are all parked when it
    starts (greenlets and tasks start in the order they were made), and
    only the message phase is timed (see :class:`Phase`)."""
    pull = rt.socket(zmq.PULL)
    push = rt.socket(zmq.PUSH)
    push.connect(bind(pull, "inproc"))
    takes: list[list[int]] = [[] for _ in range(count)]
    phase = Phase(n)

    def make(i: int) -> bytes:
        return message(i, 64) if i < n else STOP

    roles: list[AnyRole]
    if rt.coroutines:
        roles = [take_async(pull.recv, taken, phase) for taken in takes]
        roles.append(feed_async(send_all_async(push.send, n + count, make), phase))
    else:
        roles = [take(pull.recv, taken, phase, rt.flags) for taken in takes]
        roles.append(feed(send_all(push.send, n + count, make, rt.flags), phase))
    timed_before = rt.elapsed
    rt.run(roles)
    check_takes(takes, n)
    rt.elapsed = timed_before + phase.seconds()


for _count, _n, _default in ((1, 50_000, True), (100, 50_000, False), (10_000, 10_000, True)):
    _na = []
    if _count > 1:
        # A plain pyzmq socket must not be used from two threads at once.
        _na.append(("threads", "a socket is not thread-safe"))
    if _count == 10_000:
        # Measured here: 120 msg/s, each message walking every waiting future.
        _na.append(("zmq.asyncio", "about 120 msg/s: minutes per run"))
    _register(
        f"waiters-{_count}",
        partial(waiters, count=_count),
        n=_n,
        quick_n=max(200, _count // 5),
        goals=(Goal(0.8, "workload:waiters-1"),) if _count == 10_000 else (),
        impls=("green_zmq", "zmq.green", "threads", "zmq.asyncio"),
        not_applicable=tuple(_na),
        # zmq.green lets one greenlet wait on a socket ("Only one greenlet
        # can be waiting on this event"), unless messages are already there.
        cannot=(("zmq.green", f"{_count:,} greenlets on one socket"),) if _count > 1 else (),
        family="waiters",
        size=_count,
        default=_default,
    )


_LATENCY = (
    Metric("p50_us", "p50 us", False),
    Metric("p99_us", "p99 us", False),
    Metric("p999_us", "p99.9 us", False),
    Metric("samples", "samples", detail=True),
)
# The background load of latency-load: 200 DEALERs, each one round trip
# every 100 ms (2,000/s in all, about a seventh of what REQ/REP does alone
# here; at 5,000/s zmq.asyncio could not keep up on this machine).
_LOAD_CLIENTS = 200
_LOAD_INTERVAL = 0.1


def latency(rt: Runtime, n: int, load: bool) -> None:
    """REQ/REP round trips over tcp, each timed; with ``load``, 200 paced
    DEALERs busy on another socket of the process all along."""
    server = rt.socket(zmq.REP)
    client = rt.socket(zmq.REQ)
    client.connect(bind(server, "tcp"))
    warmup = min(1000, n // 10)
    samples: list[int] = []
    done: list[bool] = []
    roles: list[AnyRole]
    if rt.coroutines:
        roles = [echo_until_stop_async(server), timed_ask_async(client, n, warmup, samples, done)]
    else:
        roles = [
            echo_until_stop(server, rt.flags),
            timed_ask(client, n, warmup, samples, done, rt.flags),
        ]
    if load:
        router = rt.socket(zmq.ROUTER)
        router.set(zmq.BACKLOG, 1024)
        address = bind(router, "tcp")
        socks = []
        for _ in range(_LOAD_CLIENTS):
            dealer = rt.socket(zmq.DEALER)
            dealer.connect(address)
            socks.append(dealer)
        if rt.coroutines:
            roles.append(router_until_stop_async(router, _LOAD_CLIENTS))
            roles += [
                paced_dealer_async(s, c, _LOAD_CLIENTS, _LOAD_INTERVAL, done, rt.sleep)
                for c, s in enumerate(socks)
            ]
        else:
            roles.append(router_until_stop(router, _LOAD_CLIENTS))
            roles += [
                paced_dealer(s, c, _LOAD_CLIENTS, _LOAD_INTERVAL, done, rt.sleep)
                for c, s in enumerate(socks)
            ]
    rt.run(roles)
    for metric, p in zip(_LATENCY, (50, 99, 99.9)):
        rt.metrics[metric.key] = percentile(samples, p) / 1000
    rt.metrics["samples"] = len(samples)


_register("latency-idle", partial(latency, load=False), n=100_000, quick_n=200,
          unit="round trip", metrics=_LATENCY, goals=(Goal(2.0, metric="p999_us"),),
          impls=WITH_ASYNCIO, family="latency", once=True)  # fmt: skip
_register("latency-load", partial(latency, load=True), n=100_000, quick_n=200,
          unit="round trip", metrics=_LATENCY, goals=(Goal(1.0, "threads", metric="p99_us"),),
          impls=WITH_ASYNCIO, not_applicable=(("ceiling", "its load needs sleeping clients"),),
          family="latency", once=True)  # fmt: skip


_PACED = (("ceiling", "pacing needs a sleeping sender"),)


def cpu_at(rt: Runtime, n: int, rate: float) -> None:
    """PUSH to PULL over tcp at ``rate`` messages/s, paced by the sender;
    notes the process's CPU seconds per 100k messages."""
    pull = rt.socket(zmq.PULL)
    push = rt.socket(zmq.PUSH)
    push.connect(bind(pull, "tcp"))
    make = partial(message, size=64)
    cpu = cpu_seconds()
    if rt.coroutines:
        rt.run([paced_send_async(push.send, n, rate, rt.sleep), recv_all_async(pull.recv, n, make)])
    else:
        rt.run([paced_send(push.send, n, rate, rt.sleep), recv_all(pull.recv, n, make, rt.flags)])
    rt.metrics["cpu_per_100k"] = per_messages(cpu_seconds() - cpu, n)


_CPU = (Metric("cpu_per_100k", "CPU s/100k msg", False),)
for _rate, _n in ((1000, 2_000), (20_000, 40_000)):
    _register(f"cpu-{_rate // 1000}k", partial(cpu_at, rate=_rate), n=_n, quick_n=_rate // 10,
              metrics=_CPU, goals=(Goal(1.0, "threads", metric="cpu_per_100k"),),
              impls=WITH_ASYNCIO, not_applicable=_PACED, family="cpu", once=True)  # fmt: skip


def idle(rt: Runtime, n: int, parked: int) -> None:
    """``parked`` receivers, each on its own inproc PULL, parked for ``n``
    milliseconds with no traffic; notes the process's CPU as a share of a core."""
    pulls, pushes = [], []
    for _ in range(parked):
        pull = rt.socket(zmq.PULL)
        push = rt.socket(zmq.PUSH)
        push.connect(bind(pull, "inproc"))
        pulls.append(pull)
        pushes.append(push)
    make = partial(message, size=64)
    roles: list[AnyRole]
    if rt.coroutines:
        roles = [watch_idle_async(pushes, n / 1000, rt.metrics, rt.sleep)]
        roles += [recv_all_async(pull.recv, 1, make) for pull in pulls]
    else:
        roles = [watch_idle(pushes, n / 1000, rt.metrics, rt.sleep)]
        roles += [recv_all(pull.recv, 1, make, rt.flags) for pull in pulls]
    rt.run(roles)


_register("idle-1000", partial(idle, parked=1000), n=5000, quick_n=100, unit="ms",
          metrics=(Metric("core_percent", "% of a core", False),),
          goals=(Goal(1.0, None, metric="core_percent"),), impls=WITH_ASYNCIO,
          not_applicable=(("ceiling", "nothing parks in a NOBLOCK loop"),),
          family="cpu", once=True)  # fmt: skip
