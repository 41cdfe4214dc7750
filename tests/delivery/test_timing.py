"""The reader's time rules: quiet hours, digest schedule and windows, budget, routing."""

from __future__ import annotations

import functools
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tidings.delivery.timing import (
    Decision,
    DigestWindow,
    QuietHours,
    Route,
    TimeSettings,
    digest_due,
    digest_window,
    load_zone,
    local_instant,
    next_digest_at,
    parse_budget,
    parse_clock_time,
    parse_quiet_hours,
    parse_weekday,
    route_quick,
    within_budget,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
APIA = ZoneInfo("Pacific/Apia")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    zone: ZoneInfo,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    fold: int = 0,
) -> datetime:
    """A local wall time in ``zone`` as a UTC instant (``fold=1``: the second occurrence)."""
    shown = datetime(year, month, day, hour, minute, second, tzinfo=zone, fold=fold)
    return shown.astimezone(UTC)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """What the reader's clock shows at ``instant`` (naive local time)."""
    return instant.astimezone(zone).replace(tzinfo=None)


def noon_before(zone: ZoneInfo, day: date, days: int) -> datetime:
    """Local noon ``days`` days before ``day``, as a UTC instant."""
    earlier = day - timedelta(days=days)
    return local(zone, earlier.year, earlier.month, earlier.day, 12, 0)


def digests(settings: TimeSettings, after: datetime, count: int, mode: str = "daily") -> list:
    """The next ``count`` digest instants after ``after``."""
    found = []
    for _ in range(count):
        after = next_digest_at(settings, after, mode)  # type: ignore[arg-type]
        found.append(after)
    return found


# -- Parsing and validating settings -------------------------------------------------------


def test_unknown_timezone_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus_Mons'"):
        TimeSettings("Mars/Olympus_Mons")


@pytest.mark.parametrize(
    "name", ["america/new_york", "America", "../etc/passwd", "", "localtime", "zone.tab"]
)
def test_names_that_are_not_iana_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        load_zone(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("07:30", time(7, 30)), ("7:30", time(7, 30)), (" 22:00 ", time(22)), ("00:00", time(0))],
)
def test_clock_times_parse_from_hours_and_minutes(text: str, expected: time) -> None:
    assert parse_clock_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "07:60", "7", "7.30", "7:3", "", "seven"])
def test_malformed_clock_times_are_refused_saying_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"digest time .*(HH:MM|00-23)"):
        parse_clock_time(text, "digest time")


@pytest.mark.parametrize("text", ["22:00-07:00", "22:00 - 07:00", "22:00\u201307:00"])
def test_quiet_hours_parse_with_a_hyphen_or_an_en_dash(text: str) -> None:
    assert parse_quiet_hours(text) == (time(22), time(7))


@pytest.mark.parametrize("text", ["off", "", "None"])
def test_quiet_hours_off_parse_to_none(text: str) -> None:
    assert parse_quiet_hours(text) is None


@pytest.mark.parametrize("text", ["22:00", "22:00-07:00-08:00", "22-7", "late"])
def test_malformed_quiet_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        parse_quiet_hours(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("Monday", 0), ("mon", 0), ("TUE", 1), ("thurs", 3), ("sunday", 6)]
)
def test_weekday_names_parse_in_any_case_and_abbreviated(text: str, expected: int) -> None:
    assert parse_weekday(text) == expected


@pytest.mark.parametrize("text", ["funday", "t", "mo", "", "0"])
def test_unknown_weekdays_are_refused_listing_the_names(text: str) -> None:
    with pytest.raises(ValueError, match="monday, tuesday"):
        parse_weekday(text)


def test_budget_parses_whole_numbers_and_unlimited() -> None:
    assert parse_budget("10") == 10
    assert parse_budget("0") == 0
    assert parse_budget("unlimited") is None
    with pytest.raises(ValueError, match="budget '-1'"):
        parse_budget("-1")


def test_settings_default_to_0730_monday_without_quiet_hours_or_budget() -> None:
    settings = TimeSettings("Europe/London")
    assert settings.digest_time == time(7, 30)
    assert settings.weekly_day == 0
    assert settings.quiet_hours is None
    assert settings.quick_budget_per_hour is None


def test_settings_from_text_read_what_a_reader_types() -> None:
    settings = TimeSettings.from_text("Asia/Kolkata", "06:45", "Sunday", "22:00\u201307:00", "5")
    assert settings == TimeSettings("Asia/Kolkata", time(6, 45), 6, time(22), time(7), 5)
    assert settings.quiet_hours == QuietHours(time(22), time(7), KOLKATA)


def test_quiet_hours_need_both_ends() -> None:
    with pytest.raises(ValueError, match="both a start and an end"):
        TimeSettings("UTC", quiet_start=time(22))


def test_equal_quiet_start_and_end_means_no_quiet_hours() -> None:
    settings = TimeSettings("UTC", quiet_start=time(7), quiet_end=time(7))
    assert settings.quiet_hours is None
    assert route_quick(settings, utc(2024, 1, 1, 7, 0), 0) == Decision.send_now()
    with pytest.raises(ValueError, match="equal start and end"):
        QuietHours(time(7), time(7), LONDON)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("weekly_day", 7, "weekly day"),
        ("weekly_day", -1, "weekly day"),
        ("quick_budget_per_hour", -1, "budget"),
        ("digest_time", time(7, 30, tzinfo=UTC), "without tzinfo"),
    ],
)
def test_settings_refuse_values_out_of_range(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimeSettings("UTC", **{field: value})  # type: ignore[arg-type]


def test_naive_datetimes_are_refused_because_they_name_no_instant() -> None:
    settings = TimeSettings("UTC")
    with pytest.raises(ValueError, match="after_utc must be an aware datetime"):
        next_digest_at(settings, datetime(2024, 1, 1, 12))


def test_aware_datetimes_in_other_zones_are_accepted_and_answers_are_utc() -> None:
    settings = TimeSettings("Asia/Kolkata")
    after = datetime(2024, 1, 1, 12, tzinfo=NEW_YORK)
    assert next_digest_at(settings, after) == utc(2024, 1, 2, 2, 0)
    assert next_digest_at(settings, after).tzinfo is UTC


# -- Quiet hours ----------------------------------------------------------------------------

OVERNIGHT = TimeSettings("Europe/London", quiet_start=time(22), quiet_end=time(7))


def test_quiet_hours_hold_quick_alert_until_morning() -> None:
    late_evening = local(LONDON, 2024, 1, 15, 23, 15)
    decision = route_quick(OVERNIGHT, late_evening, sent_in_last_hour=0)
    assert decision == Decision.hold_until(local(LONDON, 2024, 1, 16, 7, 0))


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [(21, 59, False), (22, 0, True), (23, 59, True), (0, 0, True), (6, 59, True), (7, 0, False)],
)
def test_quiet_hours_across_midnight_cover_evening_and_early_morning(
    hour: int, minute: int, quiet: bool
) -> None:
    quiet_hours = OVERNIGHT.quiet_hours
    assert quiet_hours is not None
    assert quiet_hours.is_quiet(local(LONDON, 2024, 1, 15, hour, minute)) is quiet


def test_quiet_hours_from_evening_and_from_after_midnight_end_the_same_morning() -> None:
    quiet_hours = OVERNIGHT.quiet_hours
    assert quiet_hours is not None
    morning = local(LONDON, 2024, 1, 16, 7, 0)
    assert quiet_hours.quiet_until(local(LONDON, 2024, 1, 15, 22, 0)) == morning
    assert quiet_hours.quiet_until(local(LONDON, 2024, 1, 16, 3, 0)) == morning


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"), [(12, 59, False), (13, 0, True), (13, 59, True), (14, 0, False)]
)
def test_quiet_hours_within_one_day(hour: int, minute: int, quiet: bool) -> None:
    lunch = QuietHours(time(13), time(14), NEW_YORK)
    assert lunch.is_quiet(local(NEW_YORK, 2024, 6, 3, hour, minute)) is quiet
    assert not lunch.is_quiet(local(NEW_YORK, 2024, 6, 3, 1, 0))


def test_quiet_until_outside_quiet_hours_is_the_instant_itself() -> None:
    quiet_hours = OVERNIGHT.quiet_hours
    assert quiet_hours is not None
    afternoon = local(LONDON, 2024, 1, 15, 15, 0)
    assert quiet_hours.quiet_until(afternoon) == afternoon


def test_quiet_hours_are_kept_in_each_readers_local_time() -> None:
    at = utc(2024, 1, 15, 17, 0)  # 22:30 in Kolkata, 12:00 in New York
    kolkata = QuietHours(time(22), time(7), KOLKATA)
    new_york = QuietHours(time(22), time(7), NEW_YORK)
    assert kolkata.is_quiet(at)
    assert kolkata.quiet_until(at) == utc(2024, 1, 16, 1, 30)
    assert not new_york.is_quiet(at)


def test_quiet_hours_end_at_0700_local_in_winter_and_in_summer() -> None:
    quiet_hours = OVERNIGHT.quiet_hours
    assert quiet_hours is not None
    assert quiet_hours.quiet_until(utc(2024, 1, 15, 23, 0)) == utc(2024, 1, 16, 7, 0)
    assert quiet_hours.quiet_until(utc(2024, 7, 15, 23, 0)) == utc(2024, 7, 16, 6, 0)


def test_quiet_hours_across_spring_forward_night_end_at_0700_new_time() -> None:
    quiet_hours = OVERNIGHT.quiet_hours  # London springs forward 01:00 -> 02:00 on 31 March
    assert quiet_hours is not None
    assert quiet_hours.quiet_until(local(LONDON, 2024, 3, 30, 23, 0)) == utc(2024, 3, 31, 6, 0)


def test_quiet_hours_ending_in_spring_forward_gap_end_at_first_valid_instant_after() -> None:
    # New York, 10 March 2024: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 never happens.
    quiet_hours = QuietHours(time(22), time(2, 30), NEW_YORK)
    before_jump = local(NEW_YORK, 2024, 3, 10, 1, 59)
    assert quiet_hours.is_quiet(before_jump)
    assert quiet_hours.quiet_until(before_jump) == utc(2024, 3, 10, 7, 0)
    assert wall(utc(2024, 3, 10, 7, 0), NEW_YORK) == datetime(2024, 3, 10, 3, 0)
    assert not quiet_hours.is_quiet(utc(2024, 3, 10, 7, 0))


def test_quiet_hours_starting_in_spring_forward_gap_start_when_the_gap_ends() -> None:
    quiet_hours = QuietHours(time(2, 30), time(6), NEW_YORK)
    assert not quiet_hours.is_quiet(local(NEW_YORK, 2024, 3, 10, 1, 59))
    assert quiet_hours.is_quiet(utc(2024, 3, 10, 7, 0))
    assert quiet_hours.quiet_until(utc(2024, 3, 10, 7, 0)) == local(NEW_YORK, 2024, 3, 10, 6, 0)


def test_quiet_hours_inside_a_gap_are_skipped_that_night() -> None:
    quiet_hours = QuietHours(time(2, 10), time(2, 50), NEW_YORK)
    night = [utc(2024, 3, 10, 6, 0) + timedelta(minutes=m) for m in range(0, 120, 5)]
    assert not any(quiet_hours.is_quiet(at) for at in night)
    assert quiet_hours.is_quiet(local(NEW_YORK, 2024, 3, 11, 2, 30))


def test_quiet_hours_ending_at_ambiguous_time_end_at_first_occurrence() -> None:
    # New York, 3 November 2024: 01:00-02:00 happens twice (EDT, then EST).
    quiet_hours = QuietHours(time(22), time(1, 30), NEW_YORK)
    first_0130 = local(NEW_YORK, 2024, 11, 3, 1, 30, fold=0)
    second_0115 = local(NEW_YORK, 2024, 11, 3, 1, 15, fold=1)
    assert first_0130 == utc(2024, 11, 3, 5, 30)
    assert quiet_hours.quiet_until(local(NEW_YORK, 2024, 11, 2, 23, 0)) == first_0130
    assert not quiet_hours.is_quiet(first_0130)
    assert not quiet_hours.is_quiet(second_0115), "quiet hours do not resume when 01:15 repeats"


def test_quiet_hours_starting_at_ambiguous_time_start_at_first_occurrence() -> None:
    quiet_hours = QuietHours(time(1, 30), time(5), NEW_YORK)
    first_0130 = local(NEW_YORK, 2024, 11, 3, 1, 30, fold=0)
    assert not quiet_hours.is_quiet(first_0130 - timedelta(seconds=1))
    assert quiet_hours.is_quiet(first_0130)
    assert quiet_hours.quiet_until(first_0130) == local(NEW_YORK, 2024, 11, 3, 5, 0)


# -- Digest schedule ------------------------------------------------------------------------


def test_kolkata_and_new_york_readers_each_get_digest_at_their_own_0730() -> None:
    after = utc(2024, 1, 15, 13, 0)  # 18:30 in Kolkata, 08:00 in New York
    kolkata = next_digest_at(TimeSettings("Asia/Kolkata"), after)
    new_york = next_digest_at(TimeSettings("America/New_York"), after)
    assert kolkata == utc(2024, 1, 16, 2, 0)
    assert new_york == utc(2024, 1, 16, 12, 30)
    assert wall(kolkata, KOLKATA) == datetime(2024, 1, 16, 7, 30)
    assert wall(new_york, NEW_YORK) == datetime(2024, 1, 16, 7, 30)


@pytest.mark.parametrize(
    ("zone_name", "transition_day"),
    [("America/New_York", date(2024, 3, 10)), ("Europe/London", date(2024, 3, 31))],
)
def test_digest_time_stays_0730_local_across_spring_forward(
    zone_name: str, transition_day: date
) -> None:
    zone = ZoneInfo(zone_name)
    start = noon_before(zone, transition_day, days=3)
    found = digests(TimeSettings(zone_name), start, 6)
    assert [wall(d, zone).time() for d in found] == [time(7, 30)] * 6
    steps = [later - earlier for earlier, later in zip(found, found[1:], strict=False)]
    assert steps.count(timedelta(hours=23)) == 1, "the short night is one hour shorter"
    assert steps.count(timedelta(hours=24)) == 4


@pytest.mark.parametrize(
    ("zone_name", "transition_day"),
    [("America/New_York", date(2024, 11, 3)), ("Europe/London", date(2024, 10, 27))],
)
def test_digest_time_stays_0730_local_across_fall_back(
    zone_name: str, transition_day: date
) -> None:
    zone = ZoneInfo(zone_name)
    start = noon_before(zone, transition_day, days=3)
    found = digests(TimeSettings(zone_name), start, 6)
    assert [wall(d, zone).time() for d in found] == [time(7, 30)] * 6
    steps = [later - earlier for earlier, later in zip(found, found[1:], strict=False)]
    assert steps.count(timedelta(hours=25)) == 1, "the long night is one hour longer"


def test_digest_in_dst_gap_fires_once_after_gap() -> None:
    settings = TimeSettings("America/New_York", digest_time=time(2, 30))
    found = digests(settings, utc(2024, 3, 9, 0, 0), 3)
    assert [wall(d, NEW_YORK) for d in found] == [
        datetime(2024, 3, 9, 2, 30),
        datetime(2024, 3, 10, 3, 0),  # 02:30 does not exist: the first valid instant after
        datetime(2024, 3, 11, 2, 30),
    ]
    assert found[1] == utc(2024, 3, 10, 7, 0)


def test_ambiguous_digest_time_fires_once() -> None:
    settings = TimeSettings("America/New_York", digest_time=time(1, 30))
    first_0130 = local(NEW_YORK, 2024, 11, 3, 1, 30, fold=0)
    second_0130 = local(NEW_YORK, 2024, 11, 3, 1, 30, fold=1)
    assert next_digest_at(settings, utc(2024, 11, 3, 0, 0)) == first_0130
    following = next_digest_at(settings, first_0130)
    assert following != second_0130
    assert wall(following, NEW_YORK) == datetime(2024, 11, 4, 1, 30)


def test_next_digest_is_strictly_after_the_given_instant() -> None:
    settings = TimeSettings("Europe/London")
    slot = local(LONDON, 2024, 1, 15, 7, 30)
    assert next_digest_at(settings, slot - timedelta(microseconds=1)) == slot
    assert next_digest_at(settings, slot) == local(LONDON, 2024, 1, 16, 7, 30)


def test_weekly_digest_comes_on_the_weekly_day_in_local_time() -> None:
    # 07:30 on Monday in Auckland is still Sunday in UTC.
    settings = TimeSettings("Pacific/Auckland", weekly_day=0)
    found = digests(settings, utc(2024, 5, 1, 0, 0), 3, mode="weekly")
    auckland = ZoneInfo("Pacific/Auckland")
    assert [wall(d, auckland) for d in found] == [
        datetime(2024, 5, 6, 7, 30),
        datetime(2024, 5, 13, 7, 30),
        datetime(2024, 5, 20, 7, 30),
    ]
    assert found[0].weekday() == 6


def test_unknown_digest_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="digest mode 'hourly'"):
        next_digest_at(TimeSettings("UTC"), utc(2024, 1, 1), "hourly")  # type: ignore[arg-type]


def test_a_skipped_calendar_day_gets_no_digest_and_the_next_day_only_one() -> None:
    # Samoa skipped 30 December 2011: 29 Dec 23:59:59 was followed by 31 Dec 00:00.
    found = digests(TimeSettings("Pacific/Apia"), local(APIA, 2011, 12, 29, 12, 0), 2)
    assert [wall(d, APIA) for d in found] == [
        datetime(2011, 12, 31, 7, 30),
        datetime(2012, 1, 1, 7, 30),
    ]


def test_local_instant_of_a_gap_is_the_transition_itself() -> None:
    assert local_instant(date(2011, 12, 30), time(7, 30), APIA) == local(APIA, 2011, 12, 31, 0, 0)
    assert local_instant(date(2024, 3, 10), time(2, 30), NEW_YORK) == utc(2024, 3, 10, 7, 0)


# -- Digest due and digest windows ----------------------------------------------------------

KOLKATA_READER = TimeSettings("Asia/Kolkata")


def test_digest_is_due_from_the_first_slot_after_the_previous_cutoff() -> None:
    cutoff = local(KOLKATA, 2024, 1, 15, 7, 30, 4)
    slot = local(KOLKATA, 2024, 1, 16, 7, 30)
    assert not digest_due(KOLKATA_READER, cutoff, cutoff + timedelta(hours=1))
    assert not digest_due(KOLKATA_READER, cutoff, slot - timedelta(seconds=1))
    assert digest_due(KOLKATA_READER, cutoff, slot)


def test_weekly_digest_is_due_only_on_the_weekly_day() -> None:
    settings = TimeSettings("Asia/Kolkata", weekly_day=4)  # Friday
    monday_cutoff = local(KOLKATA, 2024, 1, 15, 7, 30)
    assert not digest_due(settings, monday_cutoff, local(KOLKATA, 2024, 1, 18, 8, 0), "weekly")
    assert digest_due(settings, monday_cutoff, local(KOLKATA, 2024, 1, 19, 7, 30), "weekly")


def test_first_digest_is_due_at_once_and_covers_everything_before_now() -> None:
    now = utc(2024, 1, 15, 12, 0)
    assert digest_due(KOLKATA_READER, None, now)
    window = digest_window(None, now)
    assert window == DigestWindow(None, now)
    assert window.covers(utc(2001, 1, 1))
    assert not window.covers(now + timedelta(microseconds=1))


def test_missed_digests_collapse_into_one() -> None:
    last_cutoff = local(KOLKATA, 2024, 1, 15, 7, 30)
    back_up = local(KOLKATA, 2024, 1, 18, 9, 12)  # worker down over three digest times
    assert digest_due(KOLKATA_READER, last_cutoff, back_up)
    window = digest_window(last_cutoff, back_up)
    assert window == DigestWindow(last_cutoff, back_up)
    arrived_while_down = [last_cutoff + timedelta(hours=h) for h in range(1, 73)]
    assert all(window.covers(arrived) for arrived in arrived_while_down)
    assert not digest_due(KOLKATA_READER, window.end, back_up + timedelta(hours=12))
    assert digest_due(KOLKATA_READER, window.end, local(KOLKATA, 2024, 1, 19, 7, 30))


def test_digest_window_is_half_open_so_a_boundary_arrival_belongs_to_one_digest() -> None:
    first = digest_window(utc(2024, 1, 14, 2, 0), utc(2024, 1, 15, 2, 0))
    second = digest_window(first.end, utc(2024, 1, 16, 2, 0))
    boundary = utc(2024, 1, 15, 2, 0)
    assert first.covers(boundary)
    assert not second.covers(boundary)
    assert second.covers(boundary + timedelta(microseconds=1))


def test_digest_window_refuses_a_clock_that_went_backwards() -> None:
    with pytest.raises(ValueError, match="before the previous digest's cutoff"):
        digest_window(utc(2024, 1, 15, 2, 0), utc(2024, 1, 15, 1, 59))


def test_digest_sent_early_by_hand_does_not_move_the_schedule() -> None:
    by_hand = local(KOLKATA, 2024, 1, 15, 7, 0)  # `tidings digest --now`
    assert not digest_due(KOLKATA_READER, by_hand, local(KOLKATA, 2024, 1, 15, 7, 29))
    assert digest_due(KOLKATA_READER, by_hand, local(KOLKATA, 2024, 1, 15, 7, 30))


def run_digest_worker(
    settings: TimeSettings, polls: list[datetime], cutoffs: list[datetime]
) -> None:
    """A worker's digest loop; its only state is the cutoffs stored in digest rows."""
    for now in polls:
        last = cutoffs[-1] if cutoffs else None
        if digest_due(settings, last, now):
            cutoffs.append(digest_window(last, now).end)


def test_windows_of_consecutive_digests_neither_gap_nor_overlap() -> None:
    # Fifteen days across London's spring-forward, polled at irregular moments by workers
    # that crash and restart (a new loop each time) and stay down for two days once.
    shuffle = random.Random(20240331)
    settings = TimeSettings("Europe/London")
    start, cutoffs = utc(2024, 3, 22, 0, 0), [utc(2024, 3, 21, 12, 0)]
    moments = sorted(
        start + timedelta(minutes=shuffle.randrange(15 * 24 * 60)) for _ in range(3000)
    )
    outage = (utc(2024, 3, 26, 3, 0), utc(2024, 3, 28, 9, 0))
    polls = [m for m in moments if not outage[0] <= m < outage[1]]
    for run in (polls[:900], polls[900:1700], polls[1700:]):
        run_digest_worker(settings, run, cutoffs)

    windows = [digest_window(a, b) for a, b in zip(cutoffs, cutoffs[1:], strict=False)]
    assert all(
        earlier.end == later.start for earlier, later in zip(windows, windows[1:], strict=False)
    )
    arrivals = [cutoffs[0] + timedelta(minutes=7 * i) for i in range(1, 4000)]
    for arrived in (a for a in arrivals if a <= cutoffs[-1]):
        assert sum(window.covers(arrived) for window in windows) == 1, arrived
    sent_on = [wall(c, LONDON).date() for c in cutoffs[1:]]
    assert len(sent_on) == len(set(sent_on)) == 15 - 2, "one digest a day; the outage made one"
    assert all(wall(c, LONDON).time() >= time(7, 30) for c in cutoffs[1:])


# -- Quick-alert budget ---------------------------------------------------------------------


def test_budget_counts_a_sliding_hour_not_the_calendar_hour() -> None:
    sent = [utc(2024, 1, 15, 8, 40), utc(2024, 1, 15, 8, 50), utc(2024, 1, 15, 8, 59)]
    assert not within_budget(sent, utc(2024, 1, 15, 9, 5), per_hour=3)
    assert within_budget(sent, utc(2024, 1, 15, 9, 5), per_hour=4)


def test_a_sent_alert_frees_its_place_exactly_sixty_minutes_later() -> None:
    sent = [utc(2024, 1, 15, 8, 40)]
    assert not within_budget(sent, utc(2024, 1, 15, 9, 39, 59), per_hour=1)
    assert within_budget(sent, utc(2024, 1, 15, 9, 40), per_hour=1)


def test_no_budget_means_unlimited_and_zero_means_none_now() -> None:
    many = [utc(2024, 1, 15, 9, 0)] * 500
    assert within_budget(many, utc(2024, 1, 15, 9, 1), per_hour=None)
    assert not within_budget([], utc(2024, 1, 15, 9, 1), per_hour=0)


def test_sends_stamped_after_now_still_count() -> None:
    a_worker_ahead = [utc(2024, 1, 15, 9, 0, 2)]
    assert not within_budget(a_worker_ahead, utc(2024, 1, 15, 9, 0), per_hour=1)


# -- Routing a quick alert ------------------------------------------------------------------

BUSY_READER = TimeSettings(
    "America/New_York", quiet_start=time(22), quiet_end=time(7), quick_budget_per_hour=2
)


def test_quick_alert_in_the_day_within_budget_is_sent_now() -> None:
    noon = local(NEW_YORK, 2024, 1, 15, 12, 0)
    assert route_quick(BUSY_READER, noon, sent_in_last_hour=1) == Decision.send_now()


def test_quick_alert_past_the_budget_goes_to_the_digest() -> None:
    noon = local(NEW_YORK, 2024, 1, 15, 12, 0)
    sent = [noon - timedelta(minutes=50), noon - timedelta(minutes=10)]
    assert route_quick(BUSY_READER, noon, sent) == Decision.to_digest()
    assert route_quick(BUSY_READER, noon, 2).route is Route.TO_DIGEST


def test_send_times_older_than_an_hour_do_not_use_up_the_budget() -> None:
    noon = local(NEW_YORK, 2024, 1, 15, 12, 0)
    sent = [noon - timedelta(minutes=61), noon - timedelta(minutes=90), noon - timedelta(hours=5)]
    assert route_quick(BUSY_READER, noon, sent) == Decision.send_now()


def test_quiet_hours_come_before_the_budget() -> None:
    night = local(NEW_YORK, 2024, 1, 15, 23, 0)
    decision = route_quick(BUSY_READER, night, sent_in_last_hour=99)
    assert decision == Decision.hold_until(local(NEW_YORK, 2024, 1, 16, 7, 0))


def test_alerts_released_after_quiet_hours_count_against_the_budget() -> None:
    release = local(NEW_YORK, 2024, 1, 16, 7, 0)
    held_overnight = [local(NEW_YORK, 2024, 1, 15, 22 + i % 2, 10 * i) for i in range(5)]
    sent: list[datetime] = []
    routes = []
    for _alert in held_overnight:
        decision = route_quick(BUSY_READER, release, sent)
        routes.append(decision.route)
        if decision.route is Route.SEND_NOW:
            sent.append(release)
    assert routes == [Route.SEND_NOW] * 2 + [Route.TO_DIGEST] * 3


def test_a_hold_needs_an_instant_and_only_a_hold_has_one() -> None:
    with pytest.raises(ValueError, match="hold needs an instant"):
        Decision(Route.HOLD_UNTIL)
    with pytest.raises(ValueError, match="hold needs an instant"):
        Decision(Route.SEND_NOW, utc(2024, 1, 1))


# -- Properties over many zones, times and years --------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Dublin",  # negative DST in the tz data
    "Asia/Kolkata",
    "Asia/Kathmandu",  # +05:45, was +05:30 until 1986
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30 with DST
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Asia/Tehran",
    "Africa/Casablanca",  # DST suspended each Ramadan
    "Antarctica/Troll",  # two-hour DST
    "Pacific/Apia",  # skipped 30 December 2011
    "Australia/Adelaide",
]
FIRST_YEAR, LAST_YEAR = 1985, 2040


@functools.cache
def clock_changes(zone_name: str) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """Every change of UTC offset in the years under test: (instant, offset before, after)."""
    zone, found = ZoneInfo(zone_name), []
    day = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    while day.year <= LAST_YEAR:
        following = day + timedelta(days=1)
        if offset(day, zone) != offset(following, zone):
            change = first_instant_with_offset(day, following, zone)
            found.append((change, offset(day, zone), offset(following, zone)))
        day = following
    return tuple(found)


def offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def first_instant_with_offset(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    target = offset(after, zone)
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        before, after = (before, middle) if offset(middle, zone) == target else (middle, after)
    return after.replace(microsecond=0)


@st.composite
def reader_times(draw: st.DrawFn) -> tuple[ZoneInfo, time, datetime]:
    """A zone, a wall time and a start instant; mostly a wall time the clock skips or
    repeats a few days after the start, otherwise anything at all."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    changes = clock_changes(zone.key)
    if not changes or draw(st.integers(0, 3)) == 0:
        return zone, draw(wall_times), draw(instants)
    change, before, after = draw(st.sampled_from(changes))
    within = draw(st.floats(0, 1, exclude_max=True))
    skipped_or_repeated = change.replace(tzinfo=None) + before + (after - before) * within
    days_ahead = draw(st.integers(0, 4 * 24 * 60))
    return (
        zone,
        skipped_or_repeated.time().replace(second=0, microsecond=0),
        change - timedelta(minutes=days_ahead),
    )


wall_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
instants = st.datetimes(
    min_value=datetime(FIRST_YEAR, 1, 1),
    max_value=datetime(LAST_YEAR, 12, 31),
    timezones=st.just(UTC),
)
SAMOA_SKIPS_A_DAY = (APIA, time(7, 30), utc(2011, 12, 28, 0, 0))
NEW_YORK_SKIPS_0230 = (NEW_YORK, time(2, 30), utc(2024, 3, 8, 0, 0))
NEW_YORK_REPEATS_0130 = (NEW_YORK, time(1, 30), utc(2024, 11, 1, 0, 0))


def lands_on_wall_time(slot: datetime, zone: ZoneInfo, at: time) -> bool:
    """True when the clock shows ``at`` at ``slot`` (its first occurrence), or ``at`` did
    not exist that day and ``slot`` is the first instant after the clock jumped over it."""
    day = wall(slot, zone).date()
    target = datetime.combine(day, at)
    if wall(slot, zone) == target:
        return slot == target.replace(tzinfo=zone, fold=0).astimezone(UTC)
    jumped_over = wall(slot - timedelta(seconds=1), zone) < target < wall(slot, zone)
    return jumped_over and not exists(target, zone)


def exists(target: datetime, zone: ZoneInfo) -> bool:
    return wall(target.replace(tzinfo=zone).astimezone(UTC), zone) == target


@hypothesis_settings(max_examples=400, deadline=None, derandomize=True)
@given(case=reader_times())
@example(case=SAMOA_SKIPS_A_DAY)
@example(case=NEW_YORK_SKIPS_0230)
@example(case=NEW_YORK_REPEATS_0130)
def test_consecutive_daily_digests_increase_land_on_local_time_and_never_share_a_day(
    case: tuple[ZoneInfo, time, datetime],
) -> None:
    zone, digest_time, after = case
    found = digests(TimeSettings(zone.key, digest_time=digest_time), after, 12)
    assert found[0] > after
    assert all(earlier < later for earlier, later in pairs(found))
    assert all(lands_on_wall_time(slot, zone, digest_time) for slot in found)
    days = [wall(slot, zone).date() for slot in found]
    assert all(earlier < later for earlier, later in pairs(days))
    for earlier, later in pairs(days):
        for skipped in range(1, (later - earlier).days):
            skipped_day = earlier + timedelta(days=skipped)
            assert not exists(datetime.combine(skipped_day, digest_time), zone)


@hypothesis_settings(max_examples=150, deadline=None, derandomize=True)
@given(case=reader_times(), weekly_day=st.integers(0, 6))
def test_weekly_digests_come_once_a_week_on_the_local_weekly_day(
    case: tuple[ZoneInfo, time, datetime], weekly_day: int
) -> None:
    zone, digest_time, after = case
    settings = TimeSettings(zone.key, digest_time=digest_time, weekly_day=weekly_day)
    found = digests(settings, after, 4, mode="weekly")
    assert all(earlier < later for earlier, later in pairs(found))
    assert all(wall(slot, zone).weekday() == weekly_day for slot in found)
    assert all(lands_on_wall_time(slot, zone, digest_time) for slot in found)


@hypothesis_settings(max_examples=400, deadline=None, derandomize=True)
@given(case=reader_times(), start=wall_times, step=st.integers(0, 48 * 60))
@example(case=NEW_YORK_SKIPS_0230, start=time(22), step=27 * 60)
@example(case=NEW_YORK_REPEATS_0130, start=time(22), step=2 * 24 * 60 + 60)
def test_quiet_until_ends_the_quiet_period_at_its_local_end_time(
    case: tuple[ZoneInfo, time, datetime], start: time, step: int
) -> None:
    zone, end, before_change = case
    assume(start != end)
    quiet_hours, at = QuietHours(start, end, zone), before_change + timedelta(minutes=step)
    until = quiet_hours.quiet_until(at)
    assert until >= at
    assert quiet_hours.is_quiet(at) == (until > at)
    assert not quiet_hours.is_quiet(until)
    if until > at:
        assert quiet_hours.is_quiet(max(at, until - timedelta(microseconds=1)))
        assert lands_on_wall_time(until, zone, end)


@hypothesis_settings(max_examples=300, deadline=None, derandomize=True)
@given(zone=st.sampled_from(ZONES).map(ZoneInfo), start=wall_times, end=wall_times, at=instants)
def test_quiet_hours_match_the_wall_clock_away_from_clock_changes(
    zone: ZoneInfo, start: time, end: time, at: datetime
) -> None:
    assume(start != end)
    offsets = {offset(at + timedelta(hours=h), zone) for h in range(-26, 27)}
    assume(len(offsets) == 1)
    shown = wall(at, zone).time()
    expected = start <= shown < end if start < end else shown >= start or shown < end
    assert QuietHours(start, end, zone).is_quiet(at) == expected


def pairs(items: list) -> list:
    return list(zip(items, items[1:], strict=False))
