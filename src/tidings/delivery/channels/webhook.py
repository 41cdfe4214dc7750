"""Webhooks: POST the documented JSON body, signed with the channel's own secret.

The body is ``Message.to_payload()`` plus ``"event": "notification.<kind>"`` and ``"sent_at"``.
``X-Tidings-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes under the
channel's secret; a receiver recomputes it over the raw body and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.delivery.channels.base import Channel, DeliveryError, check_reply, required
from tidings.delivery.http import AddressRefused, OutboundHTTP, ResolveFailed, shared_http
from tidings.delivery.message import Message

SIGNATURE_HEADER = "X-Tidings-Signature"


def generate_secret() -> str:
    """A new per-channel signing secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def sign(body: bytes, secret: str) -> str:
    """The ``X-Tidings-Signature`` value for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, secret: str, signature: str) -> bool:
    """True when ``signature`` is the right one for ``body`` (for receivers and tests)."""
    return hmac.compare_digest(sign(body, secret), signature)


def check_webhook_url(url: str) -> None:
    """Refuse anything but an absolute http(s) URL (addresses are checked when connecting)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"webhook URL {url!r} must be an http:// or https:// URL")


class WebhookChannel(Channel):
    """One webhook.  Config: ``{"url": …, "secret": …}`` (make the secret with ``generate_secret``)."""

    kind = "webhook"

    def __init__(self, url: str, secret: str, *, http: OutboundHTTP, clock: Clock = utcnow) -> None:
        check_webhook_url(url)
        self.url = url
        self.secret = secret
        self.http = http
        self.clock = clock

    @classmethod
    def from_config(cls, config: dict[str, Any], settings: Settings) -> Self:
        url, secret = required(config, "url", cls.kind), required(config, "secret", cls.kind)
        return cls(url, secret, http=shared_http(settings))

    def body(self, message: Message) -> bytes:
        payload = message.to_payload()
        payload["event"] = f"notification.{message.kind}"
        payload["sent_at"] = self.clock().isoformat()
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, message: Message) -> None:
        body = self.body(message)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self.secret),
            "X-Tidings-Event": f"notification.{message.kind}",
        }
        try:
            reply = self.http.post(self.url, body, headers)
        except AddressRefused as exc:
            raise DeliveryError.gone(str(exc)) from exc
        except (ResolveFailed, httpx.HTTPError) as exc:
            raise DeliveryError.temporary(f"webhook {self._origin()} failed: {exc!r}") from exc
        check_reply(reply, self.clock(), f"webhook {self._origin()}")

    def _origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"
