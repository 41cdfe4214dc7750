"""Time as an injectable dependency, so that schedules can be tested without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(UTC)


class FrozenClock:
    """A clock for tests: it only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def as_utc(value: datetime | None) -> datetime | None:
    """Databases hand back naive datetimes (SQLite) or aware ones (PostgreSQL); make them aware."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def naive_utc(value: datetime) -> datetime:
    """The form times are stored in: naive UTC (portable across SQLite and PostgreSQL)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
