"""Message trackers whose wait blocks only the calling greenlet, and the Frame that makes them.

pyzmq tracks a zero-copy message with a ``threading.Event`` that its
garbage-collector thread sets once libzmq has let go of the buffer, and
:meth:`zmq.MessageTracker.wait` blocks the OS thread on that event. Every
tracker green_zmq hands out waits on the hub instead:

* :class:`MessageTracker`, made by the user, or by a green send for a
  message it copied into a frame of its own;
* the tracker of a :class:`Frame` made with ``track=True``, which a send of
  that frame returns (the same object, as in plain pyzmq).

Notes on the approach
---------------------

Plain pyzmq makes some trackers and frames with its own classes, where we
cannot reach: the shared finished tracker of every message it copied
(``zmq._FINISHED_TRACKER``; nothing ever waits on it), the frames its recv
returns. In plain pyzmq they are instances of ``zmq.MessageTracker`` and
``zmq.Frame``, so with ``import green_zmq as zmq`` they must be instances of
ours: the green classes stand in for pyzmq's (:mod:`._stand_in`), and
accept every instance of the pyzmq class in ``isinstance``. After
``green_zmq.monkey.patch(zmq=True)``, pyzmq itself makes every tracker with
ours: its Cython frame looks ``zmq.MessageTracker`` up when it makes one.

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
from ._stand_in import StandIn, stand_in
from ._waiting import ThreadSignal

__all__ = ["Frame", "MessageTracker", "green_tracker"]


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


_PyzmqTracker = zmq.MessageTracker
_PyzmqFrame = zmq.Frame
# What pyzmq's send takes as a frame (and then returns the frame's tracker).
_BaseFrame = zmq.backend.Frame


class MessageTracker(zmq.MessageTracker, metaclass=StandIn):
    """A :class:`zmq.MessageTracker` whose :meth:`wait` blocks only the calling greenlet.

    Tracks events, other trackers and tracked frames, as pyzmq's. Every
    pyzmq tracker is an instance of this class, as of
    :class:`zmq.MessageTracker` (see the module's notes).
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


class Frame(zmq.Frame, metaclass=StandIn):
    """A :class:`zmq.Frame` whose tracker (``track=True``) waits only the calling greenlet.

    Everything else is pyzmq's. Frames made by pyzmq (a recv with
    ``copy=False``) are instances of this class too, as of :class:`zmq.Frame`.
    """

    # pyzmq's repr() names the class by its module: <green_zmq.Frame(...)>.
    __module__ = "green_zmq"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # pyzmq made a tracker of its own class over the event that its
        # collector sets; unless the data was copied: then the tracker is
        # the shared finished one, without events.
        tracker = self.tracker
        if tracker is not None and tracker.events:
            self.tracker = MessageTracker(*tracker.events)


# Every pyzmq tracker and frame is an instance of ours, as of pyzmq's (its
# shared finished tracker, the frames recv makes).
stand_in(MessageTracker, _PyzmqTracker)
stand_in(Frame, _PyzmqFrame)


def green_tracker(result: Any, data: Any) -> Any:
    """What a green send of ``data`` returns for ``track=True``: pyzmq's ``result``, green.

    A frame's own tracker is returned as it is (plain pyzmq returns the
    frame's tracker itself), and so is pyzmq's shared finished tracker, for a
    message it copied. Only the tracker of a frame pyzmq made inside the
    send, which nobody else can reach, is made anew as ours, over the same
    event.
    """
    if result.__class__ is _PyzmqTracker and result.events and not isinstance(data, _BaseFrame):
        return MessageTracker(*result.events)
    return result
