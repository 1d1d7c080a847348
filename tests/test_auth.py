"""GreenAuthenticator: ZAP served in a greenlet, with pyzmq's policies.

Every refusal test checks the same thing from the application's side: the
refused peer's message never arrives on the server socket, while a trusted
peer's message does. Handshake outcomes are read from the server's (green)
monitor socket, never guessed with sleeps.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest
import zmq as plain_zmq
import zmq.auth.thread

import green_zmq as zmq
import green_zmq.auth
import green_zmq.auth.thread
from green_zmq.auth import CURVE_ALLOW_ANY, GreenAuthenticator
from green_zmq.utils.monitor import recv_monitor_message
from helpers import run_python

REPO = Path(__file__).resolve().parent.parent

_HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


@pytest.fixture
def auth(ctx: zmq.Context) -> Iterator[GreenAuthenticator]:
    authenticator = GreenAuthenticator(ctx)
    authenticator.start()
    yield authenticator
    authenticator.stop()


class Server:
    """An application PULL socket on loopback, with a monitor on its handshakes."""

    def __init__(self, ctx: zmq.Context, **options: Any) -> None:
        self.socket = ctx.socket(zmq.PULL)
        self.options = options
        for name, value in options.items():
            setattr(self.socket, name, value)
        self.monitor = self.socket.get_monitor_socket(_HANDSHAKE_EVENTS)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")

    def client(self, ctx: zmq.Context, source: str = "127.0.0.1", **options: Any) -> zmq.Socket:
        client = ctx.socket(zmq.PUSH)
        client.linger = 0
        for name, value in options.items():
            setattr(client, name, value)
        # "source;destination": lets a loopback test pick the peer's address.
        client.connect(f"tcp://{source}:0;127.0.0.1:{self.port}")
        return client

    def next_handshake(self) -> dict[str, Any]:
        return dict(recv_monitor_message(self.monitor))

    def assert_refused(self, client: zmq.Socket, status: int = 400) -> None:
        client.send(b"from the refused peer")
        event = self.next_handshake()
        assert event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        assert event["value"] == status
        assert self.socket.poll(0) == 0

    def assert_only_accepted_reaches(
        self, ctx: zmq.Context, refused: dict[str, Any], accepted: dict[str, Any]
    ) -> None:
        """A client with ``refused`` options is refused; only one with ``accepted`` gets through.

        The accepted client connects only after the refusal was seen: the
        monitor's events do not say which peer they are about.
        """
        self.assert_refused(self.client(ctx, **refused))
        self.client(ctx, **accepted).send(b"from the accepted peer")
        assert self.socket.recv() == b"from the accepted peer"
        assert self.socket.poll(0) == 0


def curve_server_options() -> dict[str, Any]:
    public, secret = zmq.curve_keypair()
    return {"curve_server": True, "curve_publickey": public, "curve_secretkey": secret}


def curve_client_options(server: Server, public: bytes, secret: bytes) -> dict[str, Any]:
    return {
        "curve_serverkey": server.options["curve_publickey"],
        "curve_publickey": public,
        "curve_secretkey": secret,
    }


def client_certificate(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    """A client certificate in its own directory of public keys, for configure_curve."""
    keys = tmp_path / "public_keys"
    keys.mkdir()
    public_file, secret_file = green_zmq.auth.create_certificates(tmp_path, "client")
    os.replace(public_file, keys / Path(public_file).name)
    public, secret = green_zmq.auth.load_certificate(secret_file)
    assert secret is not None
    return keys, public, secret


# -- API ----------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_has_the_thread_authenticator_api() -> None:
    for name in dir(zmq.auth.thread.ThreadAuthenticator):
        if not name.startswith("_") and name not in ("pipe_endpoint",):
            assert hasattr(GreenAuthenticator, name), name


@pytest.mark.timeout(10)
def test_reexports_pyzmq_certificate_helpers() -> None:
    assert green_zmq.auth.create_certificates is plain_zmq.auth.create_certificates
    assert green_zmq.auth.load_certificate is plain_zmq.auth.load_certificate
    assert green_zmq.auth.load_certificates is plain_zmq.auth.load_certificates
    assert green_zmq.auth.CURVE_ALLOW_ANY == plain_zmq.auth.CURVE_ALLOW_ANY


@pytest.mark.timeout(10)
def test_thread_authenticator_path_gives_the_green_one() -> None:
    assert green_zmq.auth.thread.ThreadAuthenticator is GreenAuthenticator


@pytest.mark.timeout(10)
def test_start_and_stop(ctx: zmq.Context) -> None:
    authenticator = GreenAuthenticator(ctx)
    assert not authenticator.is_alive()
    authenticator.start()
    assert authenticator.is_alive()
    assert isinstance(authenticator.zap_socket, zmq.Socket)
    authenticator.stop()
    assert not authenticator.is_alive()
    assert authenticator.zap_socket is None
    # The ZAP endpoint was released: a new authenticator can bind it.
    again = GreenAuthenticator(ctx)
    again.start()
    again.stop()


@pytest.mark.timeout(10)
def test_default_context_is_the_green_instance() -> None:
    assert GreenAuthenticator().context is zmq.Context.instance()


@pytest.mark.timeout(10)
def test_context_termination_ends_the_authenticator() -> None:
    context = zmq.Context()
    authenticator = GreenAuthenticator(context)
    authenticator.start()
    serving = authenticator.greenlet
    assert serving is not None
    context.term()
    assert serving.dead
    assert not authenticator.is_alive()


# -- PLAIN -------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_plain_right_password_is_accepted(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    auth.configure_plain("*", {"admin": "secret"})
    server = Server(ctx, plain_server=True)
    client = server.client(ctx, plain_username=b"admin", plain_password=b"secret")
    client.send(b"hello")
    assert server.socket.recv() == b"hello"
    assert server.next_handshake()["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED


@pytest.mark.timeout(10)
def test_plain_wrong_password_is_refused(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    auth.configure_plain("*", {"admin": "secret"})
    server = Server(ctx, plain_server=True)
    server.assert_only_accepted_reaches(
        ctx,
        refused=dict(plain_username=b"admin", plain_password=b"guess"),
        accepted=dict(plain_username=b"admin", plain_password=b"secret"),
    )


@pytest.mark.timeout(10)
def test_plain_uses_the_configured_encoding(ctx: zmq.Context) -> None:
    authenticator = GreenAuthenticator(ctx, encoding="latin-1")
    authenticator.start()
    try:
        authenticator.configure_plain("*", {"jos\xe9": "s\xe9same"})
        server = Server(ctx, plain_server=True)
        client = server.client(
            ctx,
            plain_username="jos\xe9".encode("latin-1"),
            plain_password="s\xe9same".encode("latin-1"),
        )
        client.send(b"hello")
        assert server.socket.recv() == b"hello"
    finally:
        authenticator.stop()


# -- CURVE -------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_curve_known_key_is_accepted(
    ctx: zmq.Context, auth: GreenAuthenticator, tmp_path: Path
) -> None:
    keys, public, secret = client_certificate(tmp_path)
    auth.configure_curve("*", keys)
    server = Server(ctx, **curve_server_options())
    client = server.client(ctx, **curve_client_options(server, public, secret))
    client.send(b"hello")
    assert server.socket.recv() == b"hello"


@pytest.mark.timeout(10)
def test_curve_unknown_key_is_refused(
    ctx: zmq.Context, auth: GreenAuthenticator, tmp_path: Path
) -> None:
    keys, public, secret = client_certificate(tmp_path)
    auth.configure_curve("*", keys)
    server = Server(ctx, **curve_server_options())
    server.assert_only_accepted_reaches(
        ctx,
        refused=curve_client_options(server, *zmq.curve_keypair()),
        accepted=curve_client_options(server, public, secret),
    )


@pytest.mark.timeout(10)
def test_curve_allow_any_accepts_any_key(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    auth.configure_curve("*", CURVE_ALLOW_ANY)
    server = Server(ctx, **curve_server_options())
    for n in range(3):
        client = server.client(ctx, **curve_client_options(server, *zmq.curve_keypair()))
        client.send(b"key %d" % n)
        assert server.socket.recv() == b"key %d" % n


@pytest.mark.timeout(10)
def test_curve_callback_decides(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    trusted_public, trusted_secret = zmq.curve_keypair()
    asked: list[tuple[str, bytes]] = []

    class Provider:
        def callback(self, domain: str, key: bytes) -> bool:
            asked.append((domain, key))
            return key == trusted_public

    auth.configure_curve_callback("*", Provider())
    server = Server(ctx, **curve_server_options())
    server.assert_only_accepted_reaches(
        ctx,
        refused=curve_client_options(server, *zmq.curve_keypair()),
        accepted=curve_client_options(server, trusted_public, trusted_secret),
    )
    assert ("*", trusted_public) in asked


@pytest.mark.timeout(10)
def test_curve_callback_that_raises_is_a_refusal(
    ctx: zmq.Context, caplog: pytest.LogCaptureFixture
) -> None:
    trusted_public, trusted_secret = zmq.curve_keypair()

    class Provider:
        def callback(self, domain: str, key: bytes) -> bool:
            if key != trusted_public:
                raise LookupError("credentials store unavailable")
            return True

    authenticator = GreenAuthenticator(ctx, log=logging.getLogger("test.zap"))
    authenticator.start()
    try:
        authenticator.configure_curve_callback("*", Provider())
        server = Server(ctx, **curve_server_options())
        with caplog.at_level(logging.ERROR, logger="test.zap"):
            server.assert_refused(
                server.client(ctx, **curve_client_options(server, *zmq.curve_keypair())),
                status=500,
            )
        assert authenticator.is_alive()
        logged = [r.exc_text for r in caplog.records if r.exc_text]
        assert any("credentials store unavailable" in text for text in logged)
        # Still serving: the next peer is authenticated normally.
        options = curve_client_options(server, trusted_public, trusted_secret)
        accepted = server.client(ctx, **options)
        accepted.send(b"after the failure")
        assert server.socket.recv() == b"after the failure"
        assert server.socket.poll(0) == 0
    finally:
        authenticator.stop()


@pytest.mark.timeout(10)
def test_curve_callback_that_needs_an_asyncio_loop_is_a_refusal(
    ctx: zmq.Context, auth: GreenAuthenticator
) -> None:
    import asyncio

    class Provider:
        async def callback(self, domain: str, key: bytes) -> bool:
            await asyncio.sleep(0)
            return True

    auth.configure_curve_callback("*", Provider())
    server = Server(ctx, **curve_server_options())
    server.assert_refused(
        server.client(ctx, **curve_client_options(server, *zmq.curve_keypair())), status=500
    )
    assert auth.is_alive()


@pytest.mark.timeout(10)
def test_configure_gssapi_is_accepted(auth: GreenAuthenticator) -> None:
    # As in pyzmq there is nothing to configure; libzmq here has no GSSAPI.
    auth.configure_gssapi("*")
    assert auth.is_alive()


# -- addresses ---------------------------------------------------------------


@pytest.mark.timeout(10)
def test_allow_list_refuses_other_addresses(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    auth.allow("127.0.0.1")
    # NULL security asks ZAP only when the server names a domain.
    server = Server(ctx, zap_domain=b"test")
    server.assert_only_accepted_reaches(
        ctx,
        refused=dict(source="127.0.0.2"),
        accepted=dict(source="127.0.0.1"),
    )


@pytest.mark.timeout(10)
def test_deny_list_refuses_listed_addresses(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    auth.deny("127.0.0.2")
    server = Server(ctx, zap_domain=b"test")
    server.assert_only_accepted_reaches(
        ctx,
        refused=dict(source="127.0.0.2"),
        accepted=dict(source="127.0.0.1"),
    )


@pytest.mark.timeout(10)
def test_allow_list_still_requires_the_password(ctx: zmq.Context, auth: GreenAuthenticator) -> None:
    auth.allow("127.0.0.1")
    auth.configure_plain("*", {"admin": "secret"})
    server = Server(ctx, plain_server=True)
    server.assert_only_accepted_reaches(
        ctx,
        refused=dict(plain_username=b"admin", plain_password=b"guess"),
        accepted=dict(plain_username=b"admin", plain_password=b"secret"),
    )


# -- monkey-patched ----------------------------------------------------------

_PATCHED = """
from gevent import monkey
monkey.patch_all()

import threading
import gevent
import green_zmq as zmq
from green_zmq.auth import GreenAuthenticator
from green_zmq.utils.monitor import recv_monitor_message

assert monkey.is_module_patched("threading")
ctx = zmq.Context()
auth = GreenAuthenticator(ctx)
auth.start()
auth.configure_plain("*", {"admin": "secret"})
server = ctx.socket(zmq.PULL)
server.plain_server = True
monitor = server.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
port = server.bind_to_random_port("tcp://127.0.0.1")

def client(password):
    s = ctx.socket(zmq.PUSH)
    s.linger = 0
    s.plain_username = b"admin"
    s.plain_password = password
    s.connect("tcp://127.0.0.1:%d" % port)
    return s

# A monkey-patched thread is a greenlet: it must be able to wait too.
got = []
reader = threading.Thread(target=lambda: got.append(server.recv()))
reader.start()
refused = client(b"guess")
refused.send(b"from the refused peer")
event = recv_monitor_message(monitor)
assert event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH, event
assert not got
accepted = client(b"secret")
accepted.send(b"from the accepted peer")
reader.join()
assert got == [b"from the accepted peer"], got
assert server.poll(0) == 0
auth.stop()
ctx.destroy(linger=0)
print("OK")
"""


@pytest.mark.timeout(60)
def test_works_under_monkey_patching() -> None:
    result = run_python(_PATCHED, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


# -- stop() --------------------------------------------------------------------


def stop_while_a_request_is_answered(
    module: Any, authenticator_class: type, sleep: Any, event: Any
) -> dict[str, Any]:
    """stop() while a CURVE callback takes 0.3 s: does the peer's message arrive?"""
    context = module.Context()
    authenticator = authenticator_class(context)
    authenticator.start()
    entered = event()

    class SlowProvider:
        def callback(self, domain: str, key: bytes) -> bool:
            entered.set()
            sleep(0.3)
            return True

    authenticator.configure_curve_callback("*", SlowProvider())
    server = context.socket(module.PULL)
    server.linger = 0
    options = curve_server_options()
    for name, value in options.items():
        setattr(server, name, value)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = context.socket(module.PUSH)
    client.linger = 0
    client.curve_serverkey = options["curve_publickey"]
    client.curve_publickey, client.curve_secretkey = module.curve_keypair()
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"sent during stop()")
    result: dict[str, Any] = {"callback entered": entered.wait(5)}
    authenticator.stop()
    result["alive after stop"] = authenticator.is_alive()
    result["arrived"] = bool(server.poll(3000)) and server.recv()
    context.destroy(linger=0)
    return result


@pytest.mark.timeout(20)
def test_stop_answers_the_request_in_flight_as_thread_authenticator_does() -> None:
    plain = stop_while_a_request_is_answered(
        plain_zmq, plain_zmq.auth.thread.ThreadAuthenticator, time.sleep, threading.Event
    )
    green = stop_while_a_request_is_answered(
        zmq, GreenAuthenticator, gevent.sleep, gevent.event.Event
    )
    assert plain == {
        "callback entered": True,
        "alive after stop": False,
        "arrived": b"sent during stop()",
    }
    assert green == plain


@pytest.mark.timeout(10)
def test_stop_between_requests_is_immediate(ctx: zmq.Context) -> None:
    authenticator = GreenAuthenticator(ctx)
    authenticator.start()
    serving = authenticator.greenlet
    assert serving is not None
    gevent.sleep(0)  # the serving greenlet runs, and parks in its recv
    assert not serving.dead
    started = time.monotonic()
    authenticator.stop()
    assert time.monotonic() - started < 1.0
    assert serving.dead
