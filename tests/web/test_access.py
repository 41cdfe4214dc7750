"""The access matrix, generated from the app's routes: a route without a rule here fails.

For every API route: anonymous callers are refused (401) unless the route is for signing in;
a reader who is not an admin is refused the admin routes (403); reader B gets 404 on reader
A's alerts, notifications, channels, push subscriptions and tokens; and what B lists
(alerts, inbox, channels, settings, tokens) is B's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.web.conftest import SUBSCRIPTION, World, add_reader

PUBLIC, READER, ADMIN = "public", "reader", "admin"


@dataclass(frozen=True)
class Rule:
    who: str  # public | reader | admin
    owned: bool = False  # names another reader's thing: B gets 404 on A's
    body: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)


ENDPOINT = SUBSCRIPTION["endpoint"]
CREDENTIALS = {"email": "someone@example.com", "password": "long enough password"}

RULES: dict[tuple[str, str], Rule] = {
    ("POST", "/api/v1/auth/signup"): Rule(PUBLIC),
    ("POST", "/api/v1/auth/login"): Rule(PUBLIC),
    ("POST", "/api/v1/auth/password-reset"): Rule(PUBLIC),
    ("POST", "/api/v1/auth/password-reset/confirm"): Rule(PUBLIC),
    ("POST", "/api/v1/auth/logout"): Rule(READER),
    ("GET", "/api/v1/auth/session"): Rule(READER),
    ("POST", "/api/v1/auth/password"): Rule(
        READER, body={"current_password": "x", "new_password": "y" * 10}
    ),
    ("GET", "/api/v1/tokens"): Rule(READER),
    ("POST", "/api/v1/tokens"): Rule(READER, body={"name": "n"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): Rule(READER, owned=True),
    ("GET", "/api/v1/alerts"): Rule(READER),
    ("POST", "/api/v1/alerts"): Rule(READER, body={"query": "kim"}),
    ("PATCH", "/api/v1/alerts/{alert_id}"): Rule(READER, owned=True, body={"mode": "daily"}),
    ("DELETE", "/api/v1/alerts/{alert_id}"): Rule(READER, owned=True),
    ("POST", "/api/v1/alerts/preview"): Rule(READER, body={"query": "kim"}),
    ("GET", "/api/v1/notifications"): Rule(READER),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Rule(READER, owned=True),
    ("POST", "/api/v1/notifications/{notification_id}/click"): Rule(READER, owned=True),
    ("POST", "/api/v1/notifications/read-all"): Rule(READER),
    ("DELETE", "/api/v1/notifications"): Rule(READER),
    ("GET", "/api/v1/events"): Rule(READER),
    ("GET", "/api/v1/settings"): Rule(READER),
    ("PUT", "/api/v1/settings"): Rule(READER, body={"timezone": "Europe/Paris"}),
    ("GET", "/api/v1/channels"): Rule(READER),
    ("POST", "/api/v1/channels"): Rule(READER, body={"kind": "email", "target": "x@example.com"}),
    ("PATCH", "/api/v1/channels/{channel_id}"): Rule(READER, owned=True, body={"enabled": False}),
    ("DELETE", "/api/v1/channels/{channel_id}"): Rule(READER, owned=True),
    ("POST", "/api/v1/channels/{channel_id}/test"): Rule(READER, owned=True),
    ("GET", "/api/v1/vapid-public-key"): Rule(READER),
    ("POST", "/api/v1/push-subscriptions"): Rule(READER, body=SUBSCRIPTION),
    ("DELETE", "/api/v1/push-subscriptions"): Rule(
        READER, owned=True, params={"endpoint": ENDPOINT}
    ),
    ("GET", "/api/v1/topics"): Rule(READER),
    ("POST", "/api/v1/topics/{topic_id}/follow"): Rule(READER),
    ("DELETE", "/api/v1/topics/{topic_id}/follow"): Rule(READER),
    ("GET", "/api/v1/admin/sources"): Rule(ADMIN),
    ("POST", "/api/v1/admin/sources"): Rule(
        ADMIN, body={"url": "https://example.com/feed", "discover": False}
    ),
    ("GET", "/api/v1/sources.opml"): Rule(ADMIN),
    ("GET", "/api/v1/admin/topics"): Rule(ADMIN),
    ("POST", "/api/v1/admin/topics"): Rule(ADMIN, body={"slug": "s", "name": "S", "query": "s"}),
    ("GET", "/api/v1/admin/users"): Rule(ADMIN),
    ("POST", "/api/v1/admin/broadcast"): Rule(ADMIN, body={"topic_id": 1, "title": "t"}),
    ("GET", "/api/v1/admin/settings"): Rule(ADMIN),
    ("PUT", "/api/v1/admin/settings"): Rule(ADMIN, body={"signup_enabled": True}),
    ("GET", "/api/v1/admin/stats"): Rule(ADMIN, params={"days": 7}),
    # managing sources, topics and users (in this order: an admin's pass deletes them last)
    ("PATCH", "/api/v1/admin/sources/{source_id}"): Rule(ADMIN, body={"title": "World"}),
    ("POST", "/api/v1/admin/sources/{source_id}/check"): Rule(ADMIN),
    ("DELETE", "/api/v1/admin/sources/{source_id}"): Rule(ADMIN),
    ("PATCH", "/api/v1/admin/topics/{topic_id}"): Rule(ADMIN, body={"name": "Korea"}),
    ("DELETE", "/api/v1/admin/topics/{topic_id}"): Rule(ADMIN),
    ("PATCH", "/api/v1/admin/users/{user_id}"): Rule(ADMIN, body={"is_admin": True}),
    ("DELETE", "/api/v1/admin/users/{user_id}"): Rule(ADMIN),
}

# Routes outside the API, public on purpose: each says why.
OUTSIDE_THE_API = {
    ("GET", "/api/v1/openapi.json"): "the API's description",
    ("GET", "/api/v1/docs"): "the API's browsable documentation",
    ("GET", "/api/v1/docs/oauth2-redirect"): "FastAPI's docs helper",
    ("GET", "/healthz"): "health checks",
    ("GET", "/feeds/alerts/{secret}.xml"): "the secret in the URL is the key",
    ("GET", "/unsubscribe/{token}"): "the signed token in the e-mail is the key",
    ("POST", "/unsubscribe/{token}"): "RFC 8058 one-click unsubscribe",
    ("GET", "/websub/{source_id}"): "hubs verify subscriptions we asked for",
    ("POST", "/websub/{source_id}"): "hubs push feeds signed with our secret",
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, included routers' routes with their prefixes."""
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, str(route.path)))
    return found


def test_every_route_has_an_access_rule(app: FastAPI) -> None:
    routes = {key for key in app_routes(app) if key[1].startswith("/api/v1/")}
    routes |= {key for key in app_routes(app) if key in OUTSIDE_THE_API}
    missing = routes - set(RULES) - set(OUTSIDE_THE_API)
    assert not missing, f"routes without an access rule in tests/web/test_access.py: {missing}"
    # pages (everything else) have theirs in tests/web/test_page_access.py
    assert not (set(RULES) | set(OUTSIDE_THE_API)) - routes, "rules for routes that are gone"
    assert len([key for key in routes if key[1].startswith("/api/v1/")]) >= len(RULES)


def call(client: TestClient, method: str, path: str, rule: Rule, ids: dict[str, int]) -> Any:
    return client.request(method, path.format(**ids), json=rule.body, params=rule.params or None)


def test_anonymous_is_refused_every_route_but_signing_in(app: FastAPI, world: World) -> None:
    with TestClient(app) as anonymous:
        for (method, path), rule in RULES.items():
            if rule.who == PUBLIC:
                continue
            reply = call(anonymous, method, path, rule, world.ids)
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.json()["error"] == "unauthorized"


def test_readers_are_refused_admin_routes(world: World) -> None:
    client = world.bob.client()
    for (method, path), rule in RULES.items():
        if rule.who == ADMIN:
            reply = call(client, method, path, rule, world.ids)
            assert reply.status_code == 403, (method, path, reply.text)


def test_reader_b_gets_404_on_reader_a_things(app: FastAPI, world: World) -> None:
    client = world.bob.browser()  # by session cookie (with CSRF token), as a page would
    owned = [(key, rule) for key, rule in RULES.items() if rule.owned]
    assert len(owned) >= 8
    for (method, path), rule in owned:
        reply = call(client, method, path, rule, world.ids)
        assert reply.status_code == 404, (method, path, reply.text)
    # and A's things are all still there
    mine = world.alice.client()
    assert len(mine.get("/api/v1/alerts").json()) == 1
    assert mine.get("/api/v1/notifications").json()["items"][0]["read_at"] is None
    assert len(mine.get("/api/v1/channels").json()) == 2
    assert len(mine.get("/api/v1/tokens").json()) == 1


def test_what_reader_b_lists_is_their_own(world: World) -> None:
    client = world.bob.client()
    assert client.get("/api/v1/alerts").json() == []
    assert client.get("/api/v1/notifications").json()["items"] == []
    assert client.get("/api/v1/channels").json() == []
    settings = client.get("/api/v1/settings").json()
    assert settings["email"] == world.bob.email and settings["timezone"] == "UTC"
    assert settings["quiet_hours"] is None
    assert [t["id"] for t in client.get("/api/v1/tokens").json()] != [world.ids["token_id"]]
    assert client.post("/api/v1/notifications/read-all").json() == {"count": 0}
    assert client.delete("/api/v1/notifications").json() == {"count": 0}
    inbox = world.alice.client().get("/api/v1/notifications").json()
    assert inbox["unread_count"] == 1


def test_admins_pass_every_admin_route(app: FastAPI, world: World) -> None:
    boss = add_reader(app, "boss@example.com", admin=True).client()
    for (method, path), rule in RULES.items():
        if rule.who == ADMIN:
            reply = call(boss, method, path, rule, world.ids)
            assert reply.status_code < 300, (method, path, reply.text)


def test_every_unsafe_route_refuses_a_cookie_request_without_its_csrf_token(world: World) -> None:
    """Signed in by the session cookie (as a page is), every route that changes something asks
    for the session's CSRF token (pages send it as X-CSRF-Token); a forged one is refused too,
    and nothing is changed."""
    client = world.alice.browser()
    unsafe = [(key, rule) for key, rule in RULES.items() if rule.who != PUBLIC and key[0] != "GET"]
    assert len(unsafe) >= 20
    for token in (None, "forged"):
        if token is None:
            del client.headers["X-CSRF-Token"]
        else:
            client.headers["X-CSRF-Token"] = token
        for (method, path), rule in unsafe:
            reply = call(client, method, path, rule, world.ids)
            assert reply.status_code == 403, (method, path, reply.text)
            assert reply.json()["error"] == "csrf", (method, path, reply.text)
    mine = world.alice.client()
    assert len(mine.get("/api/v1/alerts").json()) == 1
    assert mine.get("/api/v1/notifications").json()["items"][0]["read_at"] is None
    assert len(mine.get("/api/v1/channels").json()) == 2
    assert client.get("/api/v1/auth/session").status_code == 200  # not logged out
