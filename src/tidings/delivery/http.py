"""Delivery's outbound HTTP (Web Push, webhooks) through the project's one guarded door.

The private-network guard is ``tidings.sources.network``'s ``AddressGuard`` — the same one the
``Fetcher`` uses: the host is resolved, every address checked, the answer cached for a short
while, and each connection opened to one of those checked addresses (so DNS rebinding cannot
reach a private one; TLS still checks the certificate against the URL's host name).

Delivery needs what the ``Fetcher`` does not offer — a POST of exact bytes with our own headers,
whose status we map ourselves — and it needs it thousands of times a second from a pool of
threads: ``OutboundHTTP`` is a small HTTP/1.1 client on the standard library's
``http.client`` with kept-alive connections per origin (no redirects, no proxies from the
environment, a timeout on every connect, read and write, and a cap on how much of a reply is
read).  A push through it costs a third of the CPU of the same POST through an ``httpx.Client``
(whose per-request machinery — cookies, auth and redirect hooks, a shared pool lock — dominated
a push).  Failures are raised as ``httpx`` errors, the types callers already handle.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

import httpx

from tidings.config import Settings
from tidings.sources.network import (
    AddressGuard,
    AddressRefused,
    ResolveFailed,
    is_private,
    parse_address,
)
from tidings.sources.schedule import parse_retry_after

__all__ = [
    "AddressRefused",
    "OutboundHTTP",
    "Reply",
    "ResolveFailed",
    "check_public_host",
    "parse_retry_after",
    "resolve",
    "shared_http",
]

REPLY_CAP = 64 * 1024
DELIVERY_TIMEOUT = 10.0
KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused
IDLE_PER_ORIGIN = 64  # idle connections kept per origin at most
PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # kept as they are in a request target; the rest is quoted

Origin = tuple[str, str, int]  # scheme, host, port


@lru_cache(maxsize=2)
def _guard(allow_private: bool) -> AddressGuard:
    """One guard per policy for the checks below: their answers are cached for the guard's
    short TTL (as the connections' own guard caches them), not looked up for every send."""
    return AddressGuard(allow_private=allow_private)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal is itself); raises ``ResolveFailed``."""
    return _guard(True).addresses(host, port)


def is_private_address(address: str) -> bool:
    return is_private(parse_address(address))


def check_public_host(host: str, settings: Settings, port: int = 443) -> list[str]:
    """The addresses of ``host``, refused (``AddressRefused``) when any is private and private
    networks are not allowed; ``ResolveFailed`` when the name does not resolve."""
    return _guard(settings.allow_private_networks).addresses(host, port)


@dataclass(frozen=True)
class Reply:
    """What came back: the status, the headers (lower-case names) and the start of the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Target:
    """Where a URL's request goes: its origin, the request target, and Basic auth if it has
    user info (``https://user:secret@host/…``)."""

    origin: Origin
    path: str
    authorization: str | None

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise httpx.UnsupportedProtocol(f"cannot POST to {url!r}: not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = quote(parts.path or "/", safe=PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=PATH_SAFE + "?")
        authorization = None
        if parts.username is not None or parts.password is not None:
            user = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(user.encode("utf-8")).decode("ascii")
        return cls((parts.scheme, parts.hostname, port), path, authorization)


class _Connection(http.client.HTTPConnection):
    """An ``http.client`` connection whose socket ``open`` makes (pinned, maybe TLS)."""

    def __init__(
        self, origin: Origin, timeout: float, open_socket: Callable[[Origin], socket.socket]
    ) -> None:
        super().__init__(origin[1], origin[2], timeout=timeout)
        self.origin = origin
        self._open_socket = open_socket
        self.opened = False  # a connection was made (failures after it are not connect errors)
        self.idle_since = 0.0

    def connect(self) -> None:
        self.sock = self._open_socket(self.origin)
        self.opened = True

    def dropped(self) -> bool:
        """True when the peer closed this idle connection (or sent something unasked)."""
        if self.sock is None:
            return True
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))


class OutboundHTTP:
    """POSTs to delivery targets, connecting only to addresses the guard checked.

    Raises ``AddressRefused`` (a private target: permanent), ``ResolveFailed`` or an
    ``httpx.HTTPError`` (network trouble, timeouts, a broken reply: temporary).  Safe to use
    from many threads at once; each request has a connection to itself.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = DELIVERY_TIMEOUT,
        guard: AddressGuard | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard or AddressGuard(allow_private=settings.allow_private_networks)
        self.timeout = timeout
        self.user_agent = settings.user_agent
        self._monotonic = monotonic
        self._tls: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> Reply:
        target = Target.parse(url)
        sent = {"User-Agent": self.user_agent, **headers}
        if target.authorization and not any(k.lower() == "authorization" for k in sent):
            sent["Authorization"] = target.authorization
        connection = self._take(target.origin)
        try:
            with _as_httpx_errors(connection):
                connection.request("POST", target.path, body=content, headers=sent)
                response = connection.getresponse()
                body = response.read(REPLY_CAP)
                reply = Reply(response.status, _lower_case(response.getheaders()), body)
        except BaseException:
            connection.close()
            raise
        if response.isclosed() and not response.will_close:
            self._give_back(connection)  # the whole reply was read: the connection is reusable
        else:
            connection.close()
        return reply

    def _take(self, origin: Origin) -> _Connection:
        """A kept-alive connection to ``origin`` still open, or a new (unconnected) one."""
        now = self._monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                return _Connection(origin, self.timeout, self._open_socket)
            if now - connection.idle_since < KEEPALIVE_SECONDS and not connection.dropped():
                return connection
            connection.close()

    def _give_back(self, connection: _Connection) -> None:
        connection.idle_since = self._monotonic()
        with self._lock:
            if not self._closed:
                idle = self._idle.setdefault(connection.origin, [])
                if len(idle) < IDLE_PER_ORIGIN:
                    idle.append(connection)
                    return
        connection.close()

    def _open_socket(self, origin: Origin) -> socket.socket:
        """A TCP connection to one of the checked addresses of the origin's host (TLS for
        https, verified against the host name)."""
        scheme, host, port = origin
        sock = _connect(self.guard.addresses(host, port), port, self.timeout)
        if scheme == "https":
            try:
                return self._tls_context().wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        return sock

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=False)
        return self._tls

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout)
        except OSError as exc:
            last = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert last is not None  # the guard never returns an empty list
    raise last


def _lower_case(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Header names in lower case; repeated headers joined with ", " (as httpx does)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


@contextmanager
def _as_httpx_errors(connection: _Connection) -> Iterator[None]:
    """Socket and protocol failures as the ``httpx`` errors callers handle (the guard's
    ``AddressRefused`` and ``ResolveFailed`` pass through)."""
    try:
        yield
    except (AddressRefused, ResolveFailed):
        raise
    except TimeoutError as exc:
        timeout = httpx.ReadTimeout if connection.opened else httpx.ConnectTimeout
        raise timeout(f"timed out: {exc}") from exc
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(f"bad reply: {exc!r}") from exc
    except OSError as exc:
        error = httpx.ReadError if connection.opened else httpx.ConnectError
        raise error(str(exc) or repr(exc)) from exc


@lru_cache(maxsize=8)
def shared_http(settings: Settings) -> OutboundHTTP:
    """The one client for these settings, shared by every channel (connections are reused)."""
    return OutboundHTTP(settings)
