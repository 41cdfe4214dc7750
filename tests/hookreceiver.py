"""A local HTTP server that receives webhooks and Apprise ``json://`` posts.

A path registered with ``expect_signature(path, secret)`` accepts a POST only when its
``X-Tidings-Signature`` is the HMAC-SHA256 of the exact body under that secret (401 otherwise),
as a careful webhook consumer would.  ``answer(path, status, headers)`` makes a path reply 410,
429 + Retry-After, 500, … instead of 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from tests.postserver import serving


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes
    accepted: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HookReceiver:
    base_url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    posts: list[ReceivedPost] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def expect_signature(self, path: str, secret: str) -> None:
        self.secrets[path] = secret

    def answer(self, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        self.answers[path] = (status, headers or {})

    def receive(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        accepted = signature_ok(self.secrets.get(path), headers, body)
        with self.lock:
            self.posts.append(ReceivedPost(path, headers, body, accepted))
        if not accepted:
            return 401, {}
        return self.answers.get(path, (200, {}))

    def accepted(self, path: str) -> list[ReceivedPost]:
        return [post for post in self.posts if post.path == path and post.accepted]


def signature_ok(secret: str | None, headers: dict[str, str], body: bytes) -> bool:
    """No secret: anything goes.  Otherwise the header must match the body's HMAC."""
    if secret is None:
        return True
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("x-tidings-signature", ""))


def running_hook_receiver() -> AbstractContextManager[HookReceiver]:
    """A hook receiver on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    return serving(HookReceiver())
