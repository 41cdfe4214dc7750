"""Delivery's HTTP client against a real local HTTP/1.1 server: kept-alive connections reused,
a connection the server closed never reused, replies capped, timeouts and user info handled."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postserver import running
from tidings.config import Settings
from tidings.delivery.http import REPLY_CAP, AddressRefused, OutboundHTTP


@dataclass
class Server:
    base_url: str = ""
    peers: list[int] = field(default_factory=list)  # the client port of each request
    authorizations: list[str] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            server.peers.append(self.client_address[1])
            server.authorizations.append(self.headers.get("Authorization", ""))
            if self.path == "/held":
                server.release.wait(10)
            if self.path == "/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("X-Twice", "a")
                self.send_header("X-Twice", "b")
                self.end_headers()
                self.wfile.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                return
            body = b"x" * (3 * REPLY_CAP) if self.path == "/big" else b""
            self.send_response(201)
            self.send_header("Content-Length", str(len(body)))
            if self.path == "/close":
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            if self.path == "/hang-up":  # closes without saying so: the client must notice
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: Server

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.state.closed.set()


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    httpd = _Server(("127.0.0.1", 0), _handler(state))
    httpd.state = state
    with running(httpd) as base_url:
        state.base_url = base_url
        try:
            yield state
        finally:
            state.release.set()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[OutboundHTTP]:
    settings = Settings.from_env({}, data_dir=tmp_path, allow_private_networks=True)
    http = OutboundHTTP(settings, timeout=2)
    yield http
    http.close()


def test_kept_alive_connection_is_reused(server: Server, client: OutboundHTTP) -> None:
    for _ in range(3):
        assert client.post(f"{server.base_url}/ok", b"{}", {}).status == 201
    assert len(set(server.peers)) == 1


def test_connection_the_server_closed_is_not_reused(server: Server, client: OutboundHTTP) -> None:
    assert client.post(f"{server.base_url}/hang-up", b"{}", {}).status == 201
    assert server.closed.wait(5)
    assert client.post(f"{server.base_url}/ok", b"{}", {}).status == 201
    first, second = server.peers
    assert first != second


def test_connection_close_is_honoured(server: Server, client: OutboundHTTP) -> None:
    client.post(f"{server.base_url}/close", b"{}", {})
    client.post(f"{server.base_url}/ok", b"{}", {})
    first, second = server.peers
    assert first != second


def test_reply_is_capped_and_its_connection_dropped(server: Server, client: OutboundHTTP) -> None:
    reply = client.post(f"{server.base_url}/big", b"{}", {})
    assert reply.status == 201 and len(reply.body) == REPLY_CAP
    assert client.post(f"{server.base_url}/ok", b"{}", {}).status == 201
    first, second = server.peers
    assert first != second  # the rest of the big reply is never read as the next reply


def test_chunked_reply_with_repeated_header(server: Server, client: OutboundHTTP) -> None:
    reply = client.post(f"{server.base_url}/chunked", b"{}", {})
    assert (reply.status, reply.body) == (200, b"hello world")
    assert reply.headers["x-twice"] == "a, b"
    assert client.post(f"{server.base_url}/ok", b"{}", {}).status == 201
    assert len(set(server.peers)) == 1


def test_slow_reply_times_out(server: Server, tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path, allow_private_networks=True)
    impatient = OutboundHTTP(settings, timeout=0.2)
    with pytest.raises(httpx.TimeoutException):
        impatient.post(f"{server.base_url}/held", b"{}", {})
    server.release.set()
    impatient.close()


def test_user_info_becomes_basic_auth(server: Server, client: OutboundHTTP) -> None:
    url = server.base_url.replace("http://", "http://hook:s%40cret@") + "/ok"
    client.post(url, b"{}", {})
    client.post(url, b"{}", {"Authorization": "Bearer mine"})
    assert server.authorizations == ["Basic aG9vazpzQGNyZXQ=", "Bearer mine"]


def test_private_address_is_refused_before_connecting(server: Server, tmp_path: Path) -> None:
    strict = OutboundHTTP(Settings.from_env({}, data_dir=tmp_path))
    with pytest.raises(AddressRefused):
        strict.post(f"{server.base_url}/ok", b"{}", {})
    assert server.peers == []


def test_nothing_listening_is_a_connect_error(client: OutboundHTTP) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        client.post(f"http://127.0.0.1:{port}/ok", b"{}", {})
