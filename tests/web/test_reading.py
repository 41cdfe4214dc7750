"""Requests that only read use read-only sessions: they take no write lock, they cannot write,
and signing in writes a session's or token's last use only when it is stale.  The inbox API
makes its JSON by hand; it says what the inbox page's ``NotificationPage`` says."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError

from tests.web.conftest import Reader
from tests.web.news import Newsdesk
from tidings.accounts import create_user
from tidings.clock import FrozenClock, naive_utc
from tidings.store.db import Database
from tidings.store.models import ApiToken, Notification, User, WebSession
from tidings.web.auth import Caller
from tidings.web.routes.inbox import list_notifications
from tidings.web.security import USE_NOTED_EVERY


def _users(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def test_a_reading_session_cannot_write(db: Database) -> None:
    with pytest.raises(DBAPIError), db.reading() as session:
        create_user(session, "ro@example.com")
        session.flush()
    with db.reading() as session, pytest.raises(DBAPIError):
        session.execute(User.__table__.delete())
    assert _users(db) == 0
    with db.session() as session:  # the writing session of the same database still writes
        create_user(session, "rw@example.com")
    assert _users(db) == 1


def test_a_reading_session_waits_for_no_writer(db: Database) -> None:
    written, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.session() as session:
            create_user(session, "pending@example.com")
            session.flush()
            written.set()
            release.wait(30)

    counted: list[int] = []
    writing = threading.Thread(target=writer)
    writing.start()
    try:
        assert written.wait(30)
        # In a thread of its own: a reader that queued behind the writer would not finish.
        reading = threading.Thread(target=lambda: counted.append(_users(db)))
        reading.start()
        reading.join(30)
        assert not reading.is_alive() and counted == [0]  # the write is not committed yet
    finally:
        release.set()
        writing.join()
    assert _users(db) == 1


@contextmanager
def _writes(db: Database) -> Iterator[list[str]]:
    """The statements sent on the writing engine meanwhile (but SQLite's BEGIN IMMEDIATE)."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith("BEGIN"):
            sent.append(statement.split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_reading_the_inbox_by_token_writes_only_a_stale_last_use(
    app: FastAPI, alice: Reader, clock: FrozenClock
) -> None:
    db: Database = app.state.web.db
    client = alice.client()
    with _writes(db) as sent:
        assert client.get("/api/v1/notifications").status_code == 200
    assert sent == ["UPDATE"]  # never used: its first use is noted
    with _writes(db) as sent:
        clock.advance(seconds=int(USE_NOTED_EVERY.total_seconds()))
        assert client.get("/api/v1/notifications").status_code == 200
        assert client.get("/api/v1/notifications?unread=true").status_code == 200
    assert sent == []
    clock.advance(seconds=1)
    with _writes(db) as sent:
        assert client.get("/api/v1/notifications").status_code == 200
    assert sent == ["UPDATE"]
    with db.reading() as session:
        used = session.scalars(select(ApiToken.last_used_at).where(ApiToken.user_id == alice.id))
        assert list(used) == [naive_utc(clock())]


def test_a_signed_in_browser_writes_only_a_stale_last_seen(
    app: FastAPI, alice: Reader, clock: FrozenClock
) -> None:
    db: Database = app.state.web.db
    browser = alice.browser()

    def last_seen() -> object:
        with db.reading() as session:
            return session.scalar(select(WebSession.last_seen_at))

    signed_in = last_seen()
    clock.advance(seconds=int(USE_NOTED_EVERY.total_seconds()))
    with _writes(db) as sent:
        assert browser.get("/inbox").status_code == 200
        assert browser.get("/api/v1/notifications").status_code == 200
    assert sent == [] and last_seen() == signed_in
    clock.advance(seconds=1)
    assert browser.get("/inbox").status_code == 200
    assert last_seen() == naive_utc(clock())
    clock.advance(seconds=int(USE_NOTED_EVERY.total_seconds()) + 1)
    assert browser.get("/api/v1/notifications").status_code == 200
    assert last_seen() == naive_utc(clock())


def test_the_inbox_api_says_what_the_inbox_page_reads(
    app: FastAPI, alice: Reader, clock: FrozenClock
) -> None:
    db: Database = app.state.web.db
    client = alice.client()
    client.post("/api/v1/alerts", json={"query": "assad"})
    client.post("/api/v1/alerts", json={"query": "damascus"})
    desk = Newsdesk(app)
    for n in range(4):
        clock.advance(seconds=61, microseconds=1234 * n)
        desk.arrive(
            title=f"Assad in Damascus «{n}» — “quoted” \\ <b>&amp;",
            text=f"Assad met officials in Damascus, round {n}.\n\ttab\u2028 ünïcödé 🚀",
        )
    with db.session() as session:  # the optional fields empty, the JSON ones null
        session.add(
            Notification(
                user_id=alice.id,
                title="bare",
                alert_ids=None,
                terms=None,
                created_at=naive_utc(clock() + timedelta(seconds=1)),
            )
        )
    newest = client.get("/api/v1/notifications").json()["items"]
    client.post(f"/api/v1/notifications/{newest[1]['id']}/click")
    client.post(f"/api/v1/notifications/{newest[2]['id']}/read")
    me = Caller(alice.id, False, "token")
    pages = [(False, None, 50), (True, None, 50), (False, None, 2), (True, None, 1)]
    pages.append((False, newest[1]["id"], 2))
    for unread, before, limit in pages:
        params = {"unread": unread, "limit": limit} | ({"before": before} if before else {})
        served = client.get("/api/v1/notifications", params=params).json()
        read = list_notifications(me, app.state.web, unread, before, limit)
        assert served == read.model_dump(mode="json"), (unread, before, limit)
    items = client.get("/api/v1/notifications").json()["items"]
    assert len(items) == 5 and items[0]["alert_ids"] == [] and items[0]["terms"] == []
    assert items[0]["url"] is None and items[0]["published"] is None
    assert len(items[1]["alert_ids"]) == 2 and items[1]["title"].startswith("Assad in Damascus")
    assert items[1]["clicked_at"] and items[2]["read_at"] and not items[3]["read_at"]


def test_the_app_runs_sync_handlers_on_at_most_web_threads(app: FastAPI) -> None:
    from anyio.to_thread import current_default_thread_limiter
    from fastapi.testclient import TestClient

    from tidings.web.app import WEB_THREADS

    with TestClient(app) as client:  # runs the app's lifespan, as uvicorn does
        assert client.get("/healthz").status_code == 200
        limit = client.portal.call(lambda: current_default_thread_limiter().total_tokens)  # type: ignore[union-attr]
    assert limit == WEB_THREADS < 40


def test_last_uses_due_within_a_second_are_written_together(
    app: FastAPI, alice: Reader, bob: Reader, clock: FrozenClock
) -> None:
    db: Database = app.state.web.db

    def last_used() -> dict[int, object]:
        with db.reading() as session:
            return dict(session.execute(select(ApiToken.user_id, ApiToken.last_used_at)).all())

    first = naive_utc(clock())
    with _writes(db) as sent:
        assert alice.client().get("/api/v1/notifications").status_code == 200
        assert bob.client().get("/api/v1/notifications").status_code == 200  # the same second
    assert sent == ["UPDATE"] and last_used() == {alice.id: first, bob.id: None}
    clock.advance(seconds=1)
    with _writes(db) as sent:
        assert alice.client().get("/api/v1/notifications").status_code == 200  # fresh; batch due
    assert sent == ["UPDATE"] and last_used() == {alice.id: first, bob.id: first}
    clock.advance(seconds=int(USE_NOTED_EVERY.total_seconds()) + 1)
    assert bob.client().get("/api/v1/notifications").status_code == 200
    with TestClient(app):  # the app stops: what was noted since the last batch is written
        assert alice.client().get("/api/v1/notifications").status_code == 200
        assert last_used()[alice.id] == first
    assert last_used() == {alice.id: naive_utc(clock()), bob.id: naive_utc(clock())}


def test_sqlite_reads_the_unread_count_from_its_own_index(tmp_path: Path) -> None:
    """Statistics sampled at start (``Database.upgrade``) lead SQLite's planner to the partial
    index of unread notifications; without them it took (user_id, route, created_at) and read
    every one of the reader's rows from the table."""
    db = Database(f"sqlite:///{tmp_path / 'inbox.db'}")
    db.upgrade()
    moment = datetime(2026, 11, 29, 7, 30)
    with db.session() as session:
        readers = [create_user(session, f"reader{n}@example.org") for n in range(20)]
        session.flush()
        session.add_all(
            Notification(
                user_id=reader.id,
                title=f"story {k}",
                route="inbox",
                created_at=moment,
                read_at=moment if k % 5 else None,
            )
            for reader in readers
            for k in range(50)
        )
    count = select(func.count()).select_from(Notification).where(
        Notification.user_id == readers[0].id,
        Notification.cleared_at.is_(None),
        Notification.read_at.is_(None),
    )

    def plan() -> str:
        statement = count.compile(db.engine, compile_kwargs={"literal_binds": True})
        with db.reading() as session:
            rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            return " ".join(str(row[-1]) for row in rows)

    db.upgrade()  # a restart: the statistics now describe the rows
    assert "ix_notifications_unread" in plan()
    db.dispose()
