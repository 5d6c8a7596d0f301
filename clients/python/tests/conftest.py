"""Fixtures for the client tests.

The live server is started by test/clients/python.test.ts (vitest), which passes its gRPC address and
admin token in SECRETGATE_TEST_ADDR / SECRETGATE_TEST_TOKEN. A recording server (grpcio, in process)
stands in where a test must see what the client sent: the metadata, or a TLS handshake.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import types
import subprocess
import threading
import uuid
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from secretgate.v1 import secret_service_pb2 as pb
from secretgate.v1 import secret_service_pb2_grpc as pb_grpc


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set; run these tests through `npx vitest run test/clients/python.test.ts`")
    return value


@pytest.fixture(scope="session")
def address() -> str:
    return _required_env("SECRETGATE_TEST_ADDR")


@pytest.fixture(scope="session")
def token() -> str:
    return _required_env("SECRETGATE_TEST_TOKEN")


@pytest.fixture
def name() -> str:
    """A name no other test uses."""
    return f"py-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingServicer(pb_grpc.SecretServiceServicer):
    """Records each call's metadata and answers Read with one found secret; ListHosted never answers
    (it waits until the caller gives up), so deadlines can be tested without racing a clock. A Read's
    deadline, as the seconds it had left on arrival, and its request are recorded too."""

    def __init__(self) -> None:
        self.metadata: list[dict] = []
        self.seconds_left: list[float] = []
        self.read_requests: list[pb.ReadRequest] = []

    def Read(self, request, context):
        self.read_requests.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        self.seconds_left.append(context.time_remaining())
        return pb.ReadResponse(results=[pb.SecretResult(name=n, found=True, value="recorded") for n in request.names])

    def ListHosted(self, request, context):
        gone = threading.Event()
        context.add_callback(gone.set)
        gone.wait()
        return pb.ListHostedResponse()


def _start(servicer: RecordingServicer, credentials=None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_SecretServiceServicer_to_server(servicer, server)
    port = (
        server.add_secure_port("127.0.0.1:0", credentials)
        if credentials
        else server.add_insecure_port("127.0.0.1:0")
    )
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
def recording_server():
    servicer = RecordingServicer()
    server, addr = _start(servicer)
    yield servicer, addr
    server.stop(None)


@pytest.fixture
def tls_recording_server(tmp_path: Path):
    """A recording server behind a self-signed certificate for `localhost`; yields (servicer, address, CA PEM)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    servicer = RecordingServicer()
    server, addr = _start(servicer, credentials)
    yield servicer, addr.replace("127.0.0.1", "localhost"), cert.read_bytes()
    server.stop(None)


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def opentelemetry_stand_in(monkeypatch):
    """A minimal stand-in for ``opentelemetry-api`` (not installed here): its ``propagate.inject`` writes the
    headers a W3C propagator (plus baggage) would for an active span, whose traceparent the fixture yields.
    The client's module that imports it conditionally is reloaded with it present, and without it afterwards."""
    from secretgate_client import _channel

    propagate = types.ModuleType("opentelemetry.propagate")

    def inject(carrier, context=None, setter=None):
        carrier.update({"traceparent": TRACEPARENT, "tracestate": "vendor=opaque", "baggage": "user=someone"})

    propagate.inject = inject
    package = types.ModuleType("opentelemetry")
    package.propagate = propagate
    monkeypatch.setitem(sys.modules, "opentelemetry", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.propagate", propagate)
    importlib.reload(_channel)
    yield TRACEPARENT
    monkeypatch.undo()
    importlib.reload(_channel)
