"""Subclasses of Socket that override send or recv: every frame goes through the override.

pyzmq's send_multipart and recv_multipart (and so send_serialized,
send_json...) call ``self.send`` and ``self.recv`` for each frame. A
subclass of a green socket gets the same, with the frames on the wire
being plain pyzmq's; the class itself keeps its fast path.
"""

from __future__ import annotations

from typing import Any

import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import run_python, spawn_parked

pytestmark = pytest.mark.timeout(20)


def shouting_class(base: type) -> type:
    class Shouting(base):  # type: ignore[misc,valid-type]
        """Upper-cases what it sends; turns received frames into (index, bytes) pairs."""

        def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
                 **kwargs: Any) -> Any:
            return super().send(bytes(data).upper(), flags, copy=copy, track=track, **kwargs)

        def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
            frame = super().recv(flags, copy=copy, track=track)
            self.__dict__["received"] = self.__dict__.get("received", 0) + 1
            return (self.__dict__["received"], frame)

    return Shouting


def wire(module: Any, context: Any) -> dict[str, Any]:
    """What a shouting socket puts on the wire, and hands back, through each helper."""
    cls = shouting_class(module.Socket)

    def pair_of(sending: type, receiving: type, name: str) -> tuple[Any, Any]:
        out = context.socket(module.PAIR, socket_class=sending)
        into = context.socket(module.PAIR, socket_class=receiving)
        out.linger = into.linger = 0
        out.bind(f"inproc://{name}")
        into.connect(f"inproc://{name}")
        return out, into

    a, b = pair_of(cls, module.Socket, "shouting-out")
    a.send_multipart([b"one", b"two", b"three"])
    a.send_serialized({"k": "v"}, lambda o: [b"ser", repr(o).encode()])
    a.send_json({"x": 1})
    seen = {name: b.recv_multipart() for name in ("multipart", "serialized", "json")}
    d, c = pair_of(module.Socket, cls, "shouting-in")
    d.send_multipart([b"first", b"second", b"third"])
    d.send_multipart([b"next"])
    seen["received"] = c.recv_multipart()
    seen["then"] = c.recv_multipart()
    return seen


def test_send_multipart_and_recv_multipart_go_through_overrides_as_in_plain_pyzmq(
    ctx, plain_ctx
):
    plain = wire(plain_zmq, plain_ctx)
    assert plain["multipart"] == [b"ONE", b"TWO", b"THREE"]
    assert plain["received"] == [(1, b"first"), (2, b"second"), (3, b"third")]
    assert wire(zmq, ctx) == plain


def test_frames_after_the_first_do_not_queue_behind_other_waiting_greenlets(ctx, no_sweeper):
    # A message libzmq has begun takes its next frames at once: they must not
    # wait behind the turns of greenlets queued since, which would put their
    # frames in the middle of it (or take its rest, receiving).
    cls = shouting_class(zmq.Socket)
    push = ctx.socket(zmq.PUSH, socket_class=cls)
    pull = ctx.socket(zmq.PULL, socket_class=cls)
    push.linger = pull.linger = 0
    push.sndhwm = pull.rcvhwm = 1
    pull.bind("inproc://overrides")
    push.connect("inproc://overrides")
    while True:
        try:
            push.send(b"fill", zmq.NOBLOCK)
        except zmq.Again:
            break
    senders = [spawn_parked(push.send_multipart, [b"m%d" % i, b"a", b"b"]) for i in range(3)]
    got = []
    while not all(s.dead for s in senders) or pull.poll(0):
        got.append([frame for _, frame in pull.recv_multipart()])
    assert sorted(m for m in got if m != [b"FILL"]) == [
        [b"M0", b"A", b"B"], [b"M1", b"A", b"B"], [b"M2", b"A", b"B"],
    ]

    readers = [spawn_parked(pull.recv_multipart) for _ in range(3)]
    for i in range(3):
        push.send_multipart([b"r%d" % i, b"a", b"b"])
    messages = [[frame for _, frame in r.get(timeout=5)] for r in readers]
    assert sorted(messages) == [[b"R0", b"A", b"B"], [b"R1", b"A", b"B"], [b"R2", b"A", b"B"]]


# Under the drop-in, a program's own subclass of plain zmq.Socket is a
# subclass of the green one; its frames must be plain pyzmq's too.
DROP_IN_PROGRAM = """
import zmq
import json

class Shouting(zmq.Socket):
    def send(self, data, flags=0, copy=True, track=False, **kwargs):
        return super().send(bytes(data).upper(), flags, copy=copy, track=track, **kwargs)

ctx = zmq.Context()
a = ctx.socket(zmq.PAIR, socket_class=Shouting)
b = ctx.socket(zmq.PAIR)
a.bind("inproc://x"); b.connect("inproc://x")
a.send_multipart([b"one", b"two", b"three"])
print(json.dumps([f.decode() for f in b.recv_multipart()]))
ctx.destroy(linger=0)
"""


def test_a_plain_socket_subclass_sends_every_frame_through_its_override_under_the_drop_in(
    tmp_path,
):
    program = tmp_path / "shouting.py"
    program.write_text(DROP_IN_PROGRAM)
    plain = run_python(None, str(program)).stdout
    assert plain.strip() == '["ONE", "TWO", "THREE"]'
    assert run_python(None, "-m", "green_zmq.monkey", "--zmq", str(program)).stdout == plain
