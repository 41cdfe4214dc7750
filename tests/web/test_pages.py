"""The reader's HTML pages, rendered from the database for the signed-in reader, on SQLite and
PostgreSQL: each page shows its reader's things and no one else's, every form field has a
label, and the account pages' forms work through the API the way their script sends them.

Pages are parsed with lxml; forms are "submitted" as app.js does it — the form's
``data-api`` says where, its named fields are the JSON body.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import lxml.html
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml.html import HtmlElement

from tests.web.conftest import PASSWORD, Reader, World
from tests.web.news import ASSAD_TITLE, Newsdesk
from tidings.accounts import create_topic
from tidings.clock import naive_utc
from tidings.store.models import Article, User
from tidings.web.security import create_password_reset

READER_PAGES = ["/", "/alerts", "/topics", "/settings/notifications", "/settings/time"]
PUBLIC_PAGES = ["/login", "/signup", "/reset-password", "/reset-password?token=abc"]


# Simple CSS selectors (descendants of tag#id.class[attr][attr=value]) as XPath: enough for
# these tests, without another dependency (lxml's cssselect needs the cssselect package).
_COMPOUND = re.compile(r"([\w-]+|\*)?((?:#[\w-]+|\.[\w-]+|\[[^\]]+\])*)$")
_PART = re.compile(r"#([\w-]+)|\.([\w-]+)|\[([\w-]+)(=)?\"?([^\]\"]*)\"?\]")


def xpath_of(selector: str) -> str:
    steps = []
    for compound in selector.split():
        match = _COMPOUND.match(compound)
        assert match, f"selector not supported here: {selector}"
        tests = []
        for ident, klass, attr, equals, value in _PART.findall(match.group(2)):
            if ident:
                tests.append(f"@id='{ident}'")
            elif klass:
                tests.append(f"contains(concat(' ', normalize-space(@class), ' '), ' {klass} ')")
            else:
                tests.append(f"@{attr}='{value}'" if equals else f"@{attr}")
        predicate = "".join(f"[{t}]" for t in tests)
        steps.append(f"descendant::{match.group(1) or '*'}{predicate}")
    return "/".join(steps)


def select(node: HtmlElement, selector: str) -> list[HtmlElement]:
    found: list[HtmlElement] = node.xpath(xpath_of(selector))
    return found


def page(client: TestClient, path: str, status: int = 200) -> HtmlElement:
    reply = client.get(path)
    assert reply.status_code == status, (path, reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith("text/html")
    return lxml.html.fromstring(reply.text)


def text(doc: HtmlElement, selector: str) -> str:
    found = select(doc, selector)
    assert found, f"nothing matches {selector}"
    return " ".join(" ".join(node.text_content().split()) for node in found)


def submit(client: TestClient, form: HtmlElement, **values: str) -> Any:
    """Send a ``data-api`` form as app.js does: its named fields (filled with ``values``)."""
    method, path = form.get("data-api").split(" ", 1)
    body = {field.get("name"): field.get("value") or "" for field in select(form, "[name]")}
    body.update(values)
    return client.request(method, path, json=body)


def report_again(app: FastAPI, article_id: int, site: str, host: str) -> None:
    """Another outlet's article of the same story arrives (the notifier attaches it)."""
    web = app.state.web
    now = naive_utc(web.clock())
    with web.db.session() as session:
        first = session.get(Article, article_id)
        assert first is not None
        other = Article(
            url=f"https://{host}/same-story.html",
            title=first.title,
            text=first.text,
            sitename=site,
            language="en",
            story_id=first.story_id,
            content_hash=f"{host}-copy",
            published=now,
            fetched_at=now,
            updated_at=now,
        )
        session.add(other)
        session.flush()
        Newsdesk(app).notifier(session, other)


# -- each page shows its reader's things -----------------------------------------------------


def test_home_lists_the_readers_stories_with_their_other_sources(
    app: FastAPI, world: World
) -> None:
    desk = Newsdesk(app)
    desk.count = 100  # the world's article was the first
    story = desk.arrive(
        title="Assad <b>visits</b> Pyongyang", text="Assad arrived in Pyongyang on Sunday."
    )
    report_again(app, story, "Yonhap", "yna.example.com")
    doc = page(world.alice.browser(), "/")
    stories = select(doc, "#stories li.story")
    assert len(stories) == 2  # the world's story and this one, newest first
    newest = stories[0]
    assert text(newest, ".story-title") == "Assad <b>visits</b> Pyongyang"  # shown, not markup
    assert not select(newest, ".story-title b")
    link = select(newest, ".story-title a")[0]
    assert link.get("href").startswith("https://news") and link.get("data-click")
    assert text(newest, ".source") == "Oneindia" and text(newest, ".byline") == "by Shubham"
    assert [m.text_content() for m in select(newest, ".snippet mark")] == ["Assad"]
    assert text(newest, ".also") == "Also reported by 1 other source: Yonhap"
    assert text(newest, ".matched") == "For: assad"
    # times in the reader's zone (Asia/Seoul, UTC+9): the clock says 12:00 UTC
    assert select(newest, "time")[0].get("datetime") == "2026-03-02T21:00:00+09:00"
    assert text(stories[1], ".story-title") == ASSAD_TITLE
    assert not select(doc, "#home-empty")


def test_home_of_a_reader_without_stories_points_to_alerts_and_topics(world: World) -> None:
    doc = page(world.bob.browser(), "/")
    assert not select(doc, "#stories")
    assert ASSAD_TITLE not in doc.text_content()
    links = {a.get("href") for a in select(doc, "#home-empty a")}
    assert {"/alerts", "/topics"} <= links


def test_alerts_page_lists_only_the_readers_alerts(world: World) -> None:
    alice_id = world.ids["alert_id"]
    doc = page(world.alice.browser(), "/alerts")
    rows = select(doc, "#alerts .alert-row")
    assert [text(row, ".query") for row in rows] == ["assad"]
    assert select(rows[0], f'a[href="/alerts/{alice_id}"]')
    delete = select(rows[0], "button[data-api]")[0]
    assert delete.get("data-api") == f"DELETE /api/v1/alerts/{alice_id}"
    form = select(doc, "form#alert-form")[0]
    assert form.get("data-alert-api") == "POST /api/v1/alerts"
    assert text(form, "button[type=submit]") == "Create alert"
    assert select(form, "textarea#query[name=query]")
    modes = {r.get("value"): r for r in select(form, "input[type=radio][name=mode]")}
    assert set(modes) == {"quick", "daily", "weekly"} and modes["quick"].get("checked") is not None
    assert select(doc, "#query-error[role=alert]")
    assert select(doc, "#preview") and select(doc, "#preview-count")
    assert "intitle:" in text(doc, ".syntax-help") and "site:" in text(doc, ".syntax-help")
    # the channel choice: alice's e-mail and browser, by id
    channels = [box.get("value") for box in select(form, "input[name=channels]")]
    assert str(world.ids["channel_id"]) in channels and len(channels) == 2

    bobs = page(world.bob.browser(), "/alerts")
    assert not select(bobs, ".alert-row") and select(bobs, "#alerts-empty")
    assert not select(bobs, "input[name=channels]")


def test_alert_edit_page_is_the_readers_only(world: World) -> None:
    alert_id = world.ids["alert_id"]
    client = world.alice.client()
    client.patch(f"/api/v1/alerts/{alert_id}", json={"mode": "daily"})
    mine = world.alice.browser()
    doc = page(mine, f"/alerts/{alert_id}")
    form = select(doc, "form#alert-form")[0]
    assert form.get("data-alert-api") == f"PATCH /api/v1/alerts/{alert_id}"
    assert form.get("data-then") == "/alerts"
    assert text(form, "textarea#query") == "assad"
    checked = select(form, "input[name=mode][checked]")
    assert [r.get("value") for r in checked] == ["daily"]
    assert text(form, "button[type=submit]") == "Save alert"

    missing = page(world.bob.browser(), f"/alerts/{alert_id}", status=404)
    assert "You have no alert" in text(missing, "main")
    assert "assad" not in text(missing, "main")
    for path in ("/alerts/0", "/alerts/abc", f"/alerts/{2**70}"):
        page(mine, path, status=404)


def test_topics_page_shows_each_readers_follows(app: FastAPI, world: World) -> None:
    with app.state.web.db.session() as session:
        create_topic(session, "markets", "Markets", "stocks", description="Money moves")
    topic = world.ids["topic_id"]
    world.alice.client().post(f"/api/v1/topics/{topic}/follow", json={"mode": "daily"})

    doc = page(world.alice.browser(), "/topics")
    assert text(doc, "h1") == "Get Instant News Updates"
    buttons = {text(t, ".topic-name"): select(t, "button.follow")[0] for t in select(doc, ".topic")}
    assert buttons["Korea"].text_content() == "Following"
    assert buttons["Korea"].get("data-topic") == str(topic)
    assert buttons["Markets"].text_content() == "Enable"
    korea_mode = select(doc, f"#topic-{topic}-mode option[selected]")[0]
    assert korea_mode.get("value") == "daily"

    bobs = page(world.bob.browser(), "/topics")
    assert [b.text_content() for b in select(bobs, "button.follow")] == ["Enable", "Enable"]


def test_notification_settings_show_the_readers_channels(world: World) -> None:
    doc = page(world.alice.browser(), "/settings/notifications")
    push = select(doc, "#push-settings")[0]
    toggle = select(push, "button#push-toggle")[0]
    assert toggle.get("type") == "button" and toggle.get("hidden") is not None
    channels = select(doc, "#channels li.channel")
    assert [text(c, ".target") for c in channels] == ["alice@example.com", "push.example.com"]
    for channel in channels:
        assert text(channel, "button.channel-test") == "Send a test notification"
        assert select(channel, "[role=status].test-result")
    assert select(channels[0], "button.channel-test")[0].get("data-channel") == str(
        world.ids["channel_id"]
    )
    for kind in ("email", "apprise", "webhook"):
        form = select(doc, f"form#add-{kind}")[0]
        assert form.get("data-api") == "POST /api/v1/channels"
        assert select(form, f"input[type=hidden][name=kind][value={kind}]")
    per_alert = select(doc, "form.alert-channels")
    assert [f.get("data-alert") for f in per_alert] == [str(world.ids["alert_id"])]
    assert len(select(per_alert[0], "input[name=channels]")) == 2

    bobs = page(world.bob.browser(), "/settings/notifications")
    assert not select(bobs, "li.channel") and select(bobs, "#channels-empty")
    assert "alice@example.com" not in bobs.text_content()
    assert not select(bobs, "form.alert-channels")


def test_time_settings_show_the_readers_settings(world: World) -> None:
    doc = page(world.alice.browser(), "/settings/time")
    form = select(doc, "form#time-form")[0]
    assert form.get("data-detect") == "no"  # alice chose Asia/Seoul
    assert select(doc, "#timezone option[selected]")[0].text == "Asia/Seoul"
    assert select(doc, "#quiet-start")[0].get("value") == "23:00"
    assert select(doc, "#quiet-end")[0].get("value") == "06:00"
    assert select(doc, "#digest-time")[0].get("value") == "07:30"
    assert select(doc, "#weekly-day option[selected]")[0].get("value") == "monday"
    assert select(doc, "#budget")[0].get("value") == ""
    assert text(form, "button[type=submit]") == "Done"
    assert "Europe/Paris" in {o.text for o in select(doc, "#timezone option")}

    bob = world.bob.browser()
    bobs = page(bob, "/settings/time")
    assert select(bobs, "form#time-form")[0].get("data-detect") == "yes"  # never set: detect
    assert select(bobs, "#timezone option[selected]")[0].text == "UTC"
    assert select(bobs, "#quiet-start")[0].get("value") == ""
    # what the page's script sends, then the page shows it and no longer detects
    body = {
        "timezone": "Europe/Paris",
        "digest_time": "08:15",
        "weekly_day": "friday",
        "quiet_hours": "22:00-07:00",
        "quick_budget_per_hour": 5,
    }
    assert bob.put("/api/v1/settings", json=body).status_code == 200
    bobs = page(bob, "/settings/time")
    assert select(bobs, "form#time-form")[0].get("data-detect") == "no"
    assert select(bobs, "#timezone option[selected]")[0].text == "Europe/Paris"
    assert select(bobs, "#weekly-day option[selected]")[0].get("value") == "friday"
    assert select(bobs, "#digest-time")[0].get("value") == "08:15"
    assert select(bobs, "#budget")[0].get("value") == "5"
    assert bob.put("/api/v1/settings", json={"quiet_hours": None}).status_code == 200
    assert select(page(bob, "/settings/time"), "#quiet-start")[0].get("value") == ""


# -- accessibility: labels, ids, no inline script ------------------------------------------


def unlabelled(doc: HtmlElement) -> list[str]:
    """Form fields with no label: not wrapped in one, no label[for=id], no aria-label(ledby)."""
    found = []
    for field in doc.iter("input", "select", "textarea"):
        if field.get("type") == "hidden":
            continue
        field_id = field.get("id")
        labelled = (
            field.get("aria-label", "").strip()
            or field.get("aria-labelledby")
            or any(ancestor.tag == "label" for ancestor in field.iterancestors())
            or (
                field_id
                and any(
                    label.text_content().strip()
                    for label in doc.iter("label")
                    if label.get("for") == field_id
                )
            )
        )
        if not labelled:
            found.append(lxml.html.tostring(field, encoding="unicode")[:120])
    return found


def check_markup(doc: HtmlElement, path: str) -> None:
    assert not unlabelled(doc), (path, unlabelled(doc))
    ids = [node.get("id") for node in doc.iter() if node.get("id")]
    assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
    handlers = [
        (node.tag, name) for node in doc.iter() for name in node.attrib if name.startswith("on")
    ]
    assert not handlers, (path, handlers)
    assert not [s for s in doc.iter("script") if (s.text or "").strip()], "inline script"
    assert select(doc, 'script[src="/static/pages.js"]'), path


def test_every_field_of_every_page_has_a_label(anonymous: TestClient, world: World) -> None:
    browser = world.alice.browser()
    for path in [*READER_PAGES, f"/alerts/{world.ids['alert_id']}"]:
        check_markup(page(browser, path), path)
    for path in PUBLIC_PAGES:
        check_markup(page(anonymous, path), path)


def test_the_label_check_finds_a_field_without_a_label() -> None:
    doc = lxml.html.fromstring(
        "<form><label for='a'>A</label><input id='a'><label>B <input></label>"
        "<input aria-label='C'><select id='d'></select><input type='hidden'></form>"
    )
    assert unlabelled(doc) == ['<select id="d"></select>']


# -- the account pages' forms work through the API -------------------------------------------


def test_login_page_signs_in_and_goes_to_next(app: FastAPI, world: World) -> None:
    world.alice.set_password()
    with TestClient(app, follow_redirects=False) as browser:
        doc = page(browser, "/login?next=/alerts%3Fx%3D1")
        form = select(doc, "form#login-form")[0]
        assert form.get("data-api") == "POST /api/v1/auth/login"
        assert form.get("data-then") == "/alerts?x=1"
        assert text(doc, "label[for=email]") == "E-mail"
        assert text(doc, "label[for=password]") == "Password"
        assert text(form, "button[type=submit]") == "Log in"
        assert {a.get("href") for a in select(doc, "a")} >= {"/reset-password"}
        wrong = submit(browser, form, email=world.alice.email, password="not it at all")
        assert wrong.status_code == 401 and "wrong e-mail or password" in wrong.text
        reply = submit(browser, form, email=world.alice.email, password=PASSWORD)
        assert reply.status_code == 200 and "tidings_session" in reply.cookies
        home = page(browser, "/")
        assert text(home, "#stories .story-title") == ASSAD_TITLE
        # signed in, the login page sends the reader on
        again = browser.get("/login?next=/topics")
        assert again.status_code == 303 and again.headers["location"] == "/topics"


def test_login_page_never_sends_to_another_site(anonymous: TestClient) -> None:
    for target in ("//evil.example.com/x", "https://evil.example.com", "/\\evil.example.com"):
        doc = page(anonymous, f"/login?next={quote(target, safe='')}")
        assert select(doc, "form#login-form")[0].get("data-then") == "/"


def test_anonymous_visitors_are_sent_to_login_and_back(app: FastAPI, world: World) -> None:
    with TestClient(app, follow_redirects=False) as anonymous:
        for path in [*READER_PAGES, f"/alerts/{world.ids['alert_id']}", "/alerts?mode=daily"]:
            reply = anonymous.get(path)
            assert reply.status_code == 303, path
            assert reply.headers["location"].startswith(f"/login?next={path.split('?')[0]}")
        landing = anonymous.get("/alerts?mode=daily", follow_redirects=True)
        doc = lxml.html.fromstring(landing.text)
        assert select(doc, "form#login-form")[0].get("data-then") == "/alerts?mode=daily"


def test_signup_page_signs_up_or_says_sign_up_is_closed(app: FastAPI, admin: Reader) -> None:
    with TestClient(app) as browser:
        doc = page(browser, "/signup")
        form = select(doc, "form#signup-form")[0]
        assert form.get("data-api") == "POST /api/v1/auth/signup" and form.get("data-then") == "/"
        assert text(form, "button[type=submit]") == "Sign up"
        reply = submit(browser, form, email="new@example.com", password="a long password")
        assert reply.status_code == 201
        assert select(page(browser, "/"), "#home-empty")  # signed in: the new reader's home

    closed = admin.client().put("/api/v1/admin/settings", json={"signup_enabled": False})
    assert closed.status_code == 200
    with TestClient(app) as browser:
        doc = page(browser, "/signup")
        assert not select(doc, "form")
        assert "Sign-up is closed" in text(doc, "#signup-closed")
        assert "/signup" not in {a.get("href") for a in select(page(browser, "/login"), "a")}


def test_reset_password_pages_ask_then_set_the_new_password(app: FastAPI, alice: Reader) -> None:
    with TestClient(app) as browser:
        ask = page(browser, "/reset-password")
        form = select(ask, "form#reset-request-form")[0]
        assert form.get("data-api") == "POST /api/v1/auth/password-reset"
        assert text(form, "label[for=email]") == "E-mail"
        assert text(form, "button[type=submit]") == "Send reset link"
        assert "cannot send e-mail" in ask.text_content()  # no TIDINGS_SMTP_URL in the tests

        web = app.state.web
        with web.db.session() as session:
            user = session.get(User, alice.id)
            assert user is not None
            token = create_password_reset(session, user, web.clock())
        doc = page(browser, f"/reset-password?token={token}")
        assert select(doc, 'meta[name=referrer][content="no-referrer"]')
        form = select(doc, "form#reset-form")[0]
        assert text(form, "label[for=password]") == "New password"
        assert text(form, "button[type=submit]") == "Set password"
        assert submit(browser, form, password="brand new password").status_code == 204
        assert form.get("data-then") == "/login?reset=done"
        done = page(browser, "/login?reset=done")
        assert "new password is set" in text(done, ".notice")
        login = {"email": alice.email, "password": "brand new password"}
        assert browser.post("/api/v1/auth/login", json=login).status_code == 200
        assert submit(browser, form, password="another password").status_code == 400  # used


def test_home_lists_the_stories_of_followed_topics(app: FastAPI, world: World) -> None:
    client = world.bob.browser()
    topic = world.ids["topic_id"]
    assert client.post(f"/api/v1/topics/{topic}/follow").status_code < 300
    desk = Newsdesk(app)
    desk.count = 100
    desk.arrive(title="Korea talks resume at Panmunjom", text="Talks on Korea resumed on Monday.")
    stories = select(page(client, "/"), "#stories li.story")
    assert [text(story, ".story-title") for story in stories] == ["Korea talks resume at Panmunjom"]
    assert text(stories[0], ".matched") == "For: Korea"  # the topic's name
