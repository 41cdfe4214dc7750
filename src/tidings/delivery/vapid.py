"""VAPID keys (RFC 8292): made on first run, kept in the data dir with mode 0600, reused after.

A signed token is valid until its ``exp`` (at most 24 hours ahead), so one is signed per push
service origin and reused for every push to it until half its lifetime has passed — instead of
an ECDSA signature (and its JSON and base64 around it) for every push.
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

KEY_FILE = "vapid_private.pem"
TOKEN_LIFETIME = timedelta(hours=12)  # a token's exp ahead of its signing (RFC 8292: <= 24 h)
TOKENS_KEPT = 1024  # push service origins whose token is kept (the cache starts over past it)


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VapidKeys:
    """The server's VAPID key pair; ``application_server_key`` goes to ``pushManager.subscribe``."""

    vapid: Vapid
    path: Path
    _tokens: dict[tuple[str, str], tuple[datetime, str]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> VapidKeys:
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            _write_new_key(path)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return cls(Vapid.from_pem(path.read_bytes()), path)

    @property
    def application_server_key(self) -> str:
        """The public key as an uncompressed P-256 point, URL-safe base64 (what browsers need)."""
        point = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def authorization(
        self, endpoint: str, subject: str, now: datetime, lifetime: timedelta = TOKEN_LIFETIME
    ) -> str:
        """The ``Authorization: vapid t=…, k=…`` header value for a push to ``endpoint`` at
        ``now``: a token signed for the endpoint's origin, reused while it has more than half
        of ``lifetime`` left (and, should the clock go back, no more than ``lifetime``)."""
        parts = urlsplit(endpoint)
        key = (f"{parts.scheme}://{parts.netloc}", subject)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and now + lifetime / 2 < cached[0] <= now + lifetime:
            return cached[1]
        expires = now + lifetime
        header = self.sign(key[0], subject, expires)
        with self._lock:
            if len(self._tokens) >= TOKENS_KEPT:
                self._tokens.clear()
            self._tokens[key] = (expires, header)
        return header

    def sign(self, audience: str, subject: str, expires: datetime) -> str:
        """A freshly signed ``vapid t=…, k=…`` header value for the push service ``audience``."""
        claims = {"aud": audience, "sub": subject, "exp": int(expires.timestamp())}
        return str(self.vapid.sign(claims)["Authorization"])


def _write_new_key(path: Path) -> None:
    """Write a fresh key with mode 0600; if another process wrote one first, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


@lru_cache(maxsize=16)
def contact_for(base_url: str, sender: str = "") -> str:
    """The VAPID ``sub`` claim: the site's https URL, else the email sender, else a placeholder."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname and "." in parts.hostname:
        return f"https://{parts.netloc}"
    if "@" in sender and "." in sender.rpartition("@")[2]:
        return f"mailto:{sender}"
    return "mailto:tidings@localhost"
