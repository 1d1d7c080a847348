"""fork: a child process can make, use and terminate contexts of its own.

Its parent made, used and terminated contexts first (and so started any
thread machinery term() uses). The child is forked with os.fork,
gevent.fork, or os.fork under gevent's patch_all. Each run is a child
interpreter of its own: a fork gone wrong hangs or aborts.
"""

from __future__ import annotations

import pytest

from helpers import run_python

pytestmark = pytest.mark.timeout(60)

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
