"""Message trackers and frames: waiting on them is green, and they are plain pyzmq's otherwise.

Every tracker a user can reach waits only the calling greenlet: the one a
send returns, a tracked Frame's own, one made of frames or trackers, the
status ZMQStream's on_send gets (tests/stream_scenarios.py). Which tracker
that is (the frame's own, pyzmq's shared finished one) and what it is an
instance of are plain pyzmq's, found by running the same scenario with
plain pyzmq (:mod:`tracking`).

"Green" is tested the same way throughout: the tracker waits in the test's
greenlet, and only another greenlet can take the message. If the wait
blocked the thread, it would time out (NotDone) or hang, and the test's
timeout would fail it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import pytest
import zmq as plain_zmq
from tracking import BIG, REACH, tracker_facts, unread_sender, wait_while_read

import green_zmq as zmq
from helpers import pair, run_python, spawn_parked

pytestmark = pytest.mark.timeout(20)

TESTS = Path(__file__).resolve().parent


def thread_running(function: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=function, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def plain_ctx() -> Any:
    context = plain_zmq.Context()
    yield context
    context.destroy(linger=0)


# -- waiting is green --------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 5], ids=["forever", "timeout"])
@pytest.mark.parametrize("reach", sorted(REACH))
def test_a_tracker_wait_returns_once_another_greenlet_took_the_message_as_plain_does(
    ctx: zmq.Context, plain_ctx: Any, reach: str, timeout: float | None
) -> None:
    plain = wait_while_read(plain_zmq, plain_ctx, reach, timeout, thread_running)
    assert plain == (False, "returned", True)
    assert wait_while_read(zmq, ctx, reach, timeout, gevent.spawn) == plain


@pytest.mark.parametrize("reach", sorted(REACH))
def test_a_tracker_wait_times_out_while_other_greenlets_run(
    ctx: zmq.Context, reach: str
) -> None:
    sender, _ = unread_sender(zmq, ctx)
    tracker = REACH[reach](zmq, sender)
    ran = gevent.spawn(lambda: "ran")
    with pytest.raises(zmq.NotDone):
        tracker.wait(0.05)
    assert ran.ready() and ran.value == "ran"
    assert not tracker.done


def test_a_tracker_of_a_delivered_message_does_not_wait(ctx: zmq.Context) -> None:
    sender, endpoint = unread_sender(zmq, ctx)
    receiver = ctx.socket(zmq.PAIR)
    receiver.bind(endpoint)
    tracker = sender.send(BIG, copy=False, track=True)
    assert receiver.recv() == BIG
    tracker.wait()
    tracker.wait(0)
    assert tracker.done


def test_many_greenlets_wait_on_one_frames_tracker(ctx: zmq.Context) -> None:
    sender, endpoint = unread_sender(zmq, ctx)
    tracker = REACH["Frame.tracker"](zmq, sender)
    waiting = [spawn_parked(tracker.wait) for _ in range(3)]
    receiver = ctx.socket(zmq.PAIR)
    receiver.bind(endpoint)
    assert receiver.recv() == BIG
    gevent.joinall(waiting, timeout=5, raise_error=True)
    assert all(w.successful() for w in waiting)


# -- which tracker, of which class: plain pyzmq's answers ------------------------------


def test_trackers_and_frames_are_what_plain_pyzmq_makes(
    ctx: zmq.Context, plain_ctx: Any
) -> None:
    # The frame's own tracker, the shared finished one, instances of
    # zmq.MessageTracker and zmq.Frame: all as plain pyzmq has them.
    assert tracker_facts(zmq, ctx) == tracker_facts(plain_zmq, plain_ctx)


def test_a_send_finished_at_once_returns_pyzmqs_finished_tracker(ctx, plain_ctx):
    a, _ = pair(ctx)
    plain_a, _ = pair(plain_ctx)
    small = b"below copy_threshold"
    assert plain_a.send(small, copy=False, track=True) is plain_zmq._FINISHED_TRACKER
    assert a.send(small, copy=False, track=True) is plain_zmq._FINISHED_TRACKER


def test_every_tracker_returned_is_a_pyzmq_message_tracker(ctx):
    a = ctx.socket(zmq.PAIR)
    a.connect("inproc://tracked-unread")
    for tracker in (
        a.send(b"x" * 100_000, copy=False, track=True),
        a.send_multipart([b"x" * 100_000, b"y"], copy=False, track=True),
        a.send(b"small", copy=False, track=True),
    ):
        assert isinstance(tracker, plain_zmq.MessageTracker)


_PATCHED = """
import sys
sys.path.insert(0, {tests!r})
import gevent
import zmq
import zmq.green
from zmq.sugar.tracker import MessageTracker as pyzmq_tracker
from green_zmq import monkey
from tracking import REACH, tracker_facts, wait_while_read

plain = zmq.Context()
before = tracker_facts(zmq, plain)
plain.destroy(linger=0)
monkey.patch(zmq=True)
ctx = zmq.Context()
for module in (zmq, zmq.green):
    assert tracker_facts(module, ctx) == before, (module, tracker_facts(module, ctx), before)
# Every tracker (pyzmq's shared finished one, a frame's, one a send made)
# is also one of pyzmq's own class.
sender = ctx.socket(zmq.PAIR)
sender.connect("inproc://nobody-binds")
for tracker in (
    zmq._FINISHED_TRACKER,
    zmq.Frame(b"x" * 100000, track=True).tracker,
    sender.send(b"x" * 100000, copy=False, track=True),
):
    assert isinstance(tracker, pyzmq_tracker) and isinstance(tracker, zmq.MessageTracker)
sender.close(linger=0)
for reach in sorted(REACH):
    for timeout in (None, 5):
        outcome = wait_while_read(zmq, ctx, reach, timeout, gevent.spawn)
        assert outcome == (False, "returned", True), (reach, timeout, outcome)
ctx.destroy(linger=0)
print("OK")
"""


@pytest.mark.timeout(60)
def test_patched_zmq_makes_trackers_plain_pyzmq_would_and_they_wait_green() -> None:
    # After patch(zmq=True), plain zmq's trackers are what they were before
    # it, and zmq.MessageTracker still accepts every tracker; waiting on any
    # of them (a Frame's too: pyzmq makes it) lets the reader greenlet run.
    assert run_python(_PATCHED.format(tests=str(TESTS))).stdout.strip() == "OK"


_PATCH_ALL = """
from gevent import monkey
monkey.patch_all()

import sys
sys.path.insert(0, {tests!r})
import gevent, gevent.event
import green_zmq as zmq
from tracking import REACH, unread_sender, wait_while_read

ctx = zmq.Context()
sender, _ = unread_sender(zmq, ctx)
(event,) = sender.send(b"x" * 1000000, copy=False, track=True).events
assert isinstance(event, gevent.event.Event), event
for reach in sorted(REACH):
    outcome = wait_while_read(zmq, ctx, reach, None, gevent.spawn)
    assert outcome == (False, "returned", True), (reach, outcome)
ctx.destroy(linger=0)
print("OK")
"""


@pytest.mark.timeout(60)
def test_tracker_wait_is_green_under_gevent_monkey_patching() -> None:
    # pyzmq imported after patch_all() tracks with gevent's Event.
    assert run_python(_PATCH_ALL.format(tests=str(TESTS))).stdout.strip() == "OK"
