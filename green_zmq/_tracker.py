"""A MessageTracker whose wait blocks only the calling greenlet.

pyzmq tracks a zero-copy message with a ``threading.Event`` that its
garbage-collector thread sets once libzmq has let go of the buffer, and
:meth:`zmq.MessageTracker.wait` blocks the OS thread on that event. Green
sockets return this subclass instead, which waits on the hub.

Notes on the approach
---------------------

Which kind of event a tracker holds depends on when ``zmq`` was imported:

* imported after ``gevent.monkey.patch_all()``: ``threading.Event`` is
  gevent's, and pyzmq's collector thread is a greenlet; the event's own
  ``wait`` is already cooperative;
* otherwise: a real ``threading.Event`` set from another OS thread. A
  greenlet cannot wait on it without blocking the thread, and the event
  has no hook for "tell me when set". It does have its Condition's waiter
  list: ``set()`` takes the condition's lock, raises the flag and calls
  ``release()`` on each entry of that list. So we add an entry, under the
  same lock after checking the flag (no wakeup can slip between the check
  and the entry), whose ``release()`` sends a
  :class:`~green_zmq._waiting.ThreadSignal`::

      lock; flag set? -> done            else append entry; unlock
      park on the hub <- entry.release() from the setter's thread
      lock; remove entry (if a timeout woke us); unlock; close the signal
"""

from __future__ import annotations

import threading
from time import monotonic
from typing import Any

import gevent.event
import zmq

from . import _compat
from ._waiting import ThreadSignal

__all__ = ["MessageTracker", "green_tracker"]


class _SignalOnRelease:
    """An entry in a threading.Condition's waiter list that signals a greenlet."""

    __slots__ = ("_signal",)

    def __init__(self, signal: ThreadSignal) -> None:
        self._signal = signal

    def release(self) -> None:
        # Runs in the setter's thread, holding the condition's lock: only
        # signal our hub, which resumes the greenlet itself.
        self._signal.send()


def _wait_thread_event(event: threading.Event, deadline: float | None) -> bool:
    condition = _compat.event_condition(event)
    waiters = _compat.condition_waiters(condition)
    with condition:
        if event.is_set():
            return True
        signal = ThreadSignal()
        entry = _SignalOnRelease(signal)
        waiters.append(entry)
    try:
        signal.wait(deadline)
    finally:
        with condition:
            try:
                waiters.remove(entry)
            except ValueError:
                pass  # set() already took it off the list
        # Only now: once off the list, no other thread can still send it.
        signal.close()
    return event.is_set()


def _wait_event(event: Any, deadline: float | None) -> bool:
    if event.is_set():
        return True
    if isinstance(event, gevent.event.Event):
        remaining = None if deadline is None else max(0.0, deadline - monotonic())
        return bool(event.wait(remaining))
    return _wait_thread_event(event, deadline)


def _events(tracker: zmq.MessageTracker) -> list[Any]:
    """Every event under a tracker, through its peer trackers."""
    found = list(tracker.events)
    for peer in tracker.peers:
        found.extend(_events(peer))
    return found


class MessageTracker(zmq.MessageTracker):
    """A :class:`zmq.MessageTracker` whose :meth:`wait` blocks only the calling greenlet.

    Returned by green sockets' ``send(..., copy=False, track=True)`` for a
    message libzmq still holds (one it let go of at once is pyzmq's own
    finished tracker, as plain pyzmq returns); it can also wrap any pyzmq
    tracker or tracked Frame: ``MessageTracker(frame)``.
    """

    def wait(self, timeout: float | int = -1) -> None:
        """Wait until libzmq is done with the message(s), as :meth:`zmq.MessageTracker.wait`.

        ``timeout`` in seconds (-1 waits forever); raises
        :class:`zmq.NotDone` if it expires first.
        """
        if timeout is False or timeout < 0:
            deadline = None
        else:
            deadline = monotonic() + timeout
        for event in _events(self):
            if not _wait_event(event, deadline):
                raise zmq.NotDone


def green_tracker(result: Any) -> Any:
    """What a green send returns for ``track=True``: its tracker, made green.

    A tracker that is done already (pyzmq's shared finished tracker, for a
    message below the copy threshold) is returned as it is, as plain pyzmq
    returns it: nothing will ever wait on it.
    """
    if (
        isinstance(result, zmq.MessageTracker)
        and not isinstance(result, MessageTracker)
        and not result.done
    ):
        return MessageTracker(result)
    return result
