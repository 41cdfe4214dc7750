"""Admin routes: sources (discovered from a real local feed), OPML export, topics, users,
broadcasts through the outbox, and the sign-up switch."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi import FastAPI
from sqlalchemy import select

from tests.newsroom import Newsroom
from tests.web.conftest import Reader
from tidings.store.models import Delivery, Notification


def test_sources_added_by_discovery_listed_and_exported(admin: Reader) -> None:
    client = admin.client()
    with Newsroom.generate(1, 2).serve() as room:
        feed = room.feed_urls()[0]
        added = client.post("/api/v1/admin/sources", json={"url": feed})
        assert added.status_code == 201, added.text
        assert added.json()["kind"] == "feed" and added.json()["url"] == feed
        dead = client.post("/api/v1/admin/sources", json={"url": feed.replace("/feeds/", "/gone/")})
        assert dead.status_code == 422 and "cannot add" in dead.json()["detail"]
    plain = client.post(
        "/api/v1/admin/sources", json={"url": "https://example.com/rss", "discover": False}
    )
    assert plain.status_code == 201
    assert client.post("/api/v1/admin/sources", json={"url": "ftp://x"}).status_code == 422
    listed = client.get("/api/v1/admin/sources").json()
    assert [s["url"] for s in listed] == [feed, "https://example.com/rss"]
    assert listed[0]["status"] == "new" and listed[0]["next_check_at"]
    opml = client.get("/api/v1/sources.opml")
    assert opml.headers["content-type"].startswith("text/x-opml")
    urls = [o.get("xmlUrl") for o in ET.fromstring(opml.content).iter("outline")]
    assert urls == [feed, "https://example.com/rss"]


def test_topics_created_with_their_query_and_followers_counted(
    admin: Reader, alice: Reader
) -> None:
    client = admin.client()
    made = client.post(
        "/api/v1/admin/topics",
        json={"slug": "korea", "name": "Korea", "query": "korea OR pyongyang"},
    )
    assert made.status_code == 201
    topic = made.json()
    assert topic["query"] == "korea OR pyongyang" and topic["followers"] == 0
    alice.client().post(f"/api/v1/topics/{topic['id']}/follow")
    assert client.get("/api/v1/admin/topics").json()[0]["followers"] == 1
    again = client.post("/api/v1/admin/topics", json={"slug": "korea", "name": "K", "query": "k"})
    assert again.status_code == 409
    bad = client.post("/api/v1/admin/topics", json={"slug": "x", "name": "X", "query": '"open'})
    assert bad.status_code == 422 and bad.json()["column"]


def test_users_listed(admin: Reader, alice: Reader) -> None:
    users = admin.client().get("/api/v1/admin/users").json()
    assert [(u["email"], u["is_admin"]) for u in users] == [
        (admin.email, True),
        (alice.email, False),
    ]


def test_broadcast_reaches_every_follower_through_the_outbox(
    app: FastAPI, admin: Reader, alice: Reader, bob: Reader
) -> None:
    client = admin.client()
    topic = client.post(
        "/api/v1/admin/topics", json={"slug": "flash", "name": "Flash", "query": "flash"}
    ).json()
    alice.client().post(f"/api/v1/topics/{topic['id']}/follow", json={"mode": "daily"})
    alice.client().post("/api/v1/channels", json={"kind": "email", "target": alice.email})
    bob.client().post(f"/api/v1/topics/{topic['id']}/follow")
    bob.client().put("/api/v1/settings", json={"quiet_hours": "11:00-13:00"})  # it is 12:00 UTC
    body = {
        "topic_id": topic["id"],
        "title": "Polls close at 8",
        "url": "https://example.com/polls",
        "body": "Vote <now>",
    }
    sent = client.post("/api/v1/admin/broadcast", json=body)
    assert sent.json() == {"notified": 2, "deliveries": 1}
    inbox = alice.client().get("/api/v1/notifications").json()["items"]
    assert [(n["kind"], n["title"], n["route"], n["source"]) for n in inbox] == [
        ("broadcast", "Polls close at 8", "quick", "Flash")
    ]
    assert inbox[0]["snippet_html"] == "Vote &lt;now&gt;"
    assert bob.client().get("/api/v1/notifications").json()["items"][0]["route"] == "held"
    with app.state.web.db.session() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert session.get(Notification, delivery.notification_id).user_id == alice.id
    assert client.post("/api/v1/admin/broadcast", json={**body, "topic_id": 999}).status_code == 404
    for link in ("javascript:alert(1)", "data:text/html,hi", "/relative", "ftp://example.com/x"):
        refused = client.post("/api/v1/admin/broadcast", json={**body, "url": link})
        assert refused.status_code == 422, link
        assert "http" in str(refused.json()["detail"])


def test_site_settings_switch_signup(admin: Reader) -> None:
    client = admin.client()
    assert client.get("/api/v1/admin/settings").json() == {"signup_enabled": True}
    assert client.put("/api/v1/admin/settings", json={"signup_enabled": False}).json() == {
        "signup_enabled": False
    }
    assert client.get("/api/v1/admin/settings").json() == {"signup_enabled": False}
