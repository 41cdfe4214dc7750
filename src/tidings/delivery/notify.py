"""Matches → notifications (the inbox) → deliveries (the outbox), inside the article's transaction.

``Notifier`` is an ``after_store`` hook of the pipeline: for each stored article it asks the
alert index which alerts match, finds who they are for (a reader's alert: that reader; a
topic's alert: every follower, with the follow's mode) and writes, per reader and story, at
most one notification — the inbox item — plus a ``Delivery`` row per channel that should carry
it now.  Because the hook runs in the article's transaction, the article, its notifications and
their deliveries commit together or not at all (the outbox): a crash loses nothing, and a
replay (the same article stored again) finds every row already there and writes nothing new.

Rules (DESIGN.md, Delivery):

* One notification per (reader, story): new ones are inserted in batches with
  ``INSERT … ON CONFLICT (user_id, story_id) DO NOTHING RETURNING``; a reader who already has
  one for the story gets it *attached to* instead — the matched alerts merged in and
  ``also_reported_by`` set to the number of other outlets that reported the story — and no new
  delivery.
* Mode: the most immediate of the reader's matched alerts (quick > daily > weekly).  Channels:
  the union of the ``channels`` lists of the matched alerts of that mode (None: all enabled
  channels); the inbox needs no delivery, the notification row *is* the inbox item.
* Routing a quick notification (``tidings.delivery.timing.route_quick``): inside quiet hours it
  is ``held`` until they end (its deliveries wait with ``next_attempt_at = hold_until``);
  past the reader's hourly budget it goes to the ``digest``; otherwise ``quick``, sent now.
  Daily and weekly notifications go to the ``digest``.  The budget counts the reader's quick
  notifications of the sliding hour (a released hold counts at its release time).  As
  ``timing.py`` prescribes, a held notification is routed again when released
  (``tidings.delivery.outbox.release_held``): the budget is checked then, not now.
* A notification routed to the ``digest`` is queued for it (``queue_for_digest``: a narrow
  ``digest_queue`` row) in the same transaction; the next digest takes it from there.
* Writers of one story serialise on PostgreSQL (a transaction-scoped advisory lock per story),
  so two workers storing two outlets' articles of one story never race or deadlock over the
  same readers' rows; SQLite serialises all writers anyway.
* New notifications are announced to live inboxes (``inbox_changed``: a PostgreSQL ``NOTIFY``
  delivered at commit, or this process's listeners after it), which the web app's event stream
  (``tidings.web.events``) turns into Server-Sent Events.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, String, Table, event, func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tidings.alerts.model import Match, MatchArticle
from tidings.alerts.store import SyncedAlertIndex
from tidings.articles.stories import story_sources
from tidings.articles.urls import host_of
from tidings.clock import Clock, naive_utc, utcnow
from tidings.delivery.snippets import Snippet, make_snippet
from tidings.delivery.timing import (
    BUDGET_WINDOW,
    Route,
    TimeSettings,
    parse_clock_time,
    route_quick,
)
from tidings.store import db as store_db
from tidings.store.db import Database
from tidings.store.ids import in_ids
from tidings.store.models import (
    Alert,
    AlertChange,
    Article,
    Channel,
    Delivery,
    DigestQueue,
    Notification,
    TopicFollow,
    User,
)

log = logging.getLogger("tidings.notify")

MODE_RANK = {"quick": 0, "daily": 1, "weekly": 2}
CHUNK = 1000  # rows per batched statement on SQLite (a parameter per value: within its limit)
PG_CHUNK = 10_000  # rows per statement on PostgreSQL (one array parameter per column)
_STORY_LOCK = 0x6E6F  # "no": the advisory-lock class of "notifying a story"
NOTIFICATIONS: Table = Notification.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
QUEUE: Table = DigestQueue.__table__  # type: ignore[assignment]
QUEUED_COLUMNS = (  # what queue_for_digest takes of a notification, in this order
    NOTIFICATIONS.c.id,
    NOTIFICATIONS.c.user_id,
    NOTIFICATIONS.c.mode,
    NOTIFICATIONS.c.created_at,
)


# -- who gets what ------------------------------------------------------------------------------


@dataclass
class Recipient:
    """One reader and every alert of theirs (own or followed topic) that matched the article."""

    user_id: int
    alerts: list[tuple[int, str, list[int] | None]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)

    def add(
        self, alert_id: int, mode: str, channels: list[int] | None, terms: Iterable[str]
    ) -> None:
        self.alerts.append((alert_id, mode, channels))
        self.terms += [term for term in terms if term not in self.terms]

    @property
    def mode(self) -> str:
        """The most immediate mode of the matched alerts."""
        return min((mode for _, mode, _ in self.alerts), key=lambda m: MODE_RANK.get(m, 9))

    @property
    def alert_ids(self) -> list[int]:
        return sorted({alert_id for alert_id, _, _ in self.alerts})

    def channel_choice(self) -> set[int] | None:
        """The channels the matched alerts of the winning mode ask for; None means all."""
        chosen: set[int] = set()
        for _, mode, channels in self.alerts:
            if mode != self.mode:
                continue
            if channels is None:
                return None
            chosen.update(channels)
        return chosen


def recipients(session: Session, matches: Sequence[Match]) -> dict[int, Recipient]:
    """Every reader the matches concern, with their matched alerts."""
    terms = {match.alert_id: match.terms for match in matches}
    readers: dict[int, Recipient] = {}
    topics: dict[int, list[int]] = {}
    for alert_id, user_id, topic_id, mode, channels in _alert_rows(session, list(terms)):
        if user_id is not None:
            readers.setdefault(user_id, Recipient(user_id)).add(
                alert_id, mode, channels, terms[alert_id]
            )
        elif topic_id is not None:
            topics.setdefault(topic_id, []).append(alert_id)
    for topic_id, user_id, mode in _followers(session, list(topics)):
        for alert_id in topics[topic_id]:
            readers.setdefault(user_id, Recipient(user_id)).add(
                alert_id, mode, None, terms[alert_id]
            )
    return readers


def _alert_rows(session: Session, alert_ids: list[int]) -> Iterator[Any]:
    for chunk in chunks(alert_ids, batch_size(session)):
        yield from session.execute(
            select(Alert.id, Alert.user_id, Alert.topic_id, Alert.mode, Alert.channels).where(
                in_ids(session, Alert.id, chunk)
            )
        )


def _followers(session: Session, topic_ids: list[int]) -> Iterator[Any]:
    for chunk in chunks(topic_ids, batch_size(session)):
        yield from session.execute(
            select(TopicFollow.topic_id, TopicFollow.user_id, TopicFollow.mode)
            .where(in_ids(session, TopicFollow.topic_id, chunk))
            .execution_options(yield_per=10_000)
        )


# -- routing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """Where one new notification goes: ``route`` quick | held | digest, and ``hold_until``."""

    route: str
    hold_until: datetime | None = None


SEND_NOW, TO_DIGEST = Routing("quick"), Routing("digest")


def route_new(session: Session, readers: list[Recipient], now: datetime) -> dict[int, Routing]:
    """The route of each reader's new notification (see the module rules)."""
    routes = {r.user_id: TO_DIGEST for r in readers if r.mode != "quick"}
    quick = [r.user_id for r in readers if r.mode == "quick"]
    for chunk in chunks(quick, batch_size(session)):
        settings = _time_settings(session, chunk)
        sent = sent_in_last_hour(session, [u for u, s in settings.items() if _budgeted(s)], now)
        for user_id in chunk:
            routes[user_id] = route_one(settings.get(user_id), now, sent.get(user_id, 0))
    return routes


def route_one(settings: TimeSettings | None, now: datetime, sent: int) -> Routing:
    """``route_quick`` as a ``Routing`` (no time rules at all: sent now)."""
    if settings is None:
        return SEND_NOW
    decision = route_quick(settings, now, sent)
    if decision.route is Route.HOLD_UNTIL:
        return Routing("held", decision.until)
    return TO_DIGEST if decision.route is Route.TO_DIGEST else SEND_NOW


def _budgeted(settings: TimeSettings | None) -> bool:
    return settings is not None and settings.quick_budget_per_hour is not None


def _time_settings(session: Session, user_ids: list[int]) -> dict[int, TimeSettings | None]:
    """Readers' time settings; None for readers with neither quiet hours nor a budget."""
    rows = session.execute(
        select(
            User.id, User.timezone, User.quiet_start, User.quiet_end, User.quick_budget_per_hour
        ).where(in_ids(session, User.id, user_ids))
    )
    return {user_id: time_settings(*values) for user_id, *values in rows}


@lru_cache(maxsize=4096)
def time_settings(
    zone: str, quiet_start: str | None, quiet_end: str | None, budget: int | None
) -> TimeSettings | None:
    """What routing needs of a ``User`` row, validated once per distinct combination."""
    if (quiet_start is None or quiet_end is None) and budget is None:
        return None
    try:
        return TimeSettings(
            timezone=zone,
            quiet_start=parse_clock_time(quiet_start) if quiet_start and quiet_end else None,
            quiet_end=parse_clock_time(quiet_end) if quiet_start and quiet_end else None,
            quick_budget_per_hour=budget,
        )
    except ValueError as exc:  # a bad stored setting must not stop everyone's notifications
        log.warning("time settings ignored", extra={"error": str(exc)})
        return None


def user_time_settings(user: User) -> TimeSettings | None:
    """The routing settings of one reader (None: no quiet hours, no budget)."""
    return time_settings(
        user.timezone, user.quiet_start, user.quiet_end, user.quick_budget_per_hour
    )


def sent_in_last_hour(session: Session, user_ids: list[int], now: datetime) -> dict[int, int]:
    """Quick notifications per reader in the sliding hour before ``now``."""
    if not user_ids:
        return {}
    since = naive_utc(now - BUDGET_WINDOW)
    sent_at = func.coalesce(Notification.hold_until, Notification.created_at)
    rows = session.execute(
        select(Notification.user_id, func.count())
        .where(
            in_ids(session, Notification.user_id, user_ids),
            Notification.route == "quick",
            sent_at > since,
        )
        .group_by(Notification.user_id)
    )
    return {user_id: count for user_id, count in rows}


# -- writing ------------------------------------------------------------------------------------


def notify(session: Session, article: Article, matches: Sequence[Match], *, now: datetime) -> int:
    """Write the notifications and deliveries ``matches`` call for; return how many readers were
    newly notified (attachments not counted)."""
    if article.story_id is None or not matches:
        return 0
    lock_story(session, article.story_id)
    readers = recipients(session, matches)
    others = max(0, len(story_sources(session, article.story_id)) - 1)
    existing = _existing(session, article.story_id, readers)
    fresh = [r for user_id, r in readers.items() if user_id not in existing]
    routes = route_new(session, fresh, now)
    created = insert_notifications(session, article, fresh, routes, others, now)
    raced = {r.user_id for r in fresh} - set(created)
    if raced:  # another transaction notified them first (only without the story lock)
        existing.update(_existing(session, article.story_id, {u: readers[u] for u in raced}))
    attach(session, existing, readers, others)
    insert_deliveries(session, created, {r.user_id: r for r in fresh}, routes, now)
    return len(created)


def lock_story(session: Session, story_id: int) -> None:
    """Serialise notifying one story across PostgreSQL workers (until this transaction ends)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:kind, :story)"),
            {"kind": _STORY_LOCK, "story": story_id % 2**31},
        )


def _existing(
    session: Session, story_id: int, readers: dict[int, Recipient]
) -> dict[int, tuple[int, list[int], list[str], int]]:
    """The story's notifications of these readers: user → (id, alert_ids, terms, also_reported)."""
    found: dict[int, tuple[int, list[int], list[str], int]] = {}
    for chunk in chunks(list(readers), batch_size(session)):
        rows = session.execute(
            select(
                Notification.user_id,
                Notification.id,
                Notification.alert_ids,
                Notification.terms,
                Notification.also_reported_by,
            ).where(Notification.story_id == story_id, in_ids(session, Notification.user_id, chunk))
        )
        found.update({user_id: tuple(rest) for user_id, *rest in rows})  # type: ignore[misc]
    return found


def insert_notifications(
    session: Session,
    article: Article,
    readers: list[Recipient],
    routes: dict[int, Routing],
    others: int,
    now: datetime,
) -> dict[int, int]:
    """Insert the new notifications in batches; return user → notification id of those written
    (a reader who already had one for the story is skipped by the database)."""
    content = _content(article)
    snippets: dict[tuple[str, ...], Snippet] = {}
    rows = []
    for reader in sorted(readers, key=lambda r: r.user_id):
        key = tuple(reader.terms)
        if key not in snippets:
            snippets[key] = make_snippet(article.text or "", reader.terms)
        routing = routes[reader.user_id]
        rows.append(
            {
                **content,
                "user_id": reader.user_id,
                "alert_ids": reader.alert_ids,
                "terms": reader.terms,
                "mode": reader.mode,
                "route": routing.route,
                "hold_until": naive_utc(routing.hold_until) if routing.hold_until else None,
                "snippet": snippets[key].text,
                "snippet_html": snippets[key].html,
                "also_reported_by": others,
                "created_at": naive_utc(now),
            }
        )
    return write_notifications(session, rows)


def _content(article: Article) -> dict[str, Any]:
    """What every reader's notification of this article shows."""
    return {
        "kind": "story",
        "story_id": article.story_id,
        "article_id": article.id,
        "title": article.title,
        "url": article.url,
        "source": article.sitename or host_of(article.url),
        "byline": article.author,
        "published": article.published,
    }


def attach(
    session: Session,
    existing: dict[int, tuple[int, list[int], list[str], int]],
    readers: dict[int, Recipient],
    others: int,
) -> None:
    """Merge this article's alerts and terms into readers' notifications of the story and set
    ``also_reported_by``; batched per distinct new value, and skipped when nothing changes."""
    groups: dict[tuple[tuple[int, ...], tuple[str, ...]], list[int]] = {}
    for user_id, (notification_id, alert_ids, terms, reported) in existing.items():
        reader = readers[user_id]
        merged_ids = tuple(sorted(set(alert_ids or []) | set(reader.alert_ids)))
        merged_terms = tuple(
            list(terms or []) + [t for t in reader.terms if t not in (terms or [])]
        )
        if (
            merged_ids != tuple(alert_ids or [])
            or merged_terms != tuple(terms or [])
            or reported != others
        ):
            groups.setdefault((merged_ids, merged_terms), []).append(notification_id)
    for (new_ids, new_terms), ids in groups.items():
        for chunk in chunks(sorted(ids), batch_size(session)):
            session.execute(
                update(NOTIFICATIONS)
                .where(in_ids(session, NOTIFICATIONS.c.id, chunk))
                .values(alert_ids=list(new_ids), terms=list(new_terms), also_reported_by=others)
            )


def insert_deliveries(
    session: Session,
    created: dict[int, int],
    readers: dict[int, Recipient],
    routes: dict[int, Routing],
    now: datetime,
) -> int:
    """One pending delivery per (new notification sent now or held, chosen enabled channel)."""
    waiting = sorted(u for u in created if routes[u].route in ("quick", "held"))
    rows = []
    for chunk in chunks(waiting, batch_size(session)):
        for channel_id, user_id in _channels(session, chunk):
            choice = readers[user_id].channel_choice()
            if choice is not None and channel_id not in choice:
                continue
            routing = routes[user_id]
            rows.append(delivery_row(created[user_id], channel_id, routing.hold_until or now, now))
    return len(insert_ignoring(session, DELIVERIES, rows, ["key"], [DELIVERIES.c.id]))


def delivery_row(
    notification_id: int, channel_id: int, due: datetime, now: datetime
) -> dict[str, Any]:
    """A pending delivery; its ``key`` makes writing it twice a no-op."""
    return {
        "key": f"n{notification_id}:c{channel_id}",
        "notification_id": notification_id,
        "channel_id": channel_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": naive_utc(due),
        "created_at": naive_utc(now),
    }


def _channels(session: Session, user_ids: list[int]) -> Iterable[tuple[int, int]]:
    rows = session.execute(
        select(Channel.id, Channel.user_id)
        .where(
            in_ids(session, Channel.user_id, user_ids),
            Channel.enabled.is_(True),
            Channel.kind != "inbox",
        )
        .order_by(Channel.id)
    )
    return [(channel_id, user_id) for channel_id, user_id in rows]


def insert_ignoring(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: list[Any],
) -> list[Any]:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING …`` in batches (``batch_size``);
    the rows actually inserted.

    SQLite (≥ 3.35): SQLAlchemy's dialect insert, many rows per statement.  PostgreSQL: one
    array per column, ``INSERT … SELECT … FROM unnest(…)`` — a handful of parameters per batch
    instead of one per value, which the driver would otherwise parse out of a huge statement —
    and a column whose value every row of the batch shares (the story, title, snippet … of a
    fan-out) bound once, not repeated in an array.
    """
    written: list[Any] = []
    if session.get_bind().dialect.name == "postgresql":
        for chunk in chunks(rows, PG_CHUNK):
            written += _insert_unnest(session, table, chunk, conflict, returning)
    else:
        ignoring = sqlite_insert(table).on_conflict_do_nothing(index_elements=conflict)
        stmt = ignoring.returning(*returning)
        for chunk in chunks(rows):
            written += [tuple(row) for row in session.execute(stmt, chunk)]
    return written


def write_notifications(session: Session, rows: list[dict[str, Any]]) -> dict[int, int]:
    """Notification rows, at most one per reader and story (a replay writes nothing): ``{reader:
    new notification id}``.  In the same transaction those routed to the digest are queued for
    it (``queue_for_digest``) and live inboxes are told (``inbox_changed``)."""
    queued = any(row.get("route") == "digest" for row in rows)
    returning = [*QUEUED_COLUMNS, NOTIFICATIONS.c.route] if queued else [*QUEUED_COLUMNS[:2]]
    written = insert_ignoring(session, NOTIFICATIONS, rows, ["user_id", "story_id"], returning)
    if queued:
        queue_for_digest(session, [row[:-1] for row in written if row[-1] == "digest"])
    if written:
        inbox_changed(session, (row["user_id"] for row in rows))
    return {user_id: notification_id for notification_id, user_id, *_ in written}


def queue_for_digest(session: Session, notifications: Iterable[Sequence[Any]]) -> None:
    """Queue notifications routed to the digest, in the transaction that routes them there:
    ``(id, user_id, mode, created_at)`` each (``QUEUED_COLUMNS``).  The next digest of their
    reader and mode takes them (``tidings.delivery.digests``); queueing one twice is a no-op.

    Every path that gives a notification the route ``digest`` calls this:
    ``write_notifications`` (new notifications and broadcasts) and the release of a hold past
    the budget (``tidings.delivery.outbox``)."""
    rows = [
        {"notification_id": n, "user_id": u, "mode": m, "created_at": c}
        for n, u, m, c in notifications
    ]
    if rows:
        insert_ignoring(session, QUEUE, rows, ["notification_id"], [QUEUE.c.notification_id])


def _insert_unnest(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: list[Any],
) -> list[Any]:
    dialect = session.get_bind().dialect
    names = list(rows[0])
    params: dict[str, Any] = {}
    arrays, aliases, picks = [], [], []
    for i, name in enumerate(names):
        column_type = table.c[name].type
        # Text as TEXT: the insert's own cast into a VARCHAR(n) refuses what is too long (a cast
        # to VARCHAR(n) here would cut it silently); JSON travels as text too, cast back below.
        textual = isinstance(column_type, (JSON, String))
        sql_type = "TEXT" if textual else column_type.compile(dialect=dialect)
        values = [row[name] for row in rows]
        if isinstance(column_type, JSON):  # JSON travels as text, cast back
            values = [json.dumps(value) for value in values]
        first = values[0]
        if i > 0 and all(value == first for value in values):  # (unnest needs one array)
            params[f"a{i}"] = first
            pick = f"CAST(:a{i} AS {sql_type})"
        else:
            params[f"a{i}"] = values
            arrays.append(f"CAST(:a{i} AS {sql_type}[])")
            aliases.append(f"c{i}")
            pick = f"u.c{i}"
        picks.append(f"CAST({pick} AS JSON)" if isinstance(column_type, JSON) else pick)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}) "
        f"SELECT {', '.join(picks)} FROM unnest({', '.join(arrays)}) AS u({', '.join(aliases)}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING "
        f"RETURNING {', '.join(column.name for column in returning)}"
    )
    return [tuple(row) for row in session.execute(text(sql), params)]


def chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_size(session: Session) -> int:
    """Readers (or rows) per statement: ``in_ids`` and arrays bind a batch as one parameter on
    PostgreSQL, so its batches are larger (fewer round trips); SQLite's stay within its limit
    of parameters per statement."""
    return PG_CHUNK if session.get_bind().dialect.name == "postgresql" else CHUNK


# -- live inboxes -------------------------------------------------------------------------------

INBOX_CHANNEL = "tidings_inbox"  # PostgreSQL NOTIFY channel; the payload is "<user id>,<user id>…"
INBOX_LISTENERS: list[Callable[[set[int]], None]] = []  # this process's live inboxes (SQLite)
_IDS_PER_PAYLOAD = 300  # a NOTIFY payload must stay under 8000 bytes
_CHANGED = "tidings_inbox_changed"
_LATEST_CHANGE = "tidings_latest_alert_change"


def inbox_changed(session: Session, user_ids: Iterable[int]) -> None:
    """Tell live inboxes (``GET /api/v1/events``) that these readers' inboxes changed, once this
    transaction commits — never before its rows are visible.  PostgreSQL: ``pg_notify`` in the
    transaction, delivered at commit to every process that LISTENs; SQLite: this process's
    ``INBOX_LISTENERS`` after the commit (other processes notice by polling)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        payloads = [",".join(map(str, chunk)) for chunk in chunks(ids, _IDS_PER_PAYLOAD)]
        session.execute(
            text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS TEXT[])) AS p"),
            {"channel": INBOX_CHANNEL, "payloads": payloads},
        )
        return
    pending: set[int] = session.info.setdefault(_CHANGED, set())
    if not pending:
        event.listen(session, "after_commit", _tell_listeners, once=True)
    pending.update(ids)


def _tell_listeners(session: Session) -> None:
    user_ids: set[int] = session.info.pop(_CHANGED, set())
    for listener in list(INBOX_LISTENERS):
        listener(user_ids)


# -- the hook ---------------------------------------------------------------------------------


class Notifier:
    """The ``after_store`` hook: match the article, then ``notify``.

    It keeps a ``SyncedAlertIndex`` (loaded on first use) and refreshes it whenever the alert
    change log has moved — one indexed ``max(seq)`` per article — so an alert added a moment
    ago already matches.  Safe to call from the pipeline's threads.
    """

    def __init__(
        self, db: Database, *, clock: Clock = utcnow, index: SyncedAlertIndex | None = None
    ) -> None:
        self.db, self.clock = db, clock
        self._index = index
        self._lock = threading.Lock()

    def __call__(self, session: Session, article: Article) -> None:
        if article.story_id is None:
            return
        matches = self.match(session, article)
        if matches:
            count = notify(session, article, matches, now=self.clock())
            log.info(
                "article notified",
                extra={"article_id": article.id, "alerts": len(matches), "notified": count},
            )

    def match(self, session: Session, article: Article) -> list[Match]:
        latest = self._latest_change(session)
        with self._lock:
            index = self._ready()
            if latest > index.cursor:
                index.refresh()
            if not len(index.index):  # no alerts at all: nothing to analyse the article for
                return []
            return index.match(
                MatchArticle(
                    article.id,
                    article.title or "",
                    article.text or "",
                    article.url,
                    article.language,
                )
            )

    @staticmethod
    def _latest_change(session: Session) -> int:
        """The alert change log's newest number, read once per transaction: the pipeline
        stores a batch of articles in one, and they are matched against the same alerts."""
        transaction = session.get_transaction()
        cached = session.info.get(_LATEST_CHANGE)
        if cached is None or cached[0] is not transaction:
            cached = (transaction, session.scalar(select(func.max(AlertChange.seq))) or 0)
            session.info[_LATEST_CHANGE] = cached
        return int(cached[1])

    def _ready(self) -> SyncedAlertIndex:
        if self._index is None:
            index = SyncedAlertIndex(reading_database(self.db))
            index.load()
            self._index = index  # only once loaded: a failed load is tried again next time
        return self._index


def reading_database(db: Database) -> Database:
    """A handle for the index's reads, made while this thread's write transaction is open.

    On SQLite every transaction of ``db`` begins IMMEDIATE (it takes the write lock), which the
    open article transaction holds: these reads get their own engine whose statements run
    without a transaction — a WAL reader needs no lock.  PostgreSQL: ``db`` itself.
    """
    if db.dialect != "sqlite":
        return db
    reader = Database(db.url)
    if event.contains(reader.engine, "begin", store_db._sqlite_begin_immediate):
        event.remove(reader.engine, "begin", store_db._sqlite_begin_immediate)
    return reader


__all__ = [
    "INBOX_CHANNEL",
    "INBOX_LISTENERS",
    "Notifier",
    "Recipient",
    "Routing",
    "inbox_changed",
    "notify",
    "queue_for_digest",
    "recipients",
    "route_one",
]
