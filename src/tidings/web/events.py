"""Live inboxes: what ``GET /api/v1/events`` streams, and how a change reaches it across processes.

A writer that changes a reader's inbox calls ``tidings.delivery.notify.inbox_changed`` inside its
transaction (the notifier for new notifications, the inbox routes for read, read-all, click and
clear).  On PostgreSQL that is ``pg_notify('tidings_inbox', '<user id>,<user id>,…')``, which
PostgreSQL delivers at commit — never before the rows are visible — to every process listening.
Each web process has one ``InboxHub`` per app (``app.state.inbox_hub``) that LISTENs on one
dedicated connection in a thread and wakes the streams of the readers named.  On SQLite (one
file, perhaps several processes) the hub is woken in-process after each commit of this process,
and a thread polls ``PRAGMA data_version`` (it moves when another connection commits) every
half second to notice the other processes' writes.

A woken stream reads what is new itself (``InboxFeed``), so a wake costs one or two indexed
queries and a spurious one sends nothing; after the listener (re)connects every stream is woken
once, so nothing committed while it was away is lost.  The hub's thread starts with the first
open stream and stops with the last one, or at the app's shutdown (``tidings.web.routes.events``).

Events (the wire format is in ``tidings.web.routes.events``):

* ``unread`` ``{"unread_count": N}`` — first when a stream opens, then when the count changes
  without a new notification (read, read-all, a click, clear).
* ``notification`` — the notification as ``GET /api/v1/notifications`` shows it plus
  ``"unread_count"``; its ``id`` is the highest notification id the stream has sent, so a
  reconnecting ``EventSource`` sends it back as ``Last-Event-ID`` and gets what it missed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from select import select as readable
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.sse import ServerSentEvent
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from tidings.delivery.notify import INBOX_CHANNEL, INBOX_LISTENERS, reading_database
from tidings.store.db import Database
from tidings.store.models import Notification
from tidings.web.routes.inbox import in_inbox, notification_out, unread_count
from tidings.web.schemas import MAX_ID

log = logging.getLogger("tidings.web.events")

POLL_SECONDS = 0.5  # SQLite: how often other processes' commits are looked for
REPLAY = 100  # at most this many missed notifications (the newest) when a stream resumes
SENT_WINDOW = 1000  # ids a stream remembers having sent (a late commit of a lower id still goes)
RECONNECT_SECONDS = (0.5, 30.0)  # PostgreSQL listener: first and longest wait between attempts
_hubs_lock = threading.Lock()


# -- the hub ------------------------------------------------------------------------------------


@dataclass(eq=False)
class Subscription:
    """One open stream of one reader, woken from any thread when their inbox may have changed."""

    user_id: int
    loop: asyncio.AbstractEventLoop
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        with suppress(RuntimeError):  # its event loop has closed: the stream is gone
            self.loop.call_soon_threadsafe(self.changed.set)


class InboxHub:
    """This process's open streams of one database, and the thread that wakes them.

    The thread runs while streams are open: the first stream starts it, the last one to close
    stops it (so a client that never runs the app's lifespan, a test client, leaks nothing),
    and so does the app's shutdown."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._streams: dict[int, set[Subscription]] = {}
        self._watcher: Watcher | None = None
        self._reads: SnapshotReads | None = None

    @contextmanager
    def subscribe(self, user_id: int) -> Iterator[Subscription]:
        """Register a stream of ``user_id`` (on the stream's event loop) while it is open."""
        subscription = Subscription(user_id, asyncio.get_running_loop())
        with self._lock:
            self._start()
            self._streams.setdefault(user_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                streams = self._streams.get(user_id, set())
                streams.discard(subscription)
                if not streams:
                    self._streams.pop(user_id, None)
                idle = self._detach() if not self._streams else None
            if idle is not None:
                _release(*idle, wait=False)  # never block the event loop on the thread

    @property
    def reads(self) -> SnapshotReads:
        """Where the open streams read."""
        with self._lock:
            if self._reads is None:
                self._reads = SnapshotReads(self.db)
            return self._reads

    def wake(self, user_ids: Iterable[int]) -> None:
        """Wake the streams of these readers (from any thread)."""
        with self._lock:
            readers = self._streams.keys() & set(user_ids)
            woken = [s for user_id in readers for s in self._streams[user_id]]
        for subscription in woken:
            subscription.wake()

    def wake_all(self) -> None:
        with self._lock:
            woken = [s for streams in self._streams.values() for s in streams]
        for subscription in woken:
            subscription.wake()

    @property
    def running(self) -> bool:
        return self._watcher is not None

    def stop(self) -> None:
        """Stop the thread and wait for it (the app is shutting down)."""
        with self._lock:
            stopped = self._detach()
        _release(*stopped, wait=True)

    def _start(self) -> None:
        if self._watcher is not None:
            return
        if self.db.dialect == "postgresql":
            self._watcher = PostgresListener(self)
        else:
            self._watcher = SqlitePoller(self)
            INBOX_LISTENERS.append(self.wake)
        self._watcher.start()
        log.info("inbox hub started", extra={"dialect": self.db.dialect})

    def _detach(self) -> tuple[Watcher | None, SnapshotReads | None]:
        """Take the thread and the read engine away (under the lock) for ``_release``."""
        watcher, self._watcher = self._watcher, None
        reads, self._reads = self._reads, None
        if self.wake in INBOX_LISTENERS:
            INBOX_LISTENERS.remove(self.wake)
        return watcher, reads


def _release(watcher: Watcher | None, reads: SnapshotReads | None, *, wait: bool) -> None:
    if watcher is not None:
        watcher.stop(wait=wait)
        log.info("inbox hub stopped", extra={"threads_joined": wait})
    if reads is not None:
        reads.dispose()


def inbox_hub(app: FastAPI) -> InboxHub:
    """The app's hub (made on first use)."""
    with _hubs_lock:
        hub: InboxHub | None = getattr(app.state, "inbox_hub", None)
        if hub is None:
            hub = app.state.inbox_hub = InboxHub(app.state.web.db)
        return hub


def stop_inbox_hub(app: FastAPI) -> None:
    hub: InboxHub | None = getattr(app.state, "inbox_hub", None)
    if hub is not None:
        hub.stop()


class SnapshotReads:
    """Read-only transactions that each see one snapshot, so a stream's new notifications and
    its unread count agree (two statements may otherwise straddle a commit) and no write lock is
    taken.  PostgreSQL: REPEATABLE READ on the app's pool; SQLite: an engine of its own whose
    transactions begin DEFERRED (a WAL reader) instead of the app's BEGIN IMMEDIATE."""

    def __init__(self, db: Database) -> None:
        self._own: Database | None = None
        engine: Engine
        if db.dialect == "postgresql":
            engine = db.engine.execution_options(isolation_level="REPEATABLE READ")
        else:
            self._own = reading_database(db)
            engine = self._own.engine
            event.listen(engine, "begin", _begin_deferred)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._own is not None:
            self._own.dispose()


def _begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


# -- what wakes it ----------------------------------------------------------------------------


class Watcher(threading.Thread):
    """The hub's thread: wakes streams when the database says an inbox changed."""

    def __init__(self, hub: InboxHub) -> None:
        super().__init__(name="tidings-inbox-hub", daemon=True)
        self.hub = hub
        self.stopping = threading.Event()

    def stop(self, *, wait: bool) -> None:
        self.stopping.set()
        self.interrupt()
        if wait:
            self.join(10)

    def interrupt(self) -> None:
        """Cut a wait short (the stop flag is already set)."""


class SqlitePoller(Watcher):
    """Polls ``PRAGMA data_version`` on its own connection: any other connection's commit (another
    process's included) wakes every stream, which then reads whether it concerns it."""

    def run(self) -> None:
        path = self.hub.db.engine.url.database
        if not path or path == ":memory:":
            return  # one process only: the in-process wake-ups are enough
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as conn:
            version = _data_version(conn)
            self.hub.wake_all()  # what committed before the first look
            while not self.stopping.wait(POLL_SECONDS):
                try:
                    now = _data_version(conn)
                except sqlite3.Error as exc:
                    log.warning("inbox poll failed", extra={"error": str(exc)})
                    continue
                if now != version:
                    version = now
                    self.hub.wake_all()


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


class PostgresListener(Watcher):
    """``LISTEN tidings_inbox`` on one dedicated autocommit connection; reconnects with backoff
    (waking every stream once connected, for what was missed meanwhile)."""

    def __init__(self, hub: InboxHub) -> None:
        super().__init__(hub)
        self._wakeup, self._waker = socket.socketpair()

    def interrupt(self) -> None:
        with suppress(OSError):
            self._waker.send(b"x")

    def run(self) -> None:
        delay = RECONNECT_SECONDS[0]
        try:
            while not self.stopping.is_set():
                try:
                    with self._connect() as conn:
                        conn.execute(f"LISTEN {INBOX_CHANNEL}")
                        delay = RECONNECT_SECONDS[0]
                        self.hub.wake_all()
                        self._listen(conn)
                except psycopg.Error as exc:
                    log.warning("inbox listener disconnected", extra={"error": str(exc)})
                    self.stopping.wait(delay)
                    delay = min(delay * 2, RECONNECT_SECONDS[1])
        finally:
            self._wakeup.close()
            self._waker.close()

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        while not self.stopping.is_set():
            ready, _, _ = readable([conn.fileno(), self._wakeup.fileno()], [], [])
            if self._wakeup.fileno() in ready:
                return
            for note in conn.notifies(timeout=0):
                self.hub.wake(_user_ids(note.payload))

    def _connect(self) -> psycopg.Connection[Any]:
        engine = self.hub.db.engine
        args, params = engine.dialect.create_connect_args(engine.url)
        params = {**params, "autocommit": True}
        # a peer that vanished without a word is noticed (the socket errors, we reconnect)
        for name, value in (("keepalives", 1), ("keepalives_idle", 60), ("keepalives_count", 3)):
            params.setdefault(name, value)
        return psycopg.connect(*args, **params)


def _user_ids(payload: str) -> list[int]:
    return [int(part) for part in payload.split(",") if part.strip().isdigit()]


# -- one stream ---------------------------------------------------------------------------------


class InboxFeed:
    """What one stream has sent: recent notification ids (so one committed late with a lower id
    still goes out) and the unread count."""

    def __init__(self, reads: SnapshotReads, user_id: int) -> None:
        self.reads, self.user_id = reads, user_id
        self.floor = 0  # notifications at or below it are not sent
        self.high = 0  # the highest id sent: the events' id
        self.sent: set[int] = set()
        self._order: deque[int] = deque()
        self.unread: int | None = None

    def open(self, after: int | None) -> list[ServerSentEvent]:
        """The first events: the unread count, then what came after ``after`` (None: nothing
        that exists now)."""
        with self.reads.session() as session:
            if after is None:
                newest = select(func.max(Notification.id))
                after = session.scalar(newest.where(Notification.user_id == self.user_id)) or 0
            self.floor = self.high = after
            fresh = self._fresh(session)
            self.unread = unread_count(session, self.user_id)
        return [unread_event(self.unread), *self._notification_events(fresh, self.unread)]

    def poll(self) -> list[ServerSentEvent]:
        """The events for what changed since the last look (often none)."""
        with self.reads.session() as session:
            fresh = self._fresh(session)
            count = unread_count(session, self.user_id)
        changed, self.unread = count != self.unread, count
        if fresh:
            return self._notification_events(fresh, count)
        return [unread_event(count)] if changed else []

    def _fresh(self, session: Session) -> list[Notification]:
        """The reader's inbox notifications above the floor not sent yet, oldest first."""
        ids = session.scalars(
            select(Notification.id)
            .where(in_inbox(self.user_id), Notification.id > self.floor)
            .order_by(Notification.id.desc())
            .limit(REPLAY)
        )
        new = [i for i in ids if i not in self.sent]
        if not new:
            return []
        rows = session.scalars(select(Notification).where(Notification.id.in_(new)))
        return sorted(rows, key=lambda n: n.id)

    def _notification_events(self, fresh: list[Notification], count: int) -> list[ServerSentEvent]:
        events = []
        for notification in fresh:
            self._remember(notification.id)
            data = {**notification_out(notification).model_dump(mode="json"), "unread_count": count}
            events.append(ServerSentEvent(event="notification", id=str(self.high), data=data))
        return events

    def _remember(self, notification_id: int) -> None:
        self.sent.add(notification_id)
        self._order.append(notification_id)
        self.high = max(self.high, notification_id)
        if len(self._order) > SENT_WINDOW:
            forgotten = self._order.popleft()
            self.sent.discard(forgotten)
            self.floor = max(self.floor, forgotten)


def unread_event(count: int) -> ServerSentEvent:
    return ServerSentEvent(event="unread", data={"unread_count": count})


async def inbox_events(
    hub: InboxHub, user_id: int, after: int | None
) -> AsyncIterator[ServerSentEvent]:
    """The events of one reader's stream, until the client goes away."""
    with hub.subscribe(user_id) as subscription:
        feed = InboxFeed(hub.reads, user_id)
        for event in await run_in_threadpool(feed.open, after):
            yield event
        while True:
            await subscription.changed.wait()
            subscription.changed.clear()
            for event in await run_in_threadpool(feed.poll):
                yield event


def resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """Where a stream starts: the ``Last-Event-ID`` a reconnecting ``EventSource`` sends, else
    ``?after=``; None: from now on."""
    if last_event_id is not None and last_event_id.strip().isdigit():
        return min(int(last_event_id.strip()), MAX_ID)
    return after


__all__ = ["InboxFeed", "InboxHub", "inbox_events", "inbox_hub", "resume_point", "stop_inbox_hub"]
