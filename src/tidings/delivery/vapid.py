"""VAPID keys (RFC 8292): made on first run, kept in the data dir with mode 0600, reused after."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

KEY_FILE = "vapid_private.pem"


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VapidKeys:
    """The server's VAPID key pair; ``application_server_key`` goes to ``pushManager.subscribe``."""

    vapid: Vapid
    path: Path

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

    def authorization(self, endpoint: str, subject: str, expires: datetime) -> str:
        """The ``Authorization: vapid t=…, k=…`` header value for a push to ``endpoint``."""
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": subject,
            "exp": int(expires.timestamp()),
        }
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


def contact_for(base_url: str, sender: str = "") -> str:
    """The VAPID ``sub`` claim: the site's https URL, else the email sender, else a placeholder."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname and "." in parts.hostname:
        return f"https://{parts.netloc}"
    if "@" in sender and "." in sender.rpartition("@")[2]:
        return f"mailto:{sender}"
    return "mailto:tidings@localhost"
