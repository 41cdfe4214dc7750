"""The access matrix of the HTML pages, generated from the app's routes like the API's
(``test_access.py``): a page route without a rule here fails.

Anonymous visitors of a reader's page are sent to ``/login?next=…`` (303); a reader who is not
an admin gets a 403 page on the admin pages; reader B gets a 404 page on reader A's things.
Every page helper adds its routes to ``PAGE_RULES``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import World
from tests.web.test_access import ADMIN, PUBLIC, READER, RULES, Rule, app_routes, call

# Page routes (outside /api/v1) and who may see them.
PAGE_RULES: dict[tuple[str, str], Rule] = {
    # account pages (pages/account.py)
    ("GET", "/login"): Rule(PUBLIC),
    ("GET", "/signup"): Rule(PUBLIC),
    ("GET", "/reset-password"): Rule(PUBLIC),
    # the reader's pages (pages/reader.py)
    ("GET", "/"): Rule(READER),
    ("GET", "/alerts"): Rule(READER),
    ("GET", "/alerts/{alert_id}"): Rule(READER, owned=True),
    ("GET", "/topics"): Rule(READER),
    ("GET", "/settings/notifications"): Rule(READER),
    ("GET", "/settings/time"): Rule(READER),
    # the inbox (pages/inbox.py)
    ("GET", "/inbox"): Rule(READER),
    ("GET", "/notifications/{notification_id}/open"): Rule(READER, owned=True),
    # admin pages (pages/admin.py)
    ("GET", "/admin"): Rule(ADMIN),
    ("GET", "/admin/topics"): Rule(ADMIN),
    ("GET", "/admin/users"): Rule(ADMIN),
    ("GET", "/admin/broadcast"): Rule(ADMIN),
    ("GET", "/admin/stats"): Rule(ADMIN),
}

# Served to anyone on purpose: each says why.
PUBLIC_FILES: dict[tuple[str, str], str] = {
    # the installable app (pages/app_files.py)
    ("GET", "/sw.js"): "the service worker: the browser updates it by itself; it holds no data",
    ("GET", "/manifest.webmanifest"): "the web app manifest: browsers fetch it without cookies",
}


def test_every_page_has_an_access_rule(app: FastAPI) -> None:
    pages = {key for key in app_routes(app) if not key[1].startswith("/api/v1/")}
    from tests.web.test_access import OUTSIDE_THE_API

    missing = pages - set(PAGE_RULES) - set(PUBLIC_FILES) - set(OUTSIDE_THE_API) - set(RULES)
    assert not missing, f"pages without an access rule in tests/web/test_page_access.py: {missing}"
    assert not (set(PAGE_RULES) | set(PUBLIC_FILES)) - pages, "rules for pages that are gone"


def test_anonymous_is_sent_to_login(app: FastAPI, world: World) -> None:
    with TestClient(app, follow_redirects=False) as anonymous:
        for (method, path), rule in PAGE_RULES.items():
            if rule.who == PUBLIC or method != "GET":
                continue
            reply = call(anonymous, method, path, rule, world.ids)
            assert reply.status_code == 303, (method, path, reply.status_code)
            assert reply.headers["location"].startswith("/login?next=/"), (path, reply.headers)


def test_readers_get_403_on_admin_pages(world: World) -> None:
    client = world.bob.browser()
    for (method, path), rule in PAGE_RULES.items():
        if rule.who == ADMIN:
            reply = call(client, method, path, rule, world.ids)
            assert reply.status_code == 403, (method, path, reply.status_code)
            assert "text/html" in reply.headers["content-type"]


def test_reader_b_gets_404_on_reader_a_pages(world: World) -> None:
    client = world.bob.browser()
    for (method, path), rule in PAGE_RULES.items():
        if rule.owned:
            reply = call(client, method, path, rule, world.ids)
            assert reply.status_code == 404, (method, path, reply.status_code)


def test_every_page_opens_for_who_may_see_it(app: FastAPI, world: World) -> None:
    from tests.web.conftest import add_reader

    boss = add_reader(app, "boss@example.com", admin=True)
    for (method, path), rule in PAGE_RULES.items():
        if method != "GET" or rule.owned:
            continue
        client = boss.browser() if rule.who == ADMIN else world.alice.browser()
        reply = call(client, method, path, rule, world.ids)
        assert reply.status_code == 200, (method, path, reply.status_code, reply.text[:300])


__all__ = ["PAGE_RULES", "PUBLIC_FILES", "READER"]
