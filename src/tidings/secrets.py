"""Server secrets: random keys made on first run, kept in the data dir with mode 0600.

A secret signs what Tidings hands out and must recognise later (unsubscribe links, …).  Each
has a name; its file is ``<data dir>/secret-<name>.key`` holding 32 random bytes, hex-encoded.
Several processes starting at once agree on one secret: the first to link its file in wins.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

SECRET_BYTES = 32
NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


def secret_path(data_dir: Path, name: str) -> Path:
    if not NAME.match(name):
        raise ValueError(f"secret name {name!r}: lower-case letters, digits and '-' only")
    return Path(data_dir) / f"secret-{name}.key"


def load_or_create_secret(data_dir: Path, name: str) -> bytes:
    """The secret called ``name`` in ``data_dir``, made (mode 0600) if there is none yet."""
    path = secret_path(data_dir, name)
    if not path.exists():
        _write_new_secret(path)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


@lru_cache(maxsize=16)
def cached_secret(data_dir: Path, name: str) -> bytes:
    """``load_or_create_secret`` read once per process (``data_dir`` resolved by the caller)."""
    return load_or_create_secret(data_dir, name)


def _write_new_secret(path: Path) -> None:
    """Write a fresh secret with mode 0600; if another process wrote one first, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
