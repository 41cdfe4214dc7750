"""``tidings digest --now`` end to end: a real database, a real SMTP server, a real push service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from tests.pushreceiver import running_push_receiver
from tests.smtpserver import running_smtp_server, smtp_url
from tidings.cli import main
from tidings.clock import naive_utc, utcnow
from tidings.delivery.notify import queue_for_digest
from tidings.delivery.vapid import VapidKeys
from tidings.store.db import Database
from tidings.store.models import Alert, Channel, Delivery, Digest, Notification, User


def seed_reader(db: Database, email: str, stories: int, push: dict | None = None) -> int:
    """A reader with an alert, an email channel (and a push one) and ``stories`` waiting."""
    past = naive_utc(utcnow() - timedelta(hours=2))
    with db.session() as s:
        user = User(email=email, timezone="Asia/Kolkata", created_at=past)
        s.add(user)
        s.flush()
        alert = Alert(user_id=user.id, query="kim", mode="daily", created_at=past, updated_at=past)
        s.add(alert)
        s.add(Channel(user_id=user.id, kind="email", config={"address": email}, created_at=past))
        if push:
            s.add(
                Channel(
                    user_id=user.id,
                    kind="webpush",
                    config=push,
                    endpoint=push["endpoint"],
                    created_at=past,
                )
            )
        s.flush()
        notes = [
            Notification(
                user_id=user.id,
                title=f"Kim story {i}",
                url=f"https://news.example/{i}",
                alert_ids=[alert.id],
                mode="daily",
                route="digest",
                created_at=past,
                published=datetime(2024, 3, 1, tzinfo=UTC),
            )
            for i in range(stories)
        ]
        s.add_all(notes)
        s.flush()
        queue_for_digest(s, [(n.id, n.user_id, n.mode, n.created_at) for n in notes])
        return user.id


def test_digest_now_for_one_reader_sends_email_push_and_inbox_entry(tmp_path: Path, database_url):
    data_dir = tmp_path / "data"
    db = Database(database_url)
    with running_smtp_server() as mailbox, running_push_receiver() as receiver:
        keys = VapidKeys.load_or_create(data_dir)
        subscription = receiver.subscribe(keys.application_server_key)
        priya = seed_reader(db, "priya@example.com", 3, push=subscription.to_json())
        other = seed_reader(db, "sam@example.com", 2)
        env = {
            "TIDINGS_DATABASE_URL": database_url,
            "TIDINGS_DATA_DIR": str(data_dir),
            "TIDINGS_SMTP_URL": smtp_url(mailbox),
            "TIDINGS_BASE_URL": "https://news.example",
            "TIDINGS_ALLOW_PRIVATE_NETWORKS": "1",
        }
        runner = CliRunner()
        result = runner.invoke(main, ["digest", "--now", "--user", "priya@example.com"], env=env)
        assert result.exit_code == 0, result.output
        assert (
            "digests: 1 built, 1 sent to 1 reader(s), 3 notification(s); 0 empty" in result.output
        )
        again = runner.invoke(main, ["digest", "--now", "--user", "priya@example.com"], env=env)
        assert again.exit_code == 0, again.output
        assert "digests: 1 built, 0 sent to 0 reader(s), 0 notification(s); 1 empty" in again.output
        unknown = runner.invoke(main, ["digest", "--now", "--user", "nobody@example.com"], env=env)
    assert unknown.exit_code != 0 and "no reader" in unknown.output
    [email] = mailbox.messages
    assert email["To"] == "priya@example.com" and email["Subject"] == "Your daily digest: 3 stories"
    assert email["List-Unsubscribe"].startswith("<https://news.example/unsubscribe/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = email.get_body(preferencelist=("plain",)).get_content()
    assert "== “kim” ==" in plain and plain.count("* Kim story") == 3
    [push] = receiver.received
    assert push.payload["title"] == "Your daily digest: 3 stories"
    assert push.payload["url"] == "https://news.example/inbox"
    with db.session() as s:
        digest, empty = s.scalars(select(Digest).order_by(Digest.cutoff)).all()
        assert digest.user_id == priya and digest.notification_count == 3 and digest.sent
        assert empty.window_start == digest.cutoff and not empty.sent  # nothing new since
        statuses = s.scalars(select(Delivery.status)).all()
        [entry] = s.scalars(select(Notification).where(Notification.kind == "digest")).all()
        untaken = s.scalars(select(Notification).where(Notification.user_id == other)).all()
    assert sorted(statuses) == ["sent", "sent"]
    assert entry.user_id == priya and entry.digest_id == digest.id
    assert all(n.digest_id is None for n in untaken)
    db.dispose()
