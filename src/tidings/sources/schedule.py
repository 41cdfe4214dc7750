"""When to check a source next: the server's hints, the feed's own rhythm, and backoff on errors.

Pure functions of their inputs and ``now``; nothing here reads a clock or the network.

* Success: the feed's publishing rate suggests an interval (half the typical gap between its
  recent entries, or half its current silence if that is longer, so a feed that went quiet is
  asked less and less often).  The server's hints — Cache-Control ``max-age``, ``Expires``,
  ``Retry-After`` and RSS ``ttl`` — say "not before", so they only ever lengthen it.
  The result is clamped to ``[settings.min_interval, settings.max_interval]``.
* Error: ``min_interval × 2^(errors-1)``, capped at ``max_interval``; a longer Retry-After wins.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from tidings.config import Settings

RECENT_ENTRIES = 10  # entries whose gaps describe a feed's rhythm
DEFAULT_INTERVAL = 3600

Headers = Mapping[str, str] | httpx.Headers


def next_interval(
    settings: Settings,
    *,
    now: datetime,
    headers: Headers | None = None,
    ttl_minutes: int | None = None,
    entry_dates: Iterable[datetime] = (),
    previous: int | None = None,
) -> int:
    """Seconds until the next check of a source that was just fetched successfully."""
    rhythm = publishing_interval(entry_dates, now)
    interval = rhythm if rhythm is not None else float(previous or DEFAULT_INTERVAL)
    hints = server_hints(headers, now) + ([ttl_minutes * 60.0] if ttl_minutes else [])
    return clamp(settings, max([interval, *hints]))


def backoff_interval(settings: Settings, error_count: int, retry_after: float | None = None) -> int:
    """Seconds until retrying a source that failed ``error_count`` times in a row."""
    exponent = min(max(error_count - 1, 0), 32)
    interval = float(settings.min_interval) * 2**exponent
    if retry_after is not None:
        interval = max(interval, retry_after)
    return clamp(settings, interval)


def clamp(settings: Settings, seconds: float) -> int:
    return int(min(max(seconds, settings.min_interval), settings.max_interval))


def publishing_interval(entry_dates: Iterable[datetime], now: datetime) -> float | None:
    """Half the median gap between the most recent entries (or half the silence since the last)."""
    aware = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in entry_dates)
    dates = sorted((d for d in aware if d <= now), reverse=True)[: RECENT_ENTRIES + 1]
    if len(dates) < 2:
        return None
    gaps = [(newer - older).total_seconds() for newer, older in zip(dates, dates[1:], strict=False)]
    silence = (now - dates[0]).total_seconds()
    return max(statistics.median(gaps), silence) / 2


def server_hints(headers: Headers | None, now: datetime) -> list[float]:
    """Seconds the server asks us to wait, from Cache-Control, Expires and Retry-After."""
    if not headers:
        return []
    h = httpx.Headers(headers)
    hints = [cache_lifetime(h, now), parse_retry_after(h.get("retry-after"), now)]
    return [hint for hint in hints if hint]


_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def cache_lifetime(headers: httpx.Headers, now: datetime) -> float | None:
    """How long the response stays fresh: max-age, else Expires relative to Date (or now)."""
    cache_control = headers.get("cache-control", "")
    if re.search(r"no-store|no-cache", cache_control, re.IGNORECASE):
        return None
    match = _MAX_AGE.search(cache_control)
    if match:
        return float(match.group(1))
    expires = http_date(headers.get("expires"))
    if expires is None:
        return None
    served = http_date(headers.get("date")) or now
    return max((expires - served).total_seconds(), 0.0) or None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: either delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date(value)
    return None if when is None else max((when - now).total_seconds(), 0.0)


def http_date(value: str | None) -> datetime | None:
    """An HTTP date (RFC 9110 IMF-fixdate, or the obsolete forms) as an aware datetime."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
