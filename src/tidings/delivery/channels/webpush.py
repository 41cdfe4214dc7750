"""Web Push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID).

Encryption is http_ece's aes128gcm (the library pywebpush encrypts with), called as pywebpush's
``WebPusher.encode`` calls it — a fresh ephemeral ECDH key and salt for every message, as RFC 8291
requires — without the subscription's copy and the key decoding done twice around it.  The VAPID
signature is py_vapid's, signed once per push service and reused (``VapidKeys.authorization``);
the POST goes through delivery's one guarded HTTP door.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.delivery.channels.base import Channel, DeliveryError, check_reply, required
from tidings.delivery.http import (
    AddressRefused,
    OutboundHTTP,
    ResolveFailed,
    check_public_host,
    is_private_address,
    resolve,
    shared_http,
)
from tidings.delivery.message import Message
from tidings.delivery.vapid import VapidKeys, contact_for

DEFAULT_TTL = 86400  # a day: yesterday's breaking news is not worth waking a phone for
PUSH_LIMIT = 4096  # bytes of encrypted body every push service must accept (RFC 8030 §7.2)
AES128GCM_OVERHEAD = 86 + 16 + 1  # header with sender key, AEAD tag, padding delimiter
PAYLOAD_LIMIT = PUSH_LIMIT - AES128GCM_OVERHEAD
TEXT_FIELDS = ("snippet", "body", "title", "byline", "source")
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ELLIPSIS = "…"


class InvalidEndpoint(ValueError):
    """A push subscription endpoint Tidings will not post to."""


def check_push_endpoint(url: str, settings: Settings) -> None:
    """Refuse an endpoint that is not ``https://`` (plain ``http://`` only to a private host when
    private networks are allowed) or whose host resolves to a private address when they are not.

    Raises ``InvalidEndpoint`` (a ``ValueError``), or ``ResolveFailed`` when the host does not
    resolve (which may pass: a sender retries).
    """
    parts = urlsplit(url)
    if not parts.hostname:
        raise InvalidEndpoint(f"push endpoint {url!r} has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        try:
            check_public_host(parts.hostname, settings, port)
        except AddressRefused as exc:
            raise InvalidEndpoint(f"push endpoint {url!r}: {exc}") from exc
        return
    if parts.scheme != "http" or not settings.allow_private_networks:
        raise InvalidEndpoint(f"push endpoint {url!r} must be https://")
    if not all(is_private_address(a) for a in resolve(parts.hostname, port)):
        raise InvalidEndpoint(f"push endpoint {url!r}: plain http:// only on a private network")


def push_payload(message: Message, limit: int = PAYLOAD_LIMIT) -> bytes:
    """The message as compact JSON that fits ``limit`` bytes (never the tag is touched).

    When too big: the HTML snippet goes first (HTML is never cut mid-tag), then the text fields
    are cut to one common length (the longest first, each ending in "…"), then the alert list is
    trimmed, and last the URL is dropped.
    """
    payload = message.to_payload()
    for step in (_drop_html, _level_texts, _level_texts, _trim_alerts, _drop_url):
        encoded = _encode(payload)
        if len(encoded) <= limit:
            return encoded
        step(payload, len(encoded) - limit)
    encoded = _encode(payload)
    if len(encoded) > limit:
        raise DeliveryError.gone(f"push payload for tag {message.tag!r} cannot fit {limit} bytes")
    return encoded


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _drop_html(payload: dict[str, Any], excess: int) -> None:
    payload["snippet_html"] = ""


def _level_texts(payload: dict[str, Any], excess: int) -> None:
    """Cut the longest text fields down to one level so that together they lose ``excess`` bytes."""
    sizes = {name: len(_encode({"": payload[name]})) for name in TEXT_FIELDS}
    level = _water_level(sorted(sizes.values(), reverse=True), excess + len(TEXT_FIELDS) * 3)
    for name, size in sizes.items():
        if size > level:
            payload[name] = _cut(payload[name], size - level)


def _water_level(sizes: list[int], excess: int) -> int:
    """The largest level L with sum(max(0, size - L)) >= excess (``sizes`` sorted, largest first)."""
    total = 0
    for count, size in enumerate(sizes, start=1):
        total += size
        level = (total - excess) // count
        following = sizes[count] if count < len(sizes) else 0
        if level >= following:
            return max(level, 0)
    return 0


def _cut(text: str, excess: int) -> str:
    """``text`` shorter by at least ``excess`` bytes, ending in "…" (or empty)."""
    data = text.encode("utf-8")
    room = len(data) - excess - len(ELLIPSIS.encode("utf-8"))
    if room <= 0:
        return ""
    return data[:room].decode("utf-8", errors="ignore").rstrip() + ELLIPSIS


def _trim_alerts(payload: dict[str, Any], excess: int) -> None:
    alerts, removed = payload["alerts"], 0
    while alerts and removed < excess:
        removed += len(_encode(alerts.pop())) + 1  # the item and its comma


def _drop_url(payload: dict[str, Any], excess: int) -> None:
    payload["url"] = ""


@lru_cache(maxsize=8)
def vapid_keys(data_dir: Path) -> VapidKeys:
    """The server's VAPID keys for this data dir (as configured: resolved here, once), loaded
    (or made) once per process."""
    return VapidKeys.load_or_create(Path(data_dir).resolve())


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WebPushChannel(Channel):
    """One browser or device subscription: config is the ``PushSubscription.toJSON()`` dict."""

    kind = "webpush"

    def __init__(
        self,
        subscription: dict[str, Any],
        settings: Settings,
        *,
        keys: VapidKeys,
        http: OutboundHTTP,
        ttl: int = DEFAULT_TTL,
        clock: Clock = utcnow,
    ) -> None:
        self.subscription = subscription
        self.settings = settings
        self.keys = keys
        self.http = http
        self.ttl = ttl
        self.clock = clock

    @classmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Self:
        subscription = {"endpoint": required(config, "endpoint", cls.kind)}
        subscription["keys"] = required(config, "keys", cls.kind)
        keys = vapid_keys(settings.data_dir)
        ttl = int(config.get("ttl", DEFAULT_TTL))
        return cls(subscription, settings, keys=keys, http=shared_http(settings), ttl=ttl)

    @property
    def endpoint(self) -> str:
        return str(self.subscription["endpoint"])

    def send(self, message: Message) -> None:
        self._check_endpoint()
        body = self._encrypt(push_payload(message))
        try:
            reply = self.http.post(self.endpoint, body, self._headers(message))
        except AddressRefused as exc:
            raise DeliveryError.gone(str(exc)) from exc
        except (ResolveFailed, httpx.HTTPError) as exc:
            raise DeliveryError.temporary(f"push to {self._origin()} failed: {exc!r}") from exc
        check_reply(reply, self.clock(), f"push service {self._origin()}")

    def _check_endpoint(self) -> None:
        try:
            check_push_endpoint(self.endpoint, self.settings)
        except ValueError as exc:
            raise DeliveryError.gone(str(exc)) from exc
        except ResolveFailed as exc:
            raise DeliveryError.temporary(str(exc)) from exc

    def _encrypt(self, payload: bytes) -> bytes:
        """The aes128gcm body: encrypted to the subscription's key with a new ephemeral key."""
        try:
            keys = self.subscription["keys"]
            receiver = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), _b64decode(keys["p256dh"])
            )
            auth = _b64decode(keys["auth"])
            if not auth:
                raise ValueError("the subscription has no auth secret")
            return bytes(
                http_ece.encrypt(
                    payload,
                    private_key=ec.generate_private_key(ec.SECP256R1()),
                    dh=receiver,
                    auth_secret=auth,
                    version="aes128gcm",
                )
            )
        except (http_ece.ECEException, ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise DeliveryError.gone(f"push subscription keys are unusable: {exc!r}") from exc

    def _headers(self, message: Message) -> dict[str, str]:
        contact = contact_for(self.settings.base_url, self.settings.smtp_from)
        headers = {
            "Authorization": self.keys.authorization(self.endpoint, contact, self.clock()),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self.ttl),
            "Urgency": message.urgency,
        }
        if TOPIC.match(message.tag):
            headers["Topic"] = message.tag
        return headers

    def _origin(self) -> str:
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"
