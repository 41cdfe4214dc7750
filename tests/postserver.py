"""The HTTP side shared by the test receivers (push service, webhooks): POSTs on 127.0.0.1.

A receiver has ``base_url`` and ``receive(path, headers, body) -> (status, reply headers)``;
``serving(receiver)`` runs it on an ephemeral port for the duration of a block.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar


class Receiver(Protocol):
    base_url: str

    def receive(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str]]: ...


R = TypeVar("R", bound=Receiver)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply_headers = receiver.receive(self.path, headers, body)
            self.send_response(status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(receiver: R) -> Iterator[R]:
    """``receiver`` on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    with running(ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))) as base_url:
        receiver.base_url = base_url
        yield receiver


@contextmanager
def running(server: ThreadingHTTPServer) -> Iterator[str]:
    """``server`` (bound to 127.0.0.1) serving in a thread for the block; its base URL."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
