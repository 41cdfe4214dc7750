"""Time settings in Chromium: the time zone is detected from the browser (its own, set per
context here) and kept by pressing Done, all by keyboard; a reader who chose one keeps it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import Shots, Site, Tab
from tests.browser.keys import tab_to
from tidings.store.models import User


def timezone_of(site: Site, reader: int) -> str:
    with site.db.session() as session:
        return session.scalar(select(User.timezone).where(User.id == reader)) or ""


def time_settings_in(open_context: Any, zone: str) -> tuple[Tab, Page]:
    """The reader's time settings page in a browser whose own time zone is ``zone``."""
    tab: Tab = open_context(timezone_id=zone)
    tab.sign_in("tokyo@example.com")
    page = tab.open("/settings/time")
    return tab, page


def test_the_time_zone_is_detected_from_the_browser_and_kept_by_keyboard(
    site: Site, open_context: Any, shots: Shots
) -> None:
    reader = site.add_reader("tokyo@example.com")
    tab, page = time_settings_in(open_context, "Asia/Tokyo")
    expect(page.locator("#timezone")).to_have_value("Asia/Tokyo")
    expect(page.locator("#timezone-detected")).to_be_visible()
    assert timezone_of(site, reader) == "UTC"  # detected, not saved until Done
    shots.take(page, "time-zone-detected")
    tab_to(page, "#time-form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("#time-saved")).not_to_be_empty()
    assert timezone_of(site, reader) == "Asia/Tokyo"
    # once saved, the page shows the reader's choice, whatever the browser says
    other, again = time_settings_in(open_context, "America/New_York")
    expect(again.locator("#timezone")).to_have_value("Asia/Tokyo")
    expect(again.locator("#timezone-detected")).to_be_hidden()
    tab.assert_no_page_errors()
    other.assert_no_page_errors()
