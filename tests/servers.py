"""Serving in tests: an ASGI app under uvicorn in a thread on a free 127.0.0.1 port, free ports,
and whether a URL answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


def listening_socket() -> socket.socket:
    """A socket listening on an ephemeral port of 127.0.0.1 (its URL is known before serving)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # requests queue here until uvicorn's loop takes them: no start-up race
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serving(app: FastAPI, sock: socket.socket, **config: Any) -> Iterator[None]:
    """``app`` under uvicorn (with its lifespan) in a thread, on the already listening ``sock``;
    ``config`` adds to uvicorn's. Leaving it stops the server (and closes ``sock``)."""
    options: dict[str, Any] = {
        "log_level": "warning",
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    server = uvicorn.Server(uvicorn.Config(app, **(options | config)))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


@contextmanager
def served(app: FastAPI, **config: Any) -> Iterator[str]:
    """``serving`` on a new listening socket; its URL."""
    sock = listening_socket()
    with serving(app, sock, **config):
        yield url_of(sock)


def free_port(count: int = 1) -> int:
    """A port such that it and the ``count - 1`` after it are free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + count > 65535:
            continue
        try:
            for offset in range(count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise AssertionError("no free ports")


def up(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
