"""Admin routes: sources (discovered from a real local feed), OPML export, topics, users,
broadcasts through the outbox, and the sign-up switch."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.newsroom import Newsroom
from tests.web.conftest import SUBSCRIPTION, Reader
from tests.web.news import ASSAD_TITLE, Newsdesk
from tidings.accounts import AccountConflict, delete_user
from tidings.alerts.query import QueryError, parse
from tidings.clock import FrozenClock, naive_utc
from tidings.config import Settings
from tidings.delivery.digests import DigestScheduler
from tidings.pipeline import mark_pushed
from tidings.store.claims import claim_due_sources, release_claim
from tidings.store.models import (
    Alert,
    AlertChange,
    Article,
    Base,
    BoilerplateBlock,
    Channel,
    Delivery,
    Digest,
    DigestItem,
    FetchAttempt,
    Notification,
    Source,
    SourceEntry,
    TopicFollow,
    User,
)
from tidings.web.security import create_password_reset
from tidings.worker import Extractor, Worker


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


# -- managing sources ---------------------------------------------------------------------------

HOUR = timedelta(hours=1)


def add_feed(app: FastAPI, client: TestClient, url: str) -> dict[str, Any]:
    """A source due now by the app's clock (the add route dates it by the wall clock)."""
    added = client.post("/api/v1/admin/sources", json={"url": url, "discover": False})
    assert added.status_code == 201, added.text
    source: dict[str, Any] = added.json()
    web = app.state.web
    with web.db.session() as session:
        session.execute(
            update(Source)
            .where(Source.id == source["id"])
            .values(next_check_at=naive_utc(web.clock()))
        )
    return source


def claim(app: FastAPI, clock: FrozenClock, worker: str = "w1") -> list[int]:
    """What a worker's due-claim takes now (the real claim function, as ``Worker.claim``)."""
    with app.state.web.db.session() as session:
        return claim_due_sources(session, worker, clock(), lease_seconds=300, limit=10)


def source_row(app: FastAPI, source_id: int) -> Source:
    with app.state.web.db.session() as session:
        source = session.get(Source, source_id)
        assert source is not None
        session.expunge(source)
        return source


def test_a_paused_source_is_never_claimed_and_a_resumed_one_is(
    app: FastAPI, admin: Reader, clock: FrozenClock, web_settings: Settings, extractor: Extractor
) -> None:
    client = admin.client()
    paused, running = (add_feed(app, client, f"https://example.com/{n}.xml") for n in "ab")
    url = f"/api/v1/admin/sources/{paused['id']}"
    reply = client.patch(url, json={"paused": True})
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "paused"
    assert claim(app, clock) == [running["id"]]
    mark_pushed(app.state.web.db, clock)(paused["id"], b"", {})  # a WebSub push: due now
    assert claim(app, clock, "w2") == []
    with app.state.web.db.session() as session:  # w1's check ends: next one in an hour
        assert release_claim(session, running["id"], "w1", next_check_at=naive_utc(clock() + HOUR))
    with Worker(web_settings, app.state.web.db, clock=clock, extractor=extractor) as worker:
        assert worker.seconds_until_next_due() == 3600.0  # the overdue paused one is not waited on
        assert worker.run_once() == []
    assert client.post(f"{url}/check").status_code == 409  # paused: resume it first

    resumed = client.patch(url, json={"paused": False})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "new"
    assert resumed.json()["next_check_at"].startswith("2026-03-02T12:00")
    assert claim(app, clock, "w3") == [paused["id"]]
    assert client.patch(url, json={"paused": False}).json()["status"] == "new"  # no change


def test_resuming_gives_back_the_health_a_source_had(app: FastAPI, admin: Reader) -> None:
    client = admin.client()
    source = add_feed(app, client, "https://example.com/failing.xml")
    with app.state.web.db.session() as session:
        session.execute(update(Source).values(status="error", error_count=3, last_error="HTTP 500"))
    url = f"/api/v1/admin/sources/{source['id']}"
    assert client.patch(url, json={"paused": True}).json()["status"] == "paused"
    back = client.patch(url, json={"paused": False}).json()
    assert (back["status"], back["error_count"], back["last_error"]) == ("error", 3, "HTTP 500")


def test_check_now_makes_a_source_due(app: FastAPI, admin: Reader, clock: FrozenClock) -> None:
    client = admin.client()
    source = add_feed(app, client, "https://example.com/later.xml")
    with app.state.web.db.session() as session:
        session.execute(update(Source).values(next_check_at=naive_utc(clock() + HOUR)))
    assert claim(app, clock) == []
    reply = client.post(f"/api/v1/admin/sources/{source['id']}/check")
    assert reply.status_code == 200, reply.text
    assert reply.json()["next_check_at"].startswith("2026-03-02T12:00")
    assert claim(app, clock) == [source["id"]]
    busy = client.post(f"/api/v1/admin/sources/{source['id']}/check")  # w1 holds it now
    assert busy.status_code == 409 and "checking" in busy.json()["detail"]
    assert client.post("/api/v1/admin/sources/999/check").status_code == 404


def test_a_source_is_renamed(app: FastAPI, admin: Reader) -> None:
    client = admin.client()
    source = add_feed(app, client, "https://example.com/named.xml")
    url = f"/api/v1/admin/sources/{source['id']}"
    renamed = client.patch(url, json={"title": "  The Gazette "})
    assert renamed.json()["title"] == "The Gazette" and renamed.json()["status"] == "new"
    assert client.get("/api/v1/admin/sources").json()[0]["title"] == "The Gazette"
    assert client.patch(url, json={"paused": True}).json()["title"] == "The Gazette"  # kept
    assert client.patch(url, json={"title": None}).json()["title"] is None  # the feed's own
    assert client.patch(url, json={"title": ""}).status_code == 422
    assert client.patch(url, json={"colour": "red"}).status_code == 422
    assert client.patch("/api/v1/admin/sources/999", json={"title": "x"}).status_code == 404


def test_pausing_a_source_mid_check_keeps_the_pause_and_deleting_it_waits(
    app: FastAPI, admin: Reader, web_settings: Settings, clock: FrozenClock, extractor: Extractor
) -> None:
    """A real worker is caught fetching the feed: the pause holds through the check's end, and
    the source cannot be deleted until the check's lease has run out."""
    client = admin.client()
    with Newsroom.generate(1, 2).serve() as room:
        source = add_feed(app, client, room.feed_urls()[0])
        url = f"/api/v1/admin/sources/{source['id']}"
        arrived, release = room.hold("/feeds/0.xml")
        with Worker(web_settings, app.state.web.db, clock=clock, extractor=extractor) as worker:
            checking = threading.Thread(target=worker.run_once)
            checking.start()
            try:
                assert arrived.wait(30), "the worker never fetched the feed"
                deleting = client.delete(url)
                assert deleting.status_code == 409, deleting.text
                assert "12:05:00 UTC" in deleting.json()["detail"]  # the 300 s lease
                assert client.patch(url, json={"paused": True}).json()["status"] == "paused"
            finally:
                release.set()
                checking.join(30)
            assert not checking.is_alive()
    row = source_row(app, source["id"])
    assert row.status == "paused" and row.last_fetch_at is None  # the check wrote nothing over it
    assert client.delete(url).status_code == 409  # its lease runs on
    clock.advance(seconds=301)
    assert claim(app, clock) == []  # the lease is over, but it is paused
    assert client.delete(url).status_code == 204
    assert client.get("/api/v1/admin/sources").json() == []
    assert client.delete(url).status_code == 404


def test_deleting_a_source_keeps_its_articles_and_their_notifications(
    app: FastAPI,
    admin: Reader,
    alice: Reader,
    web_settings: Settings,
    clock: FrozenClock,
    extractor: Extractor,
) -> None:
    client = admin.client()
    room = Newsroom.generate(2, 2)
    keyword = room.feeds["/feeds/0.xml"].articles[0].title.split()[0].lower()
    assert alice.client().post("/api/v1/alerts", json={"query": keyword}).status_code == 201
    with room.serve():
        gone, kept = (add_feed(app, client, feed) for feed in room.feed_urls())
        with Worker(web_settings, app.state.web.db, clock=clock, extractor=extractor) as worker:
            assert [report.ok for report in worker.run_once()] == [True, True]
    db = app.state.web.db

    def rows(source_id: int) -> dict[str, int]:
        with db.session() as session:
            return {
                model.__tablename__: session.scalar(
                    select(func.count()).select_from(model).where(model.source_id == source_id)
                )
                or 0
                for model in (Article, FetchAttempt, SourceEntry, BoilerplateBlock)
            }

    before = rows(gone["id"])
    assert (before["articles"], before["fetch_attempts"], before["source_entries"]) == (2, 1, 2)
    kept_before = rows(kept["id"])
    inbox = alice.client().get("/api/v1/notifications").json()["items"]
    assert inbox, "the alert matched nothing"
    with db.session() as session:
        articles = session.scalars(select(Article.id).where(Article.source_id == gone["id"])).all()

    assert client.delete(f"/api/v1/admin/sources/{gone['id']}").status_code == 204
    assert rows(gone["id"]) == dict.fromkeys(before, 0)
    assert rows(kept["id"]) == kept_before
    with db.session() as session:
        left = session.scalars(select(Article.source_id).where(Article.id.in_(articles))).all()
        assert left == [None, None]  # the articles stay, with no source
    assert alice.client().get("/api/v1/notifications").json()["items"] == inbox
    first = inbox[-1]
    opened = alice.browser().get(f"/notifications/{first['id']}/open", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == first["url"]
    assert [s["id"] for s in client.get("/api/v1/admin/sources").json()] == [kept["id"]]


# -- managing topics ----------------------------------------------------------------------------


def inbox_titles(reader: Reader) -> list[str]:
    return [n["title"] for n in reader.client().get("/api/v1/notifications").json()["items"]]


def test_a_topic_is_renamed_and_requeried_and_its_followers_get_the_new_matches(
    app: FastAPI, admin: Reader, alice: Reader
) -> None:
    client = admin.client()
    topic = client.post(
        "/api/v1/admin/topics", json={"slug": "weather", "name": "Weather", "query": "storm"}
    ).json()
    assert alice.client().post(f"/api/v1/topics/{topic['id']}/follow").status_code == 200
    desk = Newsdesk(app)
    desk.arrive(title="Flood in Lyon", text="The river flooded Lyon overnight.")
    assert inbox_titles(alice) == []
    url = f"/api/v1/admin/topics/{topic['id']}"
    changed = client.patch(url, json={"name": " Floods ", "query": "lyon", "description": "Rivers"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "id": topic["id"],
        "slug": "weather",
        "name": "Floods",
        "description": "Rivers",
        "query": "lyon",
        "followers": 1,
    }
    desk.arrive(title="Lyon counts the cost", text="Lyon cleans up after the flood.")
    assert inbox_titles(alice) == ["Lyon counts the cost"]  # the matching engine has the query
    [listed] = alice.client().get("/api/v1/topics").json()
    assert (listed["name"], listed["following"]) == ("Floods", True)
    cleared = client.patch(url, json={"description": None}).json()
    assert (cleared["name"], cleared["description"], cleared["query"]) == ("Floods", None, "lyon")
    assert client.patch(url, json={}).json() == cleared


def test_a_bad_topic_query_is_refused_with_the_parsers_message(admin: Reader) -> None:
    client = admin.client()
    topic = client.post(
        "/api/v1/admin/topics", json={"slug": "korea", "name": "Korea", "query": "korea"}
    ).json()
    url = f"/api/v1/admin/topics/{topic['id']}"
    for query in ('"north korea', "korea OR", "korea)", "title: korea"):
        with pytest.raises(QueryError) as parsed:
            parse(query)
        bad = client.patch(url, json={"name": "Renamed", "query": query})
        assert bad.status_code == 422, query
        assert bad.json() == {
            "error": "invalid query",
            "detail": str(parsed.value),
            "column": parsed.value.column,
        }
    assert client.get("/api/v1/admin/topics").json() == [topic]  # the name did not change either
    for body in ({"name": ""}, {"name": "   "}, {"query": ""}, {"slug": "other"}):
        assert client.patch(url, json=body).status_code == 422, body
    assert client.patch("/api/v1/admin/topics/999", json={"name": "x"}).status_code == 404


def test_deleting_a_topic_ends_its_follows_and_alert_but_keeps_past_notifications(
    app: FastAPI, admin: Reader, alice: Reader, bob: Reader
) -> None:
    client = admin.client()
    made = [
        client.post("/api/v1/admin/topics", json=body).json()
        for body in (
            {"slug": "korea", "name": "Korea", "query": "korea"},
            {"slug": "syria", "name": "Syria", "query": "syria"},
        )
    ]
    korea, syria = made
    for reader in (alice, bob):
        for topic in made:
            reader.client().post(f"/api/v1/topics/{topic['id']}/follow")
    desk = Newsdesk(app)
    desk.arrive()  # Assad to meet Kim in North Korea
    assert inbox_titles(alice) == inbox_titles(bob) == [ASSAD_TITLE]
    db = app.state.web.db
    with db.session() as session:
        alert_id = session.scalar(select(Alert.id).where(Alert.topic_id == korea["id"]))

    assert client.delete(f"/api/v1/admin/topics/{korea['id']}").status_code == 204
    assert [t["slug"] for t in client.get("/api/v1/admin/topics").json()] == ["syria"]
    assert [t["slug"] for t in alice.client().get("/api/v1/topics").json()] == ["syria"]
    with db.session() as session:
        assert session.scalar(select(func.count()).where(TopicFollow.topic_id == korea["id"])) == 0
        assert session.scalar(select(func.count()).where(TopicFollow.topic_id == syria["id"])) == 2
        assert session.get(Alert, alert_id) is None
        last = session.scalars(select(AlertChange).order_by(AlertChange.seq.desc())).first()
        assert last is not None and (last.alert_id, last.op) == (alert_id, "delete")
    assert inbox_titles(alice) == [ASSAD_TITLE]  # past notifications stay in the inbox
    assert ASSAD_TITLE in alice.browser().get("/inbox").text
    desk.arrive(title="Korea fires a missile", text="North Korea fired a missile on Sunday.")
    assert inbox_titles(alice) == [ASSAD_TITLE]  # nothing new matches the deleted topic
    desk.arrive(title="Syria votes", text="Syria held a vote on Sunday.")
    assert inbox_titles(bob) == ["Syria votes", ASSAD_TITLE]  # the other topic still works
    assert client.delete(f"/api/v1/admin/topics/{korea['id']}").status_code == 404
    assert alice.client().post(f"/api/v1/topics/{korea['id']}/follow").status_code == 404


# -- managing users -----------------------------------------------------------------------------


def test_admin_rights_are_given_and_revoked_but_the_last_admin_stays(
    admin: Reader, alice: Reader
) -> None:
    boss = admin.client()
    last = boss.patch(f"/api/v1/admin/users/{admin.id}", json={"is_admin": False})
    assert last.status_code == 409 and "last admin" in last.json()["detail"]
    assert alice.client().get("/api/v1/admin/users").status_code == 403
    made = boss.patch(f"/api/v1/admin/users/{alice.id}", json={"is_admin": True})
    assert made.status_code == 200 and made.json()["is_admin"] is True
    assert alice.client().get("/api/v1/admin/users").status_code == 200
    stepped_down = boss.patch(f"/api/v1/admin/users/{admin.id}", json={"is_admin": False})
    assert stepped_down.status_code == 200 and stepped_down.json()["is_admin"] is False
    assert boss.get("/api/v1/admin/users").status_code == 403  # rights are read per request
    mine = alice.browser()
    refused = mine.patch(f"/api/v1/admin/users/{alice.id}", json={"is_admin": False})
    assert refused.status_code == 409  # now Alice is the last admin
    users = mine.get("/api/v1/admin/users").json()
    assert [(u["email"], u["is_admin"]) for u in users] == [
        (admin.email, False),
        (alice.email, True),
    ]
    assert mine.patch("/api/v1/admin/users/999", json={"is_admin": True}).status_code == 404
    assert mine.patch(f"/api/v1/admin/users/{admin.id}", json={}).status_code == 422


def user_rows(app: FastAPI, user_id: int) -> dict[str, int]:
    """How many rows of every table with a ``user_id`` are the user's, and their deliveries
    and digest items."""
    counts = {}
    with app.state.web.db.session() as session:
        for table in Base.metadata.sorted_tables:
            if "user_id" in table.c:
                where = table.c.user_id == user_id
                counts[table.name] = session.scalar(select(func.count()).where(where)) or 0
        # Rows without a user_id of their own, theirs through the row they belong to.
        for rows, owner, link in (
            (Delivery, Channel, Delivery.channel_id),
            (DigestItem, Digest, DigestItem.digest_id),
        ):
            owned = select(func.count()).select_from(rows).join(owner, owner.id == link)
            count = session.scalar(owned.where(owner.user_id == user_id))
            counts[rows.__tablename__] = count or 0
        counts["users"] = 1 if session.get(User, user_id) else 0
    return counts


def other_rows(app: FastAPI) -> dict[str, int]:
    """Row counts of the tables that belong to nobody in particular."""
    with app.state.web.db.session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if "user_id" not in table.c
            and table.name not in ("users", "deliveries", "digest_items")
        }


def test_deleting_a_user_removes_everything_theirs_and_nothing_of_others(
    app: FastAPI, admin: Reader, alice: Reader, bob: Reader, web_settings: Settings
) -> None:
    web = app.state.web
    korea = admin.client().post(
        "/api/v1/admin/topics", json={"slug": "korea", "name": "Korea", "query": "korea"}
    )
    for reader in (alice, bob):
        client = reader.client()
        assert client.post("/api/v1/alerts", json={"query": "assad"}).status_code == 201
        daily = {"query": "lighthouse", "mode": "daily"}
        assert client.post("/api/v1/alerts", json=daily).status_code == 201
        email = {"kind": "email", "target": reader.email}
        assert client.post("/api/v1/channels", json=email).status_code == 201
        push = {**SUBSCRIPTION, "endpoint": f"https://push.example.com/send/{reader.id}"}
        assert client.post("/api/v1/push-subscriptions", json=push).status_code in (200, 201)
        assert client.post(f"/api/v1/topics/{korea.json()['id']}/follow").status_code == 200
        reader.browser()  # a web session
        with web.db.session() as session:
            create_password_reset(session, session.get(User, reader.id), web.clock())
    desk = Newsdesk(app)
    desk.arrive()
    desk.arrive("Storm hits the lighthouse", "The lighthouse lost its lantern in the storm.")
    DigestScheduler(web_settings, web.db, clock=web.clock).send_now([alice.id, bob.id])
    desk.arrive("Lighthouse keepers return", "Keepers live in the lighthouse again.")  # queued
    with web.db.session() as session:
        alert_ids = session.scalars(select(Alert.id).where(Alert.user_id == alice.id)).all()
    theirs = user_rows(app, alice.id)
    assert all(theirs.values()), theirs  # something in every table that can be theirs
    bobs, others, bobs_inbox = user_rows(app, bob.id), other_rows(app), inbox_titles(bob)
    assert ASSAD_TITLE in bobs_inbox

    assert admin.client().delete(f"/api/v1/admin/users/{alice.id}").status_code == 204
    assert user_rows(app, alice.id) == dict.fromkeys(theirs, 0)
    assert user_rows(app, bob.id) == bobs
    changes = others.pop("alert_changes")
    assert other_rows(app) == {**others, "alert_changes": changes + len(alert_ids)}
    with web.db.session() as session:
        deleted = session.scalars(select(AlertChange.alert_id).where(AlertChange.op == "delete"))
        assert sorted(deleted) == sorted(alert_ids)  # every matching engine drops them
    assert alice.client().get("/api/v1/alerts").status_code == 401
    emails = [u["email"] for u in admin.client().get("/api/v1/admin/users").json()]
    assert emails == [admin.email, bob.email]
    assert inbox_titles(bob) == bobs_inbox


def test_an_admin_cannot_delete_themselves_but_may_delete_another_admin(
    admin: Reader, bob: Reader
) -> None:
    boss = admin.browser()
    itself = boss.delete(f"/api/v1/admin/users/{admin.id}")
    assert itself.status_code == 409 and itself.json()["error"] == "conflict"
    assert boss.patch(f"/api/v1/admin/users/{bob.id}", json={"is_admin": True}).status_code == 200
    assert bob.client().delete(f"/api/v1/admin/users/{bob.id}").status_code == 409
    assert boss.delete(f"/api/v1/admin/users/{bob.id}").status_code == 204
    assert boss.delete(f"/api/v1/admin/users/{bob.id}").status_code == 404
    assert [u["email"] for u in boss.get("/api/v1/admin/users").json()] == [admin.email]


def test_the_last_admin_cannot_be_deleted_by_any_caller(app: FastAPI, admin: Reader) -> None:
    """``delete_user`` itself refuses the last admin (the CLI or a script could call it)."""
    with app.state.web.db.session() as session:
        user = session.get(User, admin.id)
        assert user is not None
        with pytest.raises(AccountConflict, match="last admin"):
            delete_user(session, user)
