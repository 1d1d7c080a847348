"""CURVE authentication with GreenAuthenticator: a known client in, a stranger out.

ZAP requests are answered by a greenlet (pyzmq's ThreadAuthenticator would
use an OS thread). Only clients whose public key is in the certificate
directory are let in; the stranger's handshake is refused, so its recv
times out after RCVTIMEO, as it would with blocking pyzmq.
"""

import os
import shutil
import tempfile

import gevent

import green_zmq as zmq
import green_zmq.auth

ctx = zmq.Context()

with tempfile.TemporaryDirectory() as keys:
    # One key pair per party; the server trusts the public keys in `trusted`.
    server_public, server_secret = zmq.auth.load_certificate(
        zmq.auth.create_certificates(keys, "server")[1]
    )
    client_public, client_secret = zmq.auth.load_certificate(
        zmq.auth.create_certificates(keys, "client")[1]
    )
    trusted = os.path.join(keys, "trusted")
    os.mkdir(trusted)
    # Only the client's public key file: secrets never go in the trusted dir.
    shutil.copy(os.path.join(keys, "client.key"), trusted)

    auth = zmq.auth.GreenAuthenticator(ctx)
    auth.start()
    auth.allow("127.0.0.1")
    # Keys are read now, so the temporary directory may go away afterwards.
    auth.configure_curve(domain="*", location=trusted)

server = ctx.socket(zmq.REP)
server.curve_secretkey = server_secret
server.curve_publickey = server_public
server.curve_server = True
port = server.bind_to_random_port("tcp://127.0.0.1")


def ask(public, secret):
    with ctx.socket(zmq.REQ) as sock:
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_serverkey = server_public
        sock.RCVTIMEO = 500  # ms; honoured, and it blocks only this greenlet
        sock.linger = 0
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send(b"hello")
        try:
            return sock.recv().decode()
        except zmq.Again:
            return "no reply (refused)"


def serve_one():
    server.send(b"welcome, " + server.recv())


gevent.spawn(serve_one)
print(f"trusted client: {ask(client_public, client_secret)}")
print(f"stranger: {ask(*zmq.curve_keypair())}")

auth.stop()
server.close()
ctx.term()
