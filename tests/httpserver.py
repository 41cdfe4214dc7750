"""A real HTTP server on 127.0.0.1 for tests: routes per test, a request log, slow and odd responses.

    with serve() as server:                       # or the ``http_server`` pytest fixture
        server.route("/feed.xml", Reply(body=RSS, headers={"Content-Type": "application/rss+xml"}))
        server.route("/old", Reply.redirect("/feed.xml"))
        server.route("/slow", Reply(body=b"x" * 100, trickle=0.1, chunk_size=1))
        server.route("/echo", lambda request: Reply(body=request.body))
        fetch(server.url("/feed.xml"))
        assert server.requests[0].headers["User-Agent"].startswith("Tidings/")

Bodies may be bytes or an iterable of byte chunks (streamed with chunked transfer encoding, so a
50 MB body never needs to exist in memory).  ``Reply(encoding="gzip" | "br")`` compresses the body
and sets Content-Encoding.  ``trickle`` waits that many seconds between chunks; the wait ends at
once when the server stops, so a test never hangs on its own server.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import brotli
import pytest

__all__ = ["HTTPTestServer", "RecordedRequest", "Reply", "http_server", "serve"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str  # with the query string
    headers: Message  # case-insensitive: request.headers["user-agent"]
    body: bytes
    host: str  # the Host header

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class Reply:
    """A response: status, headers and a body of bytes or of chunks."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    encoding: str | None = None  # "gzip" | "br": compress the body, set Content-Encoding
    trickle: float | None = None  # seconds to wait before each chunk
    chunk_size: int | None = None  # split a bytes body into chunks of this size

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": location})

    def chunks(self) -> Iterator[bytes]:
        body = self.body
        if isinstance(body, bytes):
            body = _encode(body, self.encoding)
            size = self.chunk_size or max(len(body), 1)
            yield from (body[i : i + size] for i in range(0, len(body), size))
        else:
            yield from body

    def fixed_length(self) -> int | None:
        if isinstance(self.body, bytes) and self.trickle is None:
            return len(_encode(self.body, self.encoding))
        return None


Handler = Callable[[RecordedRequest], Reply]


def _constant(reply: Reply) -> Handler:
    return lambda _request: reply


def _encode(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "br":
        return bytes(brotli.compress(body))
    return body


class HTTPTestServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self.active = 0  # requests being answered right now
        self.peak_active = 0
        self.changed = threading.Condition()  # notified whenever a request starts or ends
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- configuration --------------------------------------------------------------------

    def route(self, path: str, reply: Reply | Handler) -> str:
        """Answer requests for ``path`` (query string ignored) with a Reply or a handler; return its URL."""
        self.routes[path] = reply if callable(reply) else _constant(reply)
        return self.url(path)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or '127.0.0.1'}:{self.port}{path}"

    # -- what happened --------------------------------------------------------------------

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == path]

    def wait_for(self, predicate: Callable[[HTTPTestServer], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(server)`` holds (re-checked on every request start/end)."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> HTTPTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HTTPTestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- bookkeeping used by the handler --------------------------------------------------

    def _record(self, request: RecordedRequest, delta: int) -> None:
        with self.changed:
            if delta > 0:
                self.requests.append(request)
            self.active += delta
            self.peak_active = max(self.peak_active, self.active)
            self.changed.notify_all()

    def _handler_for(self, request: RecordedRequest) -> Handler:
        return self.routes.get(request.route) or (lambda _r: Reply(404, b"not found"))


def _make_handler(server: HTTPTestServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the request log is ``server.requests``."""

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(
                self.command,
                self.path,
                self.headers,
                self.rfile.read(length),
                self.headers.get("Host", ""),
            )
            server._record(request, +1)
            try:
                self._send(server._handler_for(request)(request))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                server._record(request, -1)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            if reply.encoding:
                self.send_header("Content-Encoding", reply.encoding)
            length = reply.fixed_length()
            if length is not None:
                self.send_header("Content-Length", str(length))
            elif "Content-Length" not in reply.headers:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                self._write_body(
                    reply, chunked=length is None and "Content-Length" not in reply.headers
                )

        def _write_body(self, reply: Reply, *, chunked: bool) -> None:
            for chunk in reply.chunks():
                if reply.trickle is not None and server.stopping.wait(reply.trickle):
                    self.close_connection = True
                    return
                if chunked and chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                elif chunk:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

    return _Handler


@contextmanager
def serve() -> Iterator[HTTPTestServer]:
    """A running server for the duration of the ``with`` block."""
    with HTTPTestServer() as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[HTTPTestServer]:
    """A running ``HTTPTestServer``, stopped after the test."""
    with serve() as server:
        yield server
