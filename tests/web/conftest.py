"""The web app on a real SQLite file and a real PostgreSQL database, driven through httpx.

``TestClient`` is Starlette's httpx client wired to the ASGI app (no network).  Readers sign in
with a bearer token (``Reader.client``) or through the login route with the session cookie
(``Reader.browser``, which sends the CSRF token as a browser page would).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.news import Newsdesk
from tidings.accounts import create_topic, create_user, set_password
from tidings.cli.sources import add_source
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.models import User
from tidings.web.app import create_app
from tidings.web.security import create_api_token

PASSWORD = "correct horse battery"
# A browser's push subscription keys (a real P-256 public key and auth secret).
P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
AUTH = "tBHItJI5svbpez7KI4CCXg"


@dataclass
class Reader:
    id: int
    email: str
    token: str
    app: FastAPI

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def set_password(self, password: str = PASSWORD) -> None:
        """Give the reader a password (argon2 is slow on purpose: only readers who log in)."""
        with self.app.state.web.db.session() as session:
            set_password(session.get(User, self.id), password)

    def client(self) -> TestClient:
        """A client signed in with the reader's API token."""
        return TestClient(self.app, headers=self.headers)

    def browser(self) -> TestClient:
        """A client signed in with the session cookie, sending the CSRF token."""
        self.set_password()
        client = TestClient(self.app)
        reply = client.post("/api/v1/auth/login", json={"email": self.email, "password": PASSWORD})
        assert reply.status_code == 200, reply.text
        client.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
        return client


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings.from_env(
        {},
        data_dir=tmp_path / "data",
        database_url=database_url,
        allow_private_networks=True,
        base_url="http://testserver",
        fetch_timeout=2.0,
    )


@pytest.fixture
def app(web_settings: Settings, db: Database, clock: FrozenClock) -> FastAPI:
    return create_app(web_settings, db, clock=clock)


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def add_reader(app: FastAPI, email: str, *, admin: bool = False) -> Reader:
    web = app.state.web
    with web.db.session() as session:
        user = create_user(session, email, admin=admin, clock=web.clock)
        _, token = create_api_token(session, user, "tests", web.clock())
        return Reader(user.id, user.email, token, app)


@pytest.fixture
def alice(app: FastAPI) -> Reader:
    return add_reader(app, "alice@example.com")


@pytest.fixture
def bob(app: FastAPI) -> Reader:
    return add_reader(app, "bob@example.com")


@pytest.fixture
def admin(app: FastAPI) -> Reader:
    return add_reader(app, "admin@example.com", admin=True)


# A subscription as a browser sends it (keys of a real P-256 key pair).
SUBSCRIPTION = {
    "endpoint": "https://push.example.com/send/alice",
    "keys": {"p256dh": P256DH, "auth": AUTH},
}


@dataclass
class World:
    """Reader A's things, and the ids that fill route paths."""

    alice: Reader
    bob: Reader
    ids: dict[str, int]


@pytest.fixture
def world(app: FastAPI) -> World:
    alice, bob = add_reader(app, "alice@example.com"), add_reader(app, "bob@example.com")
    client = alice.client()
    alert = client.post("/api/v1/alerts", json={"query": "assad", "mode": "quick"}).json()
    Newsdesk(app).arrive()
    notification = client.get("/api/v1/notifications").json()["items"][0]
    channel = client.post("/api/v1/channels", json={"kind": "email", "target": alice.email}).json()
    client.post("/api/v1/push-subscriptions", json=SUBSCRIPTION)
    client.put("/api/v1/settings", json={"timezone": "Asia/Seoul", "quiet_hours": "23:00-06:00"})
    token = client.get("/api/v1/tokens").json()[0]
    with app.state.web.db.session() as session:
        topic = create_topic(session, "korea", "Korea", "korea").id
        source = add_source(session, "https://example.com/world.xml")[0].id
    ids = {
        "alert_id": alert["id"],
        "notification_id": notification["id"],
        "channel_id": channel["id"],
        "token_id": token["id"],
        "topic_id": topic,
        "source_id": source,  # admin routes
        "user_id": bob.id,
    }
    return World(alice, bob, ids)


