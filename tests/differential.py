"""A differential harness: a scenario run by green_zmq in greenlets, and by plain pyzmq in threads.

A *scenario* is a small world (two connected inproc sockets ``a`` and ``b``
of a topology, a raw socket pair ``r``/``rfd``, two empty pollers ``p`` and
``q``) and a list of *steps* in a tiny language (:class:`Step`; the
constructors below, ``send("a", b"x")``, ``poll("p", 300)``, ... build
them). Each step runs in an *actor* of its own: a greenlet for the green
executor, an OS thread with plain pyzmq for the threads executor. A step
that has to wait (a recv with nothing to receive, a poll with nothing
ready) keeps waiting while the later steps run, so "a greenlet parked in
recv while another does X" is what every scenario is made of.

Notes on the approach
---------------------

The reference is plain pyzmq. But a libzmq socket is not thread-safe: two
threads inside one socket (one blocked in recv, one sending) can corrupt
its command pipe or abort on an assertion. So the threads executor makes
every libzmq call under one lock, and runs a call that may wait as plain
pyzmq's own call without waiting (NOBLOCK, or a poll with timeout 0),
repeated, with the lock released in between, until it succeeds or its
timeout (RCVTIMEO/SNDTIMEO, or the poll's argument) has passed; then one
last attempt, and ``zmq.Again`` or the empty poll result. Waiters on one
socket and direction take turns first come, first served, the order
green_zmq promises; a poll polls the registrations of the moment it was
called, as pyzmq's does. A poll over nothing touches no libzmq socket and
is made for real.

Only inproc is used, so that every change of readiness is caused by a
step, synchronously; and steps start :data:`COMMAND_DELAY` apart, so that
libzmq's throttling of command processing in send does not depend on the
executor's speed; after a close both wait for libzmq's reaper to tell the
peer. After each step the interpreter *settles*: it lets every waiting
actor look at its socket again (threads: one attempt each, one actor at a
time, sends and receives before polls, as green_zmq wakes them; green:
the hub runs until it is idle), repeatedly while somebody finished. So
each step's outcome, and after which step it was done, is deterministic
(test_reference_is_deterministic checks the threads side), and compared
exactly:

    step -> started in an actor -> (a short wait: joined) -> settle
         -> every actor found done is recorded "done by" this step
    all steps -> timed waits joined -> settle -> still waiting: "pending"

A wait that timed out is compared by its result only ("timeout"). The
green executor also checks liveness, with the sweeper off: a timed out
wait lasted at least its timeout less 2 ms (measured from the call, with
time.monotonic) and at most its timeout plus :data:`LATE_SLACK`; and the
thread running the hub did not burn CPU while waiting, nor stay away from
the hub for :data:`HUB_STALL` seconds (a wait that blocks the thread: a
watchdog lets it go, so that the run ends with a report instead of a hang);
and no green object raised when it was collected.

Tracked messages: ``tsend`` sends a tracked zero-copy Frame (``copy=False,
track=True``) and keeps the frame's own tracker, ``twait`` waits on it. A
tracker is done once pyzmq's collector thread has heard that libzmq let go
of the message, some time after the step that made libzmq let go; so each
settling round first waits until the collector has caught up (it sends a
marker message of its own through the same path, and waits for it), and the
step that released the message is the step that finished the wait, in
both executors.

``together(...)`` runs steps back to back in one actor: "a send, then at
once an EVENTS read of a shadow", with no chance for the hub to run
between (that is where edges get lost), or "CPU work, then a timed wait"
(stale libev time).

A step with a wait of at most :data:`SHORT` ms is foreground (joined before
the next step); longer waits (:data:`LONG`, or forever) are background.
The generator keeps the foreground time of a scenario under
:data:`FOREGROUND_BUDGET`, well below :data:`LONG`, so that no background
deadline falls among the steps.

``rawclose()`` closes the raw fd while polls or selects may wait on it. A
plain poll is not woken by that (``poll(2)`` holds the file); it finds the
fd closed when it next looks, and reports ``POLLERR``. The threads executor
looks at every step, so it keeps that result back until the deadline, and
the generator closes the fd only where nothing else can wake a poll of it
in either executor (see :func:`scenarios`). A scenario that closes the raw
fd runs its green half in a child interpreter (:func:`may_crash`): libev
aborted the process there, and a crash must be a divergence, not the end of
the test run.
"""

from __future__ import annotations

import ast
import gc
import os
import socket as stdsocket
import subprocess
import sys
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from time import monotonic, thread_time
from typing import Any, Callable

import gevent
import gevent.select
import zmq as plain_zmq
from gevent.monkey import get_original
from hypothesis import strategies as st

import green_zmq
from helpers import run_python

# libzmq's send processes a socket's pending commands (a peer gone, room
# again after the high-water mark) only if it has not done so for about a
# millisecond (max_command_delay, counted in CPU ticks). Steps start this
# long after the previous one, so that whether a send sees them does not
# depend on how fast the executor is.
COMMAND_DELAY = 0.003
# close() hands the socket to libzmq's reaper thread, which tells the peer
# later. After a step that closes, both executors wait for the other
# socket's command mailbox (its FD) to be signalled, without a libzmq call
# that would process it, and then this long more.
REAPER_DELAY = 0.02
SHORT = 20
LONG = 300
FOREGROUND_BUDGET = 120
BUSY = 60
LATE_SLACK = 0.3
EARLY_SLACK = 0.002
# A green scenario may use this much of its wall time on CPU (besides its
# busy steps) before we call it spinning; plus a fixed allowance for setup.
CPU_SHARE = 0.1
CPU_ALLOWANCE = 0.02
# The green executor's thread may not stay away from the hub this long
# (seconds): no step blocks it that long, but a wait that is not green may.
HUB_STALL = 2.0

_real_sleep = get_original("time", "sleep")
_real_select = get_original("select", "select")

TOPOLOGIES: dict[str, tuple[str, str]] = {
    "pair": ("PAIR", "PAIR"),
    "pushpull": ("PUSH", "PULL"),
    "reqrep": ("REQ", "REP"),
    "dealerrouter": ("DEALER", "ROUTER"),
    "pubsub": ("PUB", "SUB"),
    # A ROUTER with ROUTER_MANDATORY and two DEALER peers (``a`` and ``c``,
    # routing ids A and C) whose pipes hold a few messages: each send's
    # readiness is its own peer's.
    "routerpeers": ("DEALER", "ROUTER"),
}
BASE_ENDPOINT = "inproc://base"
ENDPOINTS = (BASE_ENDPOINT, "inproc://other")
THIRD_ENDPOINT = "inproc://third"
PEER_HWM = 4
RAW = ("r", "rfd")
SPACERS = 16


# -- the step language ---------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One operation: ``op`` names it, ``args`` are its arguments (names, flags, ms)."""

    op: str
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        shown = (str(a) if isinstance(a, Step) else repr(a) for a in self.args)
        return f"{self.op}({', '.join(shown)})"


def send(sock: str, *frames: bytes, flags: int = 0) -> Step:
    """``sock.send(frame, flags)``, or ``send_multipart`` for more than one frame."""
    return Step("send", (sock, frames, int(flags)))


def recv(sock: str, flags: int = 0, multipart: bool = False) -> Step:
    return Step("recv", (sock, int(flags), multipart))


def setopt(sock: str, option: str, value: Any, via: str = "set") -> Step:
    return Step("set", (sock, option, value, via))


def getopt(sock: str, option: str, via: str = "get") -> Step:
    return Step("get", (sock, option, via))


def sockpoll(sock: str, timeout: int | None, events: int = plain_zmq.POLLIN) -> Step:
    return Step("sockpoll", (sock, timeout, int(events)))


def register(poller: str, target: str, events: int = plain_zmq.POLLIN) -> Step:
    return Step("register", (poller, target, int(events)))


def unregister(poller: str, target: str) -> Step:
    return Step("unregister", (poller, target))


def poll(poller: str, timeout: int | None) -> Step:
    """``poller.poll(timeout)``, timeout in ms (None: forever)."""
    return Step("poll", (poller, timeout))


def select(
    rlist: tuple[str, ...], wlist: tuple[str, ...], xlist: tuple[str, ...], timeout: int | None
) -> Step:
    """``zmq.select(...)``; timeout in ms here, given to select in seconds."""
    return Step("select", (tuple(rlist), tuple(wlist), tuple(xlist), timeout))


def shadow(sock: str, name: str, kind: str = "green") -> Step:
    """A second wrapper ``name`` of ``sock``'s libzmq socket.

    ``kind`` "plain" is ``zmq.Socket.shadow(sock)`` (plain pyzmq, also in the
    green executor: it must only make calls that do not wait), "green" is
    ``Socket.shadow(sock.underlying)`` of the executor's own module.
    """
    return Step("shadow", (sock, name, kind))


def endpoint_op(op: str, sock: str, endpoint: str = BASE_ENDPOINT) -> Step:
    assert op in ("bind", "connect", "unbind", "disconnect")
    return Step(op, (sock, endpoint))


def close(sock: str) -> Step:
    return Step("close", (sock,))


def busy(kind: str = "cpu", ms: int = BUSY) -> Step:
    """Keep the actor's thread away from the hub: CPU work, or an unpatched time.sleep."""
    return Step("busy", (kind, ms))


def rawsend() -> Step:
    """Make the raw socket ``r`` readable (one byte from its peer)."""
    return Step("rawsend")


def rawrecv() -> Step:
    return Step("rawrecv")


def rawclose() -> Step:
    """Close the raw fd: ``os.close(rfd)``.

    ``r`` keeps the number, now closed, as an object does when a library
    closes the fd it was handed; a poll of either reports ``POLLERR``.
    """
    return Step("rawclose")


def crash() -> Step:
    """The green executor's process dies here (the harness's own test of its crash report)."""
    return Step("crash")


def tsend(sock: str, tracker: str) -> Step:
    """Send a tracked zero-copy Frame with NOBLOCK; keep the frame's tracker as ``tracker``.

    The frame is dropped at once, so only libzmq holds the message: the
    tracker is done once libzmq lets go of it (read, dropped, or never
    taken because the send failed).
    """
    return Step("tsend", (sock, tracker))


def twait(tracker: str, timeout: int | None) -> Step:
    """``tracker.wait()``, or ``tracker.wait(timeout)`` with the timeout in ms here."""
    return Step("twait", (tracker, timeout))


def flood(sock: str, count: int, peer: bytes | None = None) -> Step:
    """Send up to ``count`` messages with NOBLOCK, stopping at the first Again.

    One frame each, or ``[peer, frame]`` to a ROUTER's ``peer``.
    """
    return Step("flood", (sock, count, peer))


# Calls that plain pyzmq refuses for their arguments, before any waiting.
BAD_CALLS = ("send str", "send int", "recv_into bytes")


def bad(sock: str, call: str) -> Step:
    """A call plain pyzmq refuses at once (:data:`BAD_CALLS`), whoever else waits."""
    assert call in BAD_CALLS
    return Step("bad", (sock, call))


def together(*steps: Step) -> Step:
    """Steps run back to back in one actor, without letting the hub (or others) run between.

    Only the last may wait; its wait is the step's, timed from its own call.
    The result is the tuple of the parts' results.
    """
    return Step("together", steps)


def parts(step: Step) -> tuple[Step, ...]:
    return step.args if step.op == "together" else (step,)


def drain(sock: str) -> Step:
    """Receive with NOBLOCK until Again; the result is how many messages came."""
    return Step("drain", (sock,))


@dataclass(frozen=True)
class Scenario:
    topology: str
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        kinds = "/".join(TOPOLOGIES[self.topology])
        lines = [f"Scenario {self.topology!r} (a={kinds.split('/')[0]}, b={kinds.split('/')[1]}):"]
        lines += [f"  {i}: {step}" for i, step in enumerate(self.steps)]
        return "\n".join(lines)


class Model:
    """What both executors agree on before running a step: which wrapper is of
    which socket, its kind, and the socket's timeouts, hence how long a step may wait."""

    def __init__(self) -> None:
        self.base: dict[str, str] = {"a": "a", "b": "b", "c": "c"}
        self.kind: dict[str, str] = {"a": "green", "b": "green", "c": "green"}
        self.timeouts: dict[str, dict[str, int]] = {
            s: {"RCVTIMEO": -1, "SNDTIMEO": -1} for s in "abc"
        }

    def apply(self, step: Step) -> None:
        if step.op == "together":
            for part in step.args:
                self.apply(part)
        elif step.op == "shadow":
            sock, name, kind = step.args
            self.base[name] = self.base[sock]
            self.kind[name] = kind
        elif step.op == "set" and step.args[1] in ("RCVTIMEO", "SNDTIMEO"):
            sock, option, value, _ = step.args
            self.timeouts[self.base[sock]][option] = value

    def wait_of(self, step: Step) -> int | None:
        """How long the step may wait, in ms: 0 (never), a timeout, or None (forever)."""
        op, args = step.op, step.args
        if op == "together":
            return self.wait_of(args[-1])
        if op in ("send", "recv"):
            flags = args[2] if op == "send" else args[1]
            if flags & plain_zmq.NOBLOCK:
                return 0
            option = "SNDTIMEO" if op == "send" else "RCVTIMEO"
            timeout = self.timeouts[self.base[args[0]]][option]
            return None if timeout < 0 else timeout
        if op == "sockpoll" and not args[2]:
            # No events asked: pyzmq's Socket.poll unregisters the socket
            # again, and an empty poll returns at once.
            return 0
        if op in ("sockpoll", "poll", "select", "twait"):
            timeout = args[1] if op != "select" else args[-1]
            return None if timeout is None or timeout < 0 else timeout
        return 0

    @staticmethod
    def never_waits(step: Step) -> bool:
        return step.op in ("flood", "drain", "bad", "tsend") or (
            step.op in ("send", "recv")
            and step.args[-1 if step.op == "send" else 1] & plain_zmq.NOBLOCK
        )

    def foreground_ms(self, step: Step, wait: int | None) -> int | None:
        """How long the step runs before the next one, or None if it runs in the background."""
        if step.op == "busy":
            return step.args[1]
        if step.op == "together":
            last = self.foreground_ms(step.args[-1], wait)
            if last is None:
                return None
            return last + sum(p.args[1] for p in step.args[:-1] if p.op == "busy")
        return wait if wait is not None and wait <= SHORT else None


# -- performing a step -----------------------------------------------------------

TIMED_OUT_RESULTS: tuple[Any, ...] = ((), 0, ((), (), ()))


def describe_exception(exc: BaseException) -> tuple[Any, ...]:
    errno = getattr(exc, "errno", None)
    return ("raise", type(exc).__name__, None if errno is None else int(errno))


AGAIN = ("raise", "Again", int(plain_zmq.EAGAIN))
NOT_DONE = ("raise", "NotDone", None)
# What a waiting call that gives up returns or raises.
GAVE_UP = (AGAIN, NOT_DONE, *TIMED_OUT_RESULTS)

# The payload of tracked messages: above pyzmq's copy threshold, so that a
# Frame of it is zero-copy and its tracker waits for libzmq.
TRACKED = b"t" * (2 * plain_zmq.COPY_THRESHOLD)


class World:
    """The objects of one executor's scenario, by name, and how to run a step on them."""

    def __init__(self, z: Any, topology: str) -> None:
        self.z = z
        self.nap = gevent.sleep if z is green_zmq else _real_sleep
        self.select = gevent.select.select if z is green_zmq else _real_select
        self.ctx = z.Context()
        kind_a, kind_b = TOPOLOGIES[topology]
        a = self.ctx.socket(getattr(z, kind_a))
        b = self.ctx.socket(getattr(z, kind_b))
        peers = [a]
        if topology == "routerpeers":
            c = self.ctx.socket(z.DEALER)
            c.routing_id = b"C"
            peers.append(c)
            b.router_mandatory = 1
            b.sndhwm = PEER_HWM
            for peer in peers:
                peer.rcvhwm = PEER_HWM
        for s in (b, *peers):
            s.linger = 0
        if kind_a == "DEALER":
            # ROUTER's first frame must be the same in both executors.
            a.routing_id = b"A"
        if kind_b == "SUB":
            b.subscribe(b"")
        a.bind(BASE_ENDPOINT)
        b.connect(BASE_ENDPOINT)
        if len(peers) > 1:
            peers[1].bind(THIRD_ENDPOINT)
            b.connect(THIRD_ENDPOINT)
        # Process the connection's commands on every side now (PUB learns
        # of the subscription, a ROUTER of its peers' routing ids), so that
        # the first step finds it done.
        for s in (*peers, b):
            s.get(z.EVENTS)
        # Read now: FD is the one option whose read processes no commands,
        # but the harness should make no libzmq calls between steps.
        self.fds = {"a": a.FD, "b": b.FD}
        if len(peers) > 1:
            self.fds["c"] = peers[1].FD
        # Numbers below the raw socket's are left free: a file opened later
        # takes the lowest free number, and green_zmq opens some (a poller's
        # epoll set), plain pyzmq none; after rawclose, r's number must stay
        # closed in both.
        spacers = [os.open(os.devnull, os.O_RDONLY) for _ in range(SPACERS)]
        raw, self.raw_peer = stdsocket.socketpair()
        for spacer in spacers:
            os.close(spacer)
        raw.setblocking(False)
        self.raw_peer.setblocking(False)
        # How many times the raw fd was closed (a poll is told only when it
        # next looks, see ThreadExecutor._emulate).
        self.raw_closes = 0
        self.objects: dict[str, Any] = {
            "a": a,
            "b": b,
            "r": raw,
            "rfd": raw.fileno(),
            "p": z.Poller(),
            "q": z.Poller(),
        }
        if len(peers) > 1:
            self.objects["c"] = peers[1]
        # tsend's trackers, by name.
        self.trackers: dict[str, Any] = {}

    def await_reaper(self) -> None:
        """After a close: until the peer has heard of it (see REAPER_DELAY)."""
        fds = [fd for name, fd in self.fds.items() if not self.objects[name].closed]
        if fds:
            self.select(fds, [], [], 0.5)
        self.nap(REAPER_DELAY)

    def flush_collector(self) -> None:
        """Until pyzmq's collector has heard of every message libzmq let go of so far.

        libzmq tells the collector thread through one inproc pipe, in order;
        so once a marker message of our own, let go of now, has reached it,
        every earlier one has too. A plain tracker's wait blocks the thread,
        the hub's too: nothing else may run meanwhile.
        """
        # (A list first: a thread executor's actor may be adding one.)
        if all(tracker.done for tracker in list(self.trackers.values())):
            return
        marker = plain_zmq.Frame(TRACKED, track=True, copy=False)
        tracker = marker.tracker
        del marker
        tracker.wait(5)

    def sockets(self) -> list[Any]:
        return [v for v in self.objects.values() if isinstance(v, plain_zmq.Socket)]

    def name_of(self, obj: Any) -> str:
        for name, value in self.objects.items():
            if value is obj or (type(obj) is int and type(value) is int and obj == value):
                return name
        return repr(obj)

    def describe(self, result: Any) -> Any:
        """A result both executors can compare: names for objects, ints for flags."""
        if isinstance(result, bytes) and len(result) > 100:
            return ("bytes", len(result))
        if isinstance(result, (bytes, type(None), str)):
            return result
        if isinstance(result, int):
            return int(result)
        if isinstance(result, list):
            if result and isinstance(result[0], tuple):  # a poll's [(obj, events)]
                return tuple((self.name_of(o), int(e)) for o, e in result)
            return tuple(self.describe(r) for r in result)
        if isinstance(result, tuple):  # select's three lists, in set order
            return tuple(tuple(sorted(self.name_of(o) for o in lst)) for lst in result)
        return repr(result)

    def only_raw(self, result: Any) -> bool:
        """Does a poll's or select's result name the raw fd alone?"""
        if isinstance(result, list):
            return all(self.name_of(o) in RAW for o, _ in result)
        if isinstance(result, tuple):
            return all(self.name_of(o) in RAW for lst in result for o in lst)
        return False

    def touches_zmq(self, step: Step) -> bool:
        """Does the step call into a libzmq socket (so it must hold the lock)?"""
        o, op, args = self.objects, step.op, step.args
        if op in ("busy", "rawsend", "rawrecv", "twait", "rawclose", "crash"):
            return False
        if op == "poll":
            return any(isinstance(s, plain_zmq.Socket) for s, _ in o[args[0]].sockets)
        if op == "select":
            return any(isinstance(o[n], plain_zmq.Socket) for n in args[0] + args[1] + args[2])
        return op not in ("register", "unregister")

    def touches_anything(self, step: Step) -> bool:
        """Does the step wait on anything at all? (A poll over nothing does not.)"""
        o, op, args = self.objects, step.op, step.args
        if op == "busy":
            return False
        if op == "poll":
            return bool(o[args[0]].sockets)
        if op == "select":
            return bool(args[0] + args[1] + args[2])
        return True

    def queue_key(self, step: Step) -> tuple[int, str] | None:
        """The (libzmq socket, direction) whose waiters the step queues with, if any."""
        if step.op not in ("send", "recv"):
            return None
        sock = self.objects[step.args[0]]
        if step.op == "send" and sock.type == plain_zmq.ROUTER:
            # Each send waits for its own peer, as each thread's call is its own.
            return None
        return (sock.underlying, step.op)

    def perform(self, step: Step, zero: bool) -> Any:
        """Run the step; with ``zero``, without waiting (NOBLOCK, or timeout 0)."""
        z, o, op, args = self.z, self.objects, step.op, step.args
        if op == "send":
            name, frames, flags = args
            if zero:
                flags |= plain_zmq.NOBLOCK
            if len(frames) == 1:
                return o[name].send(frames[0], flags)
            return o[name].send_multipart(list(frames), flags)
        if op == "recv":
            name, flags, multipart = args
            if zero:
                flags |= plain_zmq.NOBLOCK
            if multipart:
                return o[name].recv_multipart(flags)
            return o[name].recv(flags)
        if op == "set":
            name, option, value, via = args
            return getattr(o[name], via)(getattr(z, option), value)
        if op == "get":
            name, option, via = args
            return getattr(o[name], via)(getattr(z, option))
        if op == "sockpoll":
            name, timeout, events = args
            return o[name].poll(0 if zero else timeout, events)
        if op == "register":
            poller, target, events = args
            return o[poller].register(o[target], events)
        if op == "unregister":
            poller, target = args
            return o[poller].unregister(o[target])
        if op == "poll":
            poller, timeout = args
            return o[poller].poll(0 if zero else timeout)
        if op == "select":
            rlist, wlist, xlist, timeout = args
            seconds = 0 if zero else None if timeout is None else timeout / 1000
            return z.select(
                [o[n] for n in rlist], [o[n] for n in wlist], [o[n] for n in xlist], seconds
            )
        if op == "shadow":
            name, new, kind = args
            if kind == "plain":
                o[new] = plain_zmq.Socket.shadow(o[name])
            else:
                o[new] = z.Socket.shadow(o[name].underlying)
            return None
        if op in ("bind", "connect", "unbind", "disconnect"):
            name, endpoint = args
            return getattr(o[name], op)(endpoint)
        if op == "close":
            return o[args[0]].close()
        if op == "busy":
            kind, ms = args
            # First a short wait, so that the actor runs the busy work as
            # after any wait: resumed by the hub, from a timer (a greenlet
            # fresh from spawn runs in the hub's callbacks, which refresh
            # libev's cached time when they take long).
            self.nap(0.001)
            if kind == "sleep":
                _real_sleep(ms / 1000)
            else:
                until = monotonic() + ms / 1000
                while monotonic() < until:
                    pass
            return None
        if op == "rawsend":
            return self.raw_peer.send(b"x")
        if op == "rawrecv":
            return o["r"].recv(16)
        if op == "tsend":
            name, tracker = args
            frame = z.Frame(TRACKED, track=True)
            self.trackers[tracker] = frame.tracker
            o[name].send(frame, plain_zmq.NOBLOCK, copy=False, track=True)
            return None
        if op == "twait":
            tracker, timeout = args
            if zero:
                timeout = 0
            if timeout is None:
                self.trackers[tracker].wait()
            else:
                self.trackers[tracker].wait(timeout / 1000)
            return None
        if op == "rawclose":
            self.raw_closes += 1
            return os.close(o["rfd"])
        if op == "crash":
            if z is green_zmq:
                os.abort()
            return None
        if op == "flood":
            name, count, peer = args
            for _ in range(count):
                try:
                    if peer is None:
                        o[name].send(b"flood", plain_zmq.NOBLOCK)
                    else:
                        o[name].send_multipart([peer, b"flood"], plain_zmq.NOBLOCK)
                except plain_zmq.Again:
                    break
            return None
        if op == "bad":
            name, call = args
            if call == "send str":
                return o[name].send("text")
            if call == "send int":
                return o[name].send(5)
            return o[name].recv_into(b"read-only")
        if op == "drain":
            received = 0
            while True:
                try:
                    o[args[0]].recv(plain_zmq.NOBLOCK)
                except plain_zmq.Again:
                    return received
                received += 1
        raise ValueError(f"unknown step {step}")

    def close_all(self) -> None:
        # Closing a shadow closes the libzmq socket: only the originals.
        for name in "abc":
            if name in self.objects and not self.objects[name].closed:
                self.objects[name].close(linger=0)
        if self.raw_closes:
            # Its number is closed already, and may belong to another file.
            self.objects["r"].detach()
        else:
            self.objects["r"].close()
        self.raw_peer.close()


# -- records and the two executors ---------------------------------------------------


@dataclass
class Record:
    """What happened to one step in one executor."""

    step: Step
    wait: int | None
    result: Any = None
    done_by: Any = None  # the step index after which it was seen done, "end", or "pending"
    started: float = 0.0
    elapsed: float | None = None

    def final_result(self) -> Any:
        """The result of the step, or of its last part for ``together``."""
        if self.step.op == "together" and isinstance(self.result, tuple):
            return self.result[-1]
        return self.result

    def gave_up(self) -> bool:
        """Did the wait end with nothing (zmq.Again, or an empty poll)?"""
        return (
            self.wait != 0
            and self.wait is not None
            and self.final_result() in GAVE_UP
        )

    def timed_out(self) -> bool:
        """Gave up after waiting out (about) its timeout, not at once."""
        return self.gave_up() and self.elapsed is not None and self.elapsed >= self.wait / 2000

    def key(self) -> tuple[Any, Any]:
        return (self.result, "timeout" if self.timed_out() else self.done_by)


class _Actor:
    def __init__(self, record: Record) -> None:
        self.record = record
        self.done = False
        self.passes = 0  # attempts that found nothing (threads)
        self.turns = 0  # attempts the interpreter has asked for (threads)
        self.cancelled = False


class _HubWatch:
    """Notices the green executor's thread blocked for good (see HUB_STALL).

    A greenlet beats; an OS thread watches the beats. A wait that blocks the
    thread instead of the greenlet (a tracker's, when it is not green) would
    otherwise hang the whole run with nothing to report: after HUB_STALL
    seconds without a beat the watcher records it, and lets the thread go
    by setting the events that the scenario's trackers wait on.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.stalls: list[str] = []
        self.beats = 0
        self._stopped = threading.Event()
        self._beating = gevent.spawn(self._beat)
        self._watching = threading.Thread(target=self._watch, daemon=True)
        self._watching.start()

    def _beat(self) -> None:
        while True:
            self.beats += 1
            gevent.sleep(HUB_STALL / 20)

    def _watch(self) -> None:
        seen, since = self.beats, monotonic()
        while not self._stopped.wait(HUB_STALL / 20):
            if self.beats != seen:
                seen, since = self.beats, monotonic()
            elif monotonic() - since >= HUB_STALL:
                self.stalls.append(f"green blocked its thread for {HUB_STALL} s")
                for tracker in list(self.world.trackers.values()):
                    for event in tracker.events:
                        event.set()
                since = monotonic()

    def stop(self) -> None:
        self._stopped.set()
        self._beating.kill()
        self._watching.join()


class GreenExecutor:
    """Each step in a greenlet of this thread, against green_zmq, with the sweeper off."""

    def __init__(self, topology: str) -> None:
        self.world = World(green_zmq, topology)
        self.actors: list[tuple[_Actor, Any]] = []
        self.busy_cpu = 0.0
        self.watch = _HubWatch(self.world)

    def start(self, record: Record) -> None:
        actor = _Actor(record)
        self.actors.append((actor, gevent.spawn(self._run, actor)))

    def _run(self, actor: _Actor) -> None:
        record = actor.record
        results = []
        for part in parts(record.step):
            cpu = thread_time()
            record.started = monotonic()
            try:
                result = self.world.describe(self.world.perform(part, zero=False))
            except gevent.GreenletExit:
                raise
            except Exception as exc:
                result = describe_exception(exc)
            results.append(result)
            if part.op == "busy" or Model.never_waits(part):
                # The actor's own work, not the hub's waiting.
                self.busy_cpu += thread_time() - cpu
        record.elapsed = monotonic() - record.started
        record.result = tuple(results) if record.step.op == "together" else results[0]
        actor.done = True

    def join(self, actor_index: int, seconds: float) -> None:
        self.actors[actor_index][1].join(seconds)

    def settle(self) -> None:
        # Each round lets the hub run until it is idle: FD events, wakeups
        # and the greenlets they wake. Again while somebody finished, since
        # that may ready somebody else.
        while True:
            before = sum(a.done for a, _ in self.actors)
            self.world.flush_collector()
            for _ in range(3):
                gevent.idle()
            if sum(a.done for a, _ in self.actors) == before:
                return

    def stop(self) -> None:
        self.watch.stop()
        gevent.killall([g for _, g in self.actors], timeout=5)
        self.world.close_all()
        self.world.ctx.destroy(linger=0)


class ThreadExecutor:
    """Each step in an OS thread of its own, against plain pyzmq, under one libzmq lock."""

    def __init__(self, topology: str) -> None:
        self.world = World(plain_zmq, topology)
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.queues: dict[tuple[int, str], deque[_Actor]] = defaultdict(deque)
        self.actors: list[tuple[_Actor, threading.Thread]] = []

    def start(self, record: Record) -> None:
        actor = _Actor(record)
        thread = threading.Thread(target=self._run, args=(actor,), daemon=True)
        self.actors.append((actor, thread))
        thread.start()
        if record.wait != 0 and not self.world.touches_anything(parts(record.step)[-1]):
            # Made for real (it cannot be repeated): wait for it like a
            # foreground step, so that it is recorded by this step if it
            # returns at once.
            thread.join(2 + (record.wait or 0) / 1000)

    def _run(self, actor: _Actor) -> None:
        record, world = actor.record, self.world
        steps = parts(record.step)
        results = []
        for part in steps:
            record.started = monotonic()
            try:
                if part is not steps[-1] or record.wait == 0 or not world.touches_anything(part):
                    if world.touches_zmq(part):
                        with self.lock:
                            result = world.perform(part, zero=False)
                    else:
                        result = world.perform(part, zero=False)
                    result = world.describe(result)
                else:
                    result = self._emulate(actor, part)
            except Exception as exc:
                result = describe_exception(exc)
            results.append(result)
        with self.cond:
            if actor.cancelled:
                return
            record.result = tuple(results) if record.step.op == "together" else results[0]
            record.elapsed = monotonic() - record.started
            actor.done = True
            self.cond.notify_all()

    def _emulate(self, actor: _Actor, step: Step) -> Any:
        """A waiting call as repeated calls that do not wait, first come first served."""
        record, world = actor.record, self.world
        deadline = None if record.wait is None else record.started + record.wait / 1000
        key = world.queue_key(step)
        queue = self.queues[key] if key is not None else None
        attempt = partial(world.perform, step, True)
        if step.op == "poll":
            # pyzmq's poll hands libzmq the registrations of the moment it
            # is called; later ones are not polled by that call.
            attempt = partial(plain_zmq.zmq_poll, list(world.objects[step.args[0]].sockets), 0)
        # Closes of the raw fd before the call (see only_raw below).
        closes = world.raw_closes if step.op in ("poll", "select") else None
        with self.cond:
            if queue is not None:
                queue.append(actor)
        try:
            while True:
                expired = deadline is not None and monotonic() >= deadline
                if queue is None or queue[0] is actor:
                    with self.lock:
                        try:
                            result = attempt()
                        except plain_zmq.Again:
                            result = AGAIN
                        except plain_zmq.NotDone:
                            result = NOT_DONE
                    gave_up = result is AGAIN or result is NOT_DONE
                    if not gave_up and result not in ([], 0, ([], [], [])):
                        # A poll(2) is not woken by the close of an fd it
                        # waits on (it holds the file): it finds the fd
                        # closed when it next looks, at its deadline here
                        # (scenarios() keeps other wakeups away).
                        closed_since = closes is not None and closes != world.raw_closes
                        if expired or not (closed_since and world.only_raw(result)):
                            return world.describe(result)
                    elif expired:
                        return result if gave_up else world.describe(result)
                elif expired:
                    return AGAIN
                with self.cond:
                    actor.passes += 1
                    self.cond.notify_all()
                    # The next attempt when the interpreter asks for it, or
                    # the last one at the deadline.
                    asked = actor.passes
                    while not actor.cancelled and actor.turns < asked:
                        left = None if deadline is None else deadline - monotonic()
                        if left is not None and left <= 0:
                            break
                        self.cond.wait(left)
                    if actor.cancelled:
                        return None
        finally:
            if queue is not None:
                with self.cond:
                    queue.remove(actor)

    def join(self, actor_index: int, seconds: float) -> None:
        self.actors[actor_index][1].join(seconds)

    def settle(self) -> None:
        # Rounds in which every waiting actor attempts once more, one at a
        # time, in a fixed order: sends and receives first, then polls (as
        # green_zmq wakes them), each kind in the order they started. A
        # race between a recv and a poll of the same message has either
        # outcome in plain pyzmq; this order gives the one green_zmq gives,
        # the same every time. Rounds go on while somebody finished.
        with self.cond:
            for actor, _ in self.actors:  # the first attempt, made by itself
                self._wait(lambda a=actor: a.done or a.passes > 0)
            while True:
                self.world.flush_collector()
                pending = [a for a, _ in self.actors if not a.done]
                pending.sort(key=lambda a: parts(a.record.step)[-1].op not in ("send", "recv"))
                for actor in pending:
                    if actor.done:
                        continue
                    before = actor.passes
                    actor.turns = before
                    self.cond.notify_all()
                    self._wait(lambda a=actor, n=before: a.done or a.passes > n)
                if all(not a.done for a in pending):
                    return

    def _wait(self, predicate: Callable[[], bool]) -> None:
        if not self.cond.wait_for(predicate, timeout=10):
            raise RuntimeError("a thread of the threads executor did not answer (harness bug)")

    def stop(self) -> None:
        with self.cond:
            for actor, _ in self.actors:
                actor.cancelled = True
            self.cond.notify_all()
        for _, thread in self.actors:
            thread.join(5)
        self.world.close_all()
        self.world.ctx.destroy(linger=0)


# -- the interpreter and the comparator ----------------------------------------------


def interpret(executor: Any, scenario: Scenario) -> list[Record]:
    model = Model()
    records: list[Record] = []
    for index, step in enumerate(scenario.steps):
        executor.world.nap(COMMAND_DELAY)
        record = Record(step, model.wait_of(step))
        records.append(record)
        executor.start(record)
        ahead = model.foreground_ms(step, record.wait)
        if ahead is not None:
            executor.join(index, ahead / 1000 + LATE_SLACK + 1)
        if any(part.op == "close" for part in parts(step)):
            executor.world.await_reaper()
        executor.settle()
        model.apply(step)
        for (actor, _), rec in zip(executor.actors, records):
            if actor.done and rec.done_by is None:
                rec.done_by = index
    # The timed waits still running end by their deadlines.
    for index, rec in enumerate(records):
        if rec.done_by is None and rec.wait is not None:
            remaining = rec.started + rec.wait / 1000 + LATE_SLACK + 1 - monotonic()
            executor.join(index, max(remaining, 0))
    executor.settle()
    for (actor, _), rec in zip(executor.actors, records):
        if rec.done_by is None:
            rec.done_by = "end" if actor.done else "pending"
            if not actor.done:
                rec.result = None
    return records


class Divergence(AssertionError):
    """green_zmq did not do what plain pyzmq did (the report says where)."""


@dataclass
class Comparison:
    scenario: Scenario
    green: list[Record]
    plain: list[Record]
    problems: list[str] = field(default_factory=list)
    green_cpu: float = 0.0
    green_wall: float = 0.0

    def report(self) -> str:
        lines = [str(self.scenario), "divergences:"]
        lines.append(
            f"  (green: {self.green_cpu * 1000:.0f} ms CPU in {self.green_wall * 1000:.0f} ms)"
        )
        lines += [f"  {p}" for p in self.problems]
        lines.append("step by step (green | plain):")
        for i, (g, p) in enumerate(zip(self.green, self.plain)):
            mark = "!!" if g.key() != p.key() else "  "
            lines.append(f" {mark}{i}: {g.step}: {_show(g)} | {_show(p)}")
        return "\n".join(lines)

    def assert_same(self) -> None:
        if self.problems:
            raise Divergence(self.report())


def _show(r: Record) -> str:
    took = "" if r.elapsed is None else f" in {r.elapsed * 1000:.0f} ms"
    by = "timeout" if r.timed_out() else r.done_by
    return f"{r.result!r} by {by}{took}"


def reference(scenario: Scenario) -> list[Record]:
    """The scenario's records in the threads executor alone."""
    threads = ThreadExecutor(scenario.topology)
    try:
        return interpret(threads, scenario)
    finally:
        threads.stop()


@dataclass
class GreenRun:
    """What the green executor did: its records, its CPU and wall time, and what else went wrong."""

    records: list[Record]
    cpu: float = 0.0
    wall: float = 0.0
    # Green objects that raised when collected (plain pyzmq's raise nothing).
    unraisable: list[str] = field(default_factory=list)
    # Times a green wait blocked the thread (the watchdog had to let it go).
    stalls: list[str] = field(default_factory=list)
    # How its process died, if it did.
    crash: str | None = None


def run_green(scenario: Scenario) -> GreenRun:
    """The scenario in the green executor, in this process, with the sweeper off."""
    saved = green_zmq.set_sweep_interval(0)
    unraisable: list[str] = []
    saved_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(
        f"{u.exc_type.__name__}: {u.exc_value!r} in {u.object!r}"
    )
    # What the previous scenario left to the hub (its context's term in the
    # threadpool, the callbacks of killed greenlets) runs first, not among
    # our steps.
    gevent.sleep(0.02)
    green = GreenExecutor(scenario.topology)
    try:
        cpu, wall = thread_time(), monotonic()
        records = interpret(green, scenario)
        cpu, wall = thread_time() - cpu - green.busy_cpu, monotonic() - wall
    finally:
        green.stop()
        stalls = green.watch.stalls
        green_zmq.set_sweep_interval(saved)
        del green
        gc.collect()
        sys.unraisablehook = saved_hook
    return GreenRun(records, cpu, wall, unraisable, stalls)


def may_crash(scenario: Scenario) -> bool:
    """Does the scenario close an fd under the green executor's watchers (or crash on purpose)?

    libev aborted the process there once: such a scenario runs its green
    half in a child interpreter, so that a crash is a divergence, not the
    end of the test run.
    """
    return any(part.op in ("rawclose", "crash") for step in scenario.steps for part in parts(step))


# Run as ``python -c CHILD SCENARIO`` in this directory; the last line it
# prints is the green run, for _green_in_child.
_CHILD = """
import sys
from differential import Scenario, Step, child_run
print(child_run(eval(sys.argv[1])))
"""
_CHILD_MARK = "green run: "


def child_run(scenario: Scenario) -> str:
    """The line that a child interpreter prints for its green run of ``scenario``."""
    run = run_green(scenario)
    records = [(r.result, r.done_by, r.elapsed) for r in run.records]
    return _CHILD_MARK + repr((records, run.cpu, run.wall, run.unraisable, run.stalls))


def _green_in_child(scenario: Scenario) -> GreenRun:
    try:
        child = run_python(_CHILD, repr(scenario), cwd=Path(__file__).parent, check=False)
    except subprocess.TimeoutExpired:
        return _crashed(scenario, "its process hung")
    lines = [line for line in child.stdout.splitlines() if line.startswith(_CHILD_MARK)]
    if child.returncode != 0 or not lines:
        last = "\n    ".join(child.stderr.strip().splitlines()[-5:])
        return _crashed(scenario, f"its process died, exit status {child.returncode}:\n    {last}")
    records, cpu, wall, unraisable, stalls = ast.literal_eval(lines[-1][len(_CHILD_MARK) :])
    model = Model()
    run = GreenRun([], cpu, wall, unraisable, stalls)
    for step, (result, done_by, elapsed) in zip(scenario.steps, records):
        run.records.append(Record(step, model.wait_of(step), result, done_by, elapsed=elapsed))
        model.apply(step)
    return run


def _crashed(scenario: Scenario, how: str) -> GreenRun:
    model = Model()
    run = GreenRun([], crash=how)
    for step in scenario.steps:
        run.records.append(Record(step, model.wait_of(step), "crashed", "crash"))
        model.apply(step)
    return run


def run(scenario: Scenario, isolated: bool | None = None) -> Comparison:
    """Run the scenario in both executors and compare them; see :meth:`Comparison.assert_same`.

    ``isolated``: the green executor runs in a child interpreter (by default
    where :func:`may_crash` says so).
    """
    if isolated is None:
        isolated = may_crash(scenario)
    green = _green_in_child(scenario) if isolated else run_green(scenario)
    plain_records = reference(scenario)
    cpu, wall = green.cpu, green.wall
    comparison = Comparison(scenario, green.records, plain_records, green_cpu=cpu, green_wall=wall)
    problems = comparison.problems
    if green.crash is not None:
        problems.append(f"the green executor crashed: {green.crash}")
        return comparison
    for i, (g, p) in enumerate(zip(green.records, plain_records)):
        if g.key() != p.key():
            problems.append(f"step {i} {g.step}: green {_show(g)}, plain {_show(p)}")
        elif g.gave_up() and p.timed_out() and g.elapsed is not None and g.wait:
            if g.elapsed < g.wait / 1000 - EARLY_SLACK:
                problems.append(f"step {i} {g.step}: green timed out early, {_show(g)}")
            if g.elapsed > g.wait / 1000 + LATE_SLACK:
                problems.append(f"step {i} {g.step}: green timed out late, {_show(g)}")
    problems.extend(f"green raised when collected: {u}" for u in green.unraisable)
    problems.extend(green.stalls)
    if cpu > CPU_ALLOWANCE + CPU_SHARE * wall:
        problems.append(f"green used {cpu * 1000:.0f} ms of CPU in {wall * 1000:.0f} ms (spinning)")
    return comparison


# -- generated scenarios ---------------------------------------------------------------

_FLAGS = (0, plain_zmq.NOBLOCK, plain_zmq.SNDMORE, plain_zmq.NOBLOCK | plain_zmq.SNDMORE)
_EVENTS = (
    plain_zmq.POLLIN,
    plain_zmq.POLLOUT,
    plain_zmq.POLLIN | plain_zmq.POLLOUT,
    plain_zmq.POLLERR,
    0,
)
_TIMEOUTS = (0, SHORT, LONG, -1)
# The first frame of a ROUTER's send: its peers, mostly, and one it lacks.
_ROUTER_PEERS = {"dealerrouter": (b"A", b"A", b"Z"), "routerpeers": (b"A", b"C", b"C", b"Z")}
# What the raw socket, idle, does not show: a poll of it waits.
_QUIET_RAW = (plain_zmq.POLLIN, plain_zmq.POLLERR)
_POLL_TIMEOUTS = (0, SHORT, LONG, None)


@st.composite
def scenarios(draw: Callable[..., Any], max_steps: int = 16) -> Scenario:
    """Scenarios whose steps only name live objects and keep within the foreground budget."""
    topology = draw(st.sampled_from(sorted(TOPOLOGIES)))
    model = Model()
    alive = ["a", "b", "c"] if topology == "routerpeers" else ["a", "b"]
    shadows: dict[str, int] = {"a": 0, "b": 0, "c": 0}
    polled: set[str] = set()  # base sockets that any poll or poller has seen
    registered: dict[str, set[str]] = {"p": set(), "q": set()}
    trackers: list[str] = []
    budget = FOREGROUND_BUDGET
    steps: list[Step] = []
    # The raw fd closed while polled: a poll finds it closed when it next
    # looks (see ThreadExecutor._emulate), and in both executors that must
    # be its deadline. So it is closed only where no poll that may still
    # wait on it can be woken for something else: no such poller ever held
    # it with a zmq socket (nor a waiting select), whose FD wakes a green
    # poll for commands that are no readiness. Nor while such a poll has
    # seen it unregistered, nor is a poller holding it changed after it is
    # closed: a poll in progress sees that change, a plain one does not (a
    # divergence of its own, see test_differential.py).
    holds: dict[str, set[str]] = {"p": set(), "q": set()}  # "raw", "socket"
    waited: set[str] = set()  # pollers polled by a poll that may still wait
    raw_closable = True
    raw_closed = False

    def pollable() -> list[str]:
        # Not plain shadows: a green Poller watches their FD with a watcher
        # of its own, so whether it or a green recv of the same message
        # wakes first is up to libev, and in plain pyzmq either may win.
        return [n for n in alive if model.kind[n] == "green"]

    payload = 0
    for _ in range(draw(st.integers(1, max_steps))):
        sock = draw(st.sampled_from(alive))
        plain_shadow = model.kind[sock] == "plain"
        kind = draw(
            st.sampled_from(
                [
                    "send",
                    "send",
                    "send",
                    "recv",
                    "recv",
                    "recv",
                    "set",
                    "get",
                    "sockpoll",
                    "register",
                    "register",
                    "unregister",
                    "poll",
                    "poll",
                    "select",
                    "shadow",
                    "endpoint",
                    "close",
                    "busy",
                    "raw",
                    "flood",
                    "bad",
                    "tsend",
                    "twait",
                    "rawclose",
                ]
            )
        )
        if kind == "send":
            payload += 1
            count = draw(st.integers(1, 3))
            frames = [b"m%d.%d" % (payload, i) for i in range(count)]
            if TOPOLOGIES[topology][1] == "ROUTER" and model.base[sock] == "b":
                frames.insert(0, draw(st.sampled_from(_ROUTER_PEERS[topology])))
            flags = draw(st.sampled_from(_FLAGS))
            step = send(sock, *frames, flags=flags | (plain_zmq.NOBLOCK if plain_shadow else 0))
        elif kind == "recv":
            flags = draw(st.sampled_from((0, plain_zmq.NOBLOCK)))
            step = recv(
                sock, flags | (plain_zmq.NOBLOCK if plain_shadow else 0), draw(st.booleans())
            )
        elif kind == "set":
            option = draw(
                st.sampled_from(("RCVTIMEO", "SNDTIMEO", "RCVTIMEO", "SNDTIMEO", "other"))
            )
            via = draw(st.sampled_from(("set", "setsockopt")))
            if option != "other":
                step = setopt(sock, option, draw(st.sampled_from(_TIMEOUTS)), via)
            else:
                # Options that change what a socket may do: a ROUTER that
                # fails on unknown peers, a SUB's topics.
                option, value = draw(
                    st.sampled_from(
                        [
                            ("ROUTER_MANDATORY", 1),
                            ("SUBSCRIBE", b"m"),
                            ("UNSUBSCRIBE", b""),
                            ("LINGER", 0),
                        ]
                    )
                )
                step = setopt(sock, option, value, via)
        elif kind == "get":
            step = getopt(
                sock,
                draw(st.sampled_from(("EVENTS", "EVENTS", "RCVMORE", "RCVTIMEO", "TYPE"))),
                draw(st.sampled_from(("get", "getsockopt"))),
            )
        elif kind == "sockpoll":
            timeout = 0 if plain_shadow else draw(st.sampled_from(_POLL_TIMEOUTS))
            step = sockpoll(sock, timeout, draw(st.sampled_from(_EVENTS)))
            polled.add(model.base[sock])
        elif kind in ("register", "unregister"):
            target = draw(st.sampled_from(pollable() + list(RAW)))
            poller = draw(st.sampled_from("pq"))
            what = "raw" if target in RAW else "socket"
            if raw_closed and (what == "raw" or "raw" in holds[poller]):
                continue
            if kind == "register":
                events = draw(st.sampled_from(_EVENTS))
                step = register(poller, target, events)
                (registered[poller].add if events else registered[poller].discard)(target)
            else:
                step = unregister(poller, target)
                registered[poller].discard(target)
            if kind == "register" and events:
                holds[poller].add(what)
            elif what == "raw" and poller in waited:
                raw_closable = False
            if target in model.base:
                polled.add(model.base[target])
        elif kind == "poll":
            # Mostly a poller with registrations; an empty one sometimes.
            busy_pollers = [p for p in "pq" if registered[p]]
            if busy_pollers and draw(st.integers(0, 4)):
                poller = draw(st.sampled_from(busy_pollers))
            else:
                poller = draw(st.sampled_from("pq"))
            step = poll(poller, draw(st.sampled_from(_POLL_TIMEOUTS)))
            if model.foreground_ms(step, model.wait_of(step)) is None:
                waited.add(poller)
        elif kind == "select":
            targets = pollable() + ["r"]
            lists = [
                tuple(draw(st.lists(st.sampled_from(targets), max_size=2, unique=True)))
                for _ in range(3)
            ]
            if not any(lists) and draw(st.integers(0, 4)):
                continue
            step = select(*lists, timeout=draw(st.sampled_from(_POLL_TIMEOUTS)))
            named = {n for lst in lists for n in lst}
            background = model.foreground_ms(step, model.wait_of(step)) is None
            if "r" in named and len(named) > 1 and background:
                raw_closable = False
            polled.update(model.base[n] for lst in lists for n in lst if n in model.base)
        elif kind == "shadow":
            base = model.base[sock]
            shadows[base] += 1
            name = f"{base}{shadows[base]}"
            step = shadow(sock, name, draw(st.sampled_from(("green", "plain"))))
            alive.append(name)
        elif kind == "endpoint":
            op = draw(st.sampled_from(("bind", "connect", "unbind", "disconnect")))
            step = endpoint_op(op, sock, draw(st.sampled_from(ENDPOINTS)))
        elif kind == "close":
            # Closing a libzmq socket that another wrapper or a poll still
            # uses is use-after-free in plain pyzmq: not generated.
            if sock not in ("a", "b") or shadows[sock] or sock in polled:
                continue
            step = close(sock)
            alive.remove(sock)
            if not alive:
                steps.append(step)
                break
        elif kind == "busy":
            step = busy(draw(st.sampled_from(("cpu", "sleep"))))
        elif kind == "tsend":
            trackers.append(f"t{len(trackers) + 1}")
            step = tsend(sock, trackers[-1])
        elif kind == "twait":
            if not trackers:
                continue
            step = twait(draw(st.sampled_from(trackers)), draw(st.sampled_from(_POLL_TIMEOUTS)))
        elif kind == "raw":
            step = draw(st.sampled_from((rawsend(), rawrecv())))
        elif kind == "bad":
            if plain_shadow:
                continue
            step = bad(sock, draw(st.sampled_from(BAD_CALLS)))
        elif kind == "rawclose":
            if raw_closed or not raw_closable or any(len(holds[p]) > 1 for p in waited):
                continue
            # While a poll waits on it: one is started, on a poller that
            # holds no socket, unless one may be waiting there already.
            poller = draw(st.sampled_from("pq"))
            if "socket" in holds[poller]:
                continue
            target = draw(st.sampled_from(sorted(registered[poller] & set(RAW)) or RAW))
            if target not in registered[poller]:
                steps.append(register(poller, target, draw(st.sampled_from(_QUIET_RAW))))
                registered[poller].add(target)
                holds[poller].add("raw")
            if poller not in waited:
                steps.append(poll(poller, draw(st.sampled_from((LONG, None)))))
                waited.add(poller)
            # Mostly right after its registration changed: libev was told of
            # the change at its next loop iteration, after the close (it
            # aborted the process).
            if draw(st.integers(0, 3)):
                events = draw(st.sampled_from([e for e in _EVENTS if e]))
                step = together(register(poller, target, events), rawclose())
            else:
                step = rawclose()
            raw_closed = True
        else:
            peer = None
            if TOPOLOGIES[topology][1] == "ROUTER" and model.base[sock] == "b":
                peer = draw(st.sampled_from(_ROUTER_PEERS[topology]))
            step = draw(st.sampled_from((flood(sock, 300, peer), drain(sock))))
        ahead = model.foreground_ms(step, model.wait_of(step))
        if ahead:
            if ahead > budget:
                continue
            budget -= ahead
        model.apply(step)
        steps.append(step)
    return Scenario(topology, tuple(steps))
