"""The runtimes: how one implementation runs a workload's roles.

A workload hands its roles to :meth:`Runtime.run`. Generator roles (see
:mod:`.workloads`) make their socket calls with ``rt.flags`` and yield
only when a call raises ``zmq.Again``: the green runtimes run each in a
greenlet, the threads runtime in a thread, the ceiling round-robins them in
one thread. The zmq.asyncio runtime runs coroutine roles, one task each.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from time import perf_counter
from types import ModuleType
from typing import Any, Callable, Union

import zmq

import green_zmq
from green_zmq import _ints

__all__ = [
    "IMPLEMENTATIONS",
    "AsyncioRuntime",
    "CeilingRuntime",
    "GreenRuntime",
    "Implementation",
    "Role",
    "Runtime",
    "ThreadRuntime",
    "accelerated",
    "exhaust",
]

Role = Iterator[None]
AnyRole = Union[Role, Coroutine[Any, Any, None]]

# The largest workloads hold 10,000 sockets and a few peers (libzmq's
# default limit is 1023); libzmq sizes its socket table when the context
# starts, so the limit is set before the first socket.
MAX_SOCKETS = 12_000


def _raise_file_limit() -> None:
    # Every zmq socket holds a mailbox fd, so 10,000 sockets need more than
    # the usual soft limit of 1024; an unprivileged process may raise it up
    # to the hard limit, which is as far as the bench can go.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Runtime:
    """One implementation: its zmq module, its context, and how roles run.

    ``flags`` is what roles pass to every send/recv: 0 (a blocking call) for
    the green and threads runtimes, NOBLOCK for the ceiling. ``elapsed`` is
    the time spent inside :meth:`run`, i.e. excluding setup and teardown.
    ``metrics`` holds what a workload measures besides its rate. ``name`` is
    the implementation's kind (see :class:`Implementation`): workloads pick
    their code paths by it.
    """

    flags = 0
    single_thread = False
    coroutines = False

    def __init__(self, name: str, zmq_module: ModuleType) -> None:
        self.name = name
        self.zmq = zmq_module
        _raise_file_limit()
        self.ctx = zmq_module.Context()
        self.ctx.set(zmq.MAX_SOCKETS, MAX_SOCKETS)
        self.sockets: list[Any] = []
        self.elapsed = 0.0
        self.metrics: dict[str, float] = {}

    def socket(self, kind: int) -> Any:
        """A socket of this implementation, closed by :meth:`close`."""
        sock = self.ctx.socket(kind)
        self.sockets.append(sock)
        return sock

    def poller(self) -> Any:
        return self.zmq.Poller()

    def sleep(self, seconds: float) -> Any:
        """Block the calling role for ``seconds`` (a coroutine for zmq.asyncio)."""
        time.sleep(seconds)

    def run(self, roles: Sequence[AnyRole]) -> None:
        """Run the roles concurrently until all are done; time it."""
        start = perf_counter()
        self._run(roles)
        self.elapsed += perf_counter() - start

    def _run(self, roles: Sequence[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.ctx.term()


def exhaust(role: Role) -> None:
    """Run a role to its end with blocking calls."""
    # A blocking runtime's calls wait instead of raising EAGAIN, so its
    # roles never yield; if one does, a call returned early.
    for _ in role:
        raise RuntimeError("a blocking call raised EAGAIN")


class GreenRuntime(Runtime):
    """Each role in its own greenlet, blocking only itself."""

    def sleep(self, seconds: float) -> None:
        import gevent

        gevent.sleep(seconds)

    def _run(self, roles: Sequence[Role]) -> None:
        import gevent

        # raise_error: the first failing role ends the run (the others may
        # be blocked for good on a message that will never come).
        gevent.joinall([gevent.spawn(exhaust, role) for role in roles], raise_error=True)


class ThreadRuntime(Runtime):
    """Each role in its own OS thread, making blocking pyzmq calls."""

    def _run(self, roles: Sequence[Role]) -> None:
        errors: list[BaseException] = []
        left = [len(roles)]
        lock = threading.Lock()
        finished = threading.Event()

        def play(role: Role) -> None:
            try:
                exhaust(role)
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

    flags = _ints.NOBLOCK
    single_thread = True

    def _run(self, roles: Sequence[Role]) -> None:
        active = list(roles)
        done = object()
        while active:
            active = [role for role in active if next(role, done) is not done]


class AsyncioRuntime(Runtime):
    """Each role a task on one asyncio loop, awaiting zmq.asyncio's calls."""

    coroutines = True

    def __init__(self, name: str, zmq_module: ModuleType) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        super().__init__(name, zmq_module)

    def sleep(self, seconds: float) -> Any:
        return asyncio.sleep(seconds)

    def _run(self, roles: Sequence[Coroutine[Any, Any, None]]) -> None:
        async def all_of() -> None:
            # gather raises the first role's error: the run ends there.
            await asyncio.gather(*roles)

        self.loop.run_until_complete(all_of())

    def close(self) -> None:
        super().close()
        self.loop.close()
        asyncio.set_event_loop(None)


def accelerated() -> bool:
    """Whether this process's green_zmq runs its compiled accelerator (a
    version without one has no ``accelerated`` attribute: pure Python)."""
    return bool(getattr(green_zmq, "accelerated", False))


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Implementation:
    """One column of the bench: how it runs roles and what it is.

    ``module`` provides its zmq API, imported only in the child that measures
    it; ``env`` is set in that child's environment on top of the parent's.
    ``kind`` names the implementation whose workloads and code paths it
    shares: green_zmq-py is green_zmq with the accelerator forced off, so it
    runs what green_zmq runs, the same way. ``available`` says whether a run
    without ``--impl`` includes it.
    """

    runtime: type[Runtime]
    module: str
    title: str
    kind: str
    env: tuple[tuple[str, str], ...] = ()
    available: Callable[[], bool] = _always


def _implementations(*specs: tuple[str, type[Runtime], str, str]) -> dict[str, Implementation]:
    return {name: Implementation(rt, module, title, name) for name, rt, module, title in specs}


#: Implementation name -> how it runs, in the order of the table's columns.
IMPLEMENTATIONS: dict[str, Implementation] = _implementations(
    ("green_zmq", GreenRuntime, "green_zmq", "green_zmq, each role in its own greenlet"),
    ("zmq.green", GreenRuntime, "zmq.green", "pyzmq's own gevent support, the same greenlets"),
    ("threads", ThreadRuntime, "zmq", "plain pyzmq, each role in its own OS thread"),
    ("ceiling", CeilingRuntime, "zmq", "plain pyzmq in one thread that never waits"),
    ("zmq.asyncio", AsyncioRuntime, "zmq.asyncio", "pyzmq's asyncio sockets, a task per role"),
)
# Beside green_zmq only where it has an accelerator to turn off: otherwise
# it would measure the same code twice.
IMPLEMENTATIONS["green_zmq-py"] = Implementation(
    GreenRuntime,
    "green_zmq",
    "green_zmq (pure Python): the accelerator off, GREEN_ZMQ_PURE_PYTHON=1",
    kind="green_zmq",
    env=(("GREEN_ZMQ_PURE_PYTHON", "1"),),
    available=accelerated,
)
