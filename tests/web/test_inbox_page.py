"""The inbox page, opening a notification, the push prompt and the installable app's files
(service worker, manifest, icons), on SQLite and PostgreSQL, the inbox filled by the real
notifier (``Newsdesk``).  The JavaScript itself runs in the browser tests (tests/browser)."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import lxml.html
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml.html import HtmlElement

from tests.web.conftest import Reader
from tests.web.news import ASSAD_TITLE, Newsdesk
from tidings.store.models import Notification
from tidings.web.pages import STATIC_DIR

CLEAR_QUESTION = "Do you want to clear all the notifications from your inbox?"


def page(client: TestClient, path: str) -> HtmlElement:
    reply = client.get(path)
    assert reply.status_code == 200, reply.text[:300]
    assert reply.headers["content-type"].startswith("text/html")
    return lxml.html.fromstring(reply.text)


def with_class(tree: HtmlElement, tag: str, name: str) -> list[HtmlElement]:
    return tree.xpath(f".//{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]")


def one(tree: HtmlElement, xpath: str) -> HtmlElement:
    found = tree.xpath(xpath)
    assert len(found) == 1, (xpath, found)
    return found[0]


def items(tree: HtmlElement) -> list[HtmlElement]:
    return with_class(one(tree, "//ul[@id='inbox']"), "li", "notification")


def ids(tree: HtmlElement) -> list[int]:
    return [int(li.get("data-id")) for li in items(tree)]


def inbox_api(reader: Reader) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = reader.client().get("/api/v1/notifications").json()["items"]
    return items


def alerted(app: FastAPI, reader: Reader, query: str = "assad", count: int = 1) -> list[int]:
    """``count`` Assad stories arrive for ``reader``'s alert; their notification ids, newest
    first."""
    assert reader.client().post("/api/v1/alerts", json={"query": query, "mode": "quick"}).is_success
    news = Newsdesk(app)
    for _ in range(count):
        news.arrive()
    return [n["id"] for n in inbox_api(reader)]


def change(app: FastAPI, notification_id: int, **values: Any) -> None:
    with app.state.web.db.session() as session:
        notification = session.get(Notification, notification_id)
        assert notification is not None
        for name, value in values.items():
            setattr(notification, name, value)


def test_inbox_shows_the_readers_notifications(app: FastAPI, alice: Reader) -> None:
    (first,) = alerted(app, alice)
    change(app, first, also_reported_by=2)
    alice.client().put("/api/v1/settings", json={"timezone": "Asia/Seoul"})
    tree = page(alice.browser(), "/inbox")
    (item,) = items(tree)
    assert item.get("data-id") == str(first)
    assert "unread" in item.get("class").split()
    link = one(item, ".//a[@class='open']")
    assert link.get("href") == f"/notifications/{first}/open"
    assert link.text_content() == ASSAD_TITLE
    assert one(item, ".//*[@class='source']").text_content() == "Oneindia"
    assert one(item, ".//*[@class='byline']").text_content() == "by Shubham"
    marks = item.xpath(".//p[@class='snippet']/mark")
    assert [m.text_content() for m in marks] == ["Assad"]
    assert one(item, ".//*[@class='alert-name']").text_content() == "assad"
    assert one(item, ".//p[@class='also']").text_content() == "also reported by 2 sources"
    when = one(item, ".//time")  # 12:00 UTC, shown in the reader's Seoul time
    assert when.get("datetime") == "2026-03-02T12:00:00+00:00"
    assert when.text_content() == "2 Mar 2026, 21:00"
    assert one(tree, "//p[@id='inbox-empty']").get("hidden") is not None
    assert one(tree, "//*[@id='unread-badge']").text_content() == "1"


def test_inbox_holds_only_the_readers_own(app: FastAPI, alice: Reader, bob: Reader) -> None:
    alerted(app, alice, count=2)
    tree = page(bob.browser(), "/inbox")
    assert items(tree) == []
    assert one(tree, "//p[@id='inbox-empty']").get("hidden") is None
    assert "Assad" not in lxml.html.tostring(tree, encoding="unicode")


def test_read_notifications_lose_the_unread_class(app: FastAPI, alice: Reader) -> None:
    older, newer = sorted(alerted(app, alice, count=2))
    assert alice.client().post(f"/api/v1/notifications/{older}/read").is_success
    tree = page(alice.browser(), "/inbox")
    assert ids(tree) == [newer, older]
    classes = {int(li.get("data-id")): li.get("class").split() for li in items(tree)}
    assert "unread" in classes[newer] and "unread" not in classes[older]
    assert one(tree, "//*[@id='unread-badge']").text_content() == "1"


def test_opening_marks_read_records_the_click_and_goes_to_the_article(
    app: FastAPI, alice: Reader
) -> None:
    (first,) = alerted(app, alice)
    (before,) = inbox_api(alice)
    assert before["read_at"] is None and before["clicked_at"] is None
    reply = alice.browser().get(f"/notifications/{first}/open", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == before["url"]
    assert before["url"].startswith("https://news1.example.com/")
    (after,) = inbox_api(alice)
    assert after["read_at"] == after["clicked_at"] == "2026-03-02T12:00:00"
    assert "unread" not in items(page(alice.browser(), "/inbox"))[0].get("class").split()


def test_another_readers_notification_does_not_open(
    app: FastAPI, alice: Reader, bob: Reader
) -> None:
    (first,) = alerted(app, alice)
    reply = bob.browser().get(f"/notifications/{first}/open", follow_redirects=False)
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "location" not in reply.headers
    (untouched,) = inbox_api(alice)
    assert untouched["read_at"] is None and untouched["clicked_at"] is None


@pytest.mark.parametrize("path", ["/notifications/999999/open", "/notifications/x1/open"])
def test_unknown_notifications_are_a_404_page(alice: Reader, path: str) -> None:
    reply = alice.browser().get(path, follow_redirects=False)
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")


def test_opening_goes_only_to_the_stored_web_address(app: FastAPI, alice: Reader) -> None:
    (first,) = alerted(app, alice)
    browser = alice.browser()
    asked = f"/notifications/{first}/open?url=https://evil.example.net/&next=//evil.example.net"
    reply = browser.get(asked, follow_redirects=False)
    assert reply.headers["location"].startswith("https://news1.example.com/")
    for stored in ("javascript:alert(1)", None):
        change(app, first, url=stored)
        reply = browser.get(f"/notifications/{first}/open", follow_redirects=False)
        assert (reply.status_code, reply.headers["location"]) == (303, "/inbox")


def test_anonymous_opening_is_sent_to_log_in_first(app: FastAPI, alice: Reader) -> None:
    (first,) = alerted(app, alice)
    with TestClient(app, follow_redirects=False) as anonymous:
        reply = anonymous.get(f"/notifications/{first}/open")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/login?next=/notifications/{first}/open"
    assert inbox_api(alice)[0]["clicked_at"] is None


def test_snippet_html_with_any_other_tag_is_shown_as_text(app: FastAPI, alice: Reader) -> None:
    (first,) = alerted(app, alice)
    change(app, first, snippet_html='<img src=x onerror="alert(1)"> <mark>Assad</mark>')
    change(app, first, snippet="<img src=x> Assad")
    for path in ("/inbox", "/"):  # the inbox, and the home page's stories
        snippets = page(alice.browser(), path).xpath(".//p[@class='snippet']")
        assert [s.text_content() for s in snippets].count("<img src=x> Assad") == 1, path
        assert [s for s in snippets if s.xpath(".//*[not(self::mark)]")] == [], path


def test_unread_filter_and_older_pages(
    app: FastAPI, alice: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tidings.web.pages.inbox.PAGE_SIZE", 2)
    five, four, three, two, one_ = alerted(app, alice, count=5)
    browser = alice.browser()
    assert browser.get(f"/notifications/{four}/open", follow_redirects=False).status_code == 303
    first = page(browser, "/inbox")
    assert ids(first) == [five, four]
    assert first.xpath("//a[@id='newest']") == []
    older = one(first, "//a[@id='older']").get("href")
    assert older == f"/inbox?before={four}"
    second = page(browser, older)
    assert ids(second) == [three, two]
    assert one(second, "//ul[@id='inbox']").get("data-live") == "no"  # live items go on top
    assert one(second, "//a[@id='newest']").get("href") == "/inbox"
    third = page(browser, one(second, "//a[@id='older']").get("href"))
    assert ids(third) == [one_] and third.xpath("//a[@id='older']") == []

    unread = page(browser, one(first, "//a[@id='show-unread']").get("href"))
    assert one(unread, "//a[@id='show-unread']").get("aria-current") == "page"
    assert ids(unread) == [five, three]
    # live.js asks the event stream for what came after the newest in the inbox, read or not
    assert one(unread, "//ul[@id='inbox']").get("data-after") == str(five)
    more = one(unread, "//a[@id='older']").get("href")
    assert more == f"/inbox?unread=true&before={three}"
    assert ids(page(browser, more)) == [two, one_]
    assert ids(page(browser, "/inbox?before=junk&unread=nonsense")) == [five, four]


def test_mark_all_read_and_clear_all_as_the_contract_says(app: FastAPI, alice: Reader) -> None:
    alerted(app, alice, count=2)
    browser = alice.browser()
    tree = page(browser, "/inbox")
    mark = one(tree, "//button[@id='mark-all-read']")
    assert (mark.text_content(), mark.get("data-api")) == (
        "Mark all read",
        "POST /api/v1/notifications/read-all",
    )
    clear = one(tree, "//button[@id='clear-all']")
    assert clear.text_content() == "Clear all"
    assert clear.get("data-api") == "DELETE /api/v1/notifications"
    assert clear.get("data-confirm") == "#clear-dialog"
    dialog = one(tree, "//dialog[@id='clear-dialog']")
    assert one(dialog, ".//p").text_content() == CLEAR_QUESTION
    assert one(dialog, ".//form").get("method") == "dialog"
    confirm = one(dialog, ".//button[@id='clear-confirm']")
    assert (confirm.text_content(), confirm.get("value")) == ("Clear", "confirm")
    assert [b.text_content() for b in dialog.xpath(".//button")] == ["Clear", "Cancel"]

    method, path = clear.get("data-api").split(" ")
    assert browser.request(method, path).json() == {"count": 2}
    emptied = page(browser, "/inbox")
    assert items(emptied) == []
    assert one(emptied, "//p[@id='inbox-empty']").get("hidden") is None
    assert one(emptied, "//*[@id='unread-badge']").text_content() == "0"
    assert one(emptied, "//ul[@id='inbox']").get("data-after") == "0"


def test_every_signed_in_page_has_the_push_prompt_and_scripts(alice: Reader) -> None:
    browser = alice.browser()
    tree = page(browser, "/inbox")
    prompt = one(tree, "//section[@id='push-prompt']")
    assert prompt.get("hidden") is not None  # push.js shows it when it applies
    assert "For Quick Alerts — Allow notifications" in prompt.text_content()
    assert one(prompt, ".//button[@id='push-allow']").text_content() == "Allow notifications"
    assert one(prompt, ".//button[@id='push-later']").text_content() == "Not now"
    denied = one(tree, "//section[@id='push-denied']")
    assert denied.get("hidden") is not None
    assert "Notifications → Allow" in denied.text_content()
    install = one(tree, "//button[@id='install']")
    assert install.get("hidden") is not None and install.text_content() == "Install Tidings"
    scripts = [s.get("src") for s in tree.xpath("//script[@src]")]
    assert "/static/push.js" in scripts and "/static/live.js" in scripts
    assert tree.xpath("//*[@onclick or @onload or @onchange or @onsubmit]") == []
    for script in ("/static/push.js", "/static/live.js", "/static/sw.js"):
        assert browser.get(script).status_code == 200


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking every chunk's CRC and inflating its pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, idat = 8, [], b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append(kind)
        idat += body if kind == b"IDAT" else b""
        at += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    assert depth == 8
    assert len(zlib.decompress(idat)) == height * (1 + width * channels)
    return width, height


def test_the_manifest_makes_tidings_installable(anonymous: TestClient) -> None:
    reply = anonymous.get("/manifest.webmanifest")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(reply.text)
    assert manifest["name"] == "Tidings" and manifest["short_name"]
    assert (manifest["start_url"], manifest["display"]) == ("/", "standalone")
    assert manifest["theme_color"].startswith("#")
    purposes = set()
    for icon in manifest["icons"]:
        fetched = anonymous.get(icon["src"])
        assert fetched.status_code == 200 and icon["type"] == "image/png"
        width, height = png_size(fetched.content)
        assert icon["sizes"] == f"{width}x{height}"
        purposes.add((icon["purpose"], width))
    assert {("any", 192), ("any", 512), ("maskable", 512)} <= purposes
    assert png_size((STATIC_DIR / "icons" / "badge-96.png").read_bytes()) == (96, 96)


def test_the_service_worker_is_served_for_the_whole_site(anonymous: TestClient) -> None:
    reply = anonymous.get("/sw.js")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/javascript")
    assert reply.headers["service-worker-allowed"] == "/"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.text == (STATIC_DIR / "sw.js").read_text()
    for event in ("push", "notificationclick", "install", "activate"):
        assert f'addEventListener("{event}"' in reply.text
