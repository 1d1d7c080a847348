"""The green_zmq namespace and Context: pyzmq's names, green where it matters."""

from __future__ import annotations

from typing import Any

import gevent
import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import pair, spawn_parked

pytestmark = pytest.mark.timeout(20)


def test_every_pyzmq_public_name_is_exported():
    missing = [name for name in plain_zmq.__all__ if not hasattr(zmq, name)]
    assert missing == []
    assert set(plain_zmq.__all__) <= set(zmq.__all__)


def test_green_classes_subclass_pyzmqs():
    assert issubclass(zmq.Context, plain_zmq.Context) and zmq.Context is not plain_zmq.Context
    assert issubclass(zmq.Socket, plain_zmq.Socket) and zmq.Socket is not plain_zmq.Socket
    assert issubclass(zmq.Poller, plain_zmq.Poller) and zmq.Poller is not plain_zmq.Poller
    assert zmq.select is not plain_zmq.select


def test_constants_and_errors_are_pyzmqs():
    assert zmq.PUSH == plain_zmq.PUSH
    assert zmq.ZMQError is plain_zmq.ZMQError
    assert zmq.Again is plain_zmq.Again


def test_version_is_exposed():
    assert isinstance(zmq.__version__, str) and zmq.__version__.count(".") >= 1


def test_instance_is_a_green_singleton_distinct_from_pyzmqs():
    green = zmq.Context.instance()
    assert green is zmq.Context.instance()
    assert isinstance(green, zmq.Context)
    plain = plain_zmq.Context.instance()
    assert plain is not green
    assert not isinstance(plain, zmq.Context)


def test_sockets_of_a_green_context_are_green(ctx):
    s = ctx.socket(zmq.PUSH)
    assert isinstance(s, zmq.Socket)
    s.close()


def test_socket_class_argument_is_honoured(ctx):
    class Tagged(zmq.Socket):
        tag = "mine"

    s = ctx.socket(zmq.PUSH, socket_class=Tagged)
    assert isinstance(s, Tagged) and s.tag == "mine"
    s.close()


def test_socket_subclass_skipping_our_init_still_waits_cooperatively(ctx):
    class Legacy(zmq.Socket):
        def __init__(self, context, kind):
            # Calls pyzmq's __init__ directly, skipping green_zmq's.
            plain_zmq.Socket.__init__(self, context, kind)
            self.__dict__["label"] = "attached through __dict__"

    a = ctx.socket(zmq.PAIR)
    a.bind("inproc://legacy")
    b = Legacy(ctx, zmq.PAIR)
    b.connect("inproc://legacy")
    reader = gevent.spawn(b.recv)
    gevent.sleep(0.01)
    assert not reader.ready()
    a.send(b"works")
    assert reader.get(timeout=5) == b"works"
    assert b.label == "attached through __dict__"
    a.close()
    b.close()


class _Strict(zmq.Socket):
    # A subclass whose own __getattr__ refuses every missing attribute.
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def test_socket_subclass_with_its_own_getattr_and_skipping_our_init_works(ctx):
    class Legacy(_Strict):
        def __init__(self, context, kind):
            plain_zmq.Socket.__init__(self, context, kind)

    a, b = Legacy(ctx, zmq.PAIR), Legacy(ctx, zmq.PAIR)
    a.bind("inproc://strict-legacy")
    b.connect("inproc://strict-legacy")
    reader = spawn_parked(b.recv)
    a.send(b"works")
    assert reader.get(timeout=5) == b"works"
    a.close()
    b.close()
    assert a.closed and b.closed


def test_socket_subclass_with_its_own_getattr_knows_its_type_as_plain_does(ctx):
    class PlainStrict(plain_zmq.Socket):
        def __getattr__(self, name: str) -> Any:
            raise AttributeError(name)

    plain_context = plain_zmq.Context()
    plain = PlainStrict(plain_context, plain_zmq.REP)
    green = _Strict(ctx, zmq.REP)
    try:
        assert green.type == plain.type == zmq.REP
        assert repr(green).split("(")[1].split(")")[0] == repr(plain).split("(")[1].split(")")[0]
    finally:
        plain.close()
        green.close()
        plain_context.term()


def test_context_subclass_calling_pyzmqs_init_makes_green_sockets():
    class Legacy(zmq.Context):
        def __init__(self):
            super(zmq.Context, self).__init__()

    context = Legacy()
    try:
        a, b = pair(context)
        reader = gevent.spawn(b.recv)
        gevent.sleep(0.01)
        a.send(b"green")
        assert reader.get(timeout=5) == b"green"
    finally:
        context.destroy(linger=0)


def test_pyzmq_submodules_are_attributes():
    assert zmq.error.ZMQError is plain_zmq.error.ZMQError
    assert zmq.constants.PUSH == plain_zmq.constants.PUSH
    assert zmq.backend is plain_zmq.backend
    assert zmq.sugar is plain_zmq.sugar
