"""The reader's time rules: quiet hours, the digest schedule, the quick-alert budget.

Everything here is a pure function of its inputs. Instants go in and come out as
aware UTC datetimes (any aware datetime is accepted and converted; a naive one is
refused, because it is not an instant). The clock is never read here: callers pass
``now``.

Local wall time to instant
    A reader's times ("07:30", "22:00-07:00") are wall-clock times in their IANA
    zone. A wall time on a given local date becomes an instant like this:

    * it exists once: that instant;
    * it exists twice (autumn fall-back, e.g. 01:30 on the first Sunday of
      November in New York): the **first** occurrence (``fold=0``);
    * it does not exist (spring-forward gap, e.g. 02:30 on the second Sunday of
      March in New York): the **first valid instant after the gap**, which is the
      moment of the transition (03:00 local, new offset).

    Every wall time of every local date therefore maps to exactly one instant, and
    later wall times never map to earlier instants.

Quiet hours
    A quiet period starts at ``quiet_start`` on a local date and ends at
    ``quiet_end`` on the same date (13:00-14:00) or on the next date when the end
    is not after the start (22:00-07:00 crosses midnight). Both ends are mapped
    with the rule above; the period is half-open ``[start, end)``. Equal start and
    end means *no* quiet hours. On a fall-back night quiet hours end at the first
    time the clock shows the end time, and do not resume when the clock repeats
    that hour. If both ends fall in the same gap, that night has no quiet period.

Digest schedule
    The digest slot of a local date is ``digest_time`` on that date, mapped with
    the rule above; weekly digests only have slots on ``weekly_day``. A slot whose
    instant would land on a later local date (a gap that swallows midnight, or a
    whole skipped day such as Samoa's 30 December 2011) is skipped, so no local
    calendar day ever gets two digests.

Digest windows
    A digest covers the half-open window ``(previous_cutoff, this_cutoff]``. The
    cutoff is the instant the digest was built (``now``); the digest row stores
    it, and the next window starts exactly there. Consecutive windows therefore
    neither overlap nor leave a gap, whatever happened in between: restarts do not
    matter because the state is in the row, and DST does not matter because
    cutoffs are instants. A worker that was down over several slots sends one
    digest covering everything since the previous cutoff, not one per missed slot.
    Record the cutoff even when the digest turns out empty (and is not sent), so
    that the schedule moves on.

Quick-alert budget
    At most ``quick_budget_per_hour`` quick alerts in any sliding 60 minutes. A
    calendar hour would allow twice the budget in a burst across the boundary
    (08:59 and 09:00), and "the hour" is not even the same for everyone: in
    Asia/Kolkata or Asia/Kathmandu local hours begin at :30 or :15 UTC. A sliding
    window needs no zone and guarantees the promise for every 60-minute span.

Routing a quick alert
    Quiet hours first, then the budget: inside quiet hours the alert is held until
    they end; otherwise, past the budget it goes to the next digest; otherwise it
    is sent now. A held alert is routed again when it is released, so it passes
    the budget check then and, once sent, counts against the budget of that hour.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DigestMode = Literal["daily", "weekly"]
DIGEST_MODES: tuple[DigestMode, ...] = ("daily", "weekly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_DIGEST_TIME = time(7, 30)
BUDGET_WINDOW = timedelta(hours=1)
ONE_DAY = timedelta(days=1)

_NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})
_CLOCK_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_RANGE_DASH = re.compile(r"\s*[-\u2013\u2014]\s*")
_NO_QUIET_HOURS = frozenset({"", "off", "none", "no"})
_UNLIMITED = frozenset({"", "none", "unlimited"})
_SEARCH_DAYS = 3 * 7 + 2


# -- Parsing what readers type ------------------------------------------------------------


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; ``ValueError`` naming it when there is none."""
    if name in _NOT_IANA:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/London'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/London'"
            " or 'America/New_York' (case matters)"
        ) from None


def parse_clock_time(text: str, what: str = "time") -> time:
    """``"07:30"`` or ``"7:30"`` as a wall-clock time; 24-hour clock, minutes required."""
    match = _CLOCK_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{what} {text!r}: expected HH:MM on a 24-hour clock, like 07:30")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ValueError(f"{what} {text!r}: hours run 00-23 and minutes 00-59")
    return time(hour, minute)


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"22:00-07:00"`` (an en dash works too) as ``(start, end)``; ``"off"`` or ``""`` is None."""
    if text.strip().lower() in _NO_QUIET_HOURS:
        return None
    parts = _RANGE_DASH.split(text.strip())
    if len(parts) != 2:
        raise ValueError(f"quiet hours {text!r}: expected START-END like 22:00-07:00, or 'off'")
    return (
        parse_clock_time(parts[0], "quiet hours start"),
        parse_clock_time(parts[1], "quiet hours end"),
    )


def parse_weekday(text: str) -> int:
    """A day name (``"Monday"``, ``"mon"``, any case) as 0=Monday … 6=Sunday."""
    word = text.strip().lower()
    for number, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return number
    raise ValueError(f"weekday {text!r}: expected a day name such as {', '.join(WEEKDAYS)}")


def parse_budget(text: str) -> int | None:
    """Quick alerts per hour: a whole number ≥ 0, or ``"unlimited"`` / ``""`` for None."""
    word = text.strip().lower()
    if word in _UNLIMITED:
        return None
    if not word.isdigit():
        raise ValueError(
            f"quick-alert budget {text!r}: expected a whole number of alerts per hour,"
            " or 'unlimited'"
        )
    return int(word)


# -- Settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeSettings:
    """One reader's time settings ("Time Settings" on the seed page), validated.

    ``quiet_start``/``quiet_end`` are given both or neither; equal start and end
    means no quiet hours. ``quick_budget_per_hour`` None means unlimited; 0 sends
    every quick alert to the digest.
    """

    timezone: str
    digest_time: time = DEFAULT_DIGEST_TIME
    weekly_day: int = 0
    quiet_start: time | None = None
    quiet_end: time | None = None
    quick_budget_per_hour: int | None = None

    def __post_init__(self) -> None:
        load_zone(self.timezone)
        _check_wall_time(self.digest_time, "digest time")
        _check_weekday(self.weekly_day)
        _check_quiet_pair(self.quiet_start, self.quiet_end)
        _check_budget(self.quick_budget_per_hour)

    @classmethod
    def from_text(
        cls,
        timezone: str,
        digest_time: str = "07:30",
        weekly_day: str = "monday",
        quiet_hours: str = "off",
        quick_budget_per_hour: str = "unlimited",
    ) -> TimeSettings:
        """Settings from what a reader types in a form or on the command line."""
        quiet = parse_quiet_hours(quiet_hours)
        return cls(
            timezone=timezone,
            digest_time=parse_clock_time(digest_time, "digest time"),
            weekly_day=parse_weekday(weekly_day),
            quiet_start=quiet[0] if quiet else None,
            quiet_end=quiet[1] if quiet else None,
            quick_budget_per_hour=parse_budget(quick_budget_per_hour),
        )

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.timezone)

    @property
    def quiet_hours(self) -> QuietHours | None:
        """The reader's quiet hours, or None when they have none (unset, or start == end)."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        if self.quiet_start == self.quiet_end:
            return None
        return QuietHours(self.quiet_start, self.quiet_end, self.zone)


def _check_wall_time(value: object, what: str) -> None:
    if not isinstance(value, time):
        raise ValueError(f"{what} must be a datetime.time, got {value!r}")
    if value.tzinfo is not None:
        raise ValueError(f"{what} {value} must be a wall-clock time without tzinfo")


def _check_weekday(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise ValueError(f"weekly day must be 0 (Monday) to 6 (Sunday), got {value!r}")


def _check_quiet_pair(start: time | None, end: time | None) -> None:
    if (start is None) != (end is None):
        raise ValueError("quiet hours need both a start and an end, or neither")
    if start is not None and end is not None:
        _check_wall_time(start, "quiet hours start")
        _check_wall_time(end, "quiet hours end")


def _check_budget(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"quick-alert budget must be a whole number ≥ 0 or None, got {value!r}")


# -- Instants and local wall time ---------------------------------------------------------


def as_utc_instant(value: datetime, name: str = "instant") -> datetime:
    """``value`` in UTC; a naive datetime is refused because it names no instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The reader's calendar date at ``instant``."""
    return instant.astimezone(zone).date()


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``wall`` on local date ``day`` (see the module rules).

    Ambiguous (fall-back): the first occurrence. Non-existent (gap): the first
    valid instant after the gap.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    return _end_of_gap(naive, zone)


def _end_of_gap(naive: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant that skipped over ``naive``, found to the second."""
    readings = [naive.replace(tzinfo=zone, fold=fold).timestamp() for fold in (0, 1)]
    before, after = math.floor(min(readings)), math.ceil(max(readings))
    new_offset = _offset_at(after, zone)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset_at(middle, zone) == new_offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _offset_at(timestamp: int, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


# -- Quiet hours --------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """Nightly (or daily) quiet hours in the reader's zone; each period is ``[start, end)``."""

    start: time
    end: time
    zone: ZoneInfo

    def __post_init__(self) -> None:
        _check_wall_time(self.start, "quiet hours start")
        _check_wall_time(self.end, "quiet hours end")
        if self.start == self.end:
            raise ValueError("quiet hours with equal start and end are no quiet hours: use None")

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def is_quiet(self, at_utc: datetime) -> bool:
        """Whether ``at_utc`` falls inside a quiet period."""
        return self._period_containing(as_utc_instant(at_utc, "at_utc")) is not None

    def quiet_until(self, at_utc: datetime) -> datetime:
        """When the quiet period around ``at_utc`` ends (UTC); ``at_utc`` itself if not quiet."""
        until = as_utc_instant(at_utc, "at_utc")
        while (period := self._period_containing(until)) is not None:
            until = period[1]
        return until

    def period_starting_on(self, day: date) -> tuple[datetime, datetime]:
        """The quiet period that begins on local date ``day``, as UTC ``(start, end)``."""
        end_day = day + ONE_DAY if self.crosses_midnight else day
        return local_instant(day, self.start, self.zone), local_instant(
            end_day, self.end, self.zone
        )

    def _period_containing(self, at: datetime) -> tuple[datetime, datetime] | None:
        today = local_date(at, self.zone)
        for shift in (-2, -1, 0, 1):
            start, end = self.period_starting_on(today + shift * ONE_DAY)
            if start <= at < end:
                return start, end
        return None


# -- Digest schedule ----------------------------------------------------------------------


def digest_slot(settings: TimeSettings, day: date) -> datetime | None:
    """The digest instant of local date ``day``; None when that date has no such time.

    A digest time in a DST gap moves to the end of the gap; if that is already the
    next local date, the slot is skipped so that no date gets two digests.
    """
    slot = local_instant(day, settings.digest_time, settings.zone)
    return slot if local_date(slot, settings.zone) == day else None


def next_digest_at(
    settings: TimeSettings, after_utc: datetime, mode: DigestMode = "daily"
) -> datetime:
    """The first digest instant strictly after ``after_utc`` (weekly: on ``weekly_day``)."""
    after = as_utc_instant(after_utc, "after_utc")
    for day in _digest_days(settings, local_date(after, settings.zone) - ONE_DAY, mode):
        slot = digest_slot(settings, day)
        if slot is not None and slot > after:
            return slot
    raise RuntimeError(f"no digest time within {_SEARCH_DAYS} days of {after.isoformat()}")


def _digest_days(settings: TimeSettings, first: date, mode: DigestMode) -> Iterator[date]:
    _check_mode(mode)
    for offset in range(_SEARCH_DAYS):
        day = first + offset * ONE_DAY
        if mode == "daily" or day.weekday() == settings.weekly_day:
            yield day


def _check_mode(mode: str) -> None:
    if mode not in DIGEST_MODES:
        raise ValueError(f"digest mode {mode!r}: expected one of {', '.join(DIGEST_MODES)}")


def digest_due(
    settings: TimeSettings,
    last_digest_at_utc: datetime | None,
    now_utc: datetime,
    mode: DigestMode = "daily",
) -> bool:
    """Whether a digest slot has come since the previous digest's cutoff.

    However many slots passed (a worker that was down), the answer is one digest.
    With no previous digest it is due at once; to start a new reader's schedule at
    the next slot instead, pass the time they joined as the previous cutoff.
    """
    now = as_utc_instant(now_utc, "now_utc")
    _check_mode(mode)
    if last_digest_at_utc is None:
        return True
    return now >= next_digest_at(settings, last_digest_at_utc, mode)


class DigestWindow(NamedTuple):
    """What a digest covers: arrivals in ``(start, end]``; ``start`` None is unbounded."""

    start: datetime | None
    end: datetime

    def covers(self, arrived_at_utc: datetime) -> bool:
        arrived = as_utc_instant(arrived_at_utc, "arrived_at_utc")
        return (self.start is None or arrived > self.start) and arrived <= self.end


def digest_window(last_digest_at_utc: datetime | None, now_utc: datetime) -> DigestWindow:
    """The window of the digest built at ``now_utc``: ``(previous cutoff, now]``.

    Store ``end`` as this digest's cutoff; the next window starts exactly there.
    """
    end = as_utc_instant(now_utc, "now_utc")
    if last_digest_at_utc is None:
        return DigestWindow(None, end)
    start = as_utc_instant(last_digest_at_utc, "last_digest_at_utc")
    if end < start:
        raise ValueError(
            f"now ({end.isoformat()}) is before the previous digest's cutoff"
            f" ({start.isoformat()}): the clock went backwards"
        )
    return DigestWindow(start, end)


# -- Quick-alert budget -------------------------------------------------------------------


def count_sent_in_last_hour(sent_times_utc: Sequence[datetime], now_utc: datetime) -> int:
    """Quick alerts sent in the sliding hour ``(now - 60 min, now]``.

    Sends stamped after ``now`` (clock skew between workers) count too.
    """
    window_start = as_utc_instant(now_utc, "now_utc") - BUDGET_WINDOW
    return sum(1 for sent in sent_times_utc if as_utc_instant(sent, "sent time") > window_start)


def within_budget(
    sent_times_utc: Sequence[datetime], now_utc: datetime, per_hour: int | None
) -> bool:
    """Whether one more quick alert fits in the sliding hour (None: no budget)."""
    _check_budget(per_hour)
    if per_hour is None:
        return True
    return count_sent_in_last_hour(sent_times_utc, now_utc) < per_hour


# -- Routing a quick alert ----------------------------------------------------------------


class Route(StrEnum):
    SEND_NOW = "send_now"
    HOLD_UNTIL = "hold_until"
    TO_DIGEST = "to_digest"


@dataclass(frozen=True)
class Decision:
    """Where a quick alert goes: now, held until ``until`` (UTC), or into the next digest."""

    route: Route
    until: datetime | None = None

    def __post_init__(self) -> None:
        if (self.route is Route.HOLD_UNTIL) != (self.until is not None):
            raise ValueError("a hold needs an instant to hold until, and only a hold has one")

    @classmethod
    def send_now(cls) -> Decision:
        return cls(Route.SEND_NOW)

    @classmethod
    def hold_until(cls, until: datetime) -> Decision:
        return cls(Route.HOLD_UNTIL, as_utc_instant(until, "until"))

    @classmethod
    def to_digest(cls) -> Decision:
        return cls(Route.TO_DIGEST)


def route_quick(
    settings: TimeSettings, now_utc: datetime, sent_in_last_hour: int | Sequence[datetime]
) -> Decision:
    """Route one quick alert: quiet hours first, then the hourly budget.

    ``sent_in_last_hour`` is either the count of quick alerts sent in the sliding
    hour, or their send times (older ones are ignored). Route a held alert again
    when it is released: it counts against the budget of the hour it is sent in.
    """
    now = as_utc_instant(now_utc, "now_utc")
    quiet = settings.quiet_hours
    if quiet is not None and quiet.is_quiet(now):
        return Decision.hold_until(quiet.quiet_until(now))
    if not _fits_budget(sent_in_last_hour, now, settings.quick_budget_per_hour):
        return Decision.to_digest()
    return Decision.send_now()


def _fits_budget(sent: int | Sequence[datetime], now: datetime, per_hour: int | None) -> bool:
    if isinstance(sent, int):
        return per_hour is None or sent < per_hour
    return within_budget(sent, now, per_hour)
