"""Parity with plain pyzmq in OS threads: one test per corner where green_zmq differed.

Each test names the corner (issue "Parity with plain pyzmq, part 1") and,
where plain pyzmq's behaviour is not obvious, runs the same scenario with
plain pyzmq in threads first. Lost wakeups hide behind the sweeper, so
those tests run with it off.
"""

from __future__ import annotations

from typing import Any

import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import pair, run_python, spawn_parked, wait_until_parked

pytestmark = pytest.mark.timeout(20)


# -- 12. term() in a forked child ----------------------------------------------------

CHILD_TERM = """
import os, sys
{patch}
import gevent, green_zmq as zmq

def use_and_term():
    ctx = zmq.Context()
    a = ctx.socket(zmq.PAIR); b = ctx.socket(zmq.PAIR)
    a.bind("inproc://child"); b.connect("inproc://child")
    a.send(b"ping"); assert b.recv() == b"ping"
    a.close(); b.close()
    ctx.term()
    ctx = zmq.Context.instance(); ctx.term()

use_and_term()  # the parent uses term() (and so any thread machinery) first
pid = {fork}()
if pid == 0:
    try:
        use_and_term()
        os._exit(0)
    except BaseException as exc:
        print("child:", repr(exc), flush=True)
        os._exit(3)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("fork", "patch"),
    [
        ("os.fork", ""),
        ("gevent.fork", ""),
        ("os.fork", "from gevent import monkey; monkey.patch_all()"),
    ],
    ids=["os.fork", "gevent.fork", "patch_all"],
)
def test_a_forked_child_can_make_use_and_term_contexts(fork, patch):
    code = CHILD_TERM.format(fork=fork, patch=patch)
    result = run_python(code, timeout=40)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child exit 0", result.stdout + result.stderr


# -- 13. smaller ones --------------------------------------------------------------


def test_statistics_count_only_sockets_somebody_waits_on(ctx):
    a, b = pair(ctx)
    before = zmq.statistics().sockets
    idle = zmq.Poller()
    idle.register(b, zmq.POLLIN)
    assert zmq.statistics().sockets == before
    reader = spawn_parked(b.recv)
    assert zmq.statistics().sockets == before + 1
    a.send(b"x")
    reader.get(timeout=2)
    assert zmq.statistics().sockets == before


def test_an_exception_from_term_is_raised_and_printed_nowhere(monkeypatch, capfd):
    class Refused(Exception):
        pass

    def refuse(self: Any) -> None:
        raise Refused("term failed")

    context = zmq.Context()
    monkeypatch.setattr(plain_zmq.Context, "term", refuse)
    with pytest.raises(Refused):
        context.term()
    monkeypatch.undo()
    context.term()
    assert capfd.readouterr().err == ""
    wait_until_parked(0)
