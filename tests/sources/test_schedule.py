"""Next-check intervals: server hints, the feed's rhythm, clamping and backoff.  Pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidings.config import Settings
from tidings.sources.schedule import (
    backoff_interval,
    cache_lifetime,
    next_interval,
    parse_retry_after,
    publishing_interval,
)

NOW = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
S = Settings.from_env({}, min_interval=300, max_interval=86400)


def hourly(count: int, last: timedelta = timedelta(0)) -> list[datetime]:
    return [NOW - last - timedelta(hours=i) for i in range(count)]


def test_feed_publishing_hourly_is_checked_every_half_hour() -> None:
    assert next_interval(S, now=NOW, entry_dates=hourly(10)) == 1800


def test_median_ignores_one_long_gap() -> None:
    dates = hourly(6) + [NOW - timedelta(days=3)]
    assert publishing_interval(dates, NOW) == 1800


def test_a_feed_that_went_quiet_is_checked_less_often() -> None:
    assert next_interval(S, now=NOW, entry_dates=hourly(10, last=timedelta(hours=10))) == 5 * 3600


def test_future_dated_entries_are_ignored() -> None:
    dates = hourly(5) + [NOW + timedelta(days=365)]
    assert next_interval(S, now=NOW, entry_dates=dates) == 1800


def test_naive_entry_dates_are_taken_as_utc() -> None:
    dates = [d.replace(tzinfo=None) for d in hourly(4)]
    assert next_interval(S, now=NOW, entry_dates=dates) == 1800


def test_without_dates_the_previous_interval_stays() -> None:
    assert next_interval(S, now=NOW, previous=7200) == 7200
    assert next_interval(S, now=NOW, entry_dates=[NOW]) == 3600  # one date: no rhythm


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ([NOW - timedelta(minutes=m) for m in range(0, 50, 1)], 300),  # every minute → min
        ([NOW - timedelta(days=d * 7) for d in range(5)], 86400),  # weekly → max
    ],
)
def test_interval_is_clamped(dates: list[datetime], expected: int) -> None:
    assert next_interval(S, now=NOW, entry_dates=dates) == expected


def test_cache_control_max_age_lengthens_but_never_shortens() -> None:
    assert next_interval(S, now=NOW, headers={"Cache-Control": "public, max-age=7200"},
                         entry_dates=hourly(10)) == 7200  # fmt: skip
    assert next_interval(S, now=NOW, headers={"Cache-Control": "max-age=60"},
                         entry_dates=hourly(10)) == 1800  # fmt: skip


def test_no_cache_means_no_hint() -> None:
    headers = {"Cache-Control": "no-cache, max-age=9999"}
    assert next_interval(S, now=NOW, headers=headers, entry_dates=hourly(10)) == 1800


def test_expires_counts_from_the_servers_date_header() -> None:
    headers = {"Date": "Mon, 04 Mar 2024 10:00:00 GMT", "Expires": "Mon, 04 Mar 2024 13:00:00 GMT"}
    assert next_interval(S, now=NOW, headers=headers, entry_dates=hourly(10)) == 3 * 3600


def test_expires_without_date_counts_from_now_and_past_or_junk_expires_is_ignored() -> None:
    assert next_interval(S, now=NOW, headers={"Expires": "Mon, 04 Mar 2024 14:00:00 GMT"},
                         entry_dates=hourly(10)) == 7200  # fmt: skip
    for junk in ("0", "-1", "Thu, 01 Jan 1970 00:00:00 GMT"):
        assert next_interval(S, now=NOW, headers={"Expires": junk}, entry_dates=hourly(10)) == 1800


def test_rss_ttl_is_a_lower_bound() -> None:
    assert next_interval(S, now=NOW, ttl_minutes=120, entry_dates=hourly(10)) == 7200
    assert next_interval(S, now=NOW, ttl_minutes=5, entry_dates=hourly(10)) == 1800


def test_retry_after_on_success_is_honoured() -> None:
    headers = {"Retry-After": "5400"}
    assert next_interval(S, now=NOW, headers=headers, entry_dates=hourly(10)) == 5400


def test_headers_lookup_is_case_insensitive() -> None:
    assert cache_lifetime_of({"cache-control": "MAX-AGE=600"}) == 600


def cache_lifetime_of(headers: dict[str, str]) -> float | None:
    import httpx

    return cache_lifetime(httpx.Headers(headers), NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 04 Mar 2024 12:30:00 GMT", 1800.0),
        ("Monday, 04-Mar-24 12:30:00 GMT", 1800.0),  # RFC 850, obsolete but legal
        ("Mon, 04 Mar 2024 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds_or_http_date(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("errors", "expected"),
    [(0, 300), (1, 300), (2, 600), (3, 1200), (5, 4800), (9, 76800), (10, 86400), (500, 86400)],
)
def test_backoff_doubles_from_min_interval_up_to_max(errors: int, expected: int) -> None:
    assert backoff_interval(S, errors) == expected


def test_backoff_honours_a_longer_retry_after_but_not_past_max() -> None:
    assert backoff_interval(S, 1, retry_after=3600) == 3600
    assert backoff_interval(S, 4, retry_after=60) == 2400
    assert backoff_interval(S, 1, retry_after=10 * 86400) == 86400


def test_backoff_is_deterministic() -> None:
    assert {backoff_interval(S, 3, 100) for _ in range(20)} == {1200}
