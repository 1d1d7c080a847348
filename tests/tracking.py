"""Tracker scenarios, run against a zmq module: plain pyzmq, green_zmq, or zmq patched green.

Each takes the module and a context of it, so that a test can run the same
scenario with plain pyzmq and with green_zmq (or, in a child interpreter,
with plain ``zmq`` before and after ``green_zmq.monkey.patch(zmq=True)``)
and compare what came out. No pytest here: the child interpreters import
this module too.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

import zmq as plain_zmq

# Bigger than pyzmq's copy threshold, so send(copy=False) really is zero-copy
# and its tracker really waits for libzmq; SMALL is copied, its tracker done.
BIG = b"x" * (4 * plain_zmq.COPY_THRESHOLD)
SMALL = b"small"

# Endpoint names are never reused: libzmq may still hold a closed socket's.
_endpoints = count()


def unread_sender(z: Any, ctx: Any) -> tuple[Any, str]:
    """A PAIR socket connected to an endpoint nobody has bound yet, and that endpoint.

    What it sends waits in its pipe, so libzmq keeps holding the message (and
    its tracker stays not done) until somebody binds and reads.
    """
    sender = ctx.socket(z.PAIR)
    sender.linger = 0
    endpoint = f"inproc://tracked-{next(_endpoints)}"
    sender.connect(endpoint)
    return sender, endpoint


def _sent_frame_tracker(z: Any, sender: Any) -> Any:
    frame = z.Frame(BIG, track=True)
    sender.send(frame, copy=False)
    return frame.tracker


def _tracker_of_sent_frame(z: Any, sender: Any) -> Any:
    frame = z.Frame(BIG, track=True)
    sender.send(frame, copy=False)
    return z.MessageTracker(frame)


# Every way a user reaches the tracker of one BIG message that ``sender``
# sends; the frames go out of scope, so only libzmq holds the message.
REACH: dict[str, Callable[[Any, Any], Any]] = {
    "send(bytes)": lambda z, s: s.send(BIG, copy=False, track=True),
    "send(Frame)": lambda z, s: s.send(z.Frame(BIG, track=True), copy=False, track=True),
    "send_multipart": lambda z, s: s.send_multipart([SMALL, BIG], copy=False, track=True),
    "Frame.tracker": _sent_frame_tracker,
    "MessageTracker(Frame)": _tracker_of_sent_frame,
}


def wait_while_read(
    z: Any, ctx: Any, reach: str, timeout: float | None, start: Callable[[Callable[[], Any]], Any]
) -> tuple[Any, ...]:
    """Wait on a tracker while another thread of control takes its message.

    ``start(function)`` runs ``function`` concurrently (an OS thread for plain
    pyzmq, a greenlet for green_zmq), and returns something with ``join()``.
    The tracker waits here (forever, or ``timeout`` seconds); what came out:
    whether it was done before, how the wait ended, whether it is done now.
    """
    sender, endpoint = unread_sender(z, ctx)
    tracker = REACH[reach](z, sender)
    receiver = ctx.socket(z.PAIR)
    receiver.linger = 0
    receiver.bind(endpoint)
    done_before = tracker.done
    # bytes: the reader keeps no frame, so libzmq lets go of the message.
    reader = start(lambda: receiver.recv_multipart())
    try:
        if timeout is None:
            tracker.wait()
        else:
            tracker.wait(timeout)
        outcome = "returned"
    except z.NotDone:
        outcome = "NotDone"
    reader.join()
    return (done_before, outcome, tracker.done)


def _describe(z: Any, tracker: Any, frame: Any = None) -> tuple[Any, ...] | None:
    if tracker is None:
        return None
    return (
        isinstance(tracker, z.MessageTracker),
        tracker is z._FINISHED_TRACKER,
        frame is not None and tracker is frame.tracker,
        tracker.done,
        len(tracker.events),
        len(tracker.peers),
    )


def tracker_facts(z: Any, ctx: Any) -> dict[str, Any]:
    """What plain pyzmq promises of trackers and frames, as found with module ``z``.

    For each way of getting a tracker: is it a ``z.MessageTracker``, the
    shared finished one, the frame's own, done, how many events and peers.
    The senders' messages stay unread, so no tracker of a BIG one is done.
    """
    sender, endpoint = unread_sender(z, ctx)
    facts: dict[str, Any] = {}
    facts["send(small)"] = _describe(z, sender.send(SMALL, copy=False, track=True))
    facts["send(big)"] = _describe(z, sender.send(BIG, copy=False, track=True))
    facts["send(big, copy)"] = _describe(z, sender.send(BIG, track=True))
    for size, data in (("big", BIG), ("small", SMALL)):
        frame = z.Frame(data, track=True)
        facts[f"Frame({size}).tracker"] = _describe(z, frame.tracker, frame)
        facts[f"send(Frame({size}))"] = _describe(
            z, sender.send(frame, copy=False, track=True), frame
        )
        facts[f"MessageTracker(Frame({size}))"] = _describe(z, z.MessageTracker(frame))
    facts["Frame(untracked).tracker"] = _describe(z, z.Frame(BIG).tracker)
    facts["send_multipart(big, small)"] = _describe(
        z, sender.send_multipart([BIG, SMALL], copy=False, track=True)
    )
    facts["send_multipart(small, big)"] = _describe(
        z, sender.send_multipart([SMALL, BIG], copy=False, track=True)
    )
    last = z.Frame(BIG, track=True)
    facts["send_multipart(small, Frame(big))"] = _describe(
        z, sender.send_multipart([SMALL, last], copy=False, track=True), last
    )
    receiver = ctx.socket(z.PAIR)
    receiver.linger = 0
    receiver.bind(endpoint)
    received = receiver.recv(copy=False, track=True)
    facts["received Frame"] = (isinstance(received, z.Frame), _describe(z, received.tracker))
    facts["received untracked Frame"] = receiver.recv(copy=False).tracker
    facts["Frame classes"] = (
        isinstance(z.Frame(SMALL), z.Frame),
        z.Message is z.Frame,
        issubclass(plain_zmq.Frame, z.Frame),
        issubclass(plain_zmq.MessageTracker, z.MessageTracker),
        isinstance(plain_zmq.MessageTracker(), z.MessageTracker),
    )
    sender.close()
    receiver.close()
    return facts
