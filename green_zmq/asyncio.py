"""An asyncio event loop that waits on the gevent hub: asyncio among greenlets.

:class:`GreenEventLoop` is asyncio's own ``SelectorEventLoop`` with a
selector whose ``select()`` parks the calling greenlet on the hub
(:class:`green_zmq._waiting.selector.HubSelector`), so ``run_forever()``
and ``run_until_complete()`` block only the greenlet that calls them, and
every other greenlet of the thread keeps running. It needs nothing but
asyncio and gevent; tornado's IOLoop on top of it is
:mod:`green_zmq.eventloop.ioloop`::

    loop = green_zmq.asyncio.GreenEventLoop()
    gevent.spawn(loop.run_until_complete, main())

Notes on the approach
---------------------

Everything above the selector is unmodified asyncio. Two things about asyncio are wrong once
greenlets exist, and this module exists to fix them:

* asyncio assumes that code running in the loop's thread runs *inside* the
  loop, so ``call_soon``/``call_at``/``stop`` only queue work and never
  wake the selector. Another greenlet of the same thread is not inside the
  loop: the loop would sleep on until an unrelated event. When such a call
  is made while the runner greenlet is parked in ``select()``,
  :class:`GreenEventLoop` wakes it directly through the hub (no self-pipe
  write; that stays for other threads, via ``call_soon_threadsafe``). Only
  then: a busy runner, or one parked in a green call inside a callback,
  sees the new work before it selects again. Likewise a reader or writer
  added by another greenlet is watched at once.
* asyncio's "running loop" is per OS thread. While a green loop runs in one
  greenlet, every other greenlet of the thread would see it as *their*
  running loop (``asyncio.get_running_loop()``, ``asyncio.run``, a second
  loop refusing to start, ``await`` in a coroutine of another loop finding
  the wrong loop). While any green loop runs in a thread, a greenlet switch
  tracer makes the running loop follow the greenlet that runs it.

Lifecycle of a green loop's runner::

    run_forever() in the calling greenlet (tracer on for the thread)
            -> select(): park on the hub (others run)  <- foreign call_soon wakes it
            -> callbacks run in the runner greenlet (they may block green-ly)
    stop() -> run_forever returns (tracer off when the thread's last loop stops)

A green loop belongs to the thread (hub) that created it; starting it in
another thread raises :class:`RuntimeError`. ``call_soon_threadsafe``
remains the way in from other threads, as in asyncio.
"""

from __future__ import annotations

import asyncio
import weakref
from contextvars import Context
from typing import Any, Callable

import greenlet
from gevent.hub import get_hub

from . import _compat
from ._waiting.selector import HubSelector

__all__ = ["GreenEventLoop"]

_get_running_loop = _compat.get_running_loop
_set_running_loop = _compat.set_running_loop


class _RunningLoops:
    """Per hub (so per thread): the green loops running there, and the switch tracer.

    Kept per hub rather than in a ``threading.local``: under gevent's
    monkey-patching that becomes greenlet-local.
    """

    def __init__(self) -> None:
        # Green loops running in this thread.
        self.running = 0
        # Each switched-out greenlet's asyncio running loop.
        self.parked_loops: dict[Any, asyncio.AbstractEventLoop] = {}
        self.tracer: Callable[[str, Any], None] | None = None
        self.previous_trace: Any = None

    def loop_started(self) -> None:
        if self.tracer is None or greenlet.gettrace() is not self.tracer:
            # First loop of the thread, or another tracer went on top of
            # ours (e.g. gevent's monitor) or took it off: install a fresh
            # one on top. A replaced one keeps only forwarding.
            self._install_tracer()
        self.running += 1

    def loop_stopped(self) -> None:
        self.running -= 1
        if self.running == 0:
            self.parked_loops.clear()
            if greenlet.gettrace() is self.tracer:
                greenlet.settrace(self.previous_trace)
                self.tracer = self.previous_trace = None

    def _install_tracer(self) -> None:
        # Runs on every greenlet switch of the thread while a green loop
        # runs: locals only, and no asyncio call when nothing changes.
        parked = self.parked_loops
        get_running, set_running = _get_running_loop, _set_running_loop

        def follow_switch(event: str, args: Any) -> None:
            if self.tracer is follow_switch and (event == "switch" or event == "throw"):
                origin, target = args
                running = get_running()
                if running is not None:
                    parked[origin] = running
                elif parked:
                    # Its loop stopped since it last switched out.
                    parked.pop(origin, None)
                loop = parked.get(target)
                if loop is not running:
                    set_running(loop)
            if previous is not None:
                previous(event, args)

        self.tracer = follow_switch
        previous = self.previous_trace = greenlet.settrace(follow_switch)


_running: weakref.WeakKeyDictionary[Any, _RunningLoops] = weakref.WeakKeyDictionary()


def _this_thread() -> _RunningLoops:
    hub = get_hub()
    loops = _running.get(hub)
    if loops is None:
        loops = _running[hub] = _RunningLoops()
    return loops


class GreenEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop that waits on the gevent hub.

    ``run_forever``/``run_until_complete`` block only the calling greenlet.
    Unlike a plain asyncio loop, work handed to it from another greenlet of
    its thread (``call_soon``, ``call_later``, ``call_at``, a future
    completing, a task created, ``stop``, ``add_reader``...) takes effect at
    once, and ``asyncio.get_running_loop()`` is per greenlet while it runs.
    tornado's IOLoop on it is :class:`green_zmq.eventloop.ioloop.IOLoop`;
    this class is for plain asyncio code that should live among greenlets.
    From other OS threads the rules are asyncio's: use
    ``call_soon_threadsafe`` (tornado's ``add_callback`` does).
    """

    _selector: HubSelector

    def __init__(self) -> None:
        super().__init__(HubSelector())

    # Work that another greenlet may hand over. Only a parked runner needs
    # waking (anybody calling these while it is parked is another greenlet);
    # when it is not parked the cost is one attribute read.

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        """Schedule ``callback``, as :meth:`asyncio.loop.call_soon`; wakes an idle loop at once."""
        handle = super().call_soon(callback, *args, context=context)
        self._selector.wake()
        return handle

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule ``callback`` at ``when`` (:meth:`asyncio.loop.call_at`); wakes an idle loop."""
        # call_later goes through here too. The runner must recompute how
        # long to wait.
        handle = super().call_at(when, callback, *args, context=context)
        self._selector.wake()
        return handle

    def stop(self) -> None:
        """Stop the loop, as :meth:`asyncio.loop.stop`; an idle loop sees it at once."""
        super().stop()
        self._selector.wake()

    def run_forever(self) -> None:
        """Run until :meth:`stop`, blocking only the calling greenlet."""
        if get_hub() is not self._selector.hub:
            raise RuntimeError(
                "green event loop started in a thread other than the one that created it; "
                "its watchers belong to that thread's gevent hub"
            )
        # asyncio's own refusals, made before asyncio's run_forever: the one
        # of Python 3.13.0 cleans up after refusing, which stops the running
        # loop's bookkeeping (is_running() turns False) and forgets the
        # running loop of the refused greenlet's thread.
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if _get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")
        loops = _this_thread()
        loops.loop_started()
        self._selector.hold_hub(True)
        try:
            super().run_forever()
        finally:
            self._selector.hold_hub(False)
            loops.loop_stopped()
