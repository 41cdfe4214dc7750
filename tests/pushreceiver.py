"""A local Web Push service, as a browser's push service would be: it takes an encrypted push,
checks the VAPID signature, and decrypts the payload with the subscription's private key.

``PushReceiver.subscribe()`` makes a subscription the way a browser does (a P-256 ECDH key pair
and a 16-byte auth secret) and returns the ``PushSubscription.toJSON()``-shaped dict.  Every POST
is recorded with its headers and decrypted JSON.  ``answer(path, status, headers)`` makes an
endpoint reply 404, 410, 429 + Retry-After, 500, … instead of 201.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from tests.postserver import serving


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    """A browser's side of one subscription: its keys and what it hands to the server."""

    path: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None

    def to_json(self) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }


@dataclass
class ReceivedPush:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    vapid_claims: dict[str, Any]


@dataclass
class PushReceiver:
    base_url: str = ""
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    received: list[ReceivedPush] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, application_server_key: str | None = None) -> Subscription:
        """A new subscription; with ``application_server_key`` the VAPID key must match it."""
        path = f"/push/{os.urandom(8).hex()}"
        subscription = Subscription(
            path=path,
            endpoint=self.base_url + path,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
            application_server_key=application_server_key,
        )
        self.subscriptions[path] = subscription
        return subscription

    def answer(self, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        """Make ``path`` reply ``status`` (with ``headers``) instead of accepting the push."""
        self.answers[path] = (status, headers or {})

    def receive(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        """Check, decrypt and record one push; the reply a push service would give."""
        subscription = self.subscriptions.get(path)
        if subscription is None:
            return self._refuse(path, 404, "no such subscription")
        if path in self.answers:
            return self.answers[path]
        if len(body) > 4096:  # RFC 8030 §7.2: a push service may refuse anything larger
            return self._refuse(path, 413, f"payload of {len(body)} bytes")
        claims, problem = check_vapid(headers.get("authorization", ""), subscription, self.base_url)
        if problem:
            return self._refuse(path, 403, problem)
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            return self._refuse(path, 400, "Content-Encoding aes128gcm and TTL are required")
        try:
            plain = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
            payload = json.loads(plain)
        except Exception as exc:  # a real push service would not know; the browser would drop it
            return self._refuse(path, 400, f"cannot decrypt: {exc!r}")
        with self.lock:
            self.received.append(ReceivedPush(path, headers, body, payload, claims))
        return 201, {"Location": f"{self.base_url}/message/{len(self.received)}"}

    def _refuse(self, path: str, status: int, why: str) -> tuple[int, dict[str, str]]:
        with self.lock:
            self.refused.append((path, status, why))
        return status, {}

    def pushes_to(self, subscription: Subscription) -> list[ReceivedPush]:
        return [push for push in self.received if push.path == subscription.path]


def check_vapid(
    authorization: str, subscription: Subscription, origin: str
) -> tuple[dict[str, Any], str]:
    """(claims, "") for a valid ``vapid t=…, k=…`` header; ({}, why) otherwise (RFC 8292)."""
    scheme, _, rest = authorization.partition(" ")
    params = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if scheme.lower() != "vapid" or "t" not in params or "k" not in params:
        return {}, "missing vapid t=…, k=… authorization"
    if subscription.application_server_key and params["k"] != subscription.application_server_key:
        return {}, "VAPID key differs from the subscription's applicationServerKey"
    if not Vapid02.verify(authorization):
        return {}, "bad VAPID signature"
    claims = json.loads(b64url_decode(params["t"].split(".")[1]))
    if claims.get("aud") != origin or int(claims.get("exp", 0)) <= time.time():
        return {}, f"bad VAPID claims {claims}"
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        return {}, "VAPID sub must be a mailto: or https: contact"
    return claims, ""


def running_push_receiver() -> AbstractContextManager[PushReceiver]:
    """A push receiver on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    return serving(PushReceiver())
