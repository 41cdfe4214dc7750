"""WebSub (W3C) subscriber side: find the hub, subscribe, check verifications and signatures.

Polling stays on as the fallback: a pushed feed is simply checked earlier than its schedule.
The HTTP callback endpoint that hubs call is ``tidings.web.websub``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx

from tidings.clock import naive_utc, utcnow
from tidings.store.db import Database
from tidings.store.models import Source

if TYPE_CHECKING:
    from tidings.sources.http import Fetcher

DEFAULT_LEASE_SECONDS = 10 * 24 * 3600
SIGNATURE_ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)


def link_header_rels(headers: Mapping[str, str] | httpx.Headers, base: str) -> dict[str, str]:
    """``{rel: absolute url}`` from HTTP Link headers (RFC 8288), first link of each rel wins."""
    rels: dict[str, str] = {}
    for value in httpx.Headers(headers).get_list("link"):
        for target, params in _LINK.findall(value):
            match = _REL.search(params)
            names = (match.group(1) or match.group(2)).split() if match else []
            for name in names:
                rels.setdefault(name.lower(), urljoin(base, target.strip()))
    return rels


@dataclass(frozen=True)
class Subscription:
    hub_url: str
    topic_url: str
    callback_url: str
    secret: str
    lease_seconds: int


def subscribe(
    fetcher: Fetcher,
    hub_url: str,
    topic_url: str,
    callback_url: str,
    secret: str,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
) -> None:
    """Ask the hub to push ``topic_url`` to ``callback_url``; it verifies with a GET later."""
    fetcher.post_form(
        hub_url,
        {
            "hub.mode": "subscribe",
            "hub.topic": topic_url,
            "hub.callback": callback_url,
            "hub.secret": secret,
            "hub.lease_seconds": str(lease_seconds),
        },
    )


def unsubscribe(fetcher: Fetcher, hub_url: str, topic_url: str, callback_url: str) -> None:
    fetcher.post_form(
        hub_url,
        {
            "hub.mode": "unsubscribe",
            "hub.topic": topic_url,
            "hub.callback": callback_url,
        },
    )


def callback_url(base_url: str, source_id: int) -> str:
    """Where hubs deliver a source's pushes: ``{TIDINGS_BASE_URL}/websub/{id}``."""
    return f"{base_url.rstrip('/')}/websub/{source_id}"


def subscribe_source(
    db: Database,
    fetcher: Fetcher,
    source_id: int,
    *,
    base_url: str,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
) -> Subscription:
    """Subscribe a source whose feed named a hub: a new secret is stored *before* the hub is asked,
    because the hub may verify the intent before it even answers the subscription request."""
    secret = secrets.token_hex(32)
    with db.session() as session:
        source = session.get(Source, source_id)
        if source is None or not source.hub_url:
            raise LookupError(f"source {source_id} has no WebSub hub")
        source.topic_url = source.topic_url or source.url
        source.websub_secret = secret
        hub, topic = source.hub_url, source.topic_url
    callback = callback_url(base_url, source_id)
    subscribe(fetcher, hub, topic, callback, secret, lease_seconds)
    return Subscription(hub, topic, callback, secret, lease_seconds)


def intent_confirmed(source: Source | None, mode: str, topic: str) -> bool:
    """Is this verification request for a (un)subscription we asked for?

    Subscribe: the source exists, the topic is its topic and we hold a secret for it (we only
    set one when subscribing).  Unsubscribe: the topic matches and we no longer hold a secret.
    """
    if source is None or topic != (source.topic_url or source.url):
        return False
    if mode == "subscribe":
        return bool(source.websub_secret)
    if mode == "unsubscribe":
        return not source.websub_secret
    return False


def lease_until(lease_seconds: str | None, now: datetime | None = None) -> datetime | None:
    """When a verified subscription runs out (naive UTC, as stored)."""
    if not lease_seconds or not lease_seconds.strip().isdigit():
        return None
    return naive_utc((now or utcnow()) + timedelta(seconds=int(lease_seconds)))


def signature_valid(secret: str | None, body: bytes, header: str | None) -> bool:
    """Check ``X-Hub-Signature: sha256=<hex>`` (sha1/sha384/sha512 too) in constant time."""
    if not secret or not header or "=" not in header:
        return False
    method, _, received = header.strip().partition("=")
    digest = SIGNATURE_ALGORITHMS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, received.strip().lower())


def sign(secret: str, body: bytes, method: str = "sha256") -> str:
    """The X-Hub-Signature value a hub would send for body."""
    return f"{method}={hmac.new(secret.encode(), body, SIGNATURE_ALGORITHMS[method]).hexdigest()}"
