"""Fork handling, all of it: what a child process created by ``fork()`` may still do.

libzmq's I/O threads do not survive ``fork()``. In the child, every call that
processes a socket's commands (recv, EVENTS, poll, bind, connect) answers
EINTR, and pyzmq retries EINTR forever: the child would spin (pyzmq #1330,
gevent #236). So in a child:

* greenlets parked at fork time are woken and fail with :func:`fork_error`
  (their sockets are marked closed first, so that nothing on their way out
  calls libzmq);
* every inherited green socket has its libzmq entry points shadowed by one
  that raises :func:`fork_error` (an instance attribute wins over the
  class's method, and Python looks there on every call anyway, so the fast
  path pays nothing in the parent);
* inherited contexts are recognised by :func:`inherited`, and the per-hub
  registries start afresh.

One hook, registered once, does all of it (design.md, "Fork").
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Callable, NoReturn

__all__ = ["fork_error", "inherited", "on_fork_in_child", "refuse_in_child"]


def fork_error() -> RuntimeError:
    return RuntimeError(
        "green_zmq context or socket used in a child process created by fork(): "
        "a zmq context and its sockets belong to the process that created them "
        "(libzmq's I/O threads do not survive fork). Create a new Context in the child."
    )


def inherited(pid: int | None) -> bool:
    """Was an object made by process ``pid`` inherited through fork? (``None``: unknown.)"""
    return pid is not None and pid != os.getpid()


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise fork_error()


# Objects whose named methods must raise in a child, and the names.
_guarded: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()
# What else must forget the parent (the per-hub registries, the socket map).
_child_hooks: list[Callable[[], None]] = []


def refuse_in_child(obj: Any, names: tuple[str, ...]) -> None:
    """In a forked child, make ``obj.<name>()`` raise :func:`fork_error` for each name."""
    _guarded[obj] = names


def on_fork_in_child(hook: Callable[[], None]) -> None:
    """Run ``hook`` in every forked child, before any greenlet runs (it must not call libzmq)."""
    _child_hooks.append(hook)


def _after_fork_in_child() -> None:
    for hook in _child_hooks:
        hook()
    for obj, names in list(_guarded.items()):
        for name in names:
            object.__setattr__(obj, name, _refuse)
    _guarded.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
