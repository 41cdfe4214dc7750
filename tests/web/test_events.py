"""Live updates (``GET /api/v1/events``) on a real server: the app under uvicorn on 127.0.0.1, the
stream read with httpx, notifications written by the real notifier — in this process, and in
another process (PostgreSQL: through LISTEN/NOTIFY; SQLite: through the hub's polling).

Every wait is a read of the stream with a timeout (httpx's read timeout); a reader's stream is
shown not to carry another reader's notification by what it sends next: its own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.servers import served
from tests.test_worker_processes import wait_for
from tests.web.conftest import PASSWORD, Reader, add_reader
from tests.web.news import Newsdesk
from tidings.clock import naive_utc
from tidings.config import Settings
from tidings.delivery.notify import INBOX_CHANNEL, INBOX_LISTENERS, inbox_changed
from tidings.store.db import Database
from tidings.store.models import Notification
from tidings.web.app import create_app
from tidings.web.context import Web
from tidings.web.events import inbox_hub

READ_TIMEOUT = 20.0  # seconds a test waits for an event (or for a condition) before failing
ROOT = Path(__file__).resolve().parents[2]
PUTIN_TITLE = "Putin lands in Pyongyang for talks"
PUTIN_TEXT = "Russian President Vladimir Putin arrived in Pyongyang on Tuesday for talks."


# -- a real server and a real stream ------------------------------------------------------------


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    with served(app) as url:
        yield url
    hub_stopped()


def hub_stopped() -> None:
    """No inbox hub thread outlives its streams and its app."""
    wait_for(lambda: not hub_threads(), READ_TIMEOUT, "the inbox hub's thread to end")


def hub_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tidings-inbox-hub" and t.is_alive()]


@dataclass
class Event:
    kind: str
    data: dict[str, Any]
    id: str | None


class EventStream:
    """The events of one open response, read line by line (each read waits READ_TIMEOUT)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()
        self.comments = 0

    def next(self) -> Event:
        """The next event; a ping (every 15 s) after READ_TIMEOUT of waiting fails the test."""
        deadline = time.monotonic() + READ_TIMEOUT
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "data" in fields:
                    return Event(fields.get("event", "message"), json.loads(fields["data"]),
                                 fields.get("id"))  # fmt: skip
                continue
            if line.startswith(":"):
                self.comments += 1
                assert time.monotonic() < deadline, "no event came (only keep-alive pings)"
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def expect(self, kind: str) -> Event:
        event = self.next()
        assert event.kind == kind, event
        return event


@contextmanager
def listening(
    client: httpx.Client, headers: dict[str, str] | None = None, **params: Any
) -> Iterator[EventStream]:
    """An open event stream, past its first event (the unread count: the stream is set up)."""
    with client.stream("GET", "/api/v1/events", headers=headers, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        stream.opening = stream.expect("unread")  # type: ignore[attr-defined]
        yield stream


def http(base_url: str, reader: Reader | None = None) -> httpx.Client:
    headers = reader.headers if reader else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=READ_TIMEOUT)


@contextmanager
def signed_in_browser(base_url: str, reader: Reader) -> Iterator[httpx.Client]:
    """A client holding the reader's session cookie, as a browser's EventSource sends it."""
    reader.set_password()
    with httpx.Client(base_url=base_url, timeout=READ_TIMEOUT) as client:
        login = {"email": reader.email, "password": PASSWORD}
        reply = client.post("/api/v1/auth/login", json=login)
        assert reply.status_code == 200, reply.text
        assert "tidings_session" in client.cookies
        yield client


def follow(reader: Reader, query: str) -> None:
    reply = reader.client().post("/api/v1/alerts", json={"query": query, "mode": "quick"})
    assert reply.status_code == 201, reply.text


# -- the tests ----------------------------------------------------------------------------------


def test_a_new_notification_reaches_the_open_stream_with_the_unread_count(
    app: FastAPI, alice: Reader, server: str
) -> None:
    follow(alice, "assad")
    desk = Newsdesk(app)
    desk.arrive()
    with signed_in_browser(server, alice) as browser, listening(browser) as stream:
        assert stream.opening.data == {"unread_count": 1}  # type: ignore[attr-defined]
        desk.arrive(title="Assad arrives in Pyongyang", site="Reuters")
        event = stream.expect("notification")
    inbox = alice.client().get("/api/v1/notifications").json()
    newest = inbox["items"][0]
    assert event.data == {**newest, "unread_count": 2}
    assert event.data["title"] == "Assad arrives in Pyongyang"
    assert event.id == str(newest["id"])


def test_a_digest_inbox_entry_reaches_the_open_stream(
    app: FastAPI, alice: Reader, server: str
) -> None:
    from tidings.delivery.digests import DigestScheduler

    reply = alice.client().post("/api/v1/alerts", json={"query": "assad", "mode": "daily"})
    assert reply.status_code == 201, reply.text
    Newsdesk(app).arrive()  # collected for the digest (and in the inbox)
    web = app.state.web
    with signed_in_browser(server, alice) as browser, listening(browser) as stream:
        assert stream.opening.data == {"unread_count": 1}  # type: ignore[attr-defined]
        report = DigestScheduler(web.settings, web.db, clock=web.clock).send_now([alice.id])
        assert report.built == 1
        event = stream.expect("notification")
    assert event.data["kind"] == "digest" and event.data["unread_count"] == 2


def test_reader_b_never_sees_reader_a_notifications(
    app: FastAPI, alice: Reader, bob: Reader, server: str
) -> None:
    follow(alice, "assad")
    follow(bob, "putin")
    desk = Newsdesk(app)
    with (
        http(server, alice) as a,
        http(server, bob) as b,
        listening(a) as alice_stream,
        listening(b) as bob_stream,
    ):
        desk.arrive()  # Alice's
        assert alice_stream.expect("notification").data["title"].startswith("Syrian")
        desk.arrive(title=PUTIN_TITLE, text=PUTIN_TEXT)  # Bob's, committed after Alice's
        seen = bob_stream.expect("notification")  # had Alice's reached Bob, it came first
        assert seen.data["title"] == PUTIN_TITLE and seen.data["unread_count"] == 1
    bobs = bob.client().get("/api/v1/notifications").json()["items"]
    assert [n["title"] for n in bobs] == [PUTIN_TITLE]


def test_reading_and_clearing_send_the_unread_count(
    app: FastAPI, alice: Reader, bob: Reader, server: str
) -> None:
    follow(alice, "assad")
    follow(bob, "putin")
    desk = Newsdesk(app)
    desk.arrive()
    desk.arrive(title="Assad arrives in Pyongyang")
    desk.arrive(title=PUTIN_TITLE, text=PUTIN_TEXT)
    api = alice.client()
    ids = [n["id"] for n in api.get("/api/v1/notifications").json()["items"]]
    with http(server, alice) as client, listening(client) as stream:
        assert stream.opening.data == {"unread_count": 2}  # type: ignore[attr-defined]
        assert api.post(f"/api/v1/notifications/{ids[1]}/read").status_code == 200
        assert stream.expect("unread").data == {"unread_count": 1}
        bob.client().post("/api/v1/notifications/read-all")  # Bob's count is not Alice's
        assert api.post(f"/api/v1/notifications/{ids[0]}/click").status_code == 200
        assert stream.expect("unread").data == {"unread_count": 0}
        desk.arrive(title="Assad leaves Pyongyang")
        assert stream.expect("notification").data["unread_count"] == 1
        assert api.post("/api/v1/notifications/read-all").json() == {"count": 1}
        assert stream.expect("unread").data == {"unread_count": 0}
        desk.arrive(title="Assad returns to Damascus")
        assert stream.expect("notification").data["unread_count"] == 1
        assert api.delete("/api/v1/notifications").json() == {"count": 4}
        assert stream.expect("unread").data == {"unread_count": 0}


def test_last_event_id_replays_what_was_missed(app: FastAPI, alice: Reader, server: str) -> None:
    follow(alice, "assad")
    desk = Newsdesk(app)
    with http(server, alice) as client:
        with listening(client) as stream:
            desk.arrive()
            last = stream.expect("notification").id
        assert last is not None
        desk.arrive(title="Assad arrives in Pyongyang")  # while the browser is away
        desk.arrive(title="Assad meets Kim")
        with listening(client, {"Last-Event-ID": last}) as again:
            assert again.opening.data == {"unread_count": 3}  # type: ignore[attr-defined]
            missed = [again.expect("notification"), again.expect("notification")]
            assert [e.data["title"] for e in missed] == ["Assad arrives in Pyongyang", "Assad meets Kim"]  # fmt: skip
            assert [int(e.id or 0) for e in missed] == sorted(int(e.id or 0) for e in missed)
            assert all(int(e.id or 0) > int(last) for e in missed)
            desk.arrive(title="Assad leaves Pyongyang")  # and it carries on live
            assert again.expect("notification").data["title"] == "Assad leaves Pyongyang"
        # ?after= does the same for a page's first connection (the newest id it shows)
        with listening(client, after=last) as page:
            titles = [page.expect("notification").data["title"] for _ in range(3)]
            assert titles == ["Assad arrives in Pyongyang", "Assad meets Kim", "Assad leaves Pyongyang"]  # fmt: skip


def test_a_notification_committed_late_with_a_lower_id_is_still_sent(
    app: FastAPI, alice: Reader, server: str
) -> None:
    """Two workers' transactions may commit out of id order: the stream sends by what it has not
    sent, and its event id never goes back (a resume after it would repeat what it saw)."""
    web = app.state.web
    with http(server, alice) as client, listening(client) as stream:
        store_notification(web, alice.id, 500, "later id, committed first")
        assert stream.expect("notification").data["id"] == 500
        store_notification(web, alice.id, 400, "earlier id, committed late")
        late = stream.expect("notification")
        assert late.data["id"] == 400 and late.id == "500"
        assert late.data["unread_count"] == 2


def store_notification(web: Web, user_id: int, notification_id: int, title: str) -> None:
    """A notification row with a chosen id, announced as the notifier announces its own."""
    with web.db.session() as session:
        session.add(
            Notification(
                id=notification_id, user_id=user_id, kind="broadcast", title=title,
                created_at=naive_utc(web.clock()),
            )  # fmt: skip
        )
        inbox_changed(session, [user_id])


def test_a_notification_written_by_another_process_reaches_the_stream(
    app: FastAPI, alice: Reader, server: str
) -> None:
    """Another process stores an article through the notifier: on PostgreSQL its NOTIFY (the only
    way this web process hears of it there), on SQLite the hub's polling brings it."""
    follow(alice, "assad")
    with http(server, alice) as client, listening(client) as stream:
        store_in_another_process(app.state.web.db.url, "Assad reaches Pyongyang by train")
        event = stream.expect("notification")
        assert event.data["title"] == "Assad reaches Pyongyang by train"
        assert event.data["unread_count"] == 1


def store_in_another_process(database_url: str, title: str) -> None:
    """A separate Python process runs an article through the real Notifier (as a worker does)."""
    snippet = (
        "import sys\n"
        "from types import SimpleNamespace as NS\n"
        "from tests.web.news import Newsdesk\n"
        "from tidings.clock import utcnow\n"
        "from tidings.store.db import Database\n"
        "db = Database(sys.argv[1])\n"
        "desk = Newsdesk(NS(state=NS(web=NS(db=db, clock=utcnow))))\n"
        "desk.count = 1000\n"
        "desk.arrive(title=sys.argv[2])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", snippet, database_url, title],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.postgres
def test_the_listener_reconnects_and_misses_nothing(
    postgres_app: FastAPI, postgres_reader: Reader
) -> None:
    app, alice = postgres_app, postgres_reader
    follow(alice, "assad")
    desk = Newsdesk(app)
    admin = create_engine(app.state.web.db.url, isolation_level="AUTOCOMMIT")
    with served(app) as url, http(url, alice) as client, listening(client) as stream:
        wait_for(lambda: len(listener_pids(admin)) == 1, READ_TIMEOUT, "the hub to LISTEN")
        killed = listener_pids(admin)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed[0]})
        desk.arrive()  # while the listener may be away: its reconnection wakes every stream
        assert stream.expect("notification").data["unread_count"] == 1
        wait_for(lambda: len(listener_pids(admin)) == 1, 30, "the listener to reconnect")
        assert listener_pids(admin) != killed
        desk.arrive(title="Assad arrives in Pyongyang")  # and NOTIFY works again
        assert stream.expect("notification").data["title"] == "Assad arrives in Pyongyang"
    admin.dispose()
    hub_stopped()


def listener_pids(engine: Any) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query = 'LISTEN tidings_inbox'"
                )
            )
        )


@pytest.fixture
def postgres_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FastAPI]:
    """The app on PostgreSQL only (the listener's reconnection has no SQLite twin)."""
    url = request.getfixturevalue("postgres_url")
    settings = Settings.from_env(
        {}, data_dir=tmp_path / "data", database_url=url, allow_private_networks=True,
        base_url="http://testserver",
    )  # fmt: skip
    db = Database(settings.sqlalchemy_url)
    yield create_app(settings, db, clock=request.getfixturevalue("clock"))
    db.dispose()


@pytest.fixture
def postgres_reader(postgres_app: FastAPI) -> Reader:
    return add_reader(postgres_app, "alice@example.com")


class Announcements:
    """What ``inbox_changed`` tells live inboxes: PostgreSQL NOTIFYs heard on a LISTEN connection
    of our own, or (SQLite) this process's listener calls."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[set[int]] = []
        self.conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> Announcements:
        if self.db.dialect == "postgresql":
            url = self.db.engine.url.set(drivername="postgresql")
            self.conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            self.conn.execute(f"LISTEN {INBOX_CHANNEL}")
        else:
            INBOX_LISTENERS.append(self.calls.append)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()
        else:
            INBOX_LISTENERS.remove(self.calls.append)

    def already(self) -> set[int]:
        """Whatever has arrived by now (no waiting)."""
        if self.conn is not None:
            return {i for n in self.conn.notifies(timeout=0) for i in user_ids(n.payload)}
        heard, self.calls[:] = set().union(*self.calls), []
        return heard

    def until(self, expected: set[int]) -> set[int]:
        """What arrives until ``expected`` has (each wait at most READ_TIMEOUT)."""
        if self.conn is None:
            return self.already()
        heard: set[int] = set()
        for note in self.conn.notifies(timeout=READ_TIMEOUT):
            heard |= set(user_ids(note.payload))
            if expected <= heard:
                break
        return heard


def user_ids(payload: str) -> list[int]:
    return [int(part) for part in payload.split(",")]


def test_inbox_changes_are_announced_at_commit_and_never_on_rollback(
    app: FastAPI, alice: Reader, bob: Reader
) -> None:
    db = app.state.web.db
    with Announcements(db) as heard:
        with db.session() as session:
            inbox_changed(session, [alice.id, alice.id])
            assert heard.already() == set()  # not before the rows are visible
        assert heard.until({alice.id}) == {alice.id}
        with pytest.raises(RuntimeError), db.session() as session:
            inbox_changed(session, [999_999])
            raise RuntimeError("rolled back")
        many = set(range(10**12, 10**12 + 1000))  # a topic's followers: several payloads
        with db.session() as session:
            inbox_changed(session, [bob.id, *many])
        assert heard.until({bob.id, *many}) == {bob.id, *many}  # 999999 never came first


def test_anonymous_gets_401_json(anonymous: TestClient) -> None:
    reply = anonymous.get("/api/v1/events")
    assert reply.status_code == 401
    assert reply.json()["error"] == "unauthorized"
    reply = anonymous.get("/api/v1/events", headers={"Authorization": "Bearer tid_nope"})
    assert reply.status_code == 401 and reply.json()["error"] == "unauthorized"


def test_the_hub_runs_while_streams_are_open(app: FastAPI, alice: Reader) -> None:
    assert getattr(app.state, "inbox_hub", None) is None
    with served(app) as url, http(url, alice) as client:
        with listening(client):
            hub = app.state.inbox_hub
            assert hub.running and len(hub_threads()) == 1
            with listening(client):  # a second stream: the same hub, the same thread
                assert len(hub_threads()) == 1
            assert hub.running  # one stream is still open
        wait_for(lambda: not hub.running, READ_TIMEOUT, "the last stream to close")
        wait_for(lambda: not hub_threads(), READ_TIMEOUT, "the hub's thread to end")
        with listening(client):  # and the next stream starts it again
            assert hub.running and len(hub_threads()) == 1


def test_the_app_shutdown_stops_the_hub_even_with_a_stream_open(app: FastAPI) -> None:
    async def open_stream_across_shutdown() -> None:
        hub = inbox_hub(app)
        with hub.subscribe(1):
            async with app.router.lifespan_context(app):
                assert hub.running and len(hub_threads()) == 1
            assert not hub.running
            assert not hub_threads()  # joined, not just told

    asyncio.run(open_stream_across_shutdown())
