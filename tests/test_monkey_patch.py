"""green_zmq.monkey.patch(): zmq.green (and plain zmq) made green; each test a fresh interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import printed_facts, run_plain_and_monkey, run_python

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).with_name("monkey_fixtures")
# The fixtures on the path; no inherited GREEN_ZMQ_MONKEY (the suite itself
# may run under python -m green_zmq.monkey).
ENV = {"PYTHONPATH": str(FIXTURES), "GREEN_ZMQ_MONKEY": None}


def run(code: str) -> str:
    return run_python(code, env=ENV).stdout


def test_patch_makes_every_zmq_green_path_green_zmq():
    run(
        """
        import green_zmq, green_zmq.proxying, green_zmq.poll
        from green_zmq import monkey
        import green_zmq.eventloop.ioloop as green_ioloop
        import green_zmq.eventloop.zmqstream as green_stream
        monkey.patch()
        import zmq
        import zmq.green
        from zmq import green
        from zmq.green.eventloop import ioloop, zmqstream
        assert green is zmq.green
        for name in ("Context", "Socket", "Poller", "select", "device", "proxy",
                     "proxy_steerable", "MessageTracker"):
            assert getattr(green, name) is getattr(green_zmq, name), name
        assert zmq.green.core.Context is zmq.green.core._Context is green_zmq.Context
        assert zmq.green.core._Socket is green_zmq.Socket
        assert zmq.green.poll._Poller is zmq.green.poll.Poller is green_zmq.Poller
        # zmq.green.device is the function (pyzmq's package binds it over the module).
        import sys
        assert sys.modules["zmq.green.device"].device is green_zmq.device
        assert zmq.green.device is green_zmq.device
        assert ioloop.IOLoop is zmq.green.eventloop.IOLoop is green_ioloop.IOLoop
        assert ioloop.PeriodicCallback is green_ioloop.PeriodicCallback
        assert zmqstream.ZMQStream is green_stream.ZMQStream
        # The constants and everything else stay pyzmq's, and plain zmq is untouched.
        assert green.PUSH is zmq.PUSH and green.ZMQError is zmq.ZMQError
        assert zmq.Context is not green_zmq.Context
        assert monkey.is_patched() and monkey.is_patched("zmq.green")
        assert not monkey.is_patched("zmq")
        """
    )


def test_modules_that_imported_zmq_green_before_the_patch_see_green_zmq():
    run(
        """
        import zmq.green as early
        from zmq.green.eventloop import ioloop as early_ioloop
        import green_zmq, green_zmq.eventloop.ioloop
        assert early.Context is not green_zmq.Context
        from green_zmq import monkey
        monkey.patch()
        assert early.Context is green_zmq.Context
        assert early_ioloop.IOLoop is green_zmq.eventloop.ioloop.IOLoop
        ctx = early.Context.instance()
        assert isinstance(ctx.socket(early.PAIR), green_zmq.Socket)
        """
    )


def test_names_bound_from_zmq_green_before_the_patch_keep_pyzmqs_objects():
    # The documented limit, as in gevent: a copied name cannot be reached.
    run(
        """
        from zmq.green import Context as copied
        import green_zmq
        from green_zmq import monkey
        monkey.patch()
        assert copied.__module__ == "zmq.green.core", copied
        import zmq.green
        assert zmq.green.Context is green_zmq.Context
        """
    )


def test_patch_is_idempotent_and_only_adds():
    run(
        """
        import zmq, zmq.green, green_zmq
        from green_zmq import monkey
        monkey.patch()
        monkey.patch()
        assert zmq.green.Context is green_zmq.Context and zmq.Context is not green_zmq.Context
        monkey.patch(zmq=True)
        plain_view = zmq._future._zmq
        monkey.patch(zmq=True)
        monkey.patch()
        assert zmq._future._zmq is plain_view
        assert zmq.Context is green_zmq.Context and zmq.green.Context is green_zmq.Context
        assert monkey.is_patched("zmq") and monkey.is_patched("zmq.green")
        """
    )


def test_patch_zmq_makes_plain_zmq_green():
    run(
        """
        import sys
        import zmq
        import zmq.devices
        import green_zmq, green_zmq.proxying
        from zmq.sugar.tracker import MessageTracker as pyzmq_tracker
        from green_zmq import monkey
        monkey.patch(zmq=True)
        for name in ("Context", "Socket", "Poller", "select", "device", "proxy",
                     "proxy_steerable"):
            assert getattr(zmq, name) is getattr(green_zmq, name), name
        assert type(zmq.Context.instance()) is green_zmq.Context
        assert zmq.devices.proxy is green_zmq.proxy
        assert zmq.devices.monitored_queue is sys.modules["green_zmq.proxying"].monitored_queue
        # Green, and pyzmq's own trackers (zmq._FINISHED_TRACKER) are still zmq.MessageTrackers.
        assert zmq.MessageTracker is green_zmq.MessageTracker
        assert isinstance(zmq._FINISHED_TRACKER, zmq.MessageTracker)
        assert issubclass(pyzmq_tracker, zmq.MessageTracker)
        # Frames stay pyzmq's (its recv makes them); their trackers are green.
        assert zmq.Frame is zmq.sugar.frame.Frame
        from zmq import green
        assert green.Context is green_zmq.Context
        """
    )


def test_objects_made_before_the_patch_stay_plain_and_keep_working():
    run(
        """
        import zmq
        plain_class = zmq.Socket
        ctx = zmq.Context()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        a.bind("inproc://before"); b.connect("inproc://before")
        poller = zmq.Poller(); poller.register(b, zmq.POLLIN)
        import green_zmq
        from green_zmq import monkey
        monkey.patch(zmq=True)
        assert type(ctx) is not green_zmq.Context and type(a) is plain_class
        # Still what zmq.Context and zmq.Socket name, as in plain pyzmq.
        assert isinstance(ctx, zmq.Context) and isinstance(a, zmq.Socket)
        assert isinstance(poller, zmq.Poller)
        a.send(b"still plain")
        assert dict(poller.poll(1000)) == {b: zmq.POLLIN}
        assert b.recv() == b"still plain"
        # New sockets of that old context are green ones.
        c = ctx.socket(zmq.PAIR)
        assert isinstance(c, zmq.Socket) and type(c) is green_zmq.Socket
        # A green poller takes the old plain sockets too.
        a.send(b"again")
        assert dict(zmq.Poller().poll(0)) == {}
        p = zmq.Poller(); p.register(b, zmq.POLLIN)
        assert dict(p.poll(1000)) == {b: zmq.POLLIN} and b.recv() == b"again"
        for s in (a, b, c):
            s.close()
        ctx.term()
        """
    )


def test_every_socket_made_after_the_patch_is_a_zmq_socket():
    run(
        """
        import zmq
        early_ctx = zmq.Context()
        import green_zmq
        from green_zmq import monkey
        monkey.patch(zmq=True)
        ctx = zmq.Context()
        made = [
            ctx.socket(zmq.PUSH),
            early_ctx.socket(zmq.PUSH),
            zmq.Context.instance().socket(zmq.PUSH),
            zmq.Socket(ctx, zmq.PUSH),
            zmq.Context.shadow(ctx.underlying).socket(zmq.PUSH),
        ]
        made.append(zmq.Socket.shadow(made[0].underlying))
        for s in made:
            assert isinstance(s, zmq.Socket) and isinstance(s, green_zmq.Socket), s
        for s in made[:-1]:
            s.close()
        ctx.term(); early_ctx.term(); zmq.Context.instance().term()
        """
    )


def test_a_plain_zmq_library_blocks_only_its_greenlet_under_patch_zmq():
    output = run(
        """
        import threading, zmq, gevent
        import plain_lib
        from green_zmq import monkey
        monkey.patch(zmq=True)

        ports = []
        bound = threading.Event()
        def serve():  # a real thread, with a socket of its own, answering after 0.3 s
            server = zmq.Context.instance().socket(zmq.REP)
            ports.append(server.bind_to_random_port("tcp://127.0.0.1"))
            bound.set()
            server.recv(); threading.Event().wait(0.3); server.send(b"reply")
            server.close()
        threading.Thread(target=serve).start()
        bound.wait(5)
        port = ports[0]
        ticks = []
        def ticker():
            while True:
                ticks.append(1); gevent.sleep(0.005)
        t = gevent.spawn(ticker)
        gevent.sleep(0)
        assert plain_lib.fetch(f"tcp://127.0.0.1:{port}") == b"reply"
        t.kill()
        print(len(ticks))
        """
    )
    assert int(output) >= 20, "the hub was blocked while the library waited"


def test_without_the_patch_the_plain_library_blocks_the_hub():
    # The control for the test above: the same scenario, unpatched.
    output = run(
        """
        import threading, zmq, gevent
        import plain_lib
        server = zmq.Context().socket(zmq.REP)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        def serve():
            server.recv(); threading.Event().wait(0.3); server.send(b"reply")
        threading.Thread(target=serve).start()
        ticks = []
        def ticker():
            while True:
                ticks.append(1); gevent.sleep(0.005)
        t = gevent.spawn(ticker)
        gevent.sleep(0)
        assert plain_lib.fetch(f"tcp://127.0.0.1:{port}") == b"reply"
        t.kill()
        print(len(ticks))
        """
    )
    assert int(output) <= 1


THIRD_PARTY_CHECKS = """
import gevent
assert greenish_lib.which_zmq() == "green_zmq.core", greenish_lib.which_zmq()
with gevent.Timeout(10):
    assert greenish_lib.recv_with_timeout(100) == "timed out"
    assert greenish_lib.several_waiters(5) == [b"0", b"1", b"2", b"3", b"4"]
    assert greenish_lib.echo_through_stream(50) >= 20
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_zmq_green_package_works_unedited_imported_before_or_after_the_patch(when):
    patch = "from green_zmq import monkey; monkey.patch()\n"
    imports = "import greenish_lib\n"
    run((imports + patch if when == "before" else patch + imports) + THIRD_PARTY_CHECKS)


def test_without_the_patch_the_zmq_green_package_gets_pyzmqs_zmq_green():
    assert run("import greenish_lib; print(greenish_lib.which_zmq())").strip() == "zmq.green.core"


def test_zmq_asyncio_keeps_working_after_patch_zmq():
    run(
        """
        import asyncio
        import zmq, zmq.asyncio
        import green_zmq
        from green_zmq import monkey
        monkey.patch(zmq=True)
        # zmq.asyncio still subclasses pyzmq, not green_zmq.
        assert green_zmq.Socket not in zmq.asyncio.Socket.__mro__

        async def main():
            ctx = zmq.asyncio.Context()
            a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
            port = a.bind_to_random_port("tcp://127.0.0.1")
            b.connect(f"tcp://127.0.0.1:{port}")
            poller = zmq.asyncio.Poller()
            poller.register(b, zmq.POLLIN)
            receiving = asyncio.ensure_future(poller.poll(5000))
            await asyncio.sleep(0.05)
            await a.send(b"async")
            assert dict(await receiving) == {b: zmq.POLLIN}
            assert await b.recv() == b"async"
            # An asyncio wrapper of a green socket, as pyzmq's from_socket makes.
            green = zmq.Context.instance().socket(zmq.PAIR)
            wrapped = zmq.asyncio.Socket.from_socket(green)
            assert wrapped.underlying == green.underlying
            for s in (a, b, green):
                s.close(linger=0)
            ctx.term()

        asyncio.run(main())
        """
    )


THREAD_DEVICE_PROGRAM = """
import sys
import zmq, zmq.devices
if sys.argv[1] == "patched":
    from green_zmq import monkey
    monkey.patch(zmq=True)
device = zmq.devices.ThreadDevice(zmq.QUEUE, zmq.ROUTER, zmq.DEALER)
front = device.bind_in_to_random_port("tcp://127.0.0.1")
back = device.bind_out_to_random_port("tcp://127.0.0.1")
device.start()
ctx = zmq.Context()
client, worker = ctx.socket(zmq.REQ), ctx.socket(zmq.REP)
client.connect(f"tcp://127.0.0.1:{front}"); worker.connect(f"tcp://127.0.0.1:{back}")
client.rcvtimeo = worker.rcvtimeo = 5000
client.send(b"ping")
worker.send(worker.recv() + b"!")
assert client.recv() == b"ping!"
client.close(); worker.close(); ctx.term()
print("done")
"""


def test_pyzmq_thread_device_works_after_patch_zmq():
    assert run_python(THREAD_DEVICE_PROGRAM, "patched", env=ENV).stdout == "done\n"


@pytest.mark.slow
def test_a_program_that_leaves_a_thread_device_running_exits_cleanly_after_patch_zmq():
    # The device's daemon thread runs libzmq's proxy, as in plain pyzmq. A
    # gevent hub parked there woke as the program ended, and CPython 3.12
    # ended that thread under greenlet's feet: the heap was corrupted, and
    # about one exit in fifteen aborted.
    for _ in range(20):
        result = run_python(THREAD_DEVICE_PROGRAM, "patched", env=ENV, check=False)
        assert (result.returncode, result.stdout) == (0, "done\n"), result.stderr[-2000:]


STEERABLE_PROGRAM = """
import sys, time
import zmq, zmq.devices
if sys.argv[1] == "patched":
    from green_zmq import monkey
    monkey.patch(zmq=True)
device = zmq.devices.ThreadProxySteerable(zmq.PULL, zmq.PUSH, zmq.PUB, zmq.PAIR)
device.bind_in("inproc://in"); device.bind_out("inproc://out")
device.bind_mon("inproc://mon"); device.bind_ctrl("inproc://ctrl")
device.start()
ctx = zmq.Context.instance()
push, pull, ctrl = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL), ctx.socket(zmq.PAIR)
for s, where in ((push, "in"), (pull, "out"), (ctrl, "ctrl")):
    s.linger = 0
    while True:
        try:
            s.connect(f"inproc://{where}")
            break
        except zmq.ZMQError:
            time.sleep(0.01)
pull.rcvtimeo = 2000
ctrl.send(b"PAUSE")
push.send(b"while paused")
try:
    print("forwarded while paused:", pull.recv())
except zmq.Again:
    print("held while paused")
ctrl.send(b"TERMINATE")
device.join(5)
for s in (push, pull, ctrl):
    s.close()
"""


def test_a_thread_device_in_a_real_thread_is_libzmqs_after_patch_zmq_as_in_plain_pyzmq():
    # Where nothing else runs in the device's thread, it runs libzmq's
    # proxy, as plain pyzmq does: libzmq 4.3.5's PAUSE keeps forwarding
    # (green_zmq's own proxy_steerable holds messages back, as libzmq's
    # documentation says).
    plain = run_python(STEERABLE_PROGRAM, "plain", env=ENV).stdout
    assert run_python(STEERABLE_PROGRAM, "patched", env=ENV).stdout == plain


def run_fixture_plain_and_patched(name: str) -> tuple[dict[str, str], dict[str, str]]:
    """What fixture ``name`` prints, run by python and by ``python -m green_zmq.monkey --zmq``."""
    plain, patched = run_plain_and_monkey(str(FIXTURES / name), env=ENV)
    return printed_facts(plain.stdout), printed_facts(patched.stdout)


def test_one_context_instance_whoever_asks_after_patch_zmq():
    # A plain program reaches a ThreadDevice over inproc://, which works only
    # if the device's Context.instance() is the program's.
    plain, patched = run_fixture_plain_and_patched("device_over_inproc.py")
    assert plain["reply"] == "b'ping!'"
    # What the patch changes on purpose: zmq.green's and green_zmq's own
    # singletons, distinct from zmq's in plain pyzmq, are the one instance.
    for name in ("zmq.green.Context.instance()", "green_zmq.Context.instance()"):
        key = f"{name} is the program's"
        assert (plain.pop(key), patched.pop(key)) == ("False", "True")
    assert patched == plain


def test_zmq_asyncio_objects_are_still_zmq_instances_after_patch_zmq():
    plain, patched = run_fixture_plain_and_patched("asyncio_isinstance.py")
    assert plain["zmq.asyncio socket is a zmq.Socket"] == "True"
    assert patched == plain


def test_pyzmq_thread_authenticator_works_after_patch_zmq():
    run(
        """
        import zmq
        import zmq.auth.thread
        from green_zmq import monkey
        monkey.patch(zmq=True)
        import green_zmq.auth
        assert zmq.auth.thread.ThreadAuthenticator is green_zmq.auth.GreenAuthenticator
        ctx = zmq.Context()
        auth = zmq.auth.thread.ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_plain(domain="*", passwords={"admin": "secret"})
        server = ctx.socket(zmq.PULL)
        server.plain_server = True
        port = server.bind_to_random_port("tcp://127.0.0.1")
        def client(password):
            c = ctx.socket(zmq.PUSH)
            c.plain_username, c.plain_password = b"admin", password
            c.connect(f"tcp://127.0.0.1:{port}")
            c.send(password)
            return c
        clients = [client(b"wrong"), client(b"secret")]
        server.rcvtimeo = 5000
        assert server.recv() == b"secret"
        server.rcvtimeo = 300
        try:
            server.recv()
        except zmq.Again:
            pass
        else:
            raise AssertionError("a wrong password was let in")
        for s in (server, *clients):
            s.close(linger=0)
        auth.stop()
        ctx.term()
        """
    )


def test_patch_from_another_thread_is_refused():
    output = run(
        """
        import threading, zmq.green
        from green_zmq import monkey
        errors = []
        def patch():
            try:
                monkey.patch()
            except RuntimeError as e:
                errors.append(str(e))
        t = threading.Thread(target=patch); t.start(); t.join()
        assert not monkey.is_patched()
        assert zmq.green.Context.__module__ == "zmq.green.core"
        print(errors[0])
        """
    )
    assert "must be called from the main thread" in output


def test_patch_from_a_thread_that_first_imported_gevent_is_refused():
    # gevent.hub records the thread that imports it as the main thread; the
    # check must not believe it.
    output = run(
        """
        import sys, threading
        outcome = []
        def patch():
            # gevent (and green_zmq) first imported here, in a worker thread.
            assert "gevent" not in sys.modules
            from green_zmq import monkey
            try:
                monkey.patch()
            except RuntimeError as e:
                outcome.append(str(e))
            else:
                outcome.append("patched")
        t = threading.Thread(target=patch); t.start(); t.join()
        from green_zmq import monkey
        assert not monkey.is_patched()
        print(outcome[0])
        # The main thread still may.
        monkey.patch()
        assert monkey.is_patched()
        """
    )
    assert "must be called from the main thread" in output


def test_patch_from_a_real_thread_is_refused_under_patch_all():
    # Under patch_all() threading's threads are greenlets; a real OS thread
    # (gevent's threadpool) is still not the main thread.
    output = run(
        """
        from gevent import monkey as gevent_monkey
        gevent_monkey.patch_all()
        import gevent
        from green_zmq import monkey
        def patch():
            try:
                monkey.patch()
            except RuntimeError as e:
                return str(e)
            return "patched"
        print(gevent.get_hub().threadpool.spawn(patch).get())
        print(patch())
        """
    )
    refused, allowed = output.splitlines()
    assert "must be called from the main thread" in refused
    assert allowed == "patched"


def test_unknown_options_and_targets_are_refused():
    run(
        """
        from green_zmq import monkey
        for call in (lambda: monkey.patch(zmq_green=True), lambda: monkey.patch(True)):
            try:
                call()
            except TypeError:
                pass
            else:
                raise AssertionError("accepted")
        try:
            monkey.is_patched("zmq.asyncio")
        except ValueError as e:
            assert "zmq.asyncio" in str(e)
        else:
            raise AssertionError("accepted")
        assert not monkey.is_patched()
        """
    )
