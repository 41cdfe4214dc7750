"""The reader commands as admins and scripts use them, on SQLite and PostgreSQL: users, alerts,
channels (with test notifications to a real webhook receiver, SMTP server and push service),
the inbox and topics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.hookreceiver import HookReceiver, running_hook_receiver
from tests.pushreceiver import PushReceiver, running_push_receiver
from tests.smtpserver import Mailbox, running_smtp_server, smtp_url
from tidings.accounts import verify_password
from tidings.cli import main
from tidings.delivery.channels import TEST_TITLE
from tidings.store.db import Database
from tidings.store.models import Notification, User

Run = Callable[..., Result]


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "TIDINGS_DATA_DIR": str(tmp_path / "data"),
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_ALLOW_PRIVATE_NETWORKS": "1",
        "TIDINGS_SMTP_URL": "",
    }


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    def invoke(*args: str, input: str | None = None, expect: int = 0) -> Result:
        result = CliRunner().invoke(main, list(args), env=env, input=input)
        assert result.exit_code == expect, (result.output, result.exception)
        return result

    return invoke


@pytest.fixture
def ann(run: Run) -> str:
    run("users", "add", "ann@example.com", "--timezone", "Europe/Paris")
    return "ann@example.com"


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    with running_hook_receiver() as receiver:
        yield receiver


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


# -- users ------------------------------------------------------------------------------------


def test_users_add_prints_the_id_and_stores_the_password(
    run: Run, tmp_path: Path, database_url: str
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("long enough secret\n")
    first = run(
        "users",
        "add",
        "Ann@Example.com",
        "--password-file",
        str(password_file),
        "--admin",
        "--timezone",
        "Asia/Kolkata",
        "--digest-time",
        "06:45",
    )
    second = run(
        "users", "add", "bob@example.com", "--password-file", "-", input="bob's own password\n"
    )
    ann_id, bob_id = int(first.output), int(second.output)
    db = Database(database_url)
    with db.session() as session:
        ann, bob = session.get(User, ann_id), session.get(User, bob_id)
        assert ann is not None and bob is not None
        assert verify_password(ann.password_hash, "long enough secret")
        assert verify_password(bob.password_hash, "bob's own password")
    db.dispose()
    rows = json_lines(run("users", "list", "--json"))
    assert [(r["id"], r["email"], r["admin"], r["timezone"], r["digest_time"]) for r in rows] == [
        (ann_id, "ann@example.com", True, "Asia/Kolkata", "06:45"),
        (bob_id, "bob@example.com", False, "UTC", "07:30"),
    ]
    assert "ann@example.com (admin)" in run("users", "list").output


def test_users_add_refuses_bad_input_with_clear_messages(run: Run, ann: str) -> None:
    zone = run("users", "add", "bob@example.com", "--timezone", "Mars/Base", expect=1)
    assert "unknown time zone 'Mars/Base'" in zone.output
    when = run("users", "add", "bob@example.com", "--digest-time", "25:00", expect=1)
    assert "digest time '25:00'" in when.output
    address = run("users", "add", "bob at example.com", expect=1)
    assert "is not an e-mail address" in address.output
    twice = run("users", "add", "ANN@example.com", expect=1)
    assert "already exists" in twice.output
    assert [r["email"] for r in json_lines(run("users", "list", "--json"))] == [ann]


def test_users_set_changes_only_the_settings_given(run: Run, ann: str) -> None:
    changed = run(
        "users",
        "set",
        ann,
        "--quiet-hours",
        "22:00-07:00",
        "--budget",
        "4",
        "--weekly-day",
        "sunday",
        "--digest-time",
        "8:15",
    )
    assert "quiet hours 22:00-07:00" in changed.output
    run("users", "set", ann, "--budget", "unlimited")
    (row,) = json_lines(run("users", "list", "--json"))
    assert (row["timezone"], row["digest_time"], row["weekly_day"]) == (
        "Europe/Paris",
        "08:15",
        "sunday",
    )
    assert (row["quiet_hours"], row["quick_budget_per_hour"]) == ("22:00-07:00", None)
    run("users", "set", ann, "--quiet-hours", "off")
    assert json_lines(run("users", "list", "--json"))[0]["quiet_hours"] is None


def test_users_set_refuses_bad_settings_and_unknown_readers(run: Run, ann: str) -> None:
    assert "quiet hours" in run("users", "set", ann, "--quiet-hours", "late", expect=1).output
    assert (
        "'Nowhere/City'" in run("users", "set", ann, "--timezone", "Nowhere/City", expect=1).output
    )
    assert "no reader" in run("users", "set", "zed@example.com", "--budget", "3", expect=1).output
    assert "nothing to change" in run("users", "set", ann, expect=2).output


# -- alerts -----------------------------------------------------------------------------------


def test_alerts_add_list_and_remove(run: Run, ann: str) -> None:
    channel = run("channels", "add", "--user", ann, "email", "ann@example.com")
    channel_id = int(re.search(r"added channel (\d+)", channel.output)[1])  # type: ignore[index]
    first = run("alerts", "add", "--user", ann, '"climate change" AND policy')
    run("alerts", "add", "--user", ann, "volcano", "--mode", "daily", "--channel", str(channel_id))
    rows = json_lines(run("alerts", "list", "--user", ann, "--json"))
    assert [(r["query"], r["mode"], r["channels"]) for r in rows] == [
        ('"climate change" AND policy', "quick", None),
        ("volcano", "daily", [channel_id]),
    ]
    assert all(datetime.fromisoformat(r["created_at"]).tzinfo == UTC for r in rows)
    first_id = int(re.search(r"added alert (\d+)", first.output)[1])  # type: ignore[index]
    assert first_id == rows[0]["id"]
    run("alerts", "remove", "--user", ann, str(first_id))
    assert [r["query"] for r in json_lines(run("alerts", "list", "--user", ann, "--json"))] == [
        "volcano"
    ]
    assert (
        f"no alert {first_id}"
        in run("alerts", "remove", "--user", ann, str(first_id), expect=1).output
    )


def test_an_invalid_query_is_refused_with_its_column(run: Run, ann: str) -> None:
    result = run("alerts", "add", "--user", ann, "storm AND (flood", expect=1)
    assert "invalid alert query" in result.output and "column 11" in result.output
    assert json_lines(run("alerts", "list", "--user", ann, "--json")) == []


def test_alerts_refuse_unknown_readers_foreign_channels_and_the_cap(
    run: Run, ann: str, env: dict[str, str]
) -> None:
    assert (
        "no reader with the e-mail 'zed@example.com'"
        in run("alerts", "add", "--user", "zed@example.com", "storm", expect=1).output
    )
    run("users", "add", "bob@example.com")
    bobs = run("channels", "add", "--user", "bob@example.com", "email", "bob@example.com")
    bobs_id = re.search(r"added channel (\d+)", bobs.output)[1]  # type: ignore[index]
    assert (
        f"has no channel {bobs_id}"
        in run("alerts", "add", "--user", ann, "storm", "--channel", bobs_id, expect=1).output
    )
    assert (
        "invalid value for '--mode'"
        in run("alerts", "add", "--user", ann, "storm", "--mode", "hourly", expect=2).output.lower()
    )
    env["TIDINGS_MAX_ALERTS_PER_USER"] = "1"
    run("alerts", "add", "--user", ann, "storm")
    assert "at most 1 alerts" in run("alerts", "add", "--user", ann, "flood", expect=1).output


# -- channels ---------------------------------------------------------------------------------


def add_webhook(run: Run, user: str, url: str) -> tuple[int, str]:
    """Add a webhook channel; its id and the secret printed (once) for the receiver."""
    output = run("channels", "add", "--user", user, "webhook", url).output
    channel_id = re.search(r"added channel (\d+)", output)[1]  # type: ignore[index]
    secret = re.search(r"signing secret \(shown only now\): (\S+)", output)[1]  # type: ignore[index]
    return int(channel_id), secret


def test_channels_test_reaches_a_webhook_that_checks_the_signature(
    run: Run, ann: str, hooks: HookReceiver
) -> None:
    channel_id, secret = add_webhook(run, ann, hooks.url("/hook"))
    hooks.expect_signature("/hook", secret)
    result = run("channels", "test", "--user", ann, str(channel_id))
    assert f"test notification sent on channel {channel_id}" in result.output
    (post,) = hooks.accepted("/hook")
    assert post.json()["title"] == TEST_TITLE and post.json()["event"] == "notification.test"
    (row,) = json_lines(run("channels", "list", "--user", ann, "--json"))
    assert (row["kind"], row["target"], row["last_error"]) == ("webhook", hooks.url("/hook"), None)
    assert secret not in run("channels", "list", "--user", ann).output


def test_channels_test_reports_a_failure_and_records_it(
    run: Run, ann: str, hooks: HookReceiver
) -> None:
    channel_id, _ = add_webhook(run, ann, hooks.url("/gone"))
    hooks.answer("/gone", 410)
    result = run("channels", "test", "--user", ann, str(channel_id), expect=1)
    assert "answered 410" in result.output and "permanent" in result.output
    (row,) = json_lines(run("channels", "list", "--user", ann, "--json"))
    assert "answered 410" in row["last_error"]
    hooks.expect_signature("/gone", "a secret the channel does not have")
    hooks.answers.clear()
    assert (
        "answered 401" in run("channels", "test", "--user", ann, str(channel_id), expect=1).output
    )


def test_channels_test_sends_a_real_email(run: Run, ann: str, env: dict[str, str]) -> None:
    output = run("channels", "add", "--user", ann, "email", "Ann@Example.com").output
    channel_id = re.search(r"added channel (\d+)", output)[1]  # type: ignore[index]
    unset = run("channels", "test", "--user", ann, channel_id, expect=1).output
    assert "set TIDINGS_SMTP_URL" in unset
    with running_smtp_server() as mailbox:
        env["TIDINGS_SMTP_URL"] = smtp_url(mailbox)
        run("channels", "test", "--user", ann, channel_id)
        received = list(mailbox.messages)
    assert_test_email(received, mailbox)


def assert_test_email(received: list[Any], mailbox: Mailbox) -> None:
    (message,) = received
    assert message["Subject"] == TEST_TITLE and message["To"] == "ann@example.com"
    assert mailbox.envelopes[0][1] == ["ann@example.com"]
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None and "Tidings can reach you here" in plain.get_content()


def test_channels_add_webpush_and_test_reaches_the_push_service(run: Run, ann: str) -> None:
    with running_push_receiver() as push:
        subscription = push.subscribe()
        text = json.dumps(subscription.to_json())
        output = run("channels", "add", "--user", ann, "webpush", text).output
        again = run("channels", "add", "--user", ann, "webpush", text).output
        channel_id = re.search(r"added channel (\d+)", output)[1]  # type: ignore[index]
        assert f"added channel {channel_id} " in again  # the same device, not a second one
        run("channels", "test", "--user", ann, channel_id)
        assert_pushed_test(push, subscription)
    assert len(json_lines(run("channels", "list", "--user", ann, "--json"))) == 1


def assert_pushed_test(push: PushReceiver, subscription: Any) -> None:
    (received,) = push.pushes_to(subscription)
    assert received.payload["title"] == TEST_TITLE and received.payload["tag"] == "test"


def test_channels_add_refuses_bad_targets_and_other_readers_channels(
    run: Run, ann: str, hooks: HookReceiver
) -> None:
    assert (
        "must be an http:// or https:// URL"
        in run(
            "channels", "add", "--user", ann, "webhook", "gopher://example.com/", expect=1
        ).output
    )
    assert (
        "Apprise does not understand"
        in run("channels", "add", "--user", ann, "apprise", "nonsense://x", expect=1).output
    )
    assert (
        "'pigeon' is not one of"
        in run("channels", "add", "--user", ann, "pigeon", "x", expect=2).output.lower()
    )
    channel_id, _ = add_webhook(run, ann, hooks.url("/hook"))
    run("users", "add", "bob@example.com")
    assert (
        f"has no channel {channel_id}"
        in run("channels", "test", "--user", "bob@example.com", str(channel_id), expect=1).output
    )
    assert hooks.posts == []
    run("channels", "remove", "--user", ann, str(channel_id))
    assert json_lines(run("channels", "list", "--user", ann, "--json")) == []


def test_apprise_channel_test_posts_to_a_json_endpoint(
    run: Run, ann: str, hooks: HookReceiver
) -> None:
    url = hooks.url("/apprise").replace("http://", "json://")
    channel_id = re.search(  # type: ignore[index]
        r"added channel (\d+)", run("channels", "add", "--user", ann, "apprise", url).output
    )[1]
    run("channels", "test", "--user", ann, channel_id)
    (post,) = hooks.accepted("/apprise")
    assert post.json()["title"] == TEST_TITLE


# -- the inbox --------------------------------------------------------------------------------


def fill_inbox(database_url: str, email: str, alert_id: int) -> None:
    db = Database(database_url)
    with db.session() as session:
        user = session.query(User).filter_by(email=email).one()
        for minute, (title, read) in enumerate([("Older story", True), ("Newest story", False)]):
            session.add(
                Notification(
                    user_id=user.id,
                    title=title,
                    url=f"https://news.example/{minute}",
                    source="Example News",
                    byline="Jo Writer",
                    snippet=f"{title} snippet",
                    published=datetime(2026, 3, 2, 8, minute),
                    alert_ids=[alert_id],
                    also_reported_by=minute * 2,
                    route="quick",
                    read_at=datetime(2026, 3, 2, 10) if read else None,
                    created_at=datetime(2026, 3, 2, 9, minute),
                )
            )
        session.add(
            Notification(
                user_id=user.id,
                title="Cleared",
                alert_ids=[],
                created_at=datetime(2026, 3, 2, 9, 30),
                cleared_at=datetime(2026, 3, 2, 9, 31),
            )
        )
    db.dispose()


def test_inbox_lists_newest_first_with_alert_queries(run: Run, ann: str, database_url: str) -> None:
    assert "no reader" in run("inbox", "--user", "zed@example.com", expect=1).output
    assert "the inbox is empty" in run("inbox", "--user", ann).output
    added = run("alerts", "add", "--user", ann, "lava OR eruption").output
    alert_id = int(re.search(r"added alert (\d+)", added)[1])  # type: ignore[index]
    fill_inbox(database_url, ann, alert_id)
    rows = json_lines(run("inbox", "--user", ann, "--json"))
    assert [(r["title"], r["read"]) for r in rows] == [
        ("Newest story", False),
        ("Older story", True),
    ]
    newest = rows[0]
    assert newest["alerts"] == ["lava OR eruption"] and newest["alert_ids"] == [alert_id]
    assert (newest["source"], newest["byline"], newest["also_reported_by"]) == (
        "Example News",
        "Jo Writer",
        2,
    )
    assert newest["published"] == "2026-03-02T08:01:00+00:00" and newest["route"] == "quick"
    unread = json_lines(run("inbox", "--user", ann, "--json", "--unread"))
    assert [r["title"] for r in unread] == ["Newest story"]
    text = run("inbox", "--user", ann).output
    assert text.index("Newest story") < text.index("Older story") and "Cleared" not in text
    assert "matched 'lava OR eruption'" in text and "also reported by 2 source(s)" in text


# -- topics -----------------------------------------------------------------------------------


def test_topics_add_follow_list_and_unfollow(run: Run, ann: str) -> None:
    assert "column" in run("topics", "add", "quakes", "Quakes", "quake AND (", expect=1).output
    assert "slug" in run("topics", "add", "Big Quakes!", "Quakes", "quake", expect=1).output
    assert "no topic 'quakes'" in run("topics", "follow", "--user", ann, "quakes", expect=1).output
    assert json_lines(run("topics", "list", "--json")) == []
    run("topics", "add", "volcanoes", "Volcanoes", "lava OR eruption", "--description", "Hot")
    run("topics", "follow", "--user", ann, "volcanoes", "--mode", "daily")
    (row,) = json_lines(run("topics", "list", "--json"))
    assert (row["slug"], row["name"], row["query"], row["followers"]) == (
        "volcanoes",
        "Volcanoes",
        "lava OR eruption",
        1,
    )
    assert "no longer follows" in run("topics", "unfollow", "--user", ann, "volcanoes").output
    assert "was not following" in run("topics", "unfollow", "--user", ann, "volcanoes").output
    assert json_lines(run("topics", "list", "--json"))[0]["followers"] == 0
