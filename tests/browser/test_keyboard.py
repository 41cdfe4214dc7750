"""The main pages by keyboard alone, and a label for every form control, in Chromium.

Focus moves with Tab / Shift+Tab only (``tab_to`` presses Tab until the wanted control has
the focus, so the controls must be reachable in the page's order); controls are worked with
Enter and Space, text is typed; a radio group is changed with the arrow keys, as a keyboard
user does (Tab enters a group at its checked radio).  No clicks.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import KEYWORD, PASSWORD, DevTools, Shots, Site, Tab
from tests.browser.keys import FOCUSED, assert_focused, tab_to
from tidings.accounts import create_topic

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Every visible form control needs a name: a <label> (with text), aria-label, or
# aria-labelledby naming elements with text; a button may also be named by its own text.
UNLABELLED_CONTROLS = """() => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const text = (el) => (el && el.textContent || "").trim();
  const problems = [];
  let checked = 0;
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    if (el.type === "hidden" || !shown(el)) continue;
    checked += 1;
    const byLabel = Array.from(el.labels || []).some((label) => text(label));
    const byAria = (el.getAttribute("aria-label") || "").trim() !== "";
    const byIds = (el.getAttribute("aria-labelledby") || "").split(/\\s+/)
      .some((id) => id && text(document.getElementById(id)));
    const own = el.tagName === "BUTTON" ? text(el)
      : ["submit", "button", "reset"].includes(el.type) ? (el.value || "").trim() : "";
    if (!(byLabel || byAria || byIds || own)) problems.push(el.outerHTML.slice(0, 160));
  }
  return {checked, problems};
}"""


def test_log_in_by_keyboard(site: Site, open_context: Any, shots: Shots) -> None:
    site.add_reader("keys@example.com")
    tab: Tab = open_context()
    page = tab.open("/login")
    tab_to(page, "#email")
    page.keyboard.type("keys@example.com")
    tab_to(page, "#password")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    error = page.locator("#login-form [data-error]")
    expect(error).to_be_visible()
    shots.take(page, "login-refused")
    page.keyboard.press("Control+A")
    page.keyboard.type(PASSWORD)
    tab_to(page, "#login-form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"))
    expect(page.locator("#logout")).to_be_visible()
    tab.assert_no_page_errors()


def test_create_an_alert_by_keyboard(site: Site, open_context: Any, shots: Shots) -> None:
    site.add_reader("keys@example.com")
    tab: Tab = open_context()
    tab.sign_in("keys@example.com")
    page = tab.open("/alerts")
    tab_to(page, "#query")
    page.keyboard.type(f"({KEYWORD}")
    expect(page.locator("#query-error")).to_be_visible()
    page.keyboard.type(")")
    expect(page.locator("#query-error")).to_be_hidden()
    expect(page.locator("#preview .preview-item")).to_have_count(2)
    tab_to(page, "input[name=mode][value=quick]")  # Tab enters the group at the checked one
    page.keyboard.press("ArrowRight")
    assert_focused(page, "input[name=mode][value=daily]")
    expect(page.get_by_label("Daily", exact=True)).to_be_checked()
    tab_to(page, "#alert-form button[type=submit]")
    shots.take(page, "alert-form-filled")
    page.keyboard.press("Enter")
    expect(page.locator("#alerts .alert-row")).to_have_count(1)
    [alert] = tab.api(page, "GET", "/api/v1/alerts")
    assert (alert["query"], alert["mode"]) == (f"({KEYWORD})", "daily")

    # Edit it: its Edit link, then the same form saved with Enter.
    tab_to(page, f'#alerts a[href="/alerts/{alert["id"]}"]')
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/alerts/{alert['id']}$"))
    tab_to(page, "#query")
    page.keyboard.press("Control+A")
    page.keyboard.type(f"{KEYWORD} harbour")
    expect(page.locator("#preview .preview-item")).to_have_count(1)
    tab_to(page, "#alert-form button[type=submit]")
    expect(page.locator("#alert-form button[type=submit]")).to_have_text("Save alert")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/alerts$"))
    [alert] = tab.api(page, "GET", "/api/v1/alerts")
    assert alert["query"] == f"{KEYWORD} harbour"
    shots.take(page, "alert-saved")
    tab.assert_no_page_errors()


def test_inbox_mark_all_read_and_clear_all_by_keyboard(
    site: Site, open_context: Any, shots: Shots
) -> None:
    site.add_reader("keys@example.com")
    tab: Tab = open_context()
    tab.sign_in("keys@example.com")
    page = tab.new_page()
    devtools = DevTools(page)
    page.goto("/alerts")
    tab.api(page, "POST", "/api/v1/alerts", {"query": KEYWORD, "mode": "quick"})
    site.news.publish(
        f"New {KEYWORD} keeper appointed", f"The trust named a new {KEYWORD} keeper on Friday."
    )
    site.news.publish(
        f"{KEYWORD.capitalize()} museum opens", f"A museum opened in the old {KEYWORD} stores."
    )
    site.check_now()
    streams = len(devtools.streams)
    page.goto("/inbox")
    devtools.wait_for_stream_event("unread", after_stream=streams)
    items = page.locator("#inbox li.notification")
    expect(items).to_have_count(2)
    expect(page.locator("#inbox li.notification.unread")).to_have_count(2)
    expect(page.locator("#unread-badge")).to_have_text(re.compile(r"^\s*2\s*$"))

    # Mark all read: Space on the button.
    tab_to(page, "#mark-all-read")
    page.keyboard.press("Space")
    expect(page.locator("#inbox li.notification.unread")).to_have_count(0)
    expect(page.locator("#unread-badge")).to_have_text(re.compile(r"^\s*0?\s*$"))
    assert tab.api(page, "GET", "/api/v1/notifications")["unread_count"] == 0
    shots.take(page, "inbox-all-read")

    # Clear all: the dialog takes the focus; Escape and Cancel keep everything.
    dialog = page.locator("#clear-dialog")
    tab_to(page, "#clear-all")
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    assert page.evaluate("document.getElementById('clear-dialog').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert_focused(page, "#clear-all")  # the focus comes back to the button
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    tab_to(page, "#clear-dialog button:not(#clear-confirm)")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(items).to_have_count(2)
    assert len(tab.api(page, "GET", "/api/v1/notifications")["items"]) == 2

    # And confirmed: Clear.
    assert_focused(page, "#clear-all")
    page.keyboard.press("Space")
    expect(dialog).to_be_visible()
    shots.take(page, "inbox-clear-dialog")
    tab_to(page, "#clear-confirm", backwards=True)
    page.keyboard.press("Enter")
    expect(items).to_have_count(0)
    expect(page.locator("#inbox-empty")).to_be_visible()
    assert tab.api(page, "GET", "/api/v1/notifications")["items"] == []
    shots.take(page, "inbox-cleared")
    devtools.close()
    tab.assert_no_page_errors()


def test_follow_and_unfollow_a_topic_by_keyboard(
    site: Site, open_context: Any, shots: Shots
) -> None:
    site.add_reader("keys@example.com")
    with site.db.session() as session:
        create_topic(session, "coast", "The Coast", KEYWORD, description="Harbours and lights")
    tab: Tab = open_context()
    tab.sign_in("keys@example.com")
    page = tab.open("/topics")
    expect(page.locator("h1")).to_have_text("Get Instant News Updates")
    button = page.locator(".topic button.follow")
    expect(button).to_have_text("Enable")
    tab_to(page, ".topic button.follow")
    page.keyboard.press("Space")
    expect(button).to_have_text("Following")
    [topic] = tab.api(page, "GET", "/api/v1/topics")
    assert topic["following"] is True, topic
    shots.take(page, "topic-following")
    if not page.evaluate(FOCUSED, ".topic button.follow"):
        tab_to(page, ".topic button.follow")
    page.keyboard.press("Enter")
    expect(button).to_have_text("Enable")
    [topic] = tab.api(page, "GET", "/api/v1/topics")
    assert topic["following"] is False, topic
    tab.assert_no_page_errors()


def test_every_form_control_of_the_main_pages_has_a_label(
    site: Site, open_context: Any, shots: Shots
) -> None:
    site.add_reader("reader@example.com")
    site.add_reader("admin@example.com", admin=True)
    with site.db.session() as session:
        create_topic(session, "coast", "The Coast", KEYWORD)
    problems: dict[str, list[str]] = {}

    def check(page: Page, path: str) -> None:
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_load_state("load")
        shots.take(page, path.strip("/").replace("/", "-").replace("?", "-") or "home")
        found = page.evaluate(UNLABELLED_CONTROLS)
        assert found["checked"] > 0, f"no visible form control on {path}"
        if found["problems"]:
            problems[path] = found["problems"]

    anonymous = open_context().new_page()
    for path in ("/login", "/signup", "/reset-password"):
        check(anonymous, path)

    reader: Tab = open_context()
    reader.sign_in("reader@example.com")
    page = reader.open("/alerts")
    alert = reader.api(page, "POST", "/api/v1/alerts", {"query": KEYWORD, "mode": "quick"})
    reader.api(page, "POST", "/api/v1/channels", {"kind": "email", "target": "reader@example.com"})
    site.news.publish(f"A {KEYWORD} for sale", f"The {KEYWORD} is on the market.")
    site.check_now()
    for path in (
        "/",
        "/alerts",
        f"/alerts/{alert['id']}",
        "/topics",
        "/settings/notifications",
        "/settings/time",
        "/inbox",
    ):
        check(page, path)

    admin: Tab = open_context()
    admin.sign_in("admin@example.com")
    page = admin.new_page()
    for path in ("/admin", "/admin/topics", "/admin/users", "/admin/broadcast", "/admin/stats"):
        check(page, path)

    assert problems == {}, "form controls without a label:\n" + json.dumps(problems, indent=2)
    for tab in (reader, admin):
        tab.assert_no_page_errors()
