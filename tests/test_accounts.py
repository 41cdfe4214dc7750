"""Readers and their settings, on SQLite and PostgreSQL: accounts, passwords, time settings,
alerts (and their cap), channels, push devices, topics, the inbox."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.pushreceiver import b64url
from tidings.accounts import (
    KEEP,
    AccountError,
    NotFound,
    add_alert,
    add_channel,
    add_push_subscription,
    create_topic,
    create_user,
    find_user,
    follow_topic,
    hash_password,
    inbox,
    normalize_email,
    reader_time_settings,
    remove_alert,
    require_user,
    unfollow_topic,
    update_time_settings,
    user_alerts,
    verify_password,
)
from tidings.alerts.model import MatchArticle
from tidings.alerts.query import QueryError
from tidings.alerts.store import AlertLimitError, SyncedAlertIndex
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.delivery.channels.webhook import sign, verify
from tidings.store.db import Database
from tidings.store.models import Alert, AlertChange, Channel, Notification, Topic, TopicFollow, User

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def new_reader(db: Database, email: str = "ann@example.com", **options: Any) -> int:
    with db.session() as session:
        return create_user(session, email, clock=FrozenClock(NOW), **options).id


def reader(session: Any, user_id: int) -> User:
    user = session.get(User, user_id)
    assert user is not None
    return user


def push_subscription(endpoint: str) -> dict[str, Any]:
    """What a browser's ``PushSubscription.toJSON()`` gives: a P-256 point and 16 auth bytes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}}


# -- passwords --------------------------------------------------------------------------------


def test_argon2_hash_verifies_the_password_and_rejects_others() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterY")
    assert hash_password("correct horse battery") != hashed  # salted


def test_no_password_or_a_broken_hash_never_verifies() -> None:
    assert not verify_password(None, "anything at all")
    assert not verify_password("", "")
    assert not verify_password("not-an-argon2-hash", "not-an-argon2-hash")


def test_short_password_is_refused() -> None:
    with pytest.raises(AccountError, match="at least 8 characters"):
        hash_password("short")


# -- readers ----------------------------------------------------------------------------------


def test_new_reader_has_normalized_email_settings_and_password(db: Database) -> None:
    user_id = new_reader(
        db,
        " Ann.Lee@Example.COM ",
        password="s3cret-words",
        admin=True,
        timezone="Asia/Kolkata",
        digest_time="6:05",
    )
    with db.session() as session:
        user = reader(session, user_id)
        assert user.email == "ann.lee@example.com"
        assert (user.is_admin, user.timezone, user.digest_time) == (True, "Asia/Kolkata", "06:05")
        assert verify_password(user.password_hash, "s3cret-words")
        assert user.created_at == NOW.replace(tzinfo=None)
        found = find_user(session, "ANN.LEE@example.com")
        assert found is not None and found.id == user_id


def test_reader_without_password_cannot_log_in(db: Database) -> None:
    user_id = new_reader(db)
    with db.session() as session:
        assert reader(session, user_id).password_hash is None
        assert not verify_password(reader(session, user_id).password_hash, "")


def test_same_email_in_another_case_is_refused(db: Database) -> None:
    new_reader(db, "ann@example.com")
    with pytest.raises(AccountError, match="already exists"), db.session() as session:
        create_user(session, "ANN@example.com")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


BAD_EMAILS = [
    "",
    "ann",
    "ann@",
    "@example.com",
    "ann@example",
    "a b@example.com",
    "ann@-example.com",
    "ann..lee@example.com",
    ".ann@example.com",
    "ann@example..com",
    "ann@exa_mple.com",
    "x" * 65 + "@example.com",
    "ann@" + "x" * 64 + ".com",
]


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_implausible_email_is_refused(email: str) -> None:
    with pytest.raises(AccountError, match="is not an e-mail address"):
        normalize_email(email)


def test_plausible_emails_pass_in_lower_case() -> None:
    assert normalize_email("O'Brien+news@Mail.Example.co.uk") == "o'brien+news@mail.example.co.uk"
    assert normalize_email("Zoe@Bücher.example") == "zoe@bücher.example"


def test_bad_email_zone_or_time_creates_no_reader(db: Database) -> None:
    refused = [
        ({"email": "ann@example"}, "is not an e-mail address"),
        ({"timezone": "Europe/Londn"}, "unknown time zone 'Europe/Londn'"),
        ({"timezone": "localtime"}, "unknown time zone 'localtime'"),
        *(
            ({"digest_time": t}, f"digest time '{re.escape(t)}'")
            for t in ("7", "24:00", "07:60", "7.30", "seven")
        ),
    ]
    for options, message in refused:
        arguments = {"email": "ann@example.com"} | options
        with pytest.raises(AccountError, match=message), db.session() as session:
            create_user(session, arguments.pop("email"), **arguments)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_unknown_reader_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="nobody@example.com"), db.session() as session:
        require_user(session, "nobody@example.com")


# -- time settings ----------------------------------------------------------------------------


def test_time_settings_are_parsed_and_stored(db: Database) -> None:
    user_id = new_reader(db)
    with db.session() as session:
        update_time_settings(
            session,
            reader(session, user_id),
            timezone="America/New_York",
            digest_time="18:45",
            weekly_day="fri",
            quiet_hours="22:00–07:00",
            quick_budget_per_hour="12",
        )
    with db.session() as session:
        user = reader(session, user_id)
        stored = (
            user.timezone,
            user.digest_time,
            user.weekly_day,
            user.quiet_start,
            user.quiet_end,
            user.quick_budget_per_hour,
        )
        assert stored == ("America/New_York", "18:45", 4, "22:00", "07:00", 12)
        settings = reader_time_settings(user)
        assert (settings.quiet_start, settings.quiet_end) == (time(22), time(7))


def test_settings_not_given_are_kept_and_none_turns_off(db: Database) -> None:
    user_id = new_reader(db, timezone="Europe/Paris")
    with db.session() as session:
        update_time_settings(
            session, reader(session, user_id), quiet_hours="23:00-06:30", quick_budget_per_hour=3
        )
    with db.session() as session:
        update_time_settings(
            session,
            reader(session, user_id),
            quiet_hours=None,
            quick_budget_per_hour=KEEP,
            weekly_day=6,
        )
    with db.session() as session:
        user = reader(session, user_id)
        assert (user.timezone, user.quiet_start, user.quiet_end) == ("Europe/Paris", None, None)
        assert (user.quick_budget_per_hour, user.weekly_day) == (3, 6)


def test_a_bad_setting_changes_nothing(db: Database) -> None:
    user_id = new_reader(db)
    refused: list[tuple[dict[str, Any], str]] = [
        ({"quiet_hours": "22:00"}, "quiet hours"),
        ({"quiet_hours": "22:00-31:00"}, "quiet hours end"),
        ({"weekly_day": "someday"}, "weekday"),
        ({"weekly_day": 7}, "weekday"),
        ({"quick_budget_per_hour": "-1"}, "budget"),
        ({"timezone": "Mars/Olympus_Mons"}, "Mars/Olympus_Mons"),
    ]
    for change, message in refused:
        with pytest.raises(AccountError, match=message), db.session() as session:
            update_time_settings(session, reader(session, user_id), digest_time="09:15", **change)
    with db.session() as session:
        user = reader(session, user_id)
        assert (user.digest_time, user.quiet_start, user.weekly_day) == ("07:30", None, 0)


# -- alerts -----------------------------------------------------------------------------------


def test_reader_alerts_stop_at_the_cap(db: Database, settings: Settings) -> None:
    capped = Settings.from_env({}, data_dir=settings.data_dir, max_alerts_per_user=2)
    user_id, other_id = new_reader(db), new_reader(db, "bob@example.com")
    with db.session() as session:
        for query in ("climate", "election"):
            add_alert(session, reader(session, user_id), query, capped)
    with pytest.raises(AlertLimitError, match="at most 2"), db.session() as session:
        add_alert(session, reader(session, user_id), "volcano", capped)
    with db.session() as session:  # the cap is per reader, and topics do not count
        add_alert(session, reader(session, other_id), "volcano", capped)
        create_topic(session, "volcanoes", "Volcanoes", "volcano OR eruption")
        assert [a.query for a in user_alerts(session, reader(session, user_id))] == [
            "climate",
            "election",
        ]


def test_bad_alert_query_names_its_column(db: Database, settings: Settings) -> None:
    user_id = new_reader(db)
    with pytest.raises(QueryError, match="column 9"), db.session() as session:
        add_alert(session, reader(session, user_id), "foo AND (bar", settings)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_alert_channels_must_be_the_readers_own(db: Database, settings: Settings) -> None:
    ann, bob = new_reader(db), new_reader(db, "bob@example.com")
    with db.session() as session:
        bobs = add_channel(session, reader(session, bob), "email", "bob@example.com", settings)
        anns = add_channel(session, reader(session, ann), "email", "ann@example.com", settings)
    with pytest.raises(NotFound, match=f"no channel {bobs.id}"), db.session() as session:
        add_alert(session, reader(session, ann), "climate", settings, channels=[bobs.id])
    with db.session() as session:
        alert = add_alert(
            session, reader(session, ann), "climate", settings, mode="daily", channels=[anns.id]
        )
        assert (alert.mode, alert.channels) == ("daily", [anns.id])


def test_removing_an_alert_is_logged_and_only_the_owner_may(
    db: Database, settings: Settings
) -> None:
    ann, bob = new_reader(db), new_reader(db, "bob@example.com")
    with db.session() as session:
        alert_id = add_alert(session, reader(session, ann), "climate", settings).id
    with pytest.raises(NotFound), db.session() as session:
        remove_alert(session, reader(session, bob), alert_id)
    with db.session() as session:
        remove_alert(session, reader(session, ann), alert_id)
        ops = session.scalars(
            select(AlertChange.op).where(AlertChange.alert_id == alert_id).order_by(AlertChange.seq)
        ).all()
        assert ops == ["upsert", "delete"]


# -- channels ---------------------------------------------------------------------------------


def test_email_and_webhook_channels_are_checked_and_stored(
    db: Database, settings: Settings
) -> None:
    user_id = new_reader(db)
    with db.session() as session:
        user = reader(session, user_id)
        email = add_channel(session, user, "email", " Ann@Example.com ", settings)
        first = add_channel(session, user, "webhook", "https://hooks.example.com/a", settings)
        second = add_channel(session, user, "webhook", "https://hooks.example.com/b", settings)
    assert email.config == {"address": "ann@example.com"}
    assert first.config["url"] == "https://hooks.example.com/a"
    secret = first.config["secret"]
    assert len(secret) >= 40 and secret != second.config["secret"]
    assert verify(b'{"a":1}', secret, sign(b'{"a":1}', secret))


def test_bad_channel_targets_are_refused(db: Database, settings: Settings) -> None:
    user_id = new_reader(db)
    refused = [
        ("email", "not an address", "e-mail address"),
        ("webhook", "ftp://hooks.example.com/x", "http:// or https://"),
        ("webhook", "/relative/path", "http:// or https://"),
        ("apprise", "nosuchservice://token", "Apprise does not understand"),
        ("inbox", "", "unknown channel kind"),
    ]
    for kind, target, message in refused:
        with pytest.raises(AccountError, match=message), db.session() as session:
            add_channel(session, reader(session, user_id), kind, target, settings)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Channel)) == 0


def test_private_webhook_and_apprise_hosts_are_refused_unless_allowed(
    db: Database, settings: Settings
) -> None:
    public_only = Settings.from_env({}, data_dir=settings.data_dir, allow_private_networks=False)
    user_id = new_reader(db)
    for kind, target in (
        ("webhook", "http://127.0.0.1:8080/hook"),
        ("apprise", "json://10.1.2.3/x"),
    ):
        with pytest.raises(AccountError, match="is a private address"), db.session() as s:
            add_channel(s, reader(s, user_id), kind, target, public_only)
        with db.session() as session:
            add_channel(session, reader(session, user_id), kind, target, settings)


def test_the_same_target_twice_is_refused(db: Database, settings: Settings) -> None:
    user_id = new_reader(db)
    with db.session() as session:
        add_channel(session, reader(session, user_id), "email", "ann@example.com", settings)
    with pytest.raises(AccountError, match="already has this email channel"), db.session() as s:
        add_channel(s, reader(s, user_id), "email", "ANN@example.com", settings)


# -- push subscriptions -----------------------------------------------------------------------


def test_push_registration_dedupes_by_endpoint(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    user_id = new_reader(db)
    phone = push_subscription("http://127.0.0.1:9999/push/phone")
    laptop = push_subscription("http://127.0.0.1:9999/push/laptop")
    with db.session() as session:
        first = add_push_subscription(
            session, reader(session, user_id), phone, settings, clock=clock
        )
        add_push_subscription(session, reader(session, user_id), laptop, settings, clock=clock)
    clock.advance(days=3)
    renewed = push_subscription(phone["endpoint"])  # the browser rotated its keys
    with db.session() as session:
        again = add_push_subscription(
            session, reader(session, user_id), renewed, settings, clock=clock
        )
    assert again.id == first.id
    with db.session() as session:
        devices = session.scalars(select(Channel).order_by(Channel.id)).all()
        assert [d.endpoint for d in devices] == [phone["endpoint"], laptop["endpoint"]]
        assert devices[0].config["keys"] == renewed["keys"]
        assert devices[0].last_seen_at == (NOW + timedelta(days=3)).replace(tzinfo=None)
        assert devices[1].last_seen_at == NOW.replace(tzinfo=None)


def test_registering_again_keeps_a_device_turned_off_unless_it_changes_hands(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """The browser re-registers its subscription once a day so it does not expire: a device
    the reader turned off stays off (seen again all the same); another reader signing in on
    that browser and registering it gets it turned on."""
    ann, bea = new_reader(db), new_reader(db, "bea@example.com")
    phone = push_subscription("http://127.0.0.1:9999/push/phone")
    with db.session() as session:
        device = add_push_subscription(session, reader(session, ann), phone, settings, clock=clock)
        device.enabled = False
    clock.advance(days=1)
    with db.session() as session:
        again = add_push_subscription(session, reader(session, ann), phone, settings, clock=clock)
        assert (again.id, again.enabled, again.user_id) == (device.id, False, ann)
        assert again.last_seen_at == (NOW + timedelta(days=1)).replace(tzinfo=None)
    with db.session() as session:
        moved = add_push_subscription(session, reader(session, bea), phone, settings, clock=clock)
        assert (moved.id, moved.enabled, moved.user_id) == (device.id, True, bea)


def test_push_registration_accepts_the_browsers_json_text(db: Database, settings: Settings) -> None:
    import json

    user_id = new_reader(db)
    subscription = push_subscription("http://127.0.0.1:9999/push/a")
    with db.session() as session:
        channel = add_channel(
            session,
            reader(session, user_id),
            "webpush",
            json.dumps(subscription | {"expirationTime": None}),
            settings,
        )
    assert (channel.kind, channel.endpoint) == ("webpush", subscription["endpoint"])
    assert channel.config == subscription


def test_plain_http_push_endpoint_is_refused_unless_private_networks_allowed(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    public_only = Settings.from_env({}, data_dir=tmp_path, allow_private_networks=False)
    user_id = new_reader(db)
    for endpoint, message in (
        ("http://127.0.0.1:9999/push/x", "must be https://"),
        ("https://127.0.0.1:9999/push/x", "is a private address"),
    ):
        with pytest.raises(AccountError, match=message), db.session() as session:
            add_push_subscription(
                session, reader(session, user_id), push_subscription(endpoint), public_only
            )
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Channel)) == 0


def test_malformed_push_subscription_is_refused(db: Database, settings: Settings) -> None:
    user_id = new_reader(db)
    good = push_subscription("http://127.0.0.1:9999/push/x")
    keys = good["keys"]
    refused = [
        ({"endpoint": good["endpoint"]}, "needs an 'endpoint' and 'keys'"),
        (good | {"keys": keys | {"p256dh": b64url(b"\x04" * 33)}}, "p256dh"),
        (good | {"keys": keys | {"p256dh": b64url(b"\x02" * 65)}}, "p256dh"),
        (good | {"keys": keys | {"auth": "!!not base64!!"}}, "auth"),
        (good | {"endpoint": "ftp://127.0.0.1/push"}, "https://"),
        ("[1, 2]", "JSON object"),
        ("{endpoint", "must be JSON"),
    ]
    for subscription, message in refused:
        with pytest.raises(AccountError, match=message), db.session() as session:
            add_push_subscription(session, reader(session, user_id), subscription, settings)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Channel)) == 0


# -- topics -----------------------------------------------------------------------------------


def test_topic_alert_reaches_a_running_engine_through_the_change_log(db: Database) -> None:
    engine = SyncedAlertIndex(db)
    engine.load()
    with db.session() as session:
        topic = create_topic(session, "Volcanoes", "Volcanoes", '"lava flow" OR eruption')
    with db.session() as session:
        alert = session.scalars(select(Alert).where(Alert.topic_id == topic.id)).one()
        assert (topic.slug, alert.user_id, alert.query) == (
            "volcanoes",
            None,
            '"lava flow" OR eruption',
        )
        change = session.scalars(select(AlertChange).where(AlertChange.alert_id == alert.id)).one()
        assert (change.op, change.query) == ("upsert", alert.query)
    assert engine.refresh() == 1
    article = MatchArticle(1, "Lava flow reaches the coast", "Residents were evacuated.")
    assert [m.alert_id for m in engine.match(article)] == [alert.id]


def test_topic_with_a_bad_query_or_slug_is_not_created(db: Database) -> None:
    with pytest.raises(QueryError, match="column"), db.session() as session:
        create_topic(session, "volcanoes", "Volcanoes", "lava AND (flow")
    with pytest.raises(AccountError, match="slug"), db.session() as session:
        create_topic(session, "hot news!", "Hot", "news")
    with db.session() as session:
        create_topic(session, "volcanoes", "Volcanoes", "lava")
    with pytest.raises(AccountError, match="already exists"), db.session() as session:
        create_topic(session, "volcanoes", "Again", "lava")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Topic)) == 1
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_follow_changes_mode_and_unfollow_removes(db: Database) -> None:
    user_id = new_reader(db)
    with db.session() as session:
        create_topic(session, "volcanoes", "Volcanoes", "lava")
        follow_topic(session, reader(session, user_id), "volcanoes")
        follow_topic(session, reader(session, user_id), "Volcanoes", mode="weekly")
    with db.session() as session:
        assert session.scalars(select(TopicFollow.mode)).all() == ["weekly"]
        assert unfollow_topic(session, reader(session, user_id), "volcanoes")
        assert not unfollow_topic(session, reader(session, user_id), "volcanoes")
    with pytest.raises(NotFound, match="no topic 'lava'"), db.session() as session:
        follow_topic(session, reader(session, user_id), "lava")
    with pytest.raises(AccountError, match="mode"), db.session() as session:
        follow_topic(session, reader(session, user_id), "volcanoes", mode="hourly")


# -- the inbox --------------------------------------------------------------------------------


def add_notification(session: Any, user_id: int, title: str, minutes: int, **fields: Any) -> int:
    created = (NOW + timedelta(minutes=minutes)).replace(tzinfo=None)
    note = Notification(user_id=user_id, title=title, created_at=created, **fields)
    session.add(note)
    session.flush()
    return note.id


def test_inbox_is_newest_first_without_cleared_and_filters_unread(db: Database) -> None:
    ann, bob = new_reader(db), new_reader(db, "bob@example.com")
    with db.session() as session:
        add_notification(session, ann, "old", 1)
        add_notification(session, ann, "read", 2, read_at=NOW.replace(tzinfo=None))
        add_notification(session, ann, "cleared", 3, cleared_at=NOW.replace(tzinfo=None))
        add_notification(session, ann, "new", 4)
        add_notification(session, bob, "bob's", 5)
    with db.session() as session:
        user = reader(session, ann)
        assert [n.title for n in inbox(session, user)] == ["new", "read", "old"]
        assert [n.title for n in inbox(session, user, unread_only=True)] == ["new", "old"]
        assert [n.title for n in inbox(session, user, limit=1)] == ["new"]
