"""A tornado IOLoop that runs in a greenlet and lets every other greenlet run.

``green_zmq.eventloop.ioloop`` is the green counterpart of
``zmq.eventloop.ioloop`` / ``zmq.green.eventloop.ioloop``: :class:`IOLoop`
(alias :class:`ZMQIOLoop`) with tornado's whole IOLoop API,
:class:`PeriodicCallback`, :class:`DelayedCallback`, :class:`ZMQPoller` and
:func:`install`. It needs tornado (the ``eventloop`` extra).

pyzmq's ``zmq.green.eventloop`` is plain tornado on plain asyncio: its loop
sleeps in ``epoll_wait`` and no other greenlet runs while it does. Here,
waiting goes through the gevent hub, so ``loop.start()`` blocks only the
greenlet that called it.

Notes on the approach
---------------------

tornado's IOLoop is a thin layer over an asyncio event loop. We give it
:class:`GreenEventLoop`: asyncio's own ``SelectorEventLoop`` with a
selector whose ``select()`` parks the calling greenlet on the hub until
the epoll set of its fds fires (design.md, "The eventloop"; see
:class:`_HubSelector`).
Everything above the selector is unmodified asyncio and tornado, which is
what pyzmq's ZMQStream expects. Two things about asyncio are wrong once
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

    start() -> run_forever in the calling greenlet (tracer on for the thread)
            -> select(): park on the hub (others run)  <- foreign call_soon wakes it
            -> callbacks run in the runner greenlet (they may block green-ly)
    stop()  -> run_forever returns (tracer off when the thread's last loop stops)

A green loop belongs to the thread (hub) that created it; starting it in
another thread raises :class:`RuntimeError`. ``add_callback`` remains safe
from any thread, as in tornado.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import weakref
from collections.abc import Awaitable
from contextvars import Context
from selectors import EVENT_READ, EVENT_WRITE
from time import monotonic
from typing import Any, Callable, overload

import greenlet
import zmq
from gevent.hub import get_hub

try:
    from tornado.ioloop import (
        IOLoop as _TornadoIOLoop,
        PeriodicCallback as _TornadoPeriodicCallback,
        TimeoutError,
    )
    from tornado.platform.asyncio import AsyncIOLoop as _AsyncIOLoop
except ImportError as exc:  # pragma: no cover - exercised only without tornado
    raise ImportError(
        "green_zmq.eventloop needs tornado: pip install 'green_zmq[eventloop]'"
    ) from exc

from .. import _compat
from .._ints import POLLERR as _POLLERR, POLLIN as _POLLIN, POLLOUT as _POLLOUT
from .._waiting import READABLE, WRITABLE, FdSet, Turn, hub_waiting, park, wake
from ..poll import Poller

__all__ = [
    "DelayedCallback",
    "GreenEventLoop",
    "IOLoop",
    "PeriodicCallback",
    "TimeoutError",
    "ZMQIOLoop",
    "ZMQPoller",
    "install",
]

_get_running_loop = _compat.get_running_loop
_set_running_loop = _compat.set_running_loop


class _ThreadLoops:
    """Per-hub (so per-thread) state: the current green IOLoop, and the tracer.

    Kept per hub rather than in a ``threading.local``: under gevent's
    monkey-patching that becomes greenlet-local, and the current loop of a
    thread must be the same for all its greenlets.
    """

    def __init__(self) -> None:
        self.current: IOLoop | None = None
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


_thread_loops: weakref.WeakKeyDictionary[Any, _ThreadLoops] = weakref.WeakKeyDictionary()


def _this_thread() -> _ThreadLoops:
    hub = get_hub()
    state = _thread_loops.get(hub)
    if state is None:
        state = _thread_loops[hub] = _ThreadLoops()
    return state


class _HubSelector(_compat.BaseSelectorImpl):  # type: ignore[misc,name-defined]
    """A ``selectors`` selector whose ``select()`` parks the calling greenlet on the hub.

    A plain asyncio loop's epoll selector, whose wait goes through the hub:
    the registered fds are kept in an epoll set of their own
    (:class:`~green_zmq._waiting.FdSet`), and ``select()`` parks a turn of
    green_zmq's one primitive (so its waits are counted and fork-checked
    like every other) until the set fires. So registering, changing and
    unregistering an fd, and closing one that is registered, do what they
    do to a plain asyncio loop (design.md, "Closed file descriptors"): the
    same errors (on Linux, epoll's: ``OSError(EBADF)`` for a bad fd,
    ``PermissionError(EPERM)`` for a regular file), and a closed fd falls
    silent. (gevent's ``GeventSelector`` gives each fd a libev watcher,
    which aborts the process when the fd is closed under it.)

    It knows whether its runner is parked (so the loop can tell when a
    foreign greenlet must wake it), and can be woken directly by another
    greenlet (no self-pipe round trip). An fd registered by another greenlet
    while the runner is parked is watched at once: the set is live.

    Lifecycle of the set's watcher::

        made -> started; fires -> runner parked? woken : stopped
        select() -> restarted if stopped, park, return what the set has ready

    The watcher stops when it fires while the runner is away (busy, or
    parked in a green call inside a callback), so that a ready fd the loop
    is not looking at cannot make the hub spin; ``select()`` then goes only
    once round the hub.

    The watcher keeps the hub alive only while the loop runs
    (:meth:`hold_hub`): a loop that never ran, or has stopped, must not keep
    ``gevent.wait()`` from returning, as a plain asyncio loop keeps no
    thread from ending.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hub = get_hub()
        self._registry = hub_waiting(self.hub)
        self._fds = FdSet(self._on_ready, priority=self.hub.loop.MAXPRI)
        self._fds.hold_hub(False)
        self._fds.start()
        # The set fired while the runner was away, and was stopped.
        self._missed = False
        self._turn = Turn()

    @property
    def parked(self) -> bool:
        """True while the runner greenlet is waiting in ``select()``."""
        return self._turn.parked

    def register(self, fileobj: Any, events: int, data: Any = None) -> Any:
        key = super().register(fileobj, events, data)
        try:
            self._fds.add(key.fd, _watched(events))
        except BaseException:
            super().unregister(fileobj)
            raise
        return key

    def unregister(self, fileobj: Any) -> Any:
        key = super().unregister(fileobj)
        self._fds.discard(key.fd)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> Any:
        # As a plain epoll selector: the kernel is told only when the events
        # change, and an fd it refuses (closed since, or its number reused)
        # is unregistered, and the error raised.
        key = self.get_key(fileobj)
        if events != key.events:
            try:
                self._fds.change(key.fd, _watched(events))
            except BaseException:
                super().unregister(fileobj)
                raise
        if events != key.events or data != key.data:
            key = key._replace(events=events, data=data)
            _compat.selector_keys(self)[key.fd] = key
        return key

    def hold_hub(self, hold: bool) -> None:
        """Make the watcher keep the hub alive (while the loop runs) or not."""
        self._fds.hold_hub(hold)

    def _on_ready(self) -> None:
        # In the hub.
        if self._turn.parked:
            # Deferred to the hub's callbacks, as every wakeup of the runner.
            wake(self._turn, self.hub)
        else:
            self._fds.stop()
            self._missed = True

    def wake(self) -> None:
        """Make a parked ``select()`` return now (from any greenlet of this thread)."""
        if self._turn.parked:
            wake(self._turn, self.hub)

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        fds = self._fds
        if not fds.active:
            fds.start()
        # select(0) still goes once round the hub: other greenlets run, and
        # io is polled, as asyncio's select(0) polls it. So does a select()
        # with fds known to be ready.
        go_round = self._missed or (timeout is not None and timeout <= 0)
        self._missed = False
        if go_round:
            deadline: float | None = monotonic()
        else:
            deadline = None if timeout is None else monotonic() + timeout
        try:
            park(self._turn, self._registry, deadline, go_round=go_round)
        except zmq.Again:
            pass
        ready = []
        fd_to_key = _compat.selector_keys(self)
        for fd, events in fds.ready():
            key = fd_to_key.get(fd)
            if key is not None:
                ready.append((key, events & key.events))
        return ready

    def close(self) -> None:
        self._fds.close()
        super().close()


def _watched(events: int) -> int:
    """What the fd set watches for the selectors module's ``events``."""
    return (READABLE if events & EVENT_READ else 0) | (WRITABLE if events & EVENT_WRITE else 0)


class GreenEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop that waits on the gevent hub.

    ``run_forever``/``run_until_complete`` block only the calling greenlet.
    Unlike a plain asyncio loop, work handed to it from another greenlet of
    its thread (``call_soon``, ``call_later``, ``call_at``, a future
    completing, a task created, ``stop``, ``add_reader``...) takes effect at
    once, and ``asyncio.get_running_loop()`` is per greenlet while it runs.
    The tornado wrapper is :class:`IOLoop`; this class is for plain asyncio
    code that should live among greenlets. From other OS threads the rules
    are asyncio's: use ``call_soon_threadsafe`` (tornado's ``add_callback``
    does).
    """

    _selector: _HubSelector

    def __init__(self) -> None:
        super().__init__(_HubSelector())

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


class IOLoop(_AsyncIOLoop):
    """tornado's IOLoop on a :class:`GreenEventLoop`: ``start()`` blocks only its greenlet.

    The whole tornado API is inherited. What differs from tornado:

    * other greenlets run while the loop waits; callbacks may make green
      blocking calls (they pause the loop, not the thread);
    * ``add_callback``, ``call_later``, ``stop``, ... from another greenlet
      wake an idle loop at once;
    * :meth:`current`/:meth:`instance` return the running loop inside a
      callback, otherwise this thread's current *green* loop, creating one
      if needed (tornado would make a plain asyncio one);
    * :meth:`run_sync` also accepts an awaitable (e.g. a coroutine object).
    """

    asyncio_loop: GreenEventLoop

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Make the green asyncio loop (or take ``asyncio_loop=``, which must be green)."""
        given = kwargs.get("asyncio_loop")
        if given is not None and not isinstance(given, GreenEventLoop):
            raise TypeError(
                f"a green IOLoop needs a GreenEventLoop, not {type(given).__name__}"
            )
        made = None
        if given is None:
            kwargs["asyncio_loop"] = made = GreenEventLoop()
        try:
            super().initialize(**kwargs)
        except Exception:
            if made is not None:
                made.close()
            raise

    # -- which loop is current ------------------------------------------

    @overload
    @staticmethod
    def current() -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: bool = True) -> IOLoop | None: ...

    @staticmethod
    def current(instance: bool = True) -> Any:
        """The running IOLoop of this greenlet, else this thread's current green loop.

        With ``instance`` true (the default) a green loop is created and made
        current when there is none; otherwise ``None`` is returned.
        """
        running = _get_running_loop()
        if running is not None:
            found = _compat.tornado_loop_for(running)
            # A bare asyncio loop: tornado knows how to wrap it.
            return found if found is not None else _TornadoIOLoop.current(instance)
        loop = _this_thread().current
        if loop is None and instance:
            loop = IOLoop()
        return loop

    @staticmethod
    def instance() -> IOLoop:  # type: ignore[override]
        """Alias of :meth:`current` (as in tornado ≥ 5): this thread's green loop."""
        return IOLoop.current()

    def install(self) -> None:
        """Make this loop the current one of its thread (no deprecation warning)."""
        self._make_current()

    @staticmethod
    def clear_current() -> None:
        """Forget this thread's current green loop (it is not closed)."""
        loop = _this_thread().current
        if loop is not None:
            loop._clear_current_hook()

    @staticmethod
    def clear_instance() -> None:
        """Alias of :meth:`clear_current`."""
        IOLoop.clear_current()

    def _make_current(self) -> None:
        # As tornado's, which makes our asyncio loop asyncio's current one
        # (so tornado's own IOLoop.current() agrees with ours), except for
        # how it remembers the loop to restore: tornado asks
        # asyncio.get_event_loop(), which on the main thread creates (and
        # leaks) a plain asyncio loop when none is set.
        if not self.is_current:
            self.old_asyncio = _current_asyncio_loop()  # type: ignore[assignment]
            self.is_current = True
        asyncio.set_event_loop(self.asyncio_loop)
        _this_thread().current = self

    def _clear_current_hook(self) -> None:
        super()._clear_current_hook()
        loops = _this_thread()
        if loops.current is self:
            loops.current = None

    def close(self, all_fds: bool = False) -> None:
        """Close the loop, as tornado does; it stops being this thread's current loop."""
        if _this_thread().current is self:
            self._clear_current_hook()
        super().close(all_fds=all_fds)

    # -- running -----------------------------------------------------------

    def run_sync(self, func: Any, timeout: float | None = None) -> Any:
        """Run ``func`` (or an awaitable) to completion, as tornado's ``run_sync``.

        Blocks only the calling greenlet. Besides a callable, an awaitable
        such as a coroutine object is accepted.
        """
        if not callable(func) and inspect.isawaitable(func):
            awaitable = func

            def func() -> Awaitable[Any]:
                return awaitable

        return super().run_sync(func, timeout=timeout)


ZMQIOLoop = IOLoop


def _current_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """asyncio's current loop for this thread, or None; never creates one."""
    running = _get_running_loop()
    if running is not None:
        return running
    return _compat.policy_current_loop()


def _loop_or_current(io_loop: _TornadoIOLoop | None) -> _TornadoIOLoop:
    return io_loop if io_loop is not None else IOLoop.current()


class PeriodicCallback(_TornadoPeriodicCallback):
    """tornado's PeriodicCallback (``callback_time`` in ms), on the green loop.

    Differs from tornado in which loop :meth:`start` picks: the one given as
    ``io_loop`` (pyzmq's old keyword), else the green :meth:`IOLoop.current`.
    """

    def __init__(
        self,
        callback: Callable[[], Awaitable[Any] | None],
        callback_time: datetime.timedelta | float,
        jitter: float = 0,
        *,
        io_loop: _TornadoIOLoop | None = None,
    ) -> None:
        super().__init__(callback, callback_time, jitter)
        self._green_loop = io_loop

    def start(self) -> None:
        """Start calling back every ``callback_time`` milliseconds."""
        # tornado's start() looks the loop up with tornado's IOLoop.current();
        # the rest of its scheduling is reused as is.
        self.io_loop = _loop_or_current(self._green_loop)
        self._running = True
        self._next_timeout = self.io_loop.time()
        self._schedule_next()


class DelayedCallback:
    """Call ``callback`` once, ``callback_time`` milliseconds after :meth:`start`.

    pyzmq's old one-shot timer, kept for code that uses it; it is
    ``io_loop.call_later`` with start/stop. Unlike pyzmq's, starting it again
    while pending reschedules it instead of adding a second call, and a
    coroutine callback is run to completion by the loop.
    """

    def __init__(
        self,
        callback: Callable[[], Any],
        callback_time: float,
        io_loop: _TornadoIOLoop | None = None,
    ) -> None:
        if callback_time < 0:
            raise ValueError("DelayedCallback needs a callback_time >= 0 (milliseconds)")
        self.callback = callback
        self.callback_time = callback_time
        self.io_loop: _TornadoIOLoop | None = io_loop
        self._timeout: object = None

    def start(self) -> None:
        """Schedule the call, ``callback_time`` ms from now."""
        self.stop()
        self.io_loop = _loop_or_current(self.io_loop)
        self._timeout = self.io_loop.call_later(self.callback_time / 1000.0, self._run)

    def stop(self) -> None:
        """Cancel the call if it has not happened yet."""
        if self._timeout is not None and self.io_loop is not None:
            self.io_loop.remove_timeout(self._timeout)
        self._timeout = None

    def is_running(self) -> bool:
        """True between :meth:`start` and the call (or :meth:`stop`)."""
        return self._timeout is not None

    def _run(self) -> Any:
        self._timeout = None
        # Returned to the IOLoop, which logs errors and runs coroutines.
        return self.callback()


class ZMQPoller:
    """pyzmq's tornado poller API on a green :class:`green_zmq.Poller`.

    ``register``/``modify``/``unregister`` take IOLoop.READ/WRITE/ERROR
    masks, and :meth:`poll` takes seconds and returns ``(socket_or_fd,
    mask)`` pairs with the same masks. Unlike pyzmq's, waiting blocks only
    the calling greenlet, and ``poll(None)`` waits until something is ready.
    """

    def __init__(self) -> None:
        self._poller = Poller()

    @staticmethod
    def _to_zmq(events: int) -> int:
        mask = 0
        if events & IOLoop.READ:
            mask |= _POLLIN
        if events & IOLoop.WRITE:
            mask |= _POLLOUT
        if events & IOLoop.ERROR:
            mask |= _POLLERR
        return mask

    @staticmethod
    def _from_zmq(mask: int) -> int:
        events = 0
        if mask & _POLLIN:
            events |= IOLoop.READ
        if mask & _POLLOUT:
            events |= IOLoop.WRITE
        if mask & _POLLERR:
            events |= IOLoop.ERROR
        return events

    def register(self, fd: Any, events: int) -> None:
        """Watch a zmq socket, fd or object with ``fileno()`` for IOLoop events."""
        self._poller.register(fd, self._to_zmq(events))

    def modify(self, fd: Any, events: int) -> None:
        """Change the events watched for a registered ``fd``."""
        self._poller.modify(fd, self._to_zmq(events))

    def unregister(self, fd: Any) -> None:
        """Stop watching ``fd``; ``KeyError`` if it was not registered."""
        self._poller.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` seconds (``None``: no limit) for registered events."""
        ms = None if timeout is None else timeout * 1000.0
        return [(fd, self._from_zmq(mask)) for fd, mask in self._poller.poll(ms)]

    def close(self) -> None:
        """Unregister everything."""
        for fd, _ in list(self._poller.sockets):
            self._poller.unregister(fd)


def install() -> None:
    """Make the green IOLoop tornado's default, and this thread's current loop.

    Afterwards ``tornado.ioloop.IOLoop()`` creates green loops, and
    ``tornado.ioloop.IOLoop.current()`` outside a running loop returns
    the same green loop as :meth:`IOLoop.current`. Unlike pyzmq's old
    ``install()``, it does not refuse when tornado was already used.
    """
    _TornadoIOLoop.configure(IOLoop)
    IOLoop.current()._make_current()

