"""An admin manages sources, topics and users by keyboard alone in Chromium: pause, resume,
rename and delete a source (Escape keeps it), edit a topic, give and revoke admin rights."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Shots, Site, Tab
from tests.browser.keys import assert_focused, tab_to
from tidings.accounts import create_topic
from tidings.store.models import Source

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_admin_manages_by_keyboard(site: Site, open_context: Any, shots: Shots) -> None:
    site.add_reader("admin@example.com", admin=True)
    reader_id = site.add_reader("reader@example.com")
    with site.db.session() as session:
        topic = create_topic(session, "coast", "The Coast", "coast").id
    admin: Tab = open_context()
    admin.sign_in("admin@example.com")
    page = admin.open("/admin")
    row = f"tr[data-id='{site.source_id}']"
    # pause by keyboard
    tab_to(page, f"{row} button.pause")
    page.keyboard.press("Enter")
    expect(page.locator(f"{row} button.resume")).to_be_visible()
    expect(page.locator(f"{row} td.next-check")).to_have_text("paused")
    with site.db.session() as session:
        assert session.get(Source, site.source_id).status == "paused"
    # resume with Space
    tab_to(page, f"{row} button.resume")
    page.keyboard.press(" ")
    expect(page.locator(f"{row} button.pause")).to_be_visible()
    # rename: open the details, type, save
    tab_to(page, f"{row} details.rename summary")
    page.keyboard.press("Enter")
    tab_to(page, f"#source-title-{site.source_id}")
    page.keyboard.press("Control+A")
    page.keyboard.type("Coast News")
    page.keyboard.press("Enter")
    expect(page.locator(f"{row} .source-title")).to_have_text("Coast News")
    shots.take(page, "admin-sources-actions")
    # delete: Escape keeps it; then confirm
    tab_to(page, f"{row} button.delete")
    page.keyboard.press("Enter")
    dialog = page.locator(f"#delete-source-{site.source_id}")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete the source “Coast News”?")
    shots.take(page, "admin-delete-source-dialog")
    assert_focused(page, f"#delete-source-{site.source_id} button[value=cancel]")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert_focused(page, f"{row} button.delete")
    page.keyboard.press("Enter")
    tab_to(page, f"#delete-source-{site.source_id} button[value=confirm]", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("#sources-empty")).to_be_visible()

    # topics: a bad query shows the parser's message in the form
    page.goto("/admin/topics")
    trow = f"tr[data-id='{topic}']"
    tab_to(page, f"{trow} details.edit-topic summary")
    page.keyboard.press("Enter")
    tab_to(page, f"#topic-query-{topic}")
    page.keyboard.press("Control+A")
    page.keyboard.type("coast OR")
    tab_to(page, f"{trow} form button[type=submit]")
    page.keyboard.press("Enter")
    error = page.locator(f"{trow} form [data-error]")
    expect(error).to_have_text("OR needs a term on both sides at column 7")
    shots.take(page, "admin-topic-bad-query")
    tab_to(page, f"#topic-query-{topic}", backwards=True)
    page.keyboard.press("Control+A")
    page.keyboard.type("coast OR shore")
    tab_to(page, f"{trow} form button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator(f"{trow} td.query")).to_have_text("coast OR shore")
    tab_to(page, f"{trow} button.delete")
    page.keyboard.press("Enter")
    tab_to(page, f"#delete-topic-{topic} button[value=confirm]", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("#topics-empty")).to_be_visible()

    # users: make admin, then revoke (dialog), then delete (dialog)
    page.goto("/admin/users")
    urow = f"tr[data-id='{reader_id}']"
    tab_to(page, f"{urow} button.make-admin")
    page.keyboard.press("Enter")
    expect(page.locator(f"{urow} td.role")).to_have_text("admin")
    tab_to(page, f"{urow} button.revoke-admin")
    page.keyboard.press("Enter")
    tab_to(page, f"#revoke-admin-{reader_id} button[value=confirm]", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator(f"{urow} td.role")).to_have_text("reader")
    # the last admin's own revoke: refused, shown in the page's alert
    me = "tr:has(.you)"
    tab_to(page, f"{me} button.revoke-admin")
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#users-error")).to_contain_text("last admin")
    tab_to(page, f"{urow} button.delete")
    page.keyboard.press("Enter")
    tab_to(page, f"#delete-user-{reader_id} button[value=confirm]", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator(urow)).to_have_count(0)
    shots.take(page, "admin-users-after")
    admin.assert_no_page_errors()
