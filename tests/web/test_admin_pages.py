"""The admin pages and the stats API, on SQLite and PostgreSQL.

Deliveries are written by the real notifier (``Newsdesk``) and sent by the real outbox sender
to a real local webhook receiver, the clock moving between days; clicks go through the API.
Sources get their health from a real worker fetching a local newsroom.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import lxml.html
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from lxml.html import HtmlElement

from tests.hookreceiver import HookReceiver, running_hook_receiver
from tests.newsroom import Newsroom
from tests.web.conftest import Reader, add_reader
from tests.web.news import Newsdesk
from tidings.clock import FrozenClock, naive_utc
from tidings.config import Settings
from tidings.delivery.outbox import DeliveryWorker
from tidings.store.claims import claim_due_sources
from tidings.store.models import Source
from tidings.worker import Extractor, Worker

ADMIN_PAGES = ["/admin", "/admin/topics", "/admin/users", "/admin/broadcast", "/admin/stats"]
COUNTERS = ("sent", "failed", "notifications", "clicks")


def page(client: TestClient, path: str, params: dict[str, str] | None = None) -> HtmlElement:
    reply = client.get(path, params=params)
    assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith("text/html")
    return lxml.html.fromstring(reply.text)


def text(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


def one(tree: HtmlElement, xpath: str) -> HtmlElement:
    found = tree.xpath(xpath)
    assert len(found) == 1, (xpath, len(found))
    element: HtmlElement = found[0]
    return element


def unlabelled_fields(tree: HtmlElement) -> list[str]:
    """Every visible form field without a non-empty <label> (by ``for`` or around it)."""
    labels = {label.get("for"): text(label) for label in tree.iter("label")}
    fields = tree.xpath(
        "//input[not(@type='hidden') and not(@type='submit') and not(@type='button')]"
        " | //select | //textarea"
    )
    assert fields, "no form fields at all"
    missing = []
    for field in fields:
        wrapped = [text(label) for label in field.iterancestors("label")]
        if not (labels.get(field.get("id")) or any(wrapped)):
            missing.append(lxml.html.tostring(field, encoding="unicode")[:80])
    return missing


def press(client: TestClient, button: HtmlElement) -> Response:
    """What app.js does when a ``data-api`` button is pressed (and its dialog confirmed)."""
    method, path = button.get("data-api").split(" ", 1)
    body = json.loads(button.get("data-body")) if button.get("data-body") else None
    return client.request(method, path, json=body)


def submit(client: TestClient, form: HtmlElement, **changes: str) -> Response:
    """What app.js does with a ``data-api`` form: its named fields as JSON (``changes`` typed
    in first; an empty ``data-empty="null"`` field is sent as null)."""
    body: dict[str, str | None] = {}
    for field in form.xpath(".//input[@name] | .//textarea[@name]"):
        name = field.get("name")
        shown = (field.text or "") if field.tag == "textarea" else field.get("value", "")
        value = changes.get(name, shown)
        body[name] = None if value == "" and field.get("data-empty") == "null" else value
    method, path = form.get("data-api").split(" ", 1)
    return client.request(method, path, json=body)


def row(tree: HtmlElement, table: str, row_id: int) -> HtmlElement:
    return one(tree, f"//table[@id='{table}']/tbody/tr[@data-id='{row_id}']")


def dialog_text(tree: HtmlElement, button: HtmlElement) -> str:
    dialog = one(tree, f"//dialog[@id='{button.get('data-confirm')[1:]}']")
    return text(one(dialog, ".//p"))


def day_counts(reply_json: dict[str, object]) -> dict[str, tuple[int, ...]]:
    daily = reply_json["daily"]
    assert isinstance(daily, list)
    return {d["day"]: tuple(d[c] for c in COUNTERS) for d in daily}


# -- a few days of real deliveries ------------------------------------------------------------


@dataclass
class ThreeDays:
    """Alice's and Bob's notifications, sent, failed and clicked over 2–5 March 2026."""

    alice: Reader
    bob: Reader


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with running_hook_receiver() as running:
        yield running


def send_due(app: FastAPI, web_settings: Settings, clock: FrozenClock) -> int:
    db = app.state.web.db
    with DeliveryWorker(web_settings, db, clock=clock, worker_id="stats-sender") as outbox:
        return outbox.run_due()


def inbox_ids(reader: Reader) -> list[int]:
    items = reader.client().get("/api/v1/notifications").json()["items"]
    return [item["id"] for item in reversed(items)]  # oldest first


@pytest.fixture
def three_days(
    app: FastAPI,
    web_settings: Settings,
    clock: FrozenClock,
    alice: Reader,
    bob: Reader,
    receiver: HookReceiver,
) -> ThreeDays:
    """2 Mar 12:00: a story for both; Alice's webhook takes it, Bob's answers 410 (failed).
    3 Mar 12:00: Alice clicks it; a second story, both webhooks take it.
    3 Mar 23:59:59: Bob clicks the second one; 4 Mar 00:00: Alice clicks the second one.
    5 Mar 12:00: now (nothing that day)."""
    for reader, path in ((alice, "/alice"), (bob, "/bob")):
        client = reader.client()
        assert client.post("/api/v1/alerts", json={"query": "assad"}).status_code == 201
        hook = {"kind": "webhook", "target": receiver.url(path)}
        assert client.post("/api/v1/channels", json=hook).status_code == 201
    desk = Newsdesk(app)
    receiver.answer("/bob", 410)
    desk.arrive()
    assert send_due(app, web_settings, clock) == 2
    clock.advance(days=1)
    alice.client().post(f"/api/v1/notifications/{inbox_ids(alice)[0]}/click")
    del receiver.answers["/bob"]
    desk.arrive(title="Assad lands in Pyongyang", text="Assad arrived in Pyongyang today.")
    assert send_due(app, web_settings, clock) == 2
    clock.advance(hours=11, minutes=59, seconds=59)
    bob.client().post(f"/api/v1/notifications/{inbox_ids(bob)[1]}/click")
    clock.advance(seconds=1)
    alice.client().post(f"/api/v1/notifications/{inbox_ids(alice)[1]}/click")
    clock.advance(days=1, hours=12)
    assert [len(receiver.accepted(p)) for p in ("/alice", "/bob")] == [2, 2]  # 410 counted too
    return ThreeDays(alice, bob)


# -- the stats API ------------------------------------------------------------------------------


def test_stats_count_real_deliveries_and_clicks_on_their_days(
    three_days: ThreeDays, admin: Reader
) -> None:
    reply = admin.client().get("/api/v1/admin/stats", params={"days": 5})
    assert reply.status_code == 200, reply.text
    stats = reply.json()
    assert (stats["first_day"], stats["last_day"]) == ("2026-03-01", "2026-03-05")
    #                     sent, failed, notifications, clicks
    assert day_counts(stats) == {
        "2026-03-01": (0, 0, 0, 0),
        "2026-03-02": (1, 1, 2, 0),
        "2026-03-03": (2, 0, 2, 2),
        "2026-03-04": (0, 0, 0, 1),
        "2026-03-05": (0, 0, 0, 0),
    }
    assert stats["totals"] == {"sent": 3, "failed": 1, "notifications": 4, "clicks": 3}
    # a shorter range leaves the earlier days out of the counts and the totals
    recent = admin.client().get("/api/v1/admin/stats", params={"days": 3}).json()
    assert list(day_counts(recent)) == ["2026-03-03", "2026-03-04", "2026-03-05"]
    assert recent["totals"] == {"sent": 2, "failed": 0, "notifications": 2, "clicks": 3}


def test_stats_zero_fill_every_day_up_to_today(admin: Reader, clock: FrozenClock) -> None:
    client = admin.client()
    default = client.get("/api/v1/admin/stats").json()
    days = [date.fromisoformat(day) for day in day_counts(default)]
    assert len(days) == 30 and days[-1] == clock().date()
    assert all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    assert set(day_counts(default).values()) == {(0, 0, 0, 0)}
    year = client.get("/api/v1/admin/stats", params={"days": 365}).json()
    assert len(year["daily"]) == 365 and year["first_day"] == "2025-03-03"


@pytest.mark.parametrize("days", ["0", "366", "-1", "week", "1.5"])
def test_stats_refuse_a_bad_number_of_days(admin: Reader, days: str) -> None:
    reply = admin.client().get("/api/v1/admin/stats", params={"days": days})
    assert reply.status_code == 422 and reply.json()["error"] == "invalid request"


def test_stats_are_for_admins_only(app: FastAPI, alice: Reader) -> None:
    assert alice.client().get("/api/v1/admin/stats").status_code == 403
    assert alice.browser().get("/api/v1/admin/stats").status_code == 403
    assert TestClient(app).get("/api/v1/admin/stats").status_code == 401


# -- the pages ----------------------------------------------------------------------------------


def test_readers_get_a_403_page_on_every_admin_page(app: FastAPI, alice: Reader) -> None:
    browser = alice.browser()
    for path in ADMIN_PAGES:
        reply = browser.get(path)
        assert reply.status_code == 403, path
        assert "Only an admin may see this page." in reply.text
        assert 'id="sources"' not in reply.text
    anonymous = TestClient(app, follow_redirects=False)
    for path in ADMIN_PAGES:
        assert anonymous.get(path).headers["location"] == f"/login?next={path}"


def test_every_admin_page_has_labelled_fields_and_the_admin_sub_nav(
    admin: Reader, alice: Reader
) -> None:
    browser = admin.browser()
    korea = {"slug": "korea", "name": "Korea", "query": "korea"}
    topic = browser.post("/api/v1/admin/topics", json=korea).json()
    feed = {"url": "https://example.com/feed.xml", "discover": False}
    assert browser.post("/api/v1/admin/sources", json=feed).status_code == 201
    for path in [*ADMIN_PAGES, f"/admin/broadcast?topic_id={topic['id']}&title=Hello"]:
        tree = page(browser, path)
        assert unlabelled_fields(tree) == [], path
        nav = one(tree, "//nav[@aria-label='Admin']")
        assert [a.get("href") for a in nav.iter("a")] == ADMIN_PAGES
        [current] = nav.xpath(".//a[@aria-current='page']")
        assert current.get("href") == path.split("?")[0], path
        assert not tree.xpath("//*[@onclick or @onsubmit or @onchange]"), path
        ids = [element.get("id") for element in tree.xpath("//*[@id]")]
        assert len(ids) == len(set(ids)), path
        for button in tree.xpath("//button"):
            assert text(button), (path, lxml.html.tostring(button)[:80])
        for asking in tree.xpath("//*[@data-confirm]"):
            dialog = one(tree, f"//dialog[@id='{asking.get('data-confirm')[1:]}']")
            assert dialog.xpath(".//form[@method='dialog']//button[@value='confirm']"), path
            assert dialog.xpath(".//button[@value='cancel']"), path
            question = one(tree, f"//*[@id='{dialog.get('aria-labelledby')}']")
            assert text(question).endswith(("?", ".")), path


def test_sources_page_shows_each_source_health(
    app: FastAPI,
    admin: Reader,
    web_settings: Settings,
    clock: FrozenClock,
    extractor: Extractor,
) -> None:
    client = admin.client()
    with Newsroom.generate(1, 2).serve() as room:
        feed = room.feed_urls()[0]
        gone = feed.replace("/feeds/", "/gone/")
        for url in (feed, gone):
            added = client.post("/api/v1/admin/sources", json={"url": url, "discover": False})
            assert added.status_code == 201, added.text
        with app.state.web.db.session() as session:
            for source in session.query(Source):
                source.next_check_at = naive_utc(clock())
        with Worker(web_settings, app.state.web.db, clock=clock, extractor=extractor) as worker:
            reports = {report.ok for report in worker.run_once()}
        assert reports == {True, False}
    tree = page(admin.browser(), "/admin")
    rows = tree.xpath("//table[@id='sources']/tbody/tr")
    assert [one(row, ".//a[@class='source-url']").get("href") for row in rows] == [feed, gone]
    good, bad = rows
    assert text(one(good, ".//td[@class='status']")) == "ok"
    assert text(one(good, ".//td[@class='articles']")) == "2"
    assert text(one(good, ".//td[@class='last-error']")) == ""
    assert text(one(good, ".//td[@class='last-fetch']")) == "2026-03-02 12:00 UTC"
    assert "(no title yet)" not in text(one(good, ".//span[@class='source-title']"))
    assert "HTTP 404" in text(one(bad, ".//td[@class='last-error']"))
    assert text(one(bad, ".//td[@class='status']")).startswith("error (1 failed in a row)")
    assert text(one(bad, ".//td[@class='articles']")) == "0"
    assert one(bad, ".//td[@class='next-check']/time").get("datetime") > "2026-03-02T12:00"
    assert "1 failing" in text(one(tree, "//h2[@id='sources-heading']"))
    form = one(tree, "//form[@id='source-form']")
    assert form.get("data-api") == "POST /api/v1/admin/sources"
    assert {f.get("name") for f in form.xpath(".//input")} == {"url", "discover"}
    assert one(tree, "//a[@id='opml-export']").get("href") == "/api/v1/sources.opml"
    assert admin.browser().get("/api/v1/sources.opml").status_code == 200  # by session cookie


def test_sources_page_buttons_pause_resume_check_rename_and_delete(
    app: FastAPI, admin: Reader, clock: FrozenClock
) -> None:
    browser = admin.browser()
    made = [
        browser.post("/api/v1/admin/sources", json={"url": url, "discover": False}).json()
        for url in ("https://example.com/a.xml", "https://example.com/b.xml")
    ]
    a, b = (source["id"] for source in made)
    tree = page(browser, "/admin")
    first = row(tree, "sources", a)
    assert not first.xpath(".//button[contains(@class, 'resume')]")
    pause = one(first, ".//button[contains(@class, 'pause')]")
    assert text(pause) == "Pause https://example.com/a.xml"  # its name says which source
    assert press(browser, pause).status_code == 200

    tree = page(browser, "/admin")
    paused = row(tree, "sources", a)
    assert text(one(paused, ".//td[@class='status']")) == "paused"
    assert text(one(paused, ".//td[@class='next-check']")) == "paused"
    assert not paused.xpath(".//button[contains(@class, 'check-now')]")
    assert "status-paused" in paused.get("class")
    with app.state.web.db.session() as session:  # a worker takes the other one
        assert claim_due_sources(session, "w1", clock(), lease_seconds=300, limit=5) == []
        session.execute(Source.__table__.update().values(next_check_at=naive_utc(clock())))
        assert claim_due_sources(session, "w1", clock(), lease_seconds=300, limit=5) == [b]
    tree = page(browser, "/admin")
    busy = row(tree, "sources", b)
    assert "(being checked)" in text(one(busy, ".//td[@class='status']"))
    refused = press(browser, one(busy, ".//button[contains(@class, 'delete')]"))
    assert refused.status_code == 409 and "checking" in refused.json()["detail"]
    assert one(tree, "//*[@id='sources-error']").get("role") == "alert"
    for button in busy.xpath(".//button[@data-api]"):
        assert button.get("data-error-in") == "#sources-error"

    resume = one(row(tree, "sources", a), ".//button[contains(@class, 'resume')]")
    assert json.loads(resume.get("data-body")) == {"paused": False}
    assert press(browser, resume).json()["status"] == "new"
    tree = page(browser, "/admin")
    resumed = row(tree, "sources", a)
    check = one(resumed, ".//button[contains(@class, 'check-now')]")
    assert check.get("data-api") == f"POST /api/v1/admin/sources/{a}/check"
    assert press(browser, check).status_code == 200

    rename = one(resumed, ".//form[@class='rename-form']")
    assert one(rename, ".//input[@name='title']").get("value") == ""
    assert submit(browser, rename, title="Example A").json()["title"] == "Example A"
    tree = page(browser, "/admin")
    renamed = row(tree, "sources", a)
    assert text(one(renamed, ".//span[@class='source-title']")) == "Example A"
    assert one(renamed, ".//input[@name='title']").get("value") == "Example A"
    assert submit(browser, one(renamed, ".//form[@class='rename-form']")).json()["title"] == "Example A"  # unchanged
    assert submit(browser, one(renamed, ".//form[@class='rename-form']"), title="").json()["title"] is None

    delete = one(renamed, ".//button[contains(@class, 'delete')]")
    question = dialog_text(tree, delete)
    assert question.startswith("Delete the source “Example A”?")
    assert "Its 0 articles stay" in question
    assert press(browser, delete).status_code == 204
    tree = page(browser, "/admin")
    assert [r.get("data-id") for r in tree.xpath("//table[@id='sources']/tbody/tr")] == [str(b)]


def test_sources_page_without_sources_says_so(admin: Reader) -> None:
    tree = page(admin.browser(), "/admin")
    assert not tree.xpath("//table[@id='sources']")
    assert "No sources yet" in text(one(tree, "//*[@id='sources-empty']"))


def test_topics_page_lists_topics_with_their_followers(
    admin: Reader, alice: Reader, bob: Reader
) -> None:
    client = admin.client()
    made = [
        client.post("/api/v1/admin/topics", json=topic).json()
        for topic in (
            {"slug": "korea", "name": "Korea", "query": "korea OR pyongyang"},
            {"slug": "syria", "name": "Syria", "query": "syria", "description": "Civil war"},
        )
    ]
    for reader in (alice, bob):
        reader.client().post(f"/api/v1/topics/{made[0]['id']}/follow")
    bob.client().post(f"/api/v1/topics/{made[1]['id']}/follow", json={"mode": "daily"})
    client.post(f"/api/v1/topics/{made[1]['id']}/follow")
    tree = page(admin.browser(), "/admin/topics")
    rows = {
        text(one(row, ".//span[@class='topic-name']")): row
        for row in tree.xpath("//table[@id='topics']/tbody/tr")
    }
    assert list(rows) == ["Korea", "Syria"]
    assert text(one(rows["Korea"], ".//td[@class='followers']")) == "2"
    assert text(one(rows["Korea"], ".//td[@class='query']")) == "korea OR pyongyang"
    assert text(one(rows["Syria"], ".//td[@class='followers']")) == "2"
    assert text(one(rows["Syria"], ".//span[@class='description']")) == "Civil war"
    form = one(tree, "//form[@id='topic-form']")
    assert form.get("data-api") == "POST /api/v1/admin/topics"
    names = {f.get("name") for f in form.xpath(".//input | .//textarea")}
    assert names == {"slug", "name", "query", "description"}


def test_topics_page_edits_and_deletes_a_topic(admin: Reader, alice: Reader) -> None:
    browser = admin.browser()
    body = {"slug": "korea", "name": "Korea", "query": "korea", "description": "The peninsula"}
    topic = browser.post("/api/v1/admin/topics", json=body).json()
    alice.client().post(f"/api/v1/topics/{topic['id']}/follow")
    tree = page(browser, "/admin/topics")
    edit = one(row(tree, "topics", topic["id"]), ".//form[@class='topic-edit-form']")
    assert edit.get("data-api") == f"PATCH /api/v1/admin/topics/{topic['id']}"
    assert one(edit, ".//input[@name='name']").get("value") == "Korea"
    assert one(edit, ".//textarea[@name='query']").text == "korea"
    assert one(edit, ".//textarea[@name='description']").text == "The peninsula"
    assert text(one(row(tree, "topics", topic["id"]), ".//summary")) == "Edit Korea"

    bad = submit(browser, edit, query="korea OR")
    assert bad.status_code == 422  # app.js shows the detail in the form's [data-error]
    assert bad.json()["detail"] == "OR needs a term on both sides at column 7"
    assert one(edit, ".//*[@data-error]").get("role") == "alert"
    saved = submit(browser, edit, name="Koreas", query="korea OR pyongyang", description="")
    assert saved.status_code == 200, saved.text
    tree = page(browser, "/admin/topics")
    changed = row(tree, "topics", topic["id"])
    assert text(one(changed, ".//span[@class='topic-name']")) == "Koreas"
    assert text(one(changed, ".//td[@class='query']")) == "korea OR pyongyang"
    assert not changed.xpath(".//span[@class='description']")  # emptied: none

    delete = one(changed, ".//button[contains(@class, 'delete')]")
    assert text(delete) == "Delete Koreas"
    assert dialog_text(tree, delete) == (
        "Delete the topic “Koreas”? Its 1 follower stop following it and its query stops "
        "matching. The notifications it already sent stay in readers' inboxes."
    )
    assert press(browser, delete).status_code == 204
    assert page(browser, "/admin/topics").xpath("//*[@id='topics-empty']")


def test_users_page_gives_and_revokes_admin_rights_and_deletes_accounts(
    admin: Reader, alice: Reader
) -> None:
    browser = admin.browser()
    tree = page(browser, "/admin/users")
    me = row(tree, "users", admin.id)
    assert "(you)" in text(one(me, ".//td[@class='actions']"))
    assert not me.xpath(".//button[contains(@class, 'delete')]")  # not your own account
    step_down = one(me, ".//button[contains(@class, 'revoke-admin')]")
    assert step_down.get("data-then") == "/"  # these pages are closed to you afterwards
    assert dialog_text(tree, step_down).startswith("Give up your own admin rights?")
    last = press(browser, step_down)
    assert last.status_code == 409 and "last admin" in last.json()["detail"]

    reader = row(tree, "users", alice.id)
    make = one(reader, ".//button[contains(@class, 'make-admin')]")
    assert text(make) == f"Make admin {alice.email}" and make.get("data-confirm") is None
    assert press(browser, make).json()["is_admin"] is True
    tree = page(browser, "/admin/users")
    promoted = row(tree, "users", alice.id)
    assert text(one(promoted, ".//td[@class='role']")) == "admin"
    revoke = one(promoted, ".//button[contains(@class, 'revoke-admin')]")
    assert dialog_text(tree, revoke) == (
        f"Make {alice.email} a reader again? They will no longer see these pages."
    )
    assert revoke.get("data-then") is None
    assert press(browser, revoke).json()["is_admin"] is False

    tree = page(browser, "/admin/users")
    delete = one(row(tree, "users", alice.id), ".//button[contains(@class, 'delete')]")
    assert dialog_text(tree, delete).startswith(f"Delete the account {alice.email}?")
    assert press(browser, delete).status_code == 204
    rows = page(browser, "/admin/users").xpath("//table[@id='users']/tbody/tr")
    assert [r.get("data-id") for r in rows] == [str(admin.id)]


def test_users_page_lists_readers_and_shows_the_signup_switch(admin: Reader, alice: Reader) -> None:
    alice.client().post("/api/v1/alerts", json={"query": "kim"})
    browser = admin.browser()
    tree = page(browser, "/admin/users")
    rows = tree.xpath("//table[@id='users']/tbody/tr")
    assert [(text(one(r, ".//th")), text(one(r, ".//td[@class='role']"))) for r in rows] == [
        (admin.email, "admin"),
        (alice.email, "reader"),
    ]
    assert text(one(rows[1], ".//td[@class='alerts']")) == "1"
    switch = one(tree, "//input[@id='signup-enabled']")
    assert switch.get("checked") is not None and switch.get("name") == "signup_enabled"
    assert one(tree, "//form[@id='signup-form']").get("data-api") == "PUT /api/v1/admin/settings"
    assert "open" in text(one(tree, "//*[@id='signup-state']"))
    assert browser.put("/api/v1/admin/settings", json={"signup_enabled": False}).status_code == 200
    closed = page(browser, "/admin/users")
    assert one(closed, "//input[@id='signup-enabled']").get("checked") is None
    assert "closed" in text(one(closed, "//*[@id='signup-state']"))


def test_broadcast_preview_shows_the_message_and_whom_it_reaches_as_sending_does(
    app: FastAPI, admin: Reader, alice: Reader, bob: Reader
) -> None:
    carol = add_reader(app, "carol@example.com")
    client = admin.client()
    topic = client.post(
        "/api/v1/admin/topics", json={"slug": "flash", "name": "Flash", "query": "flash"}
    ).json()
    for reader in (alice, bob, carol):
        reader.client().post(f"/api/v1/topics/{topic['id']}/follow")
        hook = {"kind": "webhook", "target": f"https://hooks.example.com/{reader.id}"}
        reader.client().post("/api/v1/channels", json=hook)
    bob.client().put("/api/v1/settings", json={"quiet_hours": "11:00-13:00"})  # it is 12:00 UTC
    carol.client().put("/api/v1/settings", json={"quick_budget_per_hour": 0})
    browser = admin.browser()

    compose = page(browser, "/admin/broadcast")
    assert not compose.xpath("//*[@id='broadcast-preview']")
    options = one(compose, "//select[@id='broadcast-topic']").xpath("./option[@value!='']")
    assert [text(o) for o in options] == ["Flash (3 followers)"]

    draft = {
        "topic_id": topic["id"],
        "title": "Polls close at <8>",
        "body": "Vote now",
        "url": "https://example.com/polls",
    }
    reply = browser.get("/admin/broadcast", params=draft)
    assert "Polls close at &lt;8&gt;" in reply.text and "<8>" not in reply.text
    tree = lxml.html.fromstring(reply.text)
    preview = one(tree, "//*[@id='broadcast-preview']")
    assert text(one(preview, ".//*[@class='preview-title']")) == draft["title"]
    assert text(one(preview, ".//*[@class='preview-body']")) == "Flash"
    assert text(one(preview, ".//*[@class='preview-snippet']")) == "Vote now"
    assert one(preview, ".//*[@class='preview-title']//a").get("href") == draft["url"]
    reach = one(preview, ".//*[@id='broadcast-reach']")
    shown = {name: text(one(reach, f".//*[@class='{name}']")) for name in (
        "followers", "now", "held", "digest", "deliveries")}  # fmt: skip
    assert shown == {"followers": "3", "now": "1", "held": "1", "digest": "1", "deliveries": "2"}
    assert one(tree, "//input[@id='broadcast-title']").get("value") == draft["title"]

    send = one(tree, "//form[@id='send-form']")
    assert send.get("data-api") == "POST /api/v1/admin/broadcast"
    assert send.get("data-confirm") == "#send-dialog"
    body = {i.get("name"): i.get("value") for i in send.xpath(".//input[@type='hidden']")}
    assert body == {k: str(v) for k, v in draft.items()}
    assert one(tree, "//dialog[@id='send-dialog']//button[@value='confirm']").text == "Send"
    sent = client.post("/api/v1/admin/broadcast", json={**draft, "topic_id": topic["id"]})
    assert sent.json() == {"notified": 3, "deliveries": 2}  # what the preview said


def test_broadcast_page_explains_what_is_missing(admin: Reader) -> None:
    browser = admin.browser()
    none_yet = page(browser, "/admin/broadcast")
    assert "create one" in text(one(none_yet, "//*[@id='broadcast-no-topics']"))
    topic = (
        admin.client()
        .post("/api/v1/admin/topics", json={"slug": "quiet", "name": "Quiet", "query": "quiet"})
        .json()
    )
    for params, problem in (
        ({"topic_id": "999", "title": "x"}, "Choose one of the topics."),
        ({"topic_id": "abc", "title": "x"}, "Choose one of the topics."),
        ({"topic_id": str(topic["id"]), "title": " "}, "A broadcast needs a title."),
        (
            {"topic_id": str(topic["id"]), "title": "x", "url": "javascript:alert(1)"},
            "A link starts with http:// or https://.",
        ),
    ):
        tree = page(browser, "/admin/broadcast", params)
        assert text(one(tree, "//*[@id='broadcast-problem']")) == problem
        assert not tree.xpath("//*[@id='broadcast-preview']")
    nobody = page(browser, f"/admin/broadcast?topic_id={topic['id']}&title=Hi")
    assert one(nobody, "//button[@id='broadcast-send']").get("disabled") is not None
    assert "Nobody follows Quiet" in text(one(nobody, "//*[@id='broadcast-nobody']"))


def test_stats_page_draws_one_bar_per_day_and_the_same_figures_as_a_table(
    three_days: ThreeDays, admin: Reader
) -> None:
    browser = admin.browser()
    tree = page(browser, "/admin/stats?days=5")
    svg = one(tree, "//svg[@id='stats-chart']")
    assert svg.get("role") == "img"
    bars = svg.xpath(".//rect[@class='bar']")
    assert [b.get("data-day") for b in bars] == [f"2026-03-0{d}" for d in range(1, 6)]
    height = {b.get("data-day"): float(b.get("height")) for b in bars}
    assert (
        height["2026-03-03"] == pytest.approx(2 * height["2026-03-02"]) and height["2026-03-03"] > 0
    )
    assert height["2026-03-01"] == height["2026-03-04"] == 0
    [failed] = svg.xpath(".//rect[@class='bar-failed']")
    assert (failed.get("data-day"), failed.get("data-value")) == ("2026-03-02", "1")
    assert float(failed.get("height")) == pytest.approx(height["2026-03-02"])
    dots = {c.get("data-day"): c.get("data-value") for c in svg.xpath(".//circle")}
    assert dots == {"2026-03-01": "0", "2026-03-02": "0", "2026-03-03": "2", "2026-03-04": "1",
                    "2026-03-05": "0"}  # fmt: skip
    assert len(svg.xpath(".//polyline[@class='clicks-line']")[0].get("points").split()) == 5
    rows = {
        row.get("data-day"): tuple(text(cell) for cell in row.xpath("./td"))
        for row in tree.xpath("//table[@id='stats-table']/tbody/tr")
    }
    api = day_counts(admin.client().get("/api/v1/admin/stats", params={"days": 5}).json())
    assert rows == {day: tuple(str(n) for n in counts) for day, counts in api.items()}
    totals = [text(cell) for cell in tree.xpath("//table[@id='stats-table']/tfoot//td")]
    assert totals == ["3", "1", "4", "3"]
    for days, bars_drawn in (("30", 30), ("365", 365), ("9999", 365), ("0", 1)):
        drawn = page(browser, f"/admin/stats?days={days}").xpath("//svg//rect[@class='bar']")
        assert len(drawn) == bars_drawn, days
