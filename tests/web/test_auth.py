"""Accounts over HTTP: sign up, log in and out, CSRF, login rate limits, password reset, tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.smtpserver import running_smtp_server, smtp_url
from tests.web.conftest import PASSWORD, Reader
from tidings.clock import FrozenClock
from tidings.web.app import create_app
from tidings.web.security import Limits, RateLimit


def signup(client: TestClient, email: str, password: str = PASSWORD) -> dict:
    reply = client.post("/api/v1/auth/signup", json={"email": email, "password": password})
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_first_account_is_admin_then_readers_and_session_cookie_is_safe(
    anonymous: TestClient,
) -> None:
    first = signup(anonymous, "Owner@Example.com")
    assert first["user"]["email"] == "owner@example.com" and first["user"]["is_admin"] is True
    cookie = anonymous.cookies.get("tidings_session")
    assert cookie and first["csrf_token"]
    set_cookie = next(
        h
        for h in anonymous.post(
            "/api/v1/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        ).headers.get_list("set-cookie")
        if h.startswith("tidings_session=")
    )
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    assert "Secure" not in set_cookie  # the test server's base URL is http
    with TestClient(anonymous.app) as other:
        second = signup(other, "reader@example.com")
    assert second["user"]["is_admin"] is False


def test_cookies_are_secure_behind_https(web_settings, db, clock) -> None:
    app = create_app(
        web_settings.__class__.from_env(
            {},
            data_dir=web_settings.data_dir,
            database_url=web_settings.database_url,
            base_url="https://news.example.com",
        ),
        db,
        clock=clock,
    )
    with TestClient(app, base_url="https://news.example.com") as client:
        reply = client.post(
            "/api/v1/auth/signup", json={"email": "a@example.com", "password": PASSWORD}
        )
    assert reply.status_code == 201
    assert all("Secure" in h for h in reply.headers.get_list("set-cookie"))


def test_signup_refusals(anonymous: TestClient, admin: Reader) -> None:
    taken = anonymous.post("/api/v1/auth/signup", json={"email": admin.email, "password": PASSWORD})
    assert taken.status_code == 409 and taken.json()["error"] == "conflict"
    short = anonymous.post(
        "/api/v1/auth/signup", json={"email": "x@example.com", "password": "short"}
    )
    assert short.status_code == 422 and "8 characters" in short.json()["detail"]
    bad = anonymous.post(
        "/api/v1/auth/signup", json={"email": "not-an-email", "password": PASSWORD}
    )
    assert bad.status_code == 422
    closed = admin.client().put("/api/v1/admin/settings", json={"signup_enabled": False})
    assert closed.json() == {"signup_enabled": False}
    refused = anonymous.post(
        "/api/v1/auth/signup", json={"email": "y@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 403 and "closed" in refused.json()["detail"]
    admin.client().put("/api/v1/admin/settings", json={"signup_enabled": True})
    assert signup(anonymous, "y@example.com")["user"]["email"] == "y@example.com"


def test_login_logout_and_session_route(alice: Reader, anonymous: TestClient) -> None:
    alice.set_password()
    wrong = anonymous.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "nope-nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    assert anonymous.get("/api/v1/auth/session").status_code == 401
    browser = alice.browser()
    me = browser.get("/api/v1/auth/session").json()
    assert me["user"]["id"] == alice.id and me["csrf_token"] == browser.headers["X-CSRF-Token"]
    cookie = browser.cookies.get("tidings_session")
    assert browser.post("/api/v1/auth/logout").status_code == 204
    # the session is gone on the server, not only in this browser
    with TestClient(anonymous.app, cookies={"tidings_session": cookie}) as stolen:
        assert stolen.get("/api/v1/alerts").status_code == 401


def test_csrf_token_required_for_cookie_requests_not_for_bearer(alice: Reader) -> None:
    browser = alice.browser()
    token = browser.headers.pop("X-CSRF-Token")
    body = {"query": "assad kim"}
    missing = browser.post("/api/v1/alerts", json=body)
    assert missing.status_code == 403 and missing.json()["error"] == "csrf"
    forged = browser.post("/api/v1/alerts", json=body, headers={"X-CSRF-Token": "x" + token[1:]})
    assert forged.status_code == 403
    assert browser.get("/api/v1/alerts").json() == []  # safe methods need no token
    assert (
        browser.post("/api/v1/alerts", json=body, headers={"X-CSRF-Token": token}).status_code
        == 201
    )
    foreign = browser.post(
        "/api/v1/alerts",
        json=body,
        headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert alice.client().post("/api/v1/alerts", json={"query": "putin"}).status_code == 201
    assert len(alice.client().get("/api/v1/alerts").json()) == 2


def test_login_rate_limited_per_account_then_allowed_after_the_window(
    alice: Reader, anonymous: TestClient, clock: FrozenClock
) -> None:
    alice.set_password()
    wrong = {"email": alice.email, "password": "wrong password"}
    for _ in range(Limits().login_per_account.limit):
        assert anonymous.post("/api/v1/auth/login", json=wrong).status_code == 401
    limited = anonymous.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD}
    )
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    clock.advance(seconds=int(limited.headers["Retry-After"]))
    assert (
        anonymous.post(
            "/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_login_rate_limited_per_address_across_accounts(
    app: FastAPI, anonymous: TestClient, alice: Reader
) -> None:
    alice.set_password()
    per_address = RateLimit("login-address", 3, timedelta(minutes=15))
    app.state.web.limits = Limits(login_per_address=per_address)
    for n in range(per_address.limit):
        reply = anonymous.post(
            "/api/v1/auth/login", json={"email": f"u{n}@example.com", "password": "x"}
        )
        assert reply.status_code == 401
    # a second web app on the same database agrees: the count is in the database
    other = create_app(app.state.web.settings, app.state.web.db, clock=app.state.web.clock)
    other.state.web.limits = app.state.web.limits
    with TestClient(other) as client:
        reply = client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert reply.status_code == 429


def test_password_reset_by_email_works_once(
    app: FastAPI, alice: Reader, web_settings, db, clock
) -> None:
    with running_smtp_server() as mailbox:
        settings = web_settings.__class__.from_env(
            {},
            data_dir=web_settings.data_dir,
            database_url=web_settings.database_url,
            base_url="http://testserver",
            smtp_url=smtp_url(mailbox),
            smtp_from="news@example.com",
        )
        mailing = create_app(settings, db, clock=clock)
        alice.set_password()
        with TestClient(mailing) as client:
            old_session = alice.browser().cookies.get("tidings_session")
            unknown = client.post("/api/v1/auth/password-reset", json={"email": "who@example.com"})
            reply = client.post("/api/v1/auth/password-reset", json={"email": "ALICE@example.com"})
            assert unknown.status_code == reply.status_code == 202
            assert unknown.json() == reply.json()  # says nothing about who has an account
            assert [to for _, to in mailbox.envelopes] == [[alice.email]]
            text = mailbox.messages[0].get_content()
            link = re.search(r"http://testserver/reset-password\?token=(\S+)", text)
            assert link, text
            new = {"token": link[1], "password": "a brand new password"}
            assert client.post("/api/v1/auth/password-reset/confirm", json=new).status_code == 204
            again = client.post("/api/v1/auth/password-reset/confirm", json=new)
            assert again.status_code == 400 and "not valid" in again.json()["detail"]
            old = client.post(
                "/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD}
            )
            assert old.status_code == 401
            login = client.post(
                "/api/v1/auth/login", json={"email": alice.email, "password": new["password"]}
            )
            assert login.status_code == 200
        with TestClient(mailing, cookies={"tidings_session": old_session}) as before_reset:
            assert before_reset.get("/api/v1/alerts").status_code == 401


def test_password_reset_link_expires(app: FastAPI, alice: Reader, clock: FrozenClock) -> None:
    from tidings.web.security import create_password_reset

    web = app.state.web
    with web.db.session() as session:
        from tidings.store.models import User

        token = create_password_reset(session, session.get(User, alice.id), clock())
    clock.advance(hours=1, seconds=1)
    with TestClient(app) as client:
        reply = client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": token, "password": "another password"},
        )
    assert reply.status_code == 400


def test_password_reset_without_smtp_says_so(anonymous: TestClient) -> None:
    reply = anonymous.post("/api/v1/auth/password-reset", json={"email": "a@example.com"})
    assert reply.status_code == 503 and "TIDINGS_SMTP_URL" in reply.json()["detail"]


def test_api_tokens_created_listed_and_revoked(alice: Reader, bob: Reader) -> None:
    client = alice.client()
    made = client.post("/api/v1/tokens", json={"name": "script"})
    assert made.status_code == 201 and made.json()["token"].startswith("tid_")
    token = made.json()["token"]
    listed = client.get("/api/v1/tokens").json()
    assert {t["name"] for t in listed} == {"tests", "script"} and "token" not in listed[0]
    with TestClient(alice.app, headers={"Authorization": f"Bearer {token}"}) as scripted:
        assert scripted.get("/api/v1/alerts").status_code == 200
        assert bob.client().delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 404
        assert client.delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 204
        assert scripted.get("/api/v1/alerts").status_code == 401


def test_password_change_needs_the_current_one(alice: Reader) -> None:
    alice.set_password()
    client = alice.client()
    wrong = client.post(
        "/api/v1/auth/password", json={"current_password": "nope", "new_password": "x" * 10}
    )
    assert wrong.status_code == 403
    ok = client.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "x" * 10}
    )
    assert ok.status_code == 204
    with TestClient(alice.app) as fresh:
        assert (
            fresh.post(
                "/api/v1/auth/login", json={"email": alice.email, "password": "x" * 10}
            ).status_code
            == 200
        )


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic abc"])
def test_bad_authorization_is_401(anonymous: TestClient, header: str) -> None:
    reply = anonymous.get("/api/v1/alerts", headers={"Authorization": header})
    assert reply.status_code == 401 and reply.json()["error"]


def test_token_last_use_recorded_when_stale_not_on_every_request(
    app: FastAPI, alice: Reader, clock: FrozenClock
) -> None:
    from tidings.clock import naive_utc
    from tidings.store.models import ApiToken
    from tidings.web.security import USE_NOTED_EVERY

    def last_used() -> object:
        with app.state.web.db.session() as session:
            row = session.get(ApiToken, alice_token_id)
            assert row is not None
            return row.last_used_at

    client = alice.client()
    listed = client.get("/api/v1/tokens").json()
    alice_token_id = next(t["id"] for t in listed if t["name"] == "tests")
    first = naive_utc(clock())
    assert last_used() == first  # never used before: recorded on the first request
    clock.advance(seconds=int(USE_NOTED_EVERY.total_seconds()) - 1)
    assert client.get("/api/v1/alerts").status_code == 200
    assert last_used() == first  # still fresh: no write
    clock.advance(seconds=2)
    assert client.get("/api/v1/alerts").status_code == 200
    assert last_used() == naive_utc(clock())  # stale: noted again


def test_token_of_a_deleted_user_is_refused(app: FastAPI, alice: Reader) -> None:
    from tidings.store.models import User

    client = alice.client()
    assert client.get("/api/v1/alerts").status_code == 200
    with app.state.web.db.session() as session:
        session.delete(session.get(User, alice.id))
    reply = client.get("/api/v1/alerts")
    assert reply.status_code == 401 and reply.json()["error"] == "unauthorized"
