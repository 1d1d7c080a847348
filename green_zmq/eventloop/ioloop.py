"""A tornado IOLoop that runs in a greenlet and lets every other greenlet run.

``green_zmq.eventloop.ioloop`` is the green counterpart of
``zmq.eventloop.ioloop`` / ``zmq.green.eventloop.ioloop``: :class:`IOLoop`
(alias :class:`ZMQIOLoop`) with tornado's whole IOLoop API and
:class:`PeriodicCallback`, and pyzmq's older names (:class:`DelayedCallback`,
:class:`ZMQPoller`, :func:`install`, from :mod:`.legacy`). It needs tornado
(the ``eventloop`` extra).

pyzmq's ``zmq.green.eventloop`` is plain tornado on plain asyncio: its loop
sleeps in ``epoll_wait`` and no other greenlet runs while it does. Here the
IOLoop runs on :class:`green_zmq.asyncio.GreenEventLoop`, whose waits go
through the gevent hub, so ``loop.start()`` blocks only the greenlet that
called it. The layers, each on the one below::

    pyzmq's older names      eventloop/legacy.py
    tornado's IOLoop         eventloop/ioloop.py (this module)
    a green asyncio loop     green_zmq/asyncio.py
    the hub-backed selector  green_zmq/_waiting/selector.py

What this layer adds to tornado is which loop is *current*: tornado keeps
it in asyncio's per-thread state, and this module per hub (the same for
every greenlet of a thread), making a green loop where tornado would make
a plain asyncio one.

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
from typing import Any, Callable, overload

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
from ..asyncio import GreenEventLoop

__all__ = [
    "DelayedCallback",
    "IOLoop",
    "PeriodicCallback",
    "TimeoutError",
    "ZMQIOLoop",
    "ZMQPoller",
    "install",
]

_get_running_loop = _compat.get_running_loop

# Each thread's current green IOLoop, by hub: a threading.local would be
# greenlet-local under gevent's monkey-patching, and the current loop of a
# thread is the same for all its greenlets.
_current_loops: weakref.WeakKeyDictionary[Any, IOLoop] = weakref.WeakKeyDictionary()


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
        loop = _current_loops.get(get_hub())
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
        loop = _current_loops.get(get_hub())
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
        _current_loops[get_hub()] = self

    def _clear_current_hook(self) -> None:
        super()._clear_current_hook()
        if _current_loops.get(get_hub()) is self:
            del _current_loops[get_hub()]

    def close(self, all_fds: bool = False) -> None:
        """Close the loop, as tornado does; it stops being this thread's current loop."""
        if _current_loops.get(get_hub()) is self:
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


# pyzmq's older names, on the IOLoop above (imported last: they use it).
from .legacy import DelayedCallback, ZMQPoller, install  # noqa: E402
