"""Keeping push alive: a signed-in page registers this browser's subscription again once a day
(``static/push.js``), so the server's 60-day expiry of unseen subscriptions only removes
browsers that are really gone; a device the reader turned off stays off; a browser that
another reader signs in on moves to them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select, update

from tests.browser.conftest import Site, Tab, wait_until
from tidings.clock import naive_utc, utcnow
from tidings.delivery.outbox import expire_push_subscriptions
from tidings.store.models import Channel


def kept(page: Page) -> bool:
    """Whether this page load registered the subscription again."""
    page.wait_for_function("() => window.tidings && window.tidings.push")
    answer: bool = page.evaluate("window.tidings.push.kept")
    return answer


def age_local_record(page: Page, days: int) -> None:
    """Pretend the browser registered its subscription ``days`` ago."""
    page.evaluate(
        """(days) => {
            const record = JSON.parse(localStorage.getItem("tidings.push.registered"));
            record.at -= days * 24 * 3600 * 1000;
            localStorage.setItem("tidings.push.registered", JSON.stringify(record));
        }""",
        days,
    )


def device(site: Site) -> Channel:
    with site.db.session() as session:
        [channel] = session.scalars(select(Channel).where(Channel.kind == "webpush")).all()
        session.expunge(channel)
        return channel


@pytest.mark.slow
def test_pages_keep_the_subscription_registered_and_its_on_off_as_the_reader_left_it(
    site: Site, open_context: Any
) -> None:
    ann = site.add_reader("ann@example.com")
    tab: Tab = open_context(with_push=True)
    tab.sign_in("ann@example.com")
    page = tab.open("/")
    assert kept(page) is False  # no permission yet: nothing to keep
    tab.context.grant_permissions(["notifications"], origin=site.origin)
    page.locator("#push-allow").click()
    wait_until(lambda: _devices(site), "the subscription stored")
    # and the page's record of it, written once the server's answer is in: a page opened
    # before that registers it again.
    page.wait_for_function("() => localStorage.getItem('tidings.push.registered') !== null")
    first = device(site)
    assert (first.user_id, first.enabled) == (ann, True)

    # The next pages of the day do not register it again.
    page.goto("/inbox")
    assert kept(page) is False

    # Weeks later (for the server), a day later (for the browser): the next page registers it
    # again, so the server's expiry keeps it.
    month_ago = naive_utc(utcnow() - timedelta(days=59))
    with site.db.session() as session:
        session.execute(update(Channel).values(last_seen_at=month_ago))
    age_local_record(page, 1)
    page.goto("/")
    assert kept(page) is True
    seen_again = device(site)
    assert seen_again.id == first.id and seen_again.last_seen_at is not None
    assert seen_again.last_seen_at > month_ago + timedelta(days=58)
    with site.db.session() as session:
        assert expire_push_subscriptions(session, utcnow() + timedelta(days=2)) == 0

    # Turned off in the notification settings: registering again keeps it off.
    tab.api(page, "PATCH", f"/api/v1/channels/{first.id}", {"enabled": False})
    age_local_record(page, 1)
    page.goto("/settings/notifications")
    assert kept(page) is True
    assert device(site).enabled is False

    # Another reader signs in on this browser: their first page takes the device over.
    bea = site.add_reader("bea@example.com")
    tab.api(page, "POST", "/api/v1/auth/logout")
    tab.sign_in("bea@example.com")
    page.goto("/")
    assert kept(page) is True
    taken = device(site)
    assert (taken.id, taken.user_id, taken.enabled) == (first.id, bea, True)
    tab.assert_no_page_errors()


def _devices(site: Site) -> bool:
    with site.db.session() as session:
        return session.scalar(select(Channel.id).where(Channel.kind == "webpush")) is not None


RENEW = """async ([old, renewed]) => {
    const subscription = renewed && {endpoint: renewed.endpoint, toJSON: () => renewed};
    return await self.tidingsRegisterRenewed(old && {endpoint: old}, subscription);
}"""


@pytest.mark.slow
def test_the_service_worker_registers_a_renewed_subscription_and_forgets_the_old(
    site: Site, open_context: Any
) -> None:
    """``pushsubscriptionchange`` (the push service renewed the subscription): what the service
    worker's handler does, called in the worker (a test cannot make Chromium fire the event)."""
    ann = site.add_reader("ann@example.com")
    tab: Tab = open_context(with_push=True)
    tab.sign_in("ann@example.com")
    page = tab.open("/")
    tab.context.grant_permissions(["notifications"], origin=site.origin)
    page.locator("#push-allow").click()
    wait_until(lambda: _devices(site), "the subscription stored")
    old = device(site)
    worker = tab.context.service_workers[0] if tab.context.service_workers else None
    worker = worker or tab.context.wait_for_event("serviceworker")
    renewed = site.push_subscription().to_json()

    assert worker.evaluate(RENEW, [old.endpoint, renewed]) is True
    now = device(site)
    assert (now.endpoint, now.user_id, now.enabled) == (renewed["endpoint"], ann, True)

    # Signed out, the worker sends nothing (the next sign-in's first page registers it).
    tab.api(page, "POST", "/api/v1/auth/logout")
    again = site.push_subscription().to_json()
    assert worker.evaluate(RENEW, [renewed["endpoint"], again]) is False
    assert device(site).endpoint == renewed["endpoint"]
    tab.assert_no_page_errors()
