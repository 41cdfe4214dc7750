"""Daily and weekly digests: built at each reader's own local time, sent once, never overlapping.

What a digest takes
    Notifications routed to the digest (``route == "digest"``) wait in the digest queue (a
    narrow ``digest_queue`` row: notification, reader, mode, time, written with the routing:
    ``tidings.delivery.notify.queue_for_digest``) until a digest takes those created at or
    before its cutoff.  The **daily** digest takes ``mode`` ``daily`` and ``quick`` (quick alerts
    moved to the digest past the reader's hourly budget: "the next digest" is the daily one, the
    sooner of the two); the **weekly** digest takes ``mode`` ``weekly``.  Every reader has both
    schedules: daily at ``digest_time``, weekly at ``digest_time`` on ``weekly_day`` (see
    ``tidings.delivery.timing``).

Windows: no gap, no overlap
    The digest built at ``now`` stores ``cutoff = now`` and ``window_start`` = the previous
    digest's cutoff.  Taking a notification is moving its queue row into ``digest_items``
    (notification → digest, the notification its primary key), in the same transaction as
    inserting the digest row — on PostgreSQL in one statement, the queue rows deleted and
    their items inserted from what the delete returned; SQLite's transaction holds the only
    write lock — so each notification lands in exactly one digest (one created at the very
    cutoff instant belongs to the digest with that cutoff), and the notification row itself is
    never rewritten.  A notification whose transaction commits after a digest was built
    although it was stamped before the cutoff is not lost: it is still queued and the next
    digest takes it.  All state is in the rows, so restarts change nothing, and cutoffs are
    instants, so DST changes change nothing either.  A reader's first schedule starts at the
    first slot after they joined; their first digest takes everything before it.

Exactly one digest per slot
    Before building, the reader's latest cutoff is read again inside the building transaction
    (on PostgreSQL after locking the reader's row ``FOR NO KEY UPDATE SKIP LOCKED``, so
    concurrent schedulers share the readers instead of waiting; SQLite serializes writers).  A
    reader whose latest digest has a cutoff at or after ``now`` is skipped, and the unique
    ``(user, mode, cutoff)`` makes a replayed build insert nothing: a no-op.

Sending
    An empty digest is recorded (the schedule moves on) but not sent: ``sent`` False, no
    deliveries, no inbox entry.  Otherwise, in the same transaction: one ``Delivery`` per
    enabled email and Web Push channel of the reader (key ``d{digest}:c{channel}``; the email
    carries the whole digest, the push is one summary) and the inbox entry (a ``digest``
    notification linked to the digest).  The delivery sender (``tidings.delivery.outbox``)
    builds the messages of the digests in a claimed batch at once with ``digest_messages``: a
    few queries for the batch, the rows as the driver gives them.

Statistics
    On PostgreSQL a pass analyses the tables it fills (digests, their items, deliveries) once it
    has built ``ANALYZE_AFTER`` (5,000) digests, again each time it has built twice as many as
    at the last analysis (10,000, 20,000, …), and at its end: the senders, sending meanwhile
    (``Worker.run`` builds in a thread of its own), plan on rows most of which are new to the
    planner — autovacuum analyses a minute later at best, never where it is off.  On stale
    statistics each claim read and sorted every pending delivery and each batch's stories
    were looked up the slow way: 0.8 ms of server CPU per digest email instead of 0.2.

Grouping (``digest_messages``)
    Sections follow the reader's alerts in the order they made them (alert id); a followed
    topic's section is headed by the topic's name.  Within a section the newest story comes
    first.  A story matched by several alerts is shown in full under the first of them and
    listed by title, with a pointer to that section, under the others.  Stories whose alerts
    were deleted since are under "Other stories".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    Dialect,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidings.clock import Clock, as_utc, naive_utc, utcnow
from tidings.config import Settings
from tidings.delivery.message import DigestSection, DigestStory, Message
from tidings.delivery.notify import inbox_changed
from tidings.delivery.timing import (
    DIGEST_MODES,
    DigestMode,
    TimeSettings,
    next_digest_at,
    parse_clock_time,
)
from tidings.secrets import cached_secret
from tidings.store.db import Database
from tidings.store.ids import ids_parameter, ids_value, in_bound_ids, in_ids
from tidings.store.models import (
    Alert,
    Channel,
    Delivery,
    Digest,
    DigestItem,
    DigestQueue,
    Notification,
    Topic,
    User,
)

log = logging.getLogger("tidings.digests")

COLLECTS: dict[str, tuple[str, ...]] = {"daily": ("daily", "quick"), "weekly": ("weekly",)}
DIGEST_CHANNELS = ("email", "webpush")
BATCH_SIZE = 2000  # readers per transaction: a handful of statements each
RESCAN = timedelta(minutes=1)
ANALYZE_AFTER = 5000  # digests built in one pass past which their tables are analysed (PostgreSQL)
UNSUBSCRIBE_SECRET = "unsubscribe"
OTHER_STORIES = "Other stories"

_notifications = cast(Table, Notification.__table__)
_digests = cast(Table, Digest.__table__)
_deliveries = cast(Table, Delivery.__table__)
_queue = cast(Table, DigestQueue.__table__)
_items = cast(Table, DigestItem.__table__)


# -- Readers and due-ness -----------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """What scheduling needs of a user."""

    id: int
    time: TimeSettings
    joined: datetime


@dataclass(frozen=True)
class DueDigest:
    """A digest to build: ``window_start`` is the previous cutoff (None for the first)."""

    reader_id: int
    mode: DigestMode
    window_start: datetime | None


@dataclass
class DigestReport:
    """What one pass built: digests (empty ones included), notifications taken, and the
    earliest instant another reader's digest falls due (None when nothing was scanned)."""

    built: int = 0
    sent: int = 0
    empty: int = 0
    notifications: int = 0
    readers: set[int] = field(default_factory=set)
    next_due: datetime | None = None

    def saw_next_due(self, instant: datetime) -> None:
        if self.next_due is None or instant < self.next_due:
            self.next_due = instant


@lru_cache(maxsize=4096)
def time_settings(timezone: str, digest_time: str, weekly_day: int) -> TimeSettings:
    return TimeSettings(timezone, parse_clock_time(digest_time, "digest time"), weekly_day)


@lru_cache(maxsize=65536)
def next_slot(settings: TimeSettings, after: datetime, mode: DigestMode) -> datetime:
    """``next_digest_at``, remembered: readers sharing a zone and time share their answers
    (and every digest of a pass has the same cutoff)."""
    return next_digest_at(settings, after, mode)


def reader_from_row(row: Any) -> Reader | None:
    """The reader of a user row; None (logged) when their stored time settings are unusable."""
    try:
        settings = time_settings(row.timezone, row.digest_time, row.weekly_day)
    except ValueError as exc:
        log.warning(
            "digest skipped: bad time settings", extra={"user_id": row.id, "error": str(exc)}
        )
        return None
    return Reader(row.id, settings, as_utc(row.created_at) or utcnow())


def reader_batches(
    session_factory: Database, batch_size: int, only: Sequence[int] | None
) -> Iterator[list[Reader]]:
    """Readers in id order, ``batch_size`` at a time (keyset pages: memory stays flat)."""
    after = 0
    while True:
        with session_factory.session() as session:
            query = select(
                User.id, User.timezone, User.digest_time, User.weekly_day, User.created_at
            )
            query = query.where(User.id > after).order_by(User.id).limit(batch_size)
            if only is not None:
                query = query.where(User.id.in_(only))
            rows = session.execute(query).all()
        if not rows:
            return
        after = rows[-1].id
        yield [reader for row in rows if (reader := reader_from_row(row)) is not None]


def latest_cutoffs(session: Session, reader_ids: Iterable[int]) -> dict[tuple[int, str], datetime]:
    """Each reader's latest digest cutoff per mode, in one query (an index probe per reader)."""
    ids = list(reader_ids)
    if not ids:
        return {}
    columns = [
        select(func.max(Digest.cutoff))
        .where(Digest.user_id == User.id, Digest.mode == mode)
        .scalar_subquery()
        .label(mode)
        for mode in DIGEST_MODES
    ]
    rows = session.execute(select(User.id, *columns).where(in_ids(session, User.id, ids))).all()
    latest: dict[tuple[int, str], datetime] = {}
    for row in rows:
        for mode in DIGEST_MODES:
            cutoff = as_utc(getattr(row, mode))
            if cutoff is not None:
                latest[(row.id, mode)] = cutoff
    return latest


def lock_readers(session: Session, reader_ids: Iterable[int]) -> set[int]:
    """On PostgreSQL, lock the readers' rows for this transaction, skipping those another
    scheduler holds; SQLite already serializes writers.  Returns the ids now ours."""
    ids = sorted(set(reader_ids))
    if not ids or session.get_bind().dialect.name != "postgresql":
        return set(ids)
    query = (
        select(User.id)
        .where(in_ids(session, User.id, ids))
        .with_for_update(skip_locked=True, key_share=True)
    )
    return set(session.execute(query).scalars())


# -- Building -----------------------------------------------------------------------------


class DigestScheduler:
    """Builds every digest that is due; a worker task (``run_due`` returns digests built).

    A pass scans the readers in batches; between passes it sleeps until the earliest next
    digest of any reader, or ``rescan`` at most (so new readers and changed settings count).
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock = utcnow,
        worker_id: str = "digests",
        batch_size: int = BATCH_SIZE,
        rescan: timedelta = RESCAN,
        analyze_after: int = ANALYZE_AFTER,
    ) -> None:
        self.settings, self.db, self.clock = settings, db, clock
        self.worker_id, self.batch_size, self.rescan = worker_id, batch_size, rescan
        self.analyze_after = analyze_after
        self._next_scan: datetime | None = None

    def __call__(self) -> int:
        return self.run_due()

    def run_due(self, stop: threading.Event | None = None) -> int:
        """Build the digests that are due now; return how many (empty ones included).  Once
        ``stop`` is set no further batch of readers is begun (the rest are built by the next
        pass, here or in another worker)."""
        now = self.clock()
        if self._next_scan is not None and now < self._next_scan:
            return 0
        report = self.build(now, stop=stop)
        if stop is not None and stop.is_set():
            return report.built
        self._next_scan = min(report.next_due or now + self.rescan, now + self.rescan)
        return report.built

    def seconds_to_next_scan(self) -> float:
        """How long ``run_due`` has nothing to do (0 before the first pass)."""
        if self._next_scan is None:
            return 0.0
        return max(0.0, (self._next_scan - self.clock()) / timedelta(seconds=1))

    def send_now(
        self, reader_ids: Sequence[int] | None = None, mode: DigestMode = "daily"
    ) -> DigestReport:
        """Build each reader's (or these readers') digest now, whatever the hour."""
        return self.build(self.clock(), force=True, modes=(mode,), only=reader_ids)

    def build(
        self,
        now: datetime,
        *,
        force: bool = False,
        modes: Sequence[DigestMode] = DIGEST_MODES,
        only: Sequence[int] | None = None,
        stop: threading.Event | None = None,
    ) -> DigestReport:
        """Build the digests due at ``now`` (with ``force``: every reader's, due or not),
        batch by batch until done or ``stop`` is set."""
        report = DigestReport()
        analysed = 0  # digests built by this pass when it last analysed their tables
        for readers in reader_batches(self.db, self.batch_size, only):
            if stop is not None and stop.is_set():
                break
            with self.db.session() as session:
                due = self._due(session, readers, now, force, modes, report)
                write_digests(session, due, now, report)
            if report.built >= max(self.analyze_after, 2 * analysed):
                analysed = self._analyse(report.built)
        stopped = stop is not None and stop.is_set()
        if report.built >= self.analyze_after and report.built > analysed and not stopped:
            self._analyse(report.built)
        return report

    def _analyse(self, built: int) -> int:
        """PostgreSQL: fresh statistics for the tables a pass fills (see "Statistics" in the
        module docstring); returns ``built``."""
        if self.db.dialect == "postgresql":
            with self.db.session() as session:
                session.execute(text("ANALYZE digests, digest_items, deliveries"))
        return built

    def _due(
        self,
        session: Session,
        readers: list[Reader],
        now: datetime,
        force: bool,
        modes: Sequence[DigestMode],
        report: DigestReport,
    ) -> list[DueDigest]:
        due = due_digests(
            readers, latest_cutoffs(session, (r.id for r in readers)), now, force, modes, report
        )
        if not due or session.get_bind().dialect.name != "postgresql":
            return due  # SQLite: this transaction holds the one write lock; nothing changed
        locked = lock_readers(session, (d.reader_id for d in due))
        latest = latest_cutoffs(session, locked)
        return [
            d
            for d in due
            if d.reader_id in locked and latest.get((d.reader_id, d.mode)) == d.window_start
        ]


def due_digests(
    readers: list[Reader],
    latest: dict[tuple[int, str], datetime],
    now: datetime,
    force: bool,
    modes: Sequence[DigestMode],
    report: DigestReport,
) -> list[DueDigest]:
    """The digests of ``readers`` due at ``now``; notes each reader's next slot in ``report``."""
    due: list[DueDigest] = []
    for reader in readers:
        for mode in modes:
            previous = latest.get((reader.id, mode))
            if previous is not None and previous >= now:
                continue  # built already (a replay, or another worker's clock ran ahead)
            upcoming = next_slot(reader.time, previous or reader.joined, mode)
            if force or upcoming <= now:  # timing.digest_due, with the slot remembered
                due.append(DueDigest(reader.id, mode, previous))
                report.saw_next_due(next_slot(reader.time, now, mode))
            else:
                report.saw_next_due(upcoming)
    return due


def write_digests(
    session: Session, due: list[DueDigest], now: datetime, report: DigestReport
) -> None:
    """Insert the digests, let them take their notifications, and write the outbox rows: a
    handful of statements for the whole batch of readers, whatever its size."""
    if not due:
        return
    cutoff = naive_utc(now)
    digest_ids = insert_digests(session, due, cutoff)
    full: list[Counted] = []
    for mode in DIGEST_MODES:
        ids = [v for (_, m), v in digest_ids.items() if m == mode]
        full += take_notifications(session, ids, mode, cutoff)
    write_inbox_entries(session, full, cutoff)
    write_deliveries(session, [digest.id for digest in full], cutoff)
    report.built += len(digest_ids)
    report.sent += len(full)
    report.empty += len(digest_ids) - len(full)
    report.notifications += sum(digest.count for digest in full)
    report.readers.update(digest.reader_id for digest in full)


def insert_digests(
    session: Session, due: list[DueDigest], cutoff: datetime
) -> dict[tuple[int, str], int]:
    """Insert the digest rows, one ``INSERT … SELECT`` per mode for the whole batch: the
    window starts at the reader's latest cutoff of that mode, read in the same statement (the
    value ``due`` was decided on: this transaction holds the readers).  A row whose (user, mode,
    cutoff) exists already is skipped.  Returns ``{(reader, mode): digest id}`` of the rows
    inserted."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    users, d = cast(Table, User.__table__), _digests.c
    inserted: dict[tuple[int, str], int] = {}
    for mode in DIGEST_MODES:
        readers = [digest.reader_id for digest in due if digest.mode == mode]
        if not readers:
            continue
        previous = (
            select(func.max(d.cutoff))
            .where(d.user_id == users.c.id, d.mode == mode)
            .scalar_subquery()
        )
        rows = select(
            users.c.id,
            literal(mode),
            previous,
            literal(cutoff, DateTime),
            literal(0),
            literal(False),
            literal(cutoff, DateTime),
        ).where(in_ids(session, users.c.id, readers))
        columns = ["user_id", "mode", "window_start", "cutoff"]
        columns += ["notification_count", "sent", "created_at"]
        statement = (
            dialect.insert(_digests)
            .from_select(columns, rows)
            .on_conflict_do_nothing(index_elements=["user_id", "mode", "cutoff"])
            .returning(d.id, d.user_id)
        )
        for digest_id, reader_id in session.connection().execute(statement):
            inserted[(reader_id, mode)] = digest_id
    return inserted


def take_notifications(
    session: Session, digest_ids: list[int], mode: str, cutoff: datetime
) -> list[Counted]:
    """Give each of these ``mode`` digests its reader's queued notifications up to the cutoff:
    their queue rows become digest items, and each digest that took any records how many (and
    ``sent``).  Returns those digests; the others stay empty.

    PostgreSQL: one statement — the queue rows deleted (an index range per reader), their
    items inserted and the digests counted from what the delete returned, so nothing committed
    meanwhile can slip between taking and dequeuing.  SQLite (this transaction holds the only
    write lock): the items inserted, then their queue rows deleted, then the counts."""
    if not digest_ids:
        return []
    q, d, i = _queue.c, _digests.c, _items.c
    queued = and_(
        in_ids(session, d.id, digest_ids),
        q.user_id == d.user_id,
        q.mode.in_(COLLECTS[mode]),
        q.created_at <= cutoff,
    )
    counting = update(_digests)
    if session.get_bind().dialect.name == "postgresql":
        moved = (
            delete(_queue)
            .where(queued)
            .returning(q.notification_id, d.id.label("digest_id"))
            .cte("moved")
        )
        taken = insert(_items).from_select(
            ["notification_id", "digest_id"], select(moved.c.notification_id, moved.c.digest_id)
        )
        counts = select(moved.c.digest_id, func.count().label("n")).group_by(moved.c.digest_id)
        counting = counting.add_cte(taken.cte("taken"))
    else:
        rows = select(q.notification_id, d.id).where(queued)
        session.connection().execute(
            insert(_items).from_select(["notification_id", "digest_id"], rows)
        )
        ours = in_ids(session, i.digest_id, digest_ids)
        session.connection().execute(
            delete(_queue).where(q.notification_id.in_(select(i.notification_id).where(ours)))
        )
        counts = select(i.digest_id, func.count().label("n")).where(ours).group_by(i.digest_id)
    counted = counts.subquery()
    statement = (
        counting.where(d.id == counted.c.digest_id)
        .values(notification_count=counted.c.n, sent=True)
        .returning(d.id, d.user_id, d.notification_count)
    )
    return [Counted(*row) for row in session.connection().execute(statement)]


@dataclass(frozen=True)
class Counted:
    """A digest just built and how many notifications it took."""

    id: int
    reader_id: int
    count: int


def digest_title(mode: str, count: int) -> str:
    """ "Your daily digest: 12 stories" (``digest_title_sql`` says the same in SQL)."""
    return f"Your {mode} digest: {count} {stories(count)}"


def summary_line(count: int) -> str:
    """ "12 new stories for your alerts" (``summary_line_sql`` says the same in SQL)."""
    return f"{count} new {stories(count)} for your alerts"


def stories(count: int) -> str:
    return "story" if count == 1 else "stories"


def digest_title_sql(mode: Any, count: Any) -> Any:
    """``digest_title`` as a SQL expression of a digest row's columns."""
    return (
        literal("Your ") + mode + literal(" digest: ") + cast_(count, String) + stories_sql(count)
    )


def summary_line_sql(count: Any) -> Any:
    """``summary_line`` as a SQL expression."""
    return cast_(count, String) + literal(" new") + stories_sql(count) + literal(" for your alerts")


def stories_sql(count: Any) -> Any:
    return case((count == 1, literal(" story")), else_=literal(" stories"))


def write_inbox_entries(session: Session, digests: list[Counted], now: datetime) -> None:
    """One inbox entry per sent digest: a ``digest`` notification linked to it, written by one
    ``INSERT … SELECT`` from the digest rows."""
    if not digests:
        return
    d, n = _digests.c, _notifications.c
    entries = select(
        d.user_id,
        literal("digest"),
        digest_title_sql(d.mode, d.notification_count),
        summary_line_sql(d.notification_count),
        literal([], n.alert_ids.type),
        literal([], n.terms.type),
        literal(0),
        d.mode,
        literal("digest"),
        d.id,
        literal(now, DateTime),
    ).where(in_ids(session, d.id, [digest.id for digest in digests]))
    columns = ["user_id", "kind", "title", "snippet", "alert_ids", "terms", "also_reported_by"]
    columns += ["mode", "route", "digest_id", "created_at"]
    session.connection().execute(insert(_notifications).from_select(columns, entries))
    inbox_changed(session, {digest.reader_id for digest in digests})  # live inboxes, at commit


def write_deliveries(session: Session, digest_ids: list[int], now: datetime) -> None:
    """The outbox rows: one per enabled email and Web Push channel of each sent digest's
    reader, keyed ``d{digest}:c{channel}``; one ``INSERT … SELECT`` for the batch."""
    if not digest_ids:
        return
    d, c = _digests.c, cast(Table, Channel.__table__).c
    key = literal("d") + cast_(d.id, String) + literal(":c") + cast_(c.id, String)
    rows = (
        select(
            key,
            d.id,
            c.id,
            literal("pending"),
            literal(0),
            literal(now, DateTime),
            literal(now, DateTime),
        )
        .select_from(_digests.join(Channel.__table__, c.user_id == d.user_id))
        .where(in_ids(session, d.id, digest_ids), c.kind.in_(DIGEST_CHANNELS), c.enabled)
    )
    columns = [
        "key",
        "digest_id",
        "channel_id",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    session.connection().execute(insert(_deliveries).from_select(columns, rows))


# -- What the sender sends ----------------------------------------------------------------


def digest_message(
    session: Session, digest_id: int, channel_kind: str, settings: Settings | None = None
) -> Message:
    """The message for one digest on one channel kind (``digest_messages`` of one digest).

    Email: the whole digest, grouped by alert then story, with the reader's one-click
    unsubscribe link.  Any other kind (Web Push): one summary, "12 new stories for your
    alerts", linking to the inbox, tagged ``digest-{id}``.  ``settings`` give the base URL and
    the data dir (for the unsubscribe secret); without them they are read from the environment.
    """
    message = digest_messages(session, [digest_id], channel_kind, settings).get(digest_id)
    if message is None:
        raise LookupError(f"digest {digest_id} does not exist")
    return message


def digest_messages(
    session: Session, digest_ids: Sequence[int], channel_kind: str, settings: Settings | None = None
) -> dict[int, Message]:
    """``{digest id: message}`` for several digests on one channel kind (missing ids left out),
    read with three queries whatever their number: the digests, their stories, the headings."""
    settings = settings or Settings.from_env()
    d = _digests.c
    digests = (
        session.connection()
        .execute(
            select(d.id, d.user_id, d.mode, d.notification_count).where(
                in_ids(session, d.id, digest_ids)
            )
        )
        .all()
    )
    inbox = f"{settings.base_url.rstrip('/')}/inbox"
    if channel_kind != "email" or not digests:
        return {
            digest_id: _digest_message(digest_id, mode, count, inbox)
            for digest_id, _, mode, count in digests
        }
    stories = digest_stories(session, [digest.id for digest in digests])
    alert_lists = {row[-1] for rows in stories.values() for row in rows}
    headings = section_headings(session, {a for text in alert_lists for a in stored_ids(text)})
    links = UnsubscribeLinks(settings)
    return {
        digest_id: _digest_message(
            digest_id,
            mode,
            count,
            inbox,
            digest_sections(stories.get(digest_id, []), headings),
            links.url(reader_id),
        )
        for digest_id, reader_id, mode, count in digests
    }


def _digest_message(
    digest_id: int,
    mode: str,
    count: int,
    inbox: str,
    sections: list[DigestSection] | None = None,
    unsubscribe: str = "",
) -> Message:
    """A digest's message: the summary (a push, the inbox entry's words), and for an email
    its sections and the reader's unsubscribe link."""
    return Message(
        tag=f"digest-{digest_id}",
        title=digest_title(mode, count),
        body=summary_line(count),
        url=inbox,
        source="Tidings",
        kind="digest",
        sections=tuple(sections or ()),
        unsubscribe_url=unsubscribe,
    )


def digest_stories(session: Session, digest_ids: list[int]) -> dict[int, list[Any]]:
    """The stories each digest took, newest first: one query, an index range of its items per
    digest and a primary-key probe per story.  Rows as the driver's own tuples (JSON and times
    as text, parsed by ``stored_ids`` and ``stored_time``: the same values recur across a
    batch) — a batch of 32 digests is ~640 rows, and SQLAlchemy's result rows cost as much
    again as fetching them."""
    connection = session.connection()
    sql, bind = _stories_sql(connection.dialect)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, bind(digest_ids))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    stories: dict[int, list[Any]] = {}
    for row in rows:
        stories.setdefault(row[0], []).append(row)
    return stories


@lru_cache(maxsize=4)
def _stories_sql(dialect: Dialect) -> tuple[str, Callable[[list[int]], Any]]:
    """The stories query compiled once for ``dialect``, and how to bind its digest ids (one
    parameter whatever their number, as ``in_ids`` does)."""
    i, n = _items.c, _notifications.c
    wanted = in_bound_ids(dialect.name, i.digest_id, ids_parameter(dialect.name, "digest_ids"))
    query = (
        select(
            i.digest_id,
            n.title,
            n.url,
            n.source,
            n.byline,
            cast_(n.published, String),
            n.snippet,
            n.snippet_html,
            n.also_reported_by,
            cast_(n.alert_ids, String),
        )
        .select_from(_items.join(_notifications, n.id == i.notification_id))
        .where(wanted)
        .order_by(i.digest_id, n.created_at.desc(), n.id.desc())
    )
    compiled = query.compile(dialect=dialect)
    if compiled.positional:  # qmark, numeric, format: the statement's one parameter
        return compiled.string, lambda digest_ids: (ids_value(dialect.name, digest_ids),)
    return compiled.string, lambda digest_ids: {"digest_ids": ids_value(dialect.name, digest_ids)}


@lru_cache(maxsize=4096)
def stored_ids(text: str | None) -> frozenset[int]:
    """A stored JSON list of alert ids (remembered a while: a reader's few combinations recur
    within their digest; kept small, as most are one reader's)."""
    return frozenset(json.loads(text)) if text else frozenset()


@lru_cache(maxsize=4096)
def stored_time(text: str | None) -> datetime | None:
    """A stored UTC time as text (either database's form), aware."""
    return as_utc(datetime.fromisoformat(text)) if text else None


def section_headings(session: Session, alert_ids: set[int]) -> dict[int, str]:
    """``{alert id: heading}``: the query in quotes, or the followed topic's name."""
    if not alert_ids:
        return {}
    a, t = cast(Table, Alert.__table__).c, cast(Table, Topic.__table__).c
    rows = (
        session.connection()
        .execute(
            select(a.id, a.query, t.name)
            .select_from(Alert.__table__.outerjoin(Topic.__table__, a.topic_id == t.id))
            .where(in_ids(session, a.id, sorted(alert_ids)))
        )
        .all()
    )
    return {alert_id: (topic or f"\u201c{query}\u201d") for alert_id, query, topic in rows}


def digest_sections(stories: list[Any], headings: dict[int, str]) -> list[DigestSection]:
    """A digest's stories (``digest_stories`` rows, newest first) grouped by alert, in alert
    order; ``headings`` names the alerts that still exist (a story of none of them is under
    "Other stories")."""
    grouped: dict[int | None, list[DigestStory]] = {}
    placed: dict[str | None, list[int]] = {}  # alert-id text -> its known alerts, in order
    for _, title, url, source, byline, published, snippet, html, also, alerts in stories:
        known = placed.get(alerts)
        if known is None:
            known = placed[alerts] = sorted(a for a in stored_ids(alerts) if a in headings)
        url = url or ""
        shown = DigestStory(
            title,
            url,
            source or "",
            byline or "",
            stored_time(published),
            snippet or "",
            html or "",
            also or 0,
        )
        if not known:
            grouped.setdefault(None, []).append(shown)
            continue
        grouped.setdefault(known[0], []).append(shown)
        for other in known[1:]:  # listed by title, pointing to where it is shown
            see = DigestStory(title, url, see_section=headings[known[0]])
            grouped.setdefault(other, []).append(see)
    order = sorted(a for a in grouped if a is not None)
    sections = [DigestSection(headings[a], tuple(grouped[a])) for a in order]
    if None in grouped:
        sections.append(DigestSection(OTHER_STORIES, tuple(grouped[None])))
    return sections


# -- One-click unsubscribe ----------------------------------------------------------------


def unsubscribe_secret(settings: Settings) -> bytes:
    return cached_secret(Path(settings.data_dir).resolve(), UNSUBSCRIBE_SECRET)


def unsubscribe_token(settings: Settings, user_id: int, purpose: str = "digest") -> str:
    """``{user}.{purpose}.{HMAC}``: names the reader and what to stop, and cannot be forged."""
    return _token(unsubscribe_secret(settings), user_id, purpose)


def unsubscribe_url(settings: Settings, user_id: int, purpose: str = "digest") -> str:
    return UnsubscribeLinks(settings).url(user_id, purpose)


class UnsubscribeLinks:
    """``unsubscribe_url`` for many readers: the base URL and the secret looked up once."""

    def __init__(self, settings: Settings) -> None:
        self.base = f"{settings.base_url.rstrip('/')}/unsubscribe/"
        self.secret = unsubscribe_secret(settings)

    def url(self, user_id: int, purpose: str = "digest") -> str:
        return self.base + _token(self.secret, user_id, purpose)


def verify_unsubscribe_token(token: str, settings: Settings, purpose: str = "digest") -> int | None:
    """The reader a genuine token of ``purpose`` names; None for anything else."""
    user, _, rest = token.partition(".")
    token_purpose, _, mac = rest.partition(".")
    if not user.isdigit() or token_purpose != purpose or not mac:
        return None
    expected = _mac(unsubscribe_secret(settings), int(user), purpose)
    return int(user) if hmac.compare_digest(mac, expected) else None


def _token(secret: bytes, user_id: int, purpose: str) -> str:
    return f"{user_id}.{purpose}.{_mac(secret, user_id, purpose)}"


def _mac(secret: bytes, user_id: int, purpose: str) -> str:
    digest = hmac.new(secret, f"unsubscribe:{user_id}:{purpose}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
