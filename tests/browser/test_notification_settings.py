"""Notification settings in Chromium, by keyboard: add a webhook channel (its secret shown
once), press its "Send a test notification" and see the real receiver get it, then turn it off
and remove it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Shots, Site, Tab
from tests.browser.keys import tab_to
from tests.hookreceiver import running_hook_receiver


def test_a_webhook_channel_added_tested_and_removed_by_keyboard(
    site: Site, open_context: Any, shots: Shots
) -> None:
    site.add_reader("hooks@example.com")
    tab: Tab = open_context()
    tab.sign_in("hooks@example.com")
    page = tab.new_page()
    with running_hook_receiver() as receiver:
        page.goto("/settings/notifications")
        tab_to(page, "#webhook-target")
        page.keyboard.type(receiver.url("/hook"))
        page.keyboard.press("Enter")
        expect(page.locator("#webhook-secret")).to_be_visible()
        expect(page.locator("#webhook-secret-value")).not_to_be_empty()
        page.goto("/settings/notifications")
        channel = page.locator("#channels li.channel")
        expect(channel).to_have_count(1)
        expect(channel.locator(".target")).to_contain_text(receiver.url("/hook"))
        tab_to(page, "#channels .channel-test")
        page.keyboard.press("Enter")
        expect(channel.locator(".test-result")).to_have_text(
            "Test notification sent: check that it arrived."
        )
        assert len(receiver.accepted("/hook")) == 1  # answered only once the receiver had it
        shots.take(page, "notification-settings-tested")
    [made] = [c for c in tab.api(page, "GET", "/api/v1/channels") if c["kind"] == "webhook"]
    assert made["enabled"]
    tab_to(page, "#channels button[data-api^='PATCH']")
    page.keyboard.press("Enter")
    expect(page.locator("#channels li.channel .hint").first).to_contain_text("turned off")
    tab_to(page, "#channels button.danger")
    page.keyboard.press("Enter")
    expect(page.locator("#channels li.channel")).to_have_count(0)
    assert tab.api(page, "GET", "/api/v1/channels") == []
    tab.assert_no_page_errors()
