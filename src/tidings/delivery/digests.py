"""Daily and weekly digests: built at each reader's own local time, sent once, never overlapping.

What a digest takes
    Notifications with ``route == "digest"`` that no digest has taken yet (``digest_id`` NULL)
    and that were created at or before the digest's cutoff.  The **daily** digest takes
    ``mode`` ``daily`` and ``quick`` (quick alerts moved to the digest past the reader's hourly
    budget: "the next digest" is the daily one, the sooner of the two); the **weekly** digest
    takes ``mode`` ``weekly``.  Every reader has both schedules: daily at ``digest_time``,
    weekly at ``digest_time`` on ``weekly_day`` (see ``tidings.delivery.timing``).

Windows: no gap, no overlap
    The digest built at ``now`` stores ``cutoff = now`` and ``window_start`` = the previous
    digest's cutoff.  Taking a notification is setting its ``digest_id``, in the same
    transaction as inserting the digest row, so each notification lands in exactly one digest
    (one created at the very cutoff instant belongs to the digest with that cutoff).  A
    notification whose transaction commits after a digest was built although it was stamped
    before the cutoff is not lost: it still has no ``digest_id`` and the next digest takes it.
    All state is in the rows, so restarts change nothing, and cutoffs are instants, so DST
    changes change nothing either.  A reader's first schedule starts at the first slot after
    they joined; their first digest takes everything before it.

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
    notification linked to the digest).  The delivery sender builds what to send with
    ``digest_message``.

Grouping (``digest_message``)
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
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidings.clock import Clock, as_utc, naive_utc, utcnow
from tidings.config import Settings
from tidings.delivery.message import DigestSection, DigestStory, Message
from tidings.delivery.timing import (
    DIGEST_MODES,
    DigestMode,
    TimeSettings,
    next_digest_at,
    parse_clock_time,
)
from tidings.secrets import cached_secret
from tidings.store.db import Database
from tidings.store.models import Alert, Channel, Delivery, Digest, Notification, Topic, User

log = logging.getLogger("tidings.digests")

COLLECTS: dict[str, tuple[str, ...]] = {"daily": ("daily", "quick"), "weekly": ("weekly",)}
DIGEST_CHANNELS = ("email", "webpush")
BATCH_SIZE = 500
RESCAN = timedelta(minutes=1)
UNSUBSCRIBE_SECRET = "unsubscribe"
OTHER_STORIES = "Other stories"

_notifications = cast(Table, Notification.__table__)
_digests = cast(Table, Digest.__table__)
_deliveries = cast(Table, Delivery.__table__)


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
    rows = session.execute(select(User.id, *columns).where(User.id.in_(ids))).all()
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
        select(User.id).where(User.id.in_(ids)).with_for_update(skip_locked=True, key_share=True)
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
    ) -> None:
        self.settings, self.db, self.clock = settings, db, clock
        self.worker_id, self.batch_size, self.rescan = worker_id, batch_size, rescan
        self._next_scan: datetime | None = None

    def __call__(self) -> int:
        return self.run_due()

    def run_due(self) -> int:
        """Build the digests that are due now; return how many (empty ones included)."""
        now = self.clock()
        if self._next_scan is not None and now < self._next_scan:
            return 0
        report = self.build(now)
        self._next_scan = min(report.next_due or now + self.rescan, now + self.rescan)
        return report.built

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
    ) -> DigestReport:
        """Build the digests due at ``now`` (with ``force``: every reader's, due or not)."""
        report = DigestReport()
        for readers in reader_batches(self.db, self.batch_size, only):
            with self.db.session() as session:
                due = self._due(session, readers, now, force, modes, report)
                write_digests(session, due, now, report)
        return report

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
    """Insert the digests, let them take their notifications, and write the outbox rows."""
    if not due:
        return
    cutoff = naive_utc(now)
    digest_ids = insert_digests(session, due, cutoff)
    for mode in DIGEST_MODES:
        take_notifications(session, {k: v for k, v in digest_ids.items() if k[1] == mode}, cutoff)
    counts = count_taken(session, digest_ids)
    record_counts(session, digest_ids, counts)
    full = {key: digest_id for key, digest_id in digest_ids.items() if counts.get(digest_id)}
    write_inbox_entries(session, full, counts, cutoff)
    write_deliveries(session, full, cutoff)
    report.built += len(digest_ids)
    report.sent += len(full)
    report.empty += len(digest_ids) - len(full)
    report.notifications += sum(counts.values())
    report.readers.update(reader_id for reader_id, _ in full)


def insert_digests(
    session: Session, due: list[DueDigest], cutoff: datetime
) -> dict[tuple[int, str], int]:
    """Insert the digest rows; a row whose (user, mode, cutoff) exists already is skipped.
    Returns ``{(reader, mode): digest id}`` for the rows inserted."""
    rows = [
        {
            "user_id": d.reader_id,
            "mode": d.mode,
            "window_start": naive_utc(d.window_start) if d.window_start else None,
            "cutoff": cutoff,
            "notification_count": 0,
            "sent": False,
            "created_at": cutoff,
        }
        for d in due
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Digest)
        .on_conflict_do_nothing(index_elements=["user_id", "mode", "cutoff"])
        .returning(Digest.id, Digest.user_id, Digest.mode)
    )
    inserted = session.connection().execute(statement, rows)
    return {(row.user_id, row.mode): row.id for row in inserted}


def take_notifications(
    session: Session, digest_ids: dict[tuple[int, str], int], cutoff: datetime
) -> None:
    """Give each digest the untaken notifications of its reader and mode up to the cutoff."""
    if not digest_ids:
        return
    mode = next(iter(digest_ids))[1]
    statement = (
        update(_notifications)
        .where(
            _notifications.c.user_id == bindparam("b_user"),
            _notifications.c.route == "digest",
            _notifications.c.digest_id.is_(None),
            _notifications.c.created_at <= cutoff,
            _notifications.c.kind != "digest",
            or_(*(_notifications.c.mode == collected for collected in COLLECTS[mode])),
        )
        .values(digest_id=bindparam("b_digest"))
    )
    params = [{"b_user": user, "b_digest": digest} for (user, _), digest in digest_ids.items()]
    session.connection().execute(statement, params)


def count_taken(session: Session, digest_ids: dict[tuple[int, str], int]) -> dict[int, int]:
    """How many notifications each digest took (by reader and route, so the index serves it)."""
    if not digest_ids:
        return {}
    readers = sorted({reader for reader, _ in digest_ids})
    query = (
        select(Notification.digest_id, func.count())
        .where(
            Notification.user_id.in_(readers),
            Notification.route == "digest",
            Notification.digest_id.in_(list(digest_ids.values())),
            Notification.kind != "digest",
        )
        .group_by(Notification.digest_id)
    )
    return {digest_id: count for digest_id, count in session.execute(query) if digest_id}


def record_counts(
    session: Session, digest_ids: dict[tuple[int, str], int], counts: dict[int, int]
) -> None:
    statement = (
        update(_digests)
        .where(_digests.c.id == bindparam("b_id"))
        .values(notification_count=bindparam("b_count"), sent=bindparam("b_sent"))
    )
    params = [
        {
            "b_id": digest_id,
            "b_count": counts.get(digest_id, 0),
            "b_sent": bool(counts.get(digest_id)),
        }
        for digest_id in digest_ids.values()
    ]
    session.connection().execute(statement, params)


def digest_title(mode: str, count: int) -> str:
    """ "Your daily digest: 12 stories"."""
    return f"Your {mode} digest: {count} {'story' if count == 1 else 'stories'}"


def summary_line(count: int) -> str:
    """ "12 new stories for your alerts"."""
    return f"{count} new {'story' if count == 1 else 'stories'} for your alerts"


def write_inbox_entries(
    session: Session, digest_ids: dict[tuple[int, str], int], counts: dict[int, int], now: datetime
) -> None:
    """One inbox entry per sent digest: a ``digest`` notification linked to it."""
    rows: list[dict[str, Any]] = [
        {
            "user_id": reader,
            "kind": "digest",
            "story_id": None,
            "title": digest_title(mode, counts[digest_id]),
            "snippet": summary_line(counts[digest_id]),
            "alert_ids": [],
            "terms": [],
            "also_reported_by": 0,
            "mode": mode,
            "route": "digest",
            "digest_id": digest_id,
            "created_at": now,
        }
        for (reader, mode), digest_id in digest_ids.items()
    ]
    if rows:
        session.connection().execute(insert(_notifications), rows)


def write_deliveries(
    session: Session, digest_ids: dict[tuple[int, str], int], now: datetime
) -> None:
    """The outbox rows: one per enabled email and Web Push channel of each sent digest's reader."""
    if not digest_ids:
        return
    readers = sorted({reader for reader, _ in digest_ids})
    channels = session.execute(
        select(Channel.id, Channel.user_id).where(
            Channel.user_id.in_(readers), Channel.kind.in_(DIGEST_CHANNELS), Channel.enabled
        )
    ).all()
    by_reader: dict[int, list[int]] = {}
    for channel_id, reader in channels:
        by_reader.setdefault(reader, []).append(channel_id)
    rows: list[dict[str, Any]] = [
        delivery_row(digest_id, channel_id, now)
        for (reader, _), digest_id in digest_ids.items()
        for channel_id in by_reader.get(reader, [])
    ]
    if rows:
        session.connection().execute(insert(_deliveries), rows)


def delivery_row(digest_id: int, channel_id: int, now: datetime) -> dict[str, Any]:
    return {
        "key": f"d{digest_id}:c{channel_id}",
        "notification_id": None,
        "digest_id": digest_id,
        "channel_id": channel_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


# -- What the sender sends ----------------------------------------------------------------


def digest_message(
    session: Session, digest_id: int, channel_kind: str, settings: Settings | None = None
) -> Message:
    """The message for one digest on one channel kind.

    Email: the whole digest, grouped by alert then story, with the reader's one-click
    unsubscribe link.  Any other kind (Web Push): one summary, "12 new stories for your
    alerts", linking to the inbox, tagged ``digest-{id}``.  ``settings`` give the base URL and
    the data dir (for the unsubscribe secret); without them they are read from the environment.
    """
    settings = settings or Settings.from_env()
    digest = session.get(Digest, digest_id)
    if digest is None:
        raise LookupError(f"digest {digest_id} does not exist")
    summary = Message(
        tag=f"digest-{digest.id}",
        title=digest_title(digest.mode, digest.notification_count),
        body=summary_line(digest.notification_count),
        url=f"{settings.base_url.rstrip('/')}/inbox",
        source="Tidings",
        kind="digest",
    )
    if channel_kind != "email":
        return summary
    sections = digest_sections(session, digest)
    return _email_message(summary, sections, unsubscribe_url(settings, digest.user_id))


def _email_message(summary: Message, sections: list[DigestSection], unsubscribe: str) -> Message:
    return Message(
        tag=summary.tag,
        title=summary.title,
        body=summary.body,
        url=summary.url,
        source=summary.source,
        kind=summary.kind,
        sections=tuple(sections),
        unsubscribe_url=unsubscribe,
    )


def digest_notifications(session: Session, digest: Digest) -> list[Notification]:
    """The stories a digest took, newest first."""
    query = (
        select(Notification)
        .where(
            Notification.user_id == digest.user_id,
            Notification.route == "digest",
            Notification.digest_id == digest.id,
            Notification.kind != "digest",
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    return list(session.scalars(query))


def section_headings(session: Session, alert_ids: set[int]) -> dict[int, str]:
    """``{alert id: heading}``: the query in quotes, or the followed topic's name."""
    if not alert_ids:
        return {}
    rows = session.execute(
        select(Alert.id, Alert.query, Topic.name)
        .outerjoin(Topic, and_(Alert.topic_id == Topic.id))
        .where(Alert.id.in_(sorted(alert_ids)))
    ).all()
    return {alert_id: (topic or f"\u201c{query}\u201d") for alert_id, query, topic in rows}


def digest_sections(session: Session, digest: Digest) -> list[DigestSection]:
    """The digest grouped by alert (in alert order), then story (newest first)."""
    notifications = digest_notifications(session, digest)
    headings = section_headings(session, {a for n in notifications for a in (n.alert_ids or [])})
    order = sorted(headings)
    grouped: dict[int | None, list[DigestStory]] = {}
    for notification in notifications:
        known = [a for a in order if a in set(notification.alert_ids or [])]
        if not known:
            grouped.setdefault(None, []).append(story_of(notification))
            continue
        grouped.setdefault(known[0], []).append(story_of(notification))
        for other in known[1:]:
            grouped.setdefault(other, []).append(story_of(notification, see=headings[known[0]]))
    sections = [DigestSection(headings[a], tuple(grouped[a])) for a in order if a in grouped]
    if None in grouped:
        sections.append(DigestSection(OTHER_STORIES, tuple(grouped[None])))
    return sections


def story_of(notification: Notification, see: str = "") -> DigestStory:
    return DigestStory(
        title=notification.title,
        url=notification.url or "",
        source=notification.source or "",
        byline=notification.byline or "",
        published=as_utc(notification.published),
        snippet=notification.snippet or "",
        snippet_html=notification.snippet_html or "",
        also_reported_by=notification.also_reported_by or 0,
        see_section=see,
    )


# -- One-click unsubscribe ----------------------------------------------------------------


def unsubscribe_secret(settings: Settings) -> bytes:
    return cached_secret(Path(settings.data_dir).resolve(), UNSUBSCRIBE_SECRET)


def unsubscribe_token(settings: Settings, user_id: int, purpose: str = "digest") -> str:
    """``{user}.{purpose}.{HMAC}``: names the reader and what to stop, and cannot be forged."""
    return f"{user_id}.{purpose}.{_mac(unsubscribe_secret(settings), user_id, purpose)}"


def unsubscribe_url(settings: Settings, user_id: int, purpose: str = "digest") -> str:
    return f"{settings.base_url.rstrip('/')}/unsubscribe/{unsubscribe_token(settings, user_id, purpose)}"


def verify_unsubscribe_token(token: str, settings: Settings, purpose: str = "digest") -> int | None:
    """The reader a genuine token of ``purpose`` names; None for anything else."""
    user, _, rest = token.partition(".")
    token_purpose, _, mac = rest.partition(".")
    if not user.isdigit() or token_purpose != purpose or not mac:
        return None
    expected = _mac(unsubscribe_secret(settings), int(user), purpose)
    return int(user) if hmac.compare_digest(mac, expected) else None


def _mac(secret: bytes, user_id: int, purpose: str) -> str:
    digest = hmac.new(secret, f"unsubscribe:{user_id}:{purpose}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
