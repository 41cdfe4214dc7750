"""Daily and weekly digests on SQLite and PostgreSQL: schedule, windows, outbox rows, and the
email and push a digest becomes, received by a real SMTP server and a real push receiver."""

from __future__ import annotations

import socket
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.pushreceiver import PushReceiver
from tests.smtpserver import Mailbox, smtp_url
from tidings.clock import FrozenClock, as_utc, naive_utc
from tidings.config import Settings
from tidings.delivery.channels import make_channel
from tidings.delivery.channels.email import shared_smtp
from tidings.delivery.digests import (
    DigestScheduler,
    digest_message,
    digest_messages,
    unsubscribe_token,
    verify_unsubscribe_token,
)
from tidings.delivery.message import Message
from tidings.delivery.notify import queue_for_digest
from tidings.delivery.vapid import VapidKeys
from tidings.secrets import secret_path
from tidings.store.db import Database
from tidings.store.models import (
    Alert,
    Channel,
    Delivery,
    Digest,
    DigestItem,
    Notification,
    Story,
    Topic,
    User,
)

JOINED = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)  # a Friday; New York is on EST (UTC-5)
KOLKATA_0730 = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # 07:30 IST (UTC+5:30)
NEW_YORK_0730 = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)  # 07:30 EST


# -- helpers ------------------------------------------------------------------------------


def add_reader(
    db: Database, email: str, timezone: str = "UTC", joined: datetime = JOINED, **fields: object
) -> int:
    with db.session() as s:
        user = User(email=email, timezone=timezone, created_at=naive_utc(joined), **fields)
        s.add(user)
        s.flush()
        return user.id


def add_alert(
    db: Database, user_id: int | None, query: str, mode: str = "daily", **fields: object
) -> int:
    with db.session() as s:
        now = naive_utc(JOINED)
        alert = Alert(
            user_id=user_id, query=query, mode=mode, created_at=now, updated_at=now, **fields
        )
        s.add(alert)
        s.flush()
        return alert.id


def add_channel(db: Database, user_id: int, kind: str, config: dict, enabled: bool = True) -> int:
    with db.session() as s:
        endpoint = config.get("endpoint") if kind == "webpush" else None
        channel = Channel(
            user_id=user_id,
            kind=kind,
            config=config,
            endpoint=endpoint,
            enabled=enabled,
            created_at=naive_utc(JOINED),
        )
        s.add(channel)
        s.flush()
        return channel.id


def write_notification(
    s: Session,
    user_id: int,
    at: datetime,
    *,
    title: str = "A story",
    alert_ids: list[int] | None = None,
    mode: str = "daily",
    route: str = "digest",
    queue: bool = True,
    **fields: object,
) -> Notification:
    """A notification as the notifier writes it (with its own story), created at ``at``, in
    the session's transaction; routed to the digest, it is queued for it (unless ``queue`` is
    False: how data dirs of revision 0001 kept it)."""
    story = Story(title=title, first_seen_at=naive_utc(at), updated_at=naive_utc(at))
    s.add(story)
    s.flush()
    notification = Notification(
        user_id=user_id,
        story_id=story.id,
        title=title,
        alert_ids=alert_ids or [],
        mode=mode,
        route=route,
        created_at=naive_utc(at),
        **fields,
    )
    s.add(notification)
    s.flush()
    if route == "digest" and queue:
        queue_for_digest(s, [(notification.id, user_id, mode, naive_utc(at))])
    return notification


def notify(db: Database, user_id: int, at: datetime, **options: object) -> int:
    """``write_notification`` in a transaction of its own; the notification's id."""
    with db.session() as s:
        return write_notification(s, user_id, at, **options).id  # type: ignore[arg-type]


def digests_of(db: Database, user_id: int, mode: str = "daily") -> list[Digest]:
    with db.session() as s:
        query = select(Digest).where(Digest.user_id == user_id, Digest.mode == mode)
        return list(s.scalars(query.order_by(Digest.cutoff)))


def digest_of(db: Database, notification_id: int) -> int | None:
    with db.session() as s:
        return s.scalar(
            select(DigestItem.digest_id).where(DigestItem.notification_id == notification_id)
        )


def local(instant: datetime, timezone: str) -> str:
    return as_utc(instant).astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]


def scheduler(
    settings: Settings, db: Database, clock: FrozenClock, **options: object
) -> DigestScheduler:
    return DigestScheduler(settings, db, clock=clock, worker_id="test", **options)  # type: ignore[arg-type]


# -- schedule -----------------------------------------------------------------------------


def test_kolkata_and_new_york_readers_each_get_their_digest_at_their_own_0730(settings, db):
    kolkata = add_reader(db, "priya@example.com", "Asia/Kolkata")
    new_york = add_reader(db, "sam@example.com", "America/New_York")
    for reader in (kolkata, new_york):
        notify(db, reader, JOINED + timedelta(minutes=30))
    clock = FrozenClock(KOLKATA_0730 - timedelta(seconds=1))
    digests = scheduler(settings, db, clock)
    assert digests.run_due() == 0
    clock.now = KOLKATA_0730
    assert digests.run_due() == 1
    assert [local(d.cutoff, "Asia/Kolkata") for d in digests_of(db, kolkata)] == [
        "2024-03-01 07:30"
    ]
    assert digests_of(db, new_york) == []
    clock.now = NEW_YORK_0730 - timedelta(seconds=1)
    assert digests.run_due() == 0
    clock.now = NEW_YORK_0730
    assert digests.run_due() == 1
    [sent] = digests_of(db, new_york)
    assert local(sent.cutoff, "America/New_York") == "2024-03-01 07:30"
    assert sent.notification_count == 1 and sent.sent


def test_consecutive_digests_neither_gap_nor_overlap(settings, db):
    reader = add_reader(db, "reader@example.com")
    first_cutoff = datetime(2024, 3, 1, 7, 30, tzinfo=UTC)
    before = notify(db, reader, first_cutoff - timedelta(hours=3))
    at_cutoff = notify(db, reader, first_cutoff)
    just_after = notify(db, reader, first_cutoff + timedelta(microseconds=1))
    next_day = notify(db, reader, first_cutoff + timedelta(hours=20))
    clock = FrozenClock(first_cutoff)
    digests = scheduler(settings, db, clock)
    assert digests.run_due() == 1
    clock.now = first_cutoff + timedelta(days=1)
    assert digests.run_due() == 1
    first, second = digests_of(db, reader)
    assert first.window_start is None and second.window_start == first.cutoff
    assert [digest_of(db, n) for n in (before, at_cutoff)] == [first.id, first.id]
    assert [digest_of(db, n) for n in (just_after, next_day)] == [second.id, second.id]
    assert (first.notification_count, second.notification_count) == (2, 2)


def test_a_notification_committed_late_goes_to_the_next_digest(settings, db):
    reader = add_reader(db, "reader@example.com")
    clock = FrozenClock(datetime(2024, 3, 1, 7, 30, tzinfo=UTC))
    digests = scheduler(settings, db, clock)
    assert digests.run_due() == 1  # empty
    late = notify(db, reader, clock.now - timedelta(minutes=5))  # stamped before, committed after
    clock.advance(days=1)
    digests.run_due()
    assert digest_of(db, late) == digests_of(db, reader)[1].id


def test_a_restart_in_the_middle_changes_nothing(settings, db):
    reader = add_reader(db, "reader@example.com", "Asia/Kolkata")
    notify(db, reader, JOINED + timedelta(minutes=1))
    clock = FrozenClock(KOLKATA_0730)
    assert scheduler(settings, db, clock).run_due() == 1
    notify(db, reader, KOLKATA_0730 + timedelta(hours=1))
    restarted = scheduler(settings, db, clock)
    assert restarted.run_due() == 0
    clock.advance(hours=12)
    assert scheduler(settings, db, clock).run_due() == 0
    clock.now = KOLKATA_0730 + timedelta(days=1)
    assert scheduler(settings, db, clock).run_due() == 1
    first, second = digests_of(db, reader)
    assert (first.notification_count, second.notification_count) == (1, 1)
    assert second.window_start == first.cutoff


@pytest.mark.parametrize(
    ("days", "expected_utc_hours"),
    [
        # Spring forward on Sunday 10 March 2024: 07:30 EDT is 11:30 UTC from then on.
        ((datetime(2024, 3, 9), datetime(2024, 3, 10), datetime(2024, 3, 11)), [12, 11, 11]),
        # Fall back on Sunday 3 November 2024: 07:30 EST is 12:30 UTC again.
        ((datetime(2024, 11, 2), datetime(2024, 11, 3), datetime(2024, 11, 4)), [11, 12, 12]),
    ],
)
def test_across_a_dst_change_the_digest_stays_at_0730_local(settings, db, days, expected_utc_hours):
    start = days[0].replace(tzinfo=UTC)
    reader = add_reader(db, "sam@example.com", "America/New_York", joined=start)
    clock = FrozenClock(start)
    digests = scheduler(settings, db, clock, rescan=timedelta(minutes=15))
    end = days[-1].replace(tzinfo=UTC) + timedelta(days=1)
    while clock.now < end:  # a worker passing every 15 minutes, all day and night
        digests.run_due()
        clock.advance(minutes=15)
    cutoffs = [as_utc(d.cutoff) for d in digests_of(db, reader)]
    assert [local(c, "America/New_York")[-5:] for c in cutoffs] == ["07:30"] * 3  # type: ignore[arg-type]
    assert [c.hour for c in cutoffs] == expected_utc_hours  # type: ignore[union-attr]


def test_weekly_digest_on_the_weekly_day_takes_weekly_notifications_only(settings, db):
    reader = add_reader(db, "reader@example.com", weekly_day=0)  # Monday
    daily = notify(db, reader, JOINED, mode="daily")
    overflow = notify(db, reader, JOINED, mode="quick")  # past the hourly budget
    weekly = notify(db, reader, JOINED, mode="weekly")
    quick = notify(db, reader, JOINED, mode="quick", route="quick")
    held = notify(db, reader, JOINED, mode="quick", route="held")
    clock = FrozenClock(datetime(2024, 3, 1, 7, 30, tzinfo=UTC))  # Friday
    digests = scheduler(settings, db, clock)
    digests.run_due()
    [friday] = digests_of(db, reader)
    assert digests_of(db, reader, "weekly") == []
    clock.now = datetime(2024, 3, 4, 7, 30, tzinfo=UTC)  # Monday
    assert digests.run_due() == 2  # Monday's daily (empty) and the weekly
    [monday_weekly] = digests_of(db, reader, "weekly")
    assert [digest_of(db, n) for n in (daily, overflow)] == [friday.id, friday.id]
    assert digest_of(db, weekly) == monday_weekly.id
    assert digest_of(db, quick) is None and digest_of(db, held) is None


def test_an_empty_digest_is_recorded_not_sent_and_the_next_window_starts_at_its_cutoff(
    settings, db
):
    reader = add_reader(db, "reader@example.com")
    add_channel(db, reader, "email", {"address": "reader@example.com"})
    clock = FrozenClock(datetime(2024, 3, 1, 7, 30, tzinfo=UTC))
    digests = scheduler(settings, db, clock)
    assert digests.run_due() == 1
    [empty] = digests_of(db, reader)
    assert not empty.sent and empty.notification_count == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
        assert s.scalar(select(func.count()).where(Notification.kind == "digest")) == 0
    arrived = notify(db, reader, clock.now + timedelta(hours=2))
    clock.advance(days=1)
    assert digests.run_due() == 1
    second = digests_of(db, reader)[1]
    assert second.window_start == empty.cutoff and second.sent
    assert digest_of(db, arrived) == second.id


def test_a_replayed_build_is_a_no_op(settings, db):
    reader = add_reader(db, "reader@example.com")
    add_channel(db, reader, "email", {"address": "reader@example.com"})
    notify(db, reader, JOINED)
    now = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    first = scheduler(settings, db, FrozenClock(now)).send_now()
    replay = scheduler(settings, db, FrozenClock(now)).send_now()
    behind = scheduler(settings, db, FrozenClock(now - timedelta(seconds=2))).run_due()
    assert (first.built, first.notifications, replay.built, behind) == (1, 1, 0, 0)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Digest)) == 1
        assert s.scalar(select(func.count()).select_from(Delivery)) == 1


def test_readers_are_read_in_batches(settings, db):
    readers = [add_reader(db, f"r{i}@example.com") for i in range(7)]
    for reader in readers:
        notify(db, reader, JOINED)
    report = scheduler(
        settings, db, FrozenClock(JOINED + timedelta(hours=1)), batch_size=3
    ).send_now()
    assert (report.built, report.notifications, report.readers) == (7, 7, set(readers))


# -- outbox rows and inbox entry --------------------------------------------------------


def test_a_digest_writes_one_delivery_per_email_and_push_channel_and_an_inbox_entry(settings, db):
    reader = add_reader(db, "reader@example.com")
    email = add_channel(db, reader, "email", {"address": "reader@example.com"})
    phone = add_channel(db, reader, "webpush", {"endpoint": "https://push.example/1", "keys": {}})
    add_channel(
        db, reader, "webpush", {"endpoint": "https://push.example/2", "keys": {}}, enabled=False
    )
    add_channel(db, reader, "webhook", {"url": "https://hooks.example/x"})
    for i in range(12):
        notify(db, reader, JOINED + timedelta(minutes=i), title=f"Story {i}")
    report = scheduler(settings, db, FrozenClock(JOINED + timedelta(hours=1))).send_now()
    [digest] = digests_of(db, reader)
    with db.session() as s:
        deliveries = s.scalars(select(Delivery).order_by(Delivery.channel_id)).all()
        [entry] = s.scalars(select(Notification).where(Notification.kind == "digest")).all()
    assert (report.sent, report.notifications, digest.notification_count) == (1, 12, 12)
    assert [(d.key, d.digest_id, d.status) for d in deliveries] == [
        (f"d{digest.id}:c{email}", digest.id, "pending"),
        (f"d{digest.id}:c{phone}", digest.id, "pending"),
    ]
    assert entry.title == "Your daily digest: 12 stories" and entry.story_id is None
    assert entry.digest_id == digest.id and entry.user_id == reader


# -- what is sent -------------------------------------------------------------------------


def grouped_reader(db: Database) -> tuple[int, dict[str, int]]:
    """A reader with two alerts and a followed topic; one story matched by both alerts."""
    reader = add_reader(db, "reader@example.com", "Asia/Kolkata")
    assad = add_alert(db, reader, "assad kim")
    pyongyang = add_alert(db, reader, "pyongyang")
    with db.session() as s:
        topic = Topic(slug="world", name="World news", created_at=naive_utc(JOINED))
        s.add(topic)
        s.flush()
        topic_id = topic.id
    world = add_alert(db, None, "site:example.com/world", topic_id=topic_id)
    notify(
        db,
        reader,
        JOINED,
        title="Assad plans to visit Kim Jong-un",
        alert_ids=[pyongyang, assad],
        url="https://news.example/assad-kim",
        source="Oneindia",
        byline="Shubham",
        published=datetime(2024, 2, 29, 22, 0),
        snippet="Assad plans to visit Kim in Pyongyang",
        snippet_html="<mark>Assad</mark> plans to visit <mark>Kim</mark> in Pyongyang",
        also_reported_by=3,
    )
    notify(
        db, reader, JOINED + timedelta(minutes=5), title="Pyongyang parade", alert_ids=[pyongyang]
    )
    notify(db, reader, JOINED + timedelta(minutes=9), title="Elections abroad", alert_ids=[world])
    notify(db, reader, JOINED + timedelta(minutes=7), title="Orphaned story", alert_ids=[99999])
    return reader, {"assad": assad, "pyongyang": pyongyang, "world": world}


def test_digest_email_is_multipart_grouped_by_alert_then_story_with_one_click_unsubscribe(
    settings, db, smtp_server: Mailbox
):
    settings = replace(settings, smtp_url=smtp_url(smtp_server), base_url="https://news.example")
    reader, _ = grouped_reader(db)
    scheduler(settings, db, FrozenClock(KOLKATA_0730)).run_due()
    [digest] = digests_of(db, reader)
    with db.session() as s:
        message = digest_message(s, digest.id, "email", settings)
    make_channel("email", {"address": "reader@example.com"}, settings).send(message)
    [email] = smtp_server.messages
    assert email.get_content_type() == "multipart/alternative"
    assert email["Subject"] == "Your daily digest: 4 stories"
    unsubscribe, mailto = (part.strip(" <>") for part in email["List-Unsubscribe"].split(","))
    assert unsubscribe.startswith("https://news.example/unsubscribe/")
    assert (
        mailto.startswith("mailto:")
        and email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    )
    assert verify_unsubscribe_token(unsubscribe.rsplit("/", 1)[1], settings) == reader
    plain = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    sections = [line for line in plain.splitlines() if line.startswith("== ")]
    assert sections == [
        "== “assad kim” ==",
        "== “pyongyang” ==",
        "== World news ==",
        "== Other stories ==",
    ]
    assad_part, pyongyang_part = (
        plain.split("== “pyongyang” ==")[0],
        plain.split("== “pyongyang” ==")[1],
    )
    assert (
        "Assad plans to visit Kim Jong-un" in assad_part and "Oneindia · by Shubham" in assad_part
    )
    assert "Also reported by 3 other sources." in assad_part
    assert "* Assad plans to visit Kim Jong-un (see above, under “assad kim”)" in pyongyang_part
    assert pyongyang_part.index("Pyongyang parade") < pyongyang_part.index("World news")
    assert plain.count("Assad plans to visit Kim in Pyongyang") == 1  # shown once, referenced once
    assert "<mark>Assad</mark> plans to visit <mark>Kim</mark>" in html
    assert 'href="https://news.example/assad-kim"' in html and f'href="{unsubscribe}"' in html
    assert plain.splitlines()[-3:] == [
        "Tidings news alerts",
        "Your inbox: https://news.example/inbox",
        f"Unsubscribe: {unsubscribe}",
    ]


def test_digest_messages_of_a_batch_are_each_digests_own(settings, db):
    settings = replace(settings, base_url="https://news.example")
    reader, _ = grouped_reader(db)
    other = add_reader(db, "other@example.com", "Asia/Kolkata")
    alert = add_alert(db, other, "elections")
    notify(db, other, JOINED, title="Elections at home", alert_ids=[alert])
    scheduler(settings, db, FrozenClock(KOLKATA_0730)).run_due()
    ids = [digest.id for user in (reader, other) for digest in digests_of(db, user)]
    with db.session() as s:
        batch = digest_messages(s, [*ids, 99999], "email", settings)
        alone = [digest_message(s, digest_id, "email", settings) for digest_id in ids]
        with pytest.raises(LookupError):
            digest_message(s, 99999, "email", settings)
    assert [batch[digest_id] for digest_id in ids] == alone and 99999 not in batch
    first, second = alone
    assert [section.heading for section in second.sections] == ["\u201celections\u201d"]
    assert [story.title for story in second.sections[0].stories] == ["Elections at home"]
    assert second.title == "Your daily digest: 1 story" and first.title.endswith("4 stories")
    assert second.unsubscribe_url != first.unsubscribe_url


def test_a_one_story_digest_says_story_in_the_inbox_entry_and_the_push(settings, db):
    reader = add_reader(db, "reader@example.com")
    notify(db, reader, JOINED)
    scheduler(settings, db, FrozenClock(JOINED + timedelta(hours=1))).send_now()
    [digest] = digests_of(db, reader)
    with db.session() as s:
        [entry] = s.scalars(select(Notification).where(Notification.kind == "digest")).all()
        push = digest_message(s, digest.id, "webpush", settings)
    assert (entry.title, entry.snippet) == (push.title, push.body)
    assert (push.title, push.body) == ("Your daily digest: 1 story", "1 new story for your alerts")


def test_digest_push_is_one_summary_decrypted_by_the_push_receiver(
    settings, db, push_receiver: PushReceiver
):
    settings = replace(settings, base_url="https://news.example")
    reader, _ = grouped_reader(db)
    keys = VapidKeys.load_or_create(settings.data_dir)
    subscription = push_receiver.subscribe(keys.application_server_key)
    add_channel(db, reader, "webpush", subscription.to_json())
    scheduler(settings, db, FrozenClock(KOLKATA_0730)).run_due()
    with db.session() as s:
        [delivery] = s.scalars(select(Delivery)).all()
        channel = s.get(Channel, delivery.channel_id)
        message = digest_message(s, delivery.digest_id, "webpush", settings)  # type: ignore[arg-type]
    make_channel("webpush", channel.config, settings).send(message)  # type: ignore[union-attr]
    [push] = push_receiver.received
    assert (
        push.payload["tag"] == f"digest-{delivery.digest_id}" and push.payload["kind"] == "digest"
    )
    assert push.payload["title"] == "Your daily digest: 4 stories"
    assert push.payload["body"] == "4 new stories for your alerts"
    assert push.payload["url"] == "https://news.example/inbox"


def test_unsubscribe_tokens_are_signed_with_a_private_secret(settings):
    token = unsubscribe_token(settings, 42)
    assert verify_unsubscribe_token(token, settings) == 42
    user, purpose, mac = token.split(".")
    assert verify_unsubscribe_token(f"43.{purpose}.{mac}", settings) is None
    assert verify_unsubscribe_token(f"{user}.alerts.{mac}", settings) is None
    assert verify_unsubscribe_token(f"{user}.{purpose}.{mac[:-2]}xx", settings) is None
    assert verify_unsubscribe_token("garbage", settings) is None
    mode = secret_path(settings.data_dir, "unsubscribe").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_stored_email_channels_reuse_one_smtp_session_and_reopen_a_closed_one(
    settings, smtp_server: Mailbox
):
    settings = replace(settings, smtp_url=smtp_url(smtp_server))
    channel = make_channel("email", {"address": "reader@example.com"}, settings)
    channel.send(Message(tag="1", title="first"))
    session = shared_smtp(settings)._local.smtp
    make_channel("email", {"address": "other@example.com"}, settings).send(
        Message(tag="2", title="second")
    )
    assert shared_smtp(settings)._local.smtp is session  # the same connection, kept
    session.sock.shutdown(socket.SHUT_RDWR)  # the server (or the network) dropped it meanwhile
    channel.send(Message(tag="3", title="third"))
    assert shared_smtp(settings)._local.smtp is not session
    shared_smtp(settings).close()
    assert [m["Subject"] for m in smtp_server.messages] == ["first", "second", "third"]
