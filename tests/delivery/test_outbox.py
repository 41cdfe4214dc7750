"""The outbox sender against a real local push service, on SQLite and PostgreSQL: sent, retried
after Retry-After, dead subscriptions removed, slow endpoints not holding up others, held
notifications released after quiet hours, leases of killed senders running out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from tests.delivery.test_notify import (
    NOW,
    add_alert,
    add_channel,
    add_user,
    deliveries,
    digest_queue,
    new_story,
    notifications,
    store,
)
from tests.pushreceiver import PushReceiver
from tidings.clock import FrozenClock, as_utc, naive_utc
from tidings.config import Settings
from tidings.delivery.notify import Notifier
from tidings.delivery.outbox import (
    DeliveryWorker,
    SubscriptionHousekeeping,
    backoff_seconds,
    claim_due_deliveries,
)
from tidings.delivery.vapid import VapidKeys
from tidings.store.db import Database
from tidings.store.models import Channel, DeliveryAttempt


def push_channel(
    db: Database, settings: Settings, receiver: PushReceiver, user: int
) -> tuple[int, str]:
    keys = VapidKeys.load_or_create(settings.data_dir)
    subscription = receiver.subscribe(keys.application_server_key)
    return add_channel(db, user, "webpush", **subscription.to_json()), subscription.path


def sender(settings: Settings, db: Database, clock: FrozenClock, **options: Any) -> DeliveryWorker:
    return DeliveryWorker(settings, db, clock=clock, worker_id="sender-1", **options)


def attempts(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(DeliveryAttempt.status).order_by(DeliveryAttempt.id)))


def channel_ids(db: Database) -> set[int]:
    with db.session() as s:
        return set(s.scalars(select(Channel.id)))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_quick_notification_is_pushed_with_its_id_as_tag(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(db, "reader@example.com")
    _, path = push_channel(db, settings, push_receiver, reader)
    add_alert(db, '"kim jong un"', reader)
    clock = FrozenClock(NOW)
    store(db, Notifier(db, clock=clock), new_story(db))
    with sender(settings, db, clock) as outbox:
        assert outbox.run_due() == 1
        assert outbox.run_due() == 0
    [push] = [p for p in push_receiver.received if p.path == path]
    [note] = notifications(db)
    assert push.payload["tag"] == str(note.id)
    assert "<mark>Kim Jong-un</mark>" in push.payload["snippet_html"]
    assert push.payload["alerts"] == ['"kim jong un"']
    [delivery] = deliveries(db)
    assert delivery.status == "sent" and delivery.attempts == 1
    assert attempts(db) == ["ok"]


def test_429_with_retry_after_is_retried_no_sooner(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(db, "reader@example.com")
    _, path = push_channel(db, settings, push_receiver, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(NOW)
    store(db, Notifier(db, clock=clock), new_story(db))
    push_receiver.answer(path, 429, {"Retry-After": "600"})
    with sender(settings, db, clock) as outbox:
        assert outbox.run_due() == 1
        [delivery] = deliveries(db)
        assert delivery.status == "pending" and delivery.attempts == 1
        assert as_utc(delivery.next_attempt_at) == NOW + timedelta(seconds=600)
        del push_receiver.answers[path]
        clock.advance(seconds=599)
        assert outbox.run_due() == 0
        clock.advance(seconds=2)
        assert outbox.run_due() == 1
    assert [d.status for d in deliveries(db)] == ["sent"]
    assert attempts(db) == ["temporary", "ok"]
    assert len(push_receiver.received) == 1


def test_a_failing_endpoint_gives_up_after_the_attempt_cap(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(db, "reader@example.com")
    _, path = push_channel(db, settings, push_receiver, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(NOW)
    store(db, Notifier(db, clock=clock), new_story(db))
    push_receiver.answer(path, 503)
    with sender(settings, db, clock, max_attempts=3) as outbox:
        for attempt in range(1, 4):
            assert outbox.run_due() == 1
            clock.advance(seconds=backoff_seconds(attempt))
        assert outbox.run_due() == 0
    [delivery] = deliveries(db)
    assert delivery.status == "failed" and "503" in (delivery.last_error or "")
    assert attempts(db) == ["temporary"] * 3


def test_410_removes_the_push_subscription(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(db, "reader@example.com")
    gone, gone_path = push_channel(db, settings, push_receiver, reader)
    alive, _ = push_channel(db, settings, push_receiver, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(NOW)
    store(db, Notifier(db, clock=clock), new_story(db))
    push_receiver.answer(gone_path, 410)
    with sender(settings, db, clock) as outbox:
        assert outbox.run_due() == 2
    assert gone not in channel_ids(db) and alive in channel_ids(db)
    assert [(d.channel_id, d.status) for d in deliveries(db)] == [(alive, "sent")]
    assert len(notifications(db)) == 1  # the inbox item stays


@contextmanager
def held_endpoint() -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """A push endpoint that answers only when released: (base URL, arrived, release)."""
    arrived, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived.set()
            release.wait(30)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrived, release
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_a_stuck_endpoint_does_not_hold_up_the_others(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(db, "reader@example.com")
    with held_endpoint() as (base, arrived, release):
        stuck_subscription = push_receiver.subscribe().to_json()
        stuck = add_channel(
            db, reader, "webpush", **{**stuck_subscription, "endpoint": f"{base}/push/stuck"}
        )
        fine = [push_channel(db, settings, push_receiver, reader)[0] for _ in range(3)]
        add_alert(db, "assad", reader)
        clock = FrozenClock(NOW)
        store(db, Notifier(db, clock=clock), new_story(db))
        with sender(settings, db, clock, concurrency=4) as outbox:
            running = threading.Thread(target=outbox.run_due)
            running.start()
            assert arrived.wait(20)

            def others_sent() -> bool:
                return {d.channel_id for d in deliveries(db) if d.status == "sent"} == set(fine)

            wait_for(others_sent, "the other channels to be sent and recorded")
            assert [d.status for d in deliveries(db) if d.channel_id == stuck] == ["pending"]
            release.set()
            running.join(30)
    assert {d.status for d in deliveries(db)} == {"sent"}


def test_a_killed_senders_claim_is_taken_over_after_its_lease(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(db, "reader@example.com")
    push_channel(db, settings, push_receiver, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(NOW)
    store(db, Notifier(db, clock=clock), new_story(db))
    with db.session() as s:  # a sender claims it, then dies before sending
        assert len(claim_due_deliveries(s, "dead", NOW, lease_seconds=60, limit=10)) == 1
    with sender(settings, db, clock, lease_seconds=60) as outbox:
        clock.advance(seconds=59)
        assert outbox.run_due() == 0
        clock.advance(seconds=2)
        assert outbox.run_due() == 1
    assert [d.status for d in deliveries(db)] == ["sent"]
    assert len(push_receiver.received) == 1


def test_quiet_hours_hold_until_they_end_then_send(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(
        db, "night@example.com", timezone="Asia/Kolkata", quiet_start="22:00", quiet_end="07:00"
    )
    push_channel(db, settings, push_receiver, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(datetime(2026, 6, 3, 18, 0, tzinfo=UTC))  # 23:30 in Kolkata
    store(db, Notifier(db, clock=clock), new_story(db))
    with sender(settings, db, clock) as outbox:
        clock.now = datetime(2026, 6, 4, 1, 29, tzinfo=UTC)  # 06:59 IST
        assert outbox.run_due() == 0
        clock.now = datetime(2026, 6, 4, 1, 30, tzinfo=UTC)  # 07:00 IST
        assert outbox.run_due() == 1
    [note] = notifications(db)
    assert note.route == "quick" and as_utc(note.hold_until) == clock.now
    assert len(push_receiver.received) == 1


def test_a_hold_released_past_the_budget_goes_to_the_digest(
    db: Database, settings: Settings, push_receiver: PushReceiver
) -> None:
    reader = add_user(
        db, "night@example.com", quiet_start="22:00", quiet_end="07:00", quick_budget_per_hour=1
    )
    push_channel(db, settings, push_receiver, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(datetime(2026, 6, 3, 23, 0, tzinfo=UTC))
    notifier = Notifier(db, clock=clock)
    store(db, notifier, new_story(db))
    store(db, notifier, new_story(db), url="https://other.example/assad-night")
    assert [n.route for n in notifications(db)] == ["held", "held"]
    with sender(settings, db, clock) as outbox:
        clock.now = datetime(2026, 6, 4, 7, 0, tzinfo=UTC)
        assert outbox.run_due() == 1
    assert sorted(n.route for n in notifications(db)) == ["digest", "quick"]
    assert [d.status for d in deliveries(db)] == ["sent"]
    [moved] = [n for n in notifications(db) if n.route == "digest"]
    assert digest_queue(db) == [(moved.id, reader, "quick")]  # waiting for the next digest


def test_push_subscriptions_unseen_for_60_days_expire(db: Database) -> None:
    reader = add_user(db, "reader@example.com")
    fresh = add_channel(db, reader, "webpush", endpoint="https://push.example/fresh", keys={})
    stale = add_channel(db, reader, "webpush", endpoint="https://push.example/stale", keys={})
    hook = add_channel(db, reader)
    with db.session() as s:
        for channel in s.scalars(select(Channel)):
            channel.created_at = naive_utc(NOW - timedelta(days=400))
        s.get_one(Channel, fresh).last_seen_at = naive_utc(NOW - timedelta(days=59))
        s.get_one(Channel, stale).last_seen_at = naive_utc(NOW - timedelta(days=61))
    clock = FrozenClock(NOW)
    housekeeping = SubscriptionHousekeeping(db, clock=clock)
    assert housekeeping() == 1
    assert channel_ids(db) == {fresh, hook}
    clock.advance(days=2)
    assert housekeeping() == 1  # once an hour at most; two days passed
    assert channel_ids(db) == {hook}
