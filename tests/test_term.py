"""Context.term() interrupted, repeated, called from several places at once, or failing.

libzmq's terminate must run once at a time on a context: a second one while
the first still waits for sockets destroys what the first uses (EFAULT, a
hang, or an abort in libzmq). A green ``term()`` runs it in a thread of its
own, which goes on when its caller is interrupted; every later ``term()`` or
``destroy()``, from any greenlet or thread, must wait for that one and then
return as one plain ``term()`` returns once its sockets are closed.

Each scenario runs in a child interpreter (a second terminate can abort the
process), several rounds, and compares with plain pyzmq's single term in an
OS thread, run in the same child. Every run of pyzmq's terminate is counted:
never two at once.

An exception from pyzmq's terminate reaches the caller of term(), as from a
plain term(), and nothing prints it (no thread's traceback on stderr).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import zmq as plain_zmq

import green_zmq as zmq
from helpers import run_python, wait_until_parked

pytestmark = pytest.mark.timeout(90)

ROUNDS = 8

_CHILD = """
import gc, json, sys, threading, warnings, weakref
import gevent
import zmq as plain_zmq
import green_zmq as zmq
from zmq.sugar.context import Context as PyzmqContext

warnings.simplefilter("always")
shown = []
warnings.showwarning = lambda message, category, *rest: shown.append(category.__name__)

# pyzmq's terminate (what a green term runs), counted.
base_term = PyzmqContext.term
running = {{"now": 0, "most": 0, "runs": 0}}
lock = threading.Lock()

def counted_term(self):
    with lock:
        running["now"] += 1
        running["runs"] += 1
        running["most"] = max(running["most"], running["now"])
    try:
        base_term(self)
    finally:
        with lock:
            running["now"] -= 1

PyzmqContext.term = counted_term


def outcome(call):
    try:
        call()
        return "returned"
    except BaseException as exc:
        return repr(exc)


def interrupted(ctx):
    # The caller gives up; pyzmq's terminate goes on in its thread.
    try:
        with gevent.Timeout(0.05):
            ctx.term()
    except gevent.Timeout:
        pass


def until(condition):
    with gevent.Timeout(10, AssertionError("never happened")):
        while not condition():
            gevent.sleep(0.001)


def plain_single(how):
    # The reference: one plain term (or destroy) in a thread, the socket
    # closed meanwhile (destroy closes it itself).
    ctx = plain_zmq.Context()
    sock = ctx.socket(plain_zmq.PAIR)
    got = []
    thread = threading.Thread(
        target=lambda: got.append(outcome(ctx.destroy if how == "destroy" else ctx.term))
    )
    thread.start()
    if how != "destroy":
        sock.close()
    thread.join(10)
    return [got, ctx.closed]


def retried(how):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    interrupted(ctx)
    if how == "destroy":
        return [[outcome(ctx.destroy)], ctx.closed]
    sock.close()
    return [[outcome(ctx.term)], ctx.closed]


def two_greenlets():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    parked = zmq.statistics().parked
    terms = [gevent.spawn(outcome, ctx.term) for _ in range(2)]
    until(lambda: zmq.statistics().parked == parked + 2)
    sock.close()
    gevent.joinall(terms, timeout=10)
    return [[t.value for t in terms], ctx.closed]


def another_thread():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    interrupted(ctx)
    entered = threading.Event()
    got = []

    def term_there():
        entered.set()
        got.append(outcome(ctx.term))

    thread = threading.Thread(target=term_there)
    thread.start()
    until(entered.is_set)
    here = gevent.spawn(outcome, ctx.term)
    sock.close()
    here.join(10)
    thread.join(10)
    return [sorted(got + [here.value]), ctx.closed]


def collected():
    # Nothing refers to the context or its socket but the running terminate:
    # the socket is closed when collected, and the context once its
    # terminate is over, by its finalizer, which must not terminate again.
    ctx = zmq.Context()
    ctx.socket(zmq.PAIR)
    interrupted(ctx)
    ref = weakref.ref(ctx)
    del ctx
    gc.collect()
    until(lambda: ref() is None)
    return [[], True]


def plain_collected():
    ctx = plain_zmq.Context()
    ctx.socket(plain_zmq.PAIR)
    thread = threading.Thread(target=ctx.term)
    thread.start()
    ref = weakref.ref(ctx)
    del ctx
    gc.collect()
    thread.join(10)
    for _ in range(1000):
        if ref() is None:
            break
        gevent.sleep(0.001)
    return [[], ref() is None]


scenario = {scenario!r}
records = []
for _ in range({rounds}):
    if scenario == "collected":
        records.append([plain_collected(), collected()])
    else:
        how = "destroy" if scenario == "destroy" else "term"
        green = {{"retried": retried, "destroy": retried}}.get(scenario)
        green_record = green(how) if green else globals()[scenario]()
        plain_record = plain_single(how)
        if scenario in ("two_greenlets", "another_thread"):
            # Two green callers: each returns as the one plain caller does.
            plain_record = [plain_record[0] * 2, plain_record[1]]
        records.append([plain_record, green_record])
print(json.dumps({{"records": records, "most": running["most"], "warnings": shown}}))
"""


@pytest.mark.parametrize(
    "scenario", ["retried", "destroy", "two_greenlets", "another_thread", "collected"]
)
def test_term_during_a_term_waits_for_it_and_returns_as_one_plain_term(scenario: str) -> None:
    # retried: term() interrupted by a gevent.Timeout, the socket closed,
    # term() again (in plain 8 runs of this, 3 raised EFAULT, 3 hung and 1
    # aborted in libzmq). destroy: destroy() after the interrupted term.
    # two_greenlets, another_thread: term() from two places at once.
    # collected: the context dropped while its terminate runs.
    result = run_python(_CHILD.format(scenario=scenario, rounds=ROUNDS), timeout=60, check=False)
    assert result.returncode == 0, f"status {result.returncode}\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout)
    for plain, green in report["records"]:
        assert green == plain
    assert report["most"] == 1, "two of pyzmq's terminates ran at once"
    # Plain pyzmq's socket of the collected scenario warns that it was
    # collected unclosed, and so does the green one; nothing else warns.
    expected = ["ResourceWarning"] * (2 * ROUNDS) if scenario == "collected" else []
    assert report["warnings"] == expected
    assert result.stderr == ""


# -- an exception from term() ------------------------------------------------


@pytest.mark.timeout(20)  # in process: no child interpreter to wait for
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
