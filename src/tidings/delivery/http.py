"""Delivery's outbound HTTP (Web Push, webhooks) through the project's one guarded door.

The private-network guard and the pinned transport are ``tidings.sources.network``'s — the same
ones the ``Fetcher`` uses: the host is resolved, every address checked, and the connection opened
to a checked address (so DNS rebinding cannot reach a private one).  Delivery needs what the
``Fetcher`` does not offer — a POST of exact bytes with our own headers, whose status we map
ourselves — so ``OutboundHTTP`` is a thin client over that transport: a timeout, no redirects,
no proxies from the environment, and a cap on how much of a reply is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import httpx

from tidings.config import Settings
from tidings.sources.network import (
    AddressGuard,
    AddressRefused,
    PinnedTransport,
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


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal is itself); raises ``ResolveFailed``."""
    return AddressGuard(allow_private=True).addresses(host, port)


def is_private_address(address: str) -> bool:
    return is_private(parse_address(address))


def check_public_host(host: str, settings: Settings, port: int = 443) -> list[str]:
    """The addresses of ``host``, refused (``AddressRefused``) when any is private and private
    networks are not allowed; ``ResolveFailed`` when the name does not resolve."""
    return AddressGuard(allow_private=settings.allow_private_networks).addresses(host, port)


@dataclass(frozen=True)
class Reply:
    """What came back: the status, the headers (lower-case names) and the start of the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class OutboundHTTP:
    """POSTs to delivery targets through the guarded, pinned transport.

    Raises ``AddressRefused`` (a private target: permanent), ``ResolveFailed`` or an
    ``httpx.HTTPError`` (network trouble, timeouts: temporary).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = DELIVERY_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        guard = AddressGuard(allow_private=settings.allow_private_networks)
        self.client = httpx.Client(
            transport=transport or PinnedTransport(guard),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": settings.user_agent},
        )

    def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> Reply:
        with self.client.stream("POST", url, content=content, headers=dict(headers)) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= REPLY_CAP:
                    break
            return Reply(response.status_code, dict(response.headers), bytes(body[:REPLY_CAP]))

    def close(self) -> None:
        self.client.close()


@lru_cache(maxsize=8)
def shared_http(settings: Settings) -> OutboundHTTP:
    """The one client for these settings, shared by every channel (connections are reused)."""
    return OutboundHTTP(settings)
