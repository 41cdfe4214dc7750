"""The soft prompt in Chromium: the browser's permission question is asked only when the reader
presses "Allow notifications", never when a page loads; "Not now" hides the prompt and is
remembered on every page after."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Tab
from tests.browser.test_journey import sign_up

# Counts the page's calls of Notification.requestPermission (the browser's real question).
COUNT_ASKS = """(() => {
  const ask = Notification.requestPermission.bind(Notification);
  window.__asked = 0;
  Notification.requestPermission = (...args) => { window.__asked += 1; return ask(...args); };
})();"""
PAGES = ["/", "/alerts", "/topics", "/inbox", "/settings/notifications", "/settings/time"]


def asked(page: Page) -> int:
    page.wait_for_function("() => window.tidings && window.tidings.api")  # scripts have run
    return int(page.evaluate("window.__asked"))


def test_permission_is_asked_only_on_allow_and_not_now_is_remembered(open_context: Any) -> None:
    tab: Tab = open_context(with_push=True)
    tab.context.add_init_script(script=COUNT_ASKS)
    page = tab.new_page()
    sign_up(page, "later@example.com")
    prompt = page.locator("#push-prompt")
    for path in PAGES:
        page.goto(path)
        expect(prompt).to_be_visible()
        assert asked(page) == 0, path
    page.get_by_role("button", name="Not now").click()
    expect(prompt).to_be_hidden()
    for path in PAGES:
        page.goto(path)
        assert asked(page) == 0, path
        expect(prompt).to_be_hidden()
    assert page.evaluate("Notification.permission") == "default"
    tab.assert_no_page_errors()

    other: Tab = open_context(with_push=True)
    other.context.add_init_script(script=COUNT_ASKS)
    allowing = other.new_page()
    sign_up(allowing, "allow@example.com")
    assert asked(allowing) == 0
    other.context.grant_permissions(["notifications"], origin=other.origin)  # the reader's yes
    allowing.locator("#push-allow").click()
    expect(allowing.locator("#push-prompt")).to_be_hidden()
    assert asked(allowing) == 1
    other.assert_no_page_errors()
