"""The reader's REST API end to end: alerts and their preview and feed, the inbox filled by the
real notifier, time settings, topics, channels (tested against a real local webhook receiver)
and this browser's push subscription."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from fastapi import FastAPI

from tests.hookreceiver import running_hook_receiver
from tests.smtpserver import running_smtp_server, smtp_url
from tests.web.conftest import AUTH, P256DH, Reader, add_reader
from tests.web.news import Newsdesk
from tidings.accounts import create_topic
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.store.db import Database
from tidings.web.app import create_app


def test_alerts_create_list_update_delete(alice: Reader) -> None:
    client = alice.client()
    made = client.post("/api/v1/alerts", json={"query": "assad kim", "mode": "daily"})
    assert made.status_code == 201
    alert = made.json()
    assert alert["mode"] == "daily" and alert["channels"] is None
    assert alert["feed_url"].startswith("http://testserver/feeds/alerts/")
    assert client.get("/api/v1/alerts").json() == [alert]
    changed = client.patch(f"/api/v1/alerts/{alert['id']}", json={"query": '"kim jong un"'})
    assert changed.status_code == 200
    assert changed.json()["query"] == '"kim jong un"' and changed.json()["mode"] == "daily"
    assert client.delete(f"/api/v1/alerts/{alert['id']}").status_code == 204
    assert client.get("/api/v1/alerts").json() == []
    assert client.delete(f"/api/v1/alerts/{alert['id']}").status_code == 404


def test_alert_errors_name_the_column_and_the_cap(app: FastAPI, alice: Reader) -> None:
    client = alice.client()
    bad = client.post("/api/v1/alerts", json={"query": "assad (kim"})
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid query" and isinstance(bad.json()["column"], int)
    assert client.post("/api/v1/alerts", json={"query": "x", "mode": "hourly"}).status_code == 422
    assert client.post("/api/v1/alerts", json={"query": "x", "channels": [999]}).status_code == 404
    settings = app.state.web.settings
    app.state.web.settings = settings.__class__.from_env(
        {}, data_dir=settings.data_dir, database_url=settings.database_url, max_alerts_per_user=1
    )
    assert client.post("/api/v1/alerts", json={"query": "one"}).status_code == 201
    over = client.post("/api/v1/alerts", json={"query": "two"})
    assert over.status_code == 409 and "at most 1" in over.json()["detail"]


def test_alert_channels_must_be_the_readers_own(alice: Reader, bob: Reader) -> None:
    bobs = bob.client().post(
        "/api/v1/channels", json={"kind": "email", "target": "bob@example.com"}
    )
    mine = alice.client().post(
        "/api/v1/channels", json={"kind": "email", "target": "a@example.com"}
    )
    client = alice.client()
    alert = client.post("/api/v1/alerts", json={"query": "kim", "channels": [mine.json()["id"]]})
    assert alert.json()["channels"] == [mine.json()["id"]]
    theirs = client.patch(
        f"/api/v1/alerts/{alert.json()['id']}", json={"channels": [bobs.json()["id"]]}
    )
    assert theirs.status_code == 404
    cleared = client.patch(f"/api/v1/alerts/{alert.json()['id']}", json={"channels": None})
    assert cleared.json()["channels"] is None


def test_preview_sees_articles_as_they_arrive_with_terms_marked(
    app: FastAPI, alice: Reader, clock: FrozenClock
) -> None:
    desk = Newsdesk(app)
    desk.arrive()
    client = alice.client()
    first = client.post("/api/v1/alerts/preview", json={"query": "assad kim"}).json()
    assert first["total"] == 1
    article = first["articles"][0]
    assert "<mark>" in article["snippet_html"] and set(article["terms"]) >= {"assad", "kim"}
    assert "<mark>Assad</mark>" in article["title_html"]
    desk.arrive(title="Kim meets Assad again", text="Assad and Kim met once more.")
    desk.arrive(title="Weather", text="Rain all week.")
    assert client.post("/api/v1/alerts/preview", json={"query": "assad kim"}).json()["total"] == 2
    clock.advance(days=2)
    recent = client.post("/api/v1/alerts/preview", json={"query": "assad", "days": 1}).json()
    assert recent["total"] == 0
    bad = client.post("/api/v1/alerts/preview", json={"query": "assad OR"})
    assert bad.status_code == 422 and bad.json()["column"]


def test_inbox_pages_unread_read_click_read_all_and_clear(
    app: FastAPI, alice: Reader, bob: Reader
) -> None:
    client = alice.client()
    client.post("/api/v1/alerts", json={"query": "assad"})
    desk = Newsdesk(app)
    for n in range(5):
        desk.arrive(title=f"Assad story {n}", text=f"Assad did thing number {n}.")
    first = client.get("/api/v1/notifications", params={"limit": 2}).json()
    assert [n["title"] for n in first["items"]] == ["Assad story 4", "Assad story 3"]
    assert first["unread_count"] == 5 and first["next_cursor"] == first["items"][-1]["id"]
    second = client.get(
        "/api/v1/notifications", params={"limit": 2, "before": first["next_cursor"]}
    ).json()
    third = client.get(
        "/api/v1/notifications", params={"limit": 2, "before": second["next_cursor"]}
    ).json()
    assert [n["title"] for n in second["items"] + third["items"]] == [
        "Assad story 2",
        "Assad story 1",
        "Assad story 0",
    ]
    assert third["next_cursor"] is None
    newest = first["items"][0]["id"]
    read = client.post(f"/api/v1/notifications/{newest}/read").json()
    assert read["read_at"] is not None
    assert bob.client().post(f"/api/v1/notifications/{newest}/read").status_code == 404
    clicked = client.post(f"/api/v1/notifications/{first['items'][1]['id']}/click").json()
    assert clicked["clicked_at"] and clicked["read_at"]
    unread = client.get("/api/v1/notifications", params={"unread": True}).json()
    assert unread["unread_count"] == 3 and len(unread["items"]) == 3
    assert client.post("/api/v1/notifications/read-all").json() == {"count": 3}
    assert client.get("/api/v1/notifications", params={"unread": True}).json()["items"] == []
    assert client.delete("/api/v1/notifications").json() == {"count": 5}
    assert client.get("/api/v1/notifications").json() == {
        "items": [],
        "next_cursor": None,
        "unread_count": 0,
    }


def test_alert_feed_lists_its_matches_at_a_secret_url(
    app: FastAPI, alice: Reader, anonymous
) -> None:
    client = alice.client()
    assad = client.post("/api/v1/alerts", json={"query": "assad"}).json()
    client.post("/api/v1/alerts", json={"query": "weather"})
    desk = Newsdesk(app)
    desk.arrive()
    desk.arrive(title="Weather", text="Rain all week.")
    feed = anonymous.get(assad["feed_url"].removeprefix("http://testserver"))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith(
        "application/rss+xml"
    )
    items = ET.fromstring(feed.content).findall("./channel/item")
    assert [i.findtext("title") for i in items] == [
        "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
    ]
    assert items[0].findtext("link").startswith("https://news1.example.com/")
    assert anonymous.get("/feeds/alerts/not-the-secret.xml").status_code == 404


def test_time_settings_read_and_changed_with_checks(alice: Reader) -> None:
    client = alice.client()
    assert client.get("/api/v1/settings").json() == {
        "email": alice.email,
        "timezone": "UTC",
        "digest_time": "07:30",
        "weekly_day": "monday",
        "quiet_hours": None,
        "quick_budget_per_hour": None,
    }
    changed = client.put(
        "/api/v1/settings",
        json={
            "timezone": "Asia/Kolkata",
            "digest_time": "6:45",
            "weekly_day": "fri",
            "quiet_hours": "22:00-07:00",
            "quick_budget_per_hour": 5,
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"email": None} == {
        "email": None,
        "timezone": "Asia/Kolkata",
        "digest_time": "06:45",
        "weekly_day": "friday",
        "quiet_hours": "22:00-07:00",
        "quick_budget_per_hour": 5,
    }
    partial = client.put("/api/v1/settings", json={"quiet_hours": None, "weekly_day": 6}).json()
    assert partial["quiet_hours"] is None and partial["weekly_day"] == "sunday"
    assert partial["timezone"] == "Asia/Kolkata" and partial["quick_budget_per_hour"] == 5
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"digest_time": "25:00"},
        {"quiet_hours": "late"},
        {"weekly_day": "someday"},
        {"timezone": None},
        {"quick_budget_per_hour": -1},
    ):
        reply = client.put("/api/v1/settings", json=bad)
        assert reply.status_code == 422, (bad, reply.text)
        assert reply.json()["detail"]
    assert client.get("/api/v1/settings").json()["timezone"] == "Asia/Kolkata"


def test_topics_follow_and_unfollow(app: FastAPI, alice: Reader) -> None:
    with app.state.web.db.session() as session:
        topic = create_topic(session, "korea", "Korea", "korea").id
    client = alice.client()
    assert client.get("/api/v1/topics").json()[0] | {"id": 0} == {
        "id": 0,
        "slug": "korea",
        "name": "Korea",
        "description": None,
        "following": False,
        "mode": None,
    }
    assert client.post(f"/api/v1/topics/{topic}/follow").json()["mode"] == "quick"
    assert (
        client.post(f"/api/v1/topics/{topic}/follow", json={"mode": "daily"}).json()["mode"]
        == "daily"
    )
    assert client.get("/api/v1/topics").json()[0]["following"] is True
    assert client.delete(f"/api/v1/topics/{topic}/follow").status_code == 204
    assert client.get("/api/v1/topics").json()[0]["following"] is False
    assert client.post("/api/v1/topics/9999/follow").status_code == 404


def test_channels_added_tested_on_a_real_receiver_and_removed(alice: Reader, bob: Reader) -> None:
    client = alice.client()
    with running_hook_receiver() as receiver:
        made = client.post(
            "/api/v1/channels", json={"kind": "webhook", "target": receiver.url("/hook")}
        )
        assert made.status_code == 201, made.text
        channel = made.json()
        assert channel["secret"]
        assert client.get("/api/v1/channels").json()[0]["secret"] is None
        again = client.post(
            "/api/v1/channels", json={"kind": "webhook", "target": receiver.url("/hook")}
        )
        assert again.status_code == 409
        assert bob.client().post(f"/api/v1/channels/{channel['id']}/test").status_code == 404
        tested = client.post(f"/api/v1/channels/{channel['id']}/test")
        assert tested.json() == {"ok": True, "error": None}
        assert len(receiver.accepted("/hook")) == 1
    failed = client.post(f"/api/v1/channels/{channel['id']}/test").json()
    assert failed["ok"] is False and failed["error"]
    assert client.get("/api/v1/channels").json()[0]["last_error"] == failed["error"]
    assert bob.client().delete(f"/api/v1/channels/{channel['id']}").status_code == 404
    assert client.delete(f"/api/v1/channels/{channel['id']}").status_code == 204
    assert client.get("/api/v1/channels").json() == []
    bad = client.post("/api/v1/channels", json={"kind": "email", "target": "nobody"})
    assert bad.status_code == 422


def test_push_subscription_registered_once_and_removed(alice: Reader, bob: Reader) -> None:
    client = alice.client()
    key = client.get("/api/v1/vapid-public-key").json()["public_key"]
    assert len(key) == 87  # a P-256 point, base64url without padding
    subscription = {
        "endpoint": "https://push.example.com/send/abc",
        "expirationTime": None,
        "keys": {"p256dh": P256DH, "auth": AUTH},
    }
    first = client.post("/api/v1/push-subscriptions", json=subscription)
    again = client.post("/api/v1/push-subscriptions", json=subscription)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and first.json()["kind"] == "webpush"
    assert len(client.get("/api/v1/channels").json()) == 1
    broken = client.post(
        "/api/v1/push-subscriptions", json={**subscription, "keys": {"p256dh": "x", "auth": AUTH}}
    )
    assert broken.status_code == 422
    endpoint = {"endpoint": subscription["endpoint"]}
    assert (
        bob.client().request("DELETE", "/api/v1/push-subscriptions", json=endpoint).status_code
        == 404
    )
    assert client.delete("/api/v1/push-subscriptions", params=endpoint).status_code == 204
    assert client.request("DELETE", "/api/v1/push-subscriptions", json=endpoint).status_code == 404


def test_bad_input_is_a_clear_4xx_never_a_500(alice: Reader) -> None:
    client = alice.client()
    not_json = client.post(
        "/api/v1/alerts", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid JSON"
    extra = client.post("/api/v1/alerts", json={"query": "kim", "colour": "red"})
    assert extra.status_code == 422 and extra.json()["detail"][0]["field"] == "body.colour"
    assert client.post("/api/v1/alerts", json={"query": "kim\x00"}).status_code == 422
    assert client.get(f"/api/v1/notifications?before={2**70}").status_code == 422
    assert client.delete(f"/api/v1/alerts/{2**63}").status_code == 422
    assert client.get("/api/v1/nothing-here").json()["error"] == "not found"


def test_unsubscribe_link_turns_email_off(app: FastAPI, alice: Reader) -> None:
    from tidings.delivery.digests import unsubscribe_url

    client = alice.client()
    client.post("/api/v1/channels", json={"kind": "email", "target": alice.email})
    link = unsubscribe_url(app.state.web.settings, alice.id).removeprefix("http://testserver")
    assert client.post(link).status_code == 200
    assert client.get("/api/v1/channels").json()[0]["enabled"] is False
    assert client.get("/unsubscribe/1.digest.forged").status_code == 404
    # the reader turns e-mail on again from the notification settings
    channel_id = client.get("/api/v1/channels").json()[0]["id"]
    reply = client.patch(f"/api/v1/channels/{channel_id}", json={"enabled": True})
    assert reply.status_code == 200 and reply.json()["enabled"] is True
    assert client.get("/api/v1/channels").json()[0]["enabled"] is True
    assert client.patch(f"/api/v1/channels/{channel_id}", json={}).status_code == 422


def test_email_and_apprise_channels_tested_on_real_receivers(
    web_settings: Settings, db: Database, clock: FrozenClock
) -> None:
    """The settings page's "Send a test notification" (POST /channels/{id}/test) for the other
    kinds: an e-mail reaches a real SMTP server, an Apprise URL a real JSON endpoint."""
    with running_smtp_server() as mailbox, running_hook_receiver() as hooks:
        app = create_app(replace(web_settings, smtp_url=smtp_url(mailbox)), db, clock=clock)
        client = add_reader(app, "carol@example.com").client()
        email = client.post("/api/v1/channels", json={"kind": "email", "target": "carol@example.com"})
        target = hooks.url("/apprise").replace("http://", "json://")
        apprise = client.post("/api/v1/channels", json={"kind": "apprise", "target": target})
        assert email.status_code == apprise.status_code == 201, (email.text, apprise.text)
        tested = client.post(f"/api/v1/channels/{email.json()['id']}/test")
        assert tested.json() == {"ok": True, "error": None}
        assert [message["To"] for message in mailbox.messages] == ["carol@example.com"]
        tested = client.post(f"/api/v1/channels/{apprise.json()['id']}/test")
        assert tested.json() == {"ok": True, "error": None}
        assert len(hooks.accepted("/apprise")) == 1
