"""Delivery's outbound HTTP (Web Push, webhooks) through the project's one guarded door.

The private-network guard is ``tidings.sources.network``'s ``AddressGuard`` — the same one the
``Fetcher`` uses: the host is resolved, every address checked, the answer cached for a short
while, and each connection opened to one of those checked addresses (``GuardedBackend``, so DNS
rebinding cannot reach a private one; TLS still checks the certificate against the URL's host
name).

Delivery needs what the ``Fetcher`` does not offer — a POST of exact bytes with our own headers,
whose status we map ourselves — and it needs it thousands of times a second from a pool of
threads: ``OutboundHTTP`` posts through an ``httpcore`` connection pool (httpx's own engine:
kept-alive connections, an idle one checked for a hang-up before reuse) without the
``httpx.Client`` around it, whose per-request machinery (cookies, auth and redirect hooks,
request and response models) cost more CPU than the rest of a push.  No redirects, no proxies
from the environment, a timeout on every connect, read and write, and a cap on how much of a
reply is read.  Failures are raised as ``httpx`` errors, the types callers already handle.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import httpcore
import httpx

from tidings.config import Settings
from tidings.sources.network import (
    AddressGuard,
    AddressRefused,
    ResolveFailed,
    as_httpx_errors,
    guarded_pool,
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
IDLE_CONNECTIONS = 64  # idle connections kept at most


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


@lru_cache(maxsize=4096)
def _target(url: str) -> tuple[httpcore.URL, bytes | None]:
    """A URL as httpcore's, and Basic auth from its user info (``https://user:secret@host/…``),
    as httpx sends it; parsed once per URL (a device's endpoint, a webhook)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise httpx.UnsupportedProtocol(f"cannot POST to {url!r}: not an http(s) URL")
    authorization = None
    if parsed.userinfo:
        user = f"{parsed.username}:{parsed.password}".encode()
        authorization = b"Basic " + base64.b64encode(user)
    target = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    return target, authorization


class OutboundHTTP:
    """POSTs to delivery targets, connecting only to addresses the guard checked.

    Raises ``AddressRefused`` (a private target: permanent), ``ResolveFailed`` or an
    ``httpx.HTTPError`` (network trouble, timeouts, a broken reply: temporary).  Safe to use
    from many threads at once.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = DELIVERY_TIMEOUT,
        guard: AddressGuard | None = None,
    ) -> None:
        self.guard = guard or _guard(settings.allow_private_networks)
        self.user_agent = settings.user_agent.encode()
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        # No cap on open connections: the sender threads bound how many are open at once.
        self._pool = guarded_pool(
            self.guard, max_connections=None, keep_alive=IDLE_CONNECTIONS, expiry=KEEPALIVE_SECONDS
        )

    def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> Reply:
        target, authorization = _target(url)
        sent = [(b"User-Agent", self.user_agent)]
        sent += [(name.encode(), value.encode()) for name, value in headers.items()]
        if authorization and not any(name.lower() == "authorization" for name in headers):
            sent.append((b"Authorization", authorization))
        extensions = {"timeout": self._timeouts}
        with (
            as_httpx_errors(),
            self._pool.stream(
                "POST", target, headers=sent, content=content, extensions=extensions
            ) as response,
        ):
            # A reply read only in part is closed with its connection (never reused).
            body = _capped(response.iter_stream(), REPLY_CAP)
            return Reply(response.status, _lower_case(response.headers), body)

    def close(self) -> None:
        self._pool.close()


def _capped(chunks: Iterable[bytes], cap: int) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= cap:
            break
    return bytes(body[:cap])


def _lower_case(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names in lower case; repeated headers joined with ", " (as httpx does)."""
    merged: dict[str, str] = {}
    for raw_name, raw_value in headers:
        key, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


@lru_cache(maxsize=8)
def shared_http(settings: Settings) -> OutboundHTTP:
    """The one client for these settings, shared by every channel (connections are reused)."""
    return OutboundHTTP(settings)
