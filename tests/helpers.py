"""Helpers shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import gevent

import green_zmq as zmq

# The folder this process imports green_zmq from: the checkout (an editable
# install), or site-packages (an installed wheel, whose compiled fast path
# the checkout lacks). Children get it first on PYTHONPATH, so that they run
# the very build under test.
IMPORTED_FROM = str(Path(zmq.__file__).resolve().parent.parent)


def python_path(*first: str | None) -> str:
    """A PYTHONPATH with ``first``, then the current one, then :data:`IMPORTED_FROM`."""
    return os.pathsep.join(filter(None, [*first, os.environ.get("PYTHONPATH"), IMPORTED_FROM]))


def run_python(
    code: str | None = None,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 50,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter and return its result (text output captured).

    ``python -c CODE ARGS...`` when ``code`` is given (dedented), else
    ``python ARGS...`` (a script, ``-m module``, ...). ``env`` changes the
    current environment: a value of None removes that variable, and a
    PYTHONPATH goes before the path to this process's green_zmq (the child
    imports the same one, see :data:`IMPORTED_FROM`). ``stdin``
    is the child's standard input; ``cwd`` its directory, the system's
    temporary one by default. With ``check``, anything but exit status
    0 fails the calling test, showing the process's output.
    """
    command = [sys.executable, *(["-c", textwrap.dedent(code)] if code is not None else []), *args]
    environment = dict(os.environ)
    changes = dict(env or {})
    environment["PYTHONPATH"] = python_path(changes.pop("PYTHONPATH", None))
    for name, value in changes.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    result = subprocess.run(
        command,
        env=environment,
        # Not this process's directory by default: ``python -c`` puts its
        # directory first on sys.path, which in a checkout would import its
        # sources rather than the build under test.
        cwd=tempfile.gettempdir() if cwd is None else cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, (
            f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def wait_until_parked(count: int, timeout: float = 10) -> None:
    """Yield until ``count`` greenlets wait in the machinery (``statistics().parked``).

    The way tests know that a greenlet really waits, instead of a sleep.
    """
    failure = AssertionError(f"never {count} parked: {zmq.statistics()}")
    with gevent.Timeout(timeout, failure):
        while zmq.statistics().parked < count:
            gevent.sleep(0)


def spawn_parked(function: Any, *args: Any, **kwargs: Any) -> gevent.Greenlet:
    """Spawn ``function(*args, **kwargs)``; return once it waits (one more greenlet parked)."""
    before = zmq.statistics().parked
    greenlet = gevent.spawn(function, *args, **kwargs)
    wait_until_parked(before + 1)
    return greenlet


class Ticker:
    """A greenlet that counts while others wait: proof the hub is not blocked."""

    def __init__(self) -> None:
        self.ticks = 0
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            self.ticks += 1
            gevent.sleep(0.001)

    def wait_for(self, ticks: int, timeout: float = 5) -> None:
        """Return once it has ticked ``ticks`` times: others ran meanwhile."""
        with gevent.Timeout(timeout, AssertionError(f"the ticker stopped at {self.ticks}")):
            while self.ticks < ticks:
                gevent.sleep(0.001)

    def stop(self) -> int:
        self._greenlet.kill()
        return self.ticks


def pair(
    ctx: Any,
    kind_a: int = zmq.PAIR,
    kind_b: int = zmq.PAIR,
    transport: str = "inproc",
    hwm: int | None = None,
) -> tuple[Any, Any]:
    """Two connected sockets of ``ctx``, green or plain: ``a`` binds, ``b`` connects.

    ``hwm`` sets both high-water marks of both sockets, before connecting
    (pipes keep the limits they were made with).
    """
    a = ctx.socket(kind_a)
    b = ctx.socket(kind_b)
    a.linger = b.linger = 0
    if hwm is not None:
        a.sndhwm = a.rcvhwm = b.sndhwm = b.rcvhwm = hwm
    if transport == "inproc":
        address = f"inproc://pair-{id(a)}"
        a.bind(address)
    else:
        port = a.bind_to_random_port("tcp://127.0.0.1")
        address = f"tcp://127.0.0.1:{port}"
    b.connect(address)
    return a, b


# Threads of in_thread that never returned (their test failed).
left_running: list[threading.Thread] = []


def in_thread(function: Callable[[], Any], timeout: float = 10) -> Any:
    """Plain pyzmq's answer: ``function()`` run in an OS thread, its result or exception.

    A thread that has not returned after ``timeout`` seconds fails the test
    and is left running: closing a socket under a thread blocked in it
    aborts the process, so the ``plain_ctx`` fixture then leaves its
    context open.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        left_running.append(thread)
        raise AssertionError("plain pyzmq hangs here too")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def errors_of(module: Any, action: Callable[[Callable[[int], Any]], Any]) -> Any:
    """The exception type, errno and text an action raises with a module's sockets.

    The action gets a function that makes sockets; all are closed afterwards.
    ``module`` is green_zmq or plain pyzmq; None if the action raised nothing.
    """
    context = module.Context()
    made = []

    def make(kind: int) -> Any:
        made.append(context.socket(kind))
        return made[-1]

    try:
        action(make)
    except Exception as exc:
        return type(exc).__name__, getattr(exc, "errno", None), str(exc)
    finally:
        for s in made:
            s.close(linger=0)
        context.term()
    return None


def run_plain_and_monkey(
    *args: str, options: Sequence[str] = ("--zmq",), **kwargs: Any
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``python ARGS`` and ``python -m green_zmq.monkey OPTIONS ARGS``: the two results.

    The same unedited program, plain and patched, each run as
    :func:`run_python` runs it, for tests that compare the two.
    """
    plain = run_python(None, *args, **kwargs)
    patched = run_python(None, "-m", "green_zmq.monkey", *options, *args, **kwargs)
    return plain, patched


def printed_facts(output: str) -> dict[str, str]:
    """The ``name: value`` lines a monkey fixture program printed, by name."""
    return dict(line.split(": ", 1) for line in output.splitlines())
