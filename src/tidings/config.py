"""Configuration is one typed table: every setting, its default, its check and its doc.

Settings come from the environment (``TIDINGS_*``).  ``Settings.from_env()`` validates them
all at start-up and raises ``ConfigError`` naming the variable and what to change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value Tidings cannot use."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def _setting(default: Any, parse: Callable[[str], Any], doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _setting(
        Path("tidings-data"), Path, "Directory for the SQLite database, VAPID keys and secrets."
    )
    database_url: str = _setting(
        "", str, "SQLAlchemy URL; empty means SQLite in TIDINGS_DATA_DIR/tidings.db."
    )
    base_url: str = _setting(
        "http://127.0.0.1:8080", str, "Public URL of the web app (links, WebSub callbacks)."
    )
    smtp_url: str = _setting(
        "", str, "smtp://user:pass@host:port, smtp+starttls://… (or ?starttls=1) or smtps://… (TLS) for email; empty disables email."
    )
    smtp_from: str = _setting(
        "", str, "From address of emails; empty means tidings@ the host of TIDINGS_BASE_URL."
    )
    allow_private_networks: bool = _setting(
        False, _bool, "Allow fetches and webhooks to private, loopback and link-local addresses."
    )
    user_agent: str = _setting(
        "Tidings/0.1 (+https://github.com/tidings/tidings; self-hosted news alerts)",
        str,
        "User-Agent sent with every outbound request.",
    )
    fetch_timeout: float = _setting(
        20.0, _positive_float, "Seconds a whole fetch may take, trickling responses included."
    )
    max_body_bytes: int = _setting(
        10 * 1024 * 1024, _positive_int, "Largest response body accepted, in bytes."
    )
    max_redirects: int = _setting(5, _positive_int, "Redirects followed per fetch.")
    per_host_concurrency: int = _setting(2, _positive_int, "Simultaneous requests per host.")
    fetch_concurrency: int = _setting(16, _positive_int, "Simultaneous fetches per worker.")
    extract_processes: int = _setting(
        0, int, "Processes for article extraction; 0 means one per CPU core."
    )
    extract_timeout: float = _setting(
        120.0, _positive_float,
        "Seconds one page's extraction may take; past it (or when its extraction process died) the page fails for now and is tried again at the next check.",
    )
    min_interval: int = _setting(300, _positive_int, "Shortest feed check interval, seconds.")
    max_interval: int = _setting(86400, _positive_int, "Longest feed check interval, seconds.")
    claim_lease: int = _setting(
        300, _positive_int, "Seconds a claimed feed check stays with its worker before it may be reclaimed."
    )
    max_alerts_per_user: int = _setting(1000, _positive_int, "Standing alerts one reader may have.")
    signup_enabled: bool = _setting(
        True, _bool, "Whether visitors may sign up; an admin can change it at run time (admin settings)."
    )
    log_level: str = _setting(
        "WARNING", _log_level, "Log level: DEBUG, INFO, WARNING or ERROR (logs go to stderr)."
    )
    boilerplate_min_pages: int = _setting(
        3, _positive_int, "Pages of one source after which blocks recurring across them are boilerplate."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = env_name(f.name)
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            elif name in env:
                try:
                    values[f.name] = f.metadata["parse"](env[name])
                except ValueError as exc:
                    raise ConfigError(f"{name}={env[name]!r}: {exc}") from exc
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.min_interval > self.max_interval:
            raise ConfigError("TIDINGS_MIN_INTERVAL must not exceed TIDINGS_MAX_INTERVAL")
        if self.database_url and "://" not in self.database_url:
            raise ConfigError(
                f"TIDINGS_DATABASE_URL={self.database_url!r} is not a URL "
                "(e.g. postgresql+psycopg://user@host/db)"
            )

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'tidings.db').resolve()}"


def env_name(field_name: str) -> str:
    return "TIDINGS_" + field_name.upper()


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, doc) for every setting: the README's table is checked against it."""
    return [(env_name(f.name), f.default, f.metadata["doc"]) for f in fields(Settings)]
