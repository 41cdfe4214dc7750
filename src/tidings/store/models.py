"""The system of record.  Every table Tidings keeps, in the words of the pipeline.

Times are stored as UTC.  SQLite hands them back naive; use ``tidings.clock.as_utc``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Source(Base):
    """A feed or page that Tidings watches.  Its next check is a row that workers claim."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="feed")  # feed | page | section
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | ok | error
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    next_check_at: Mapped[datetime] = mapped_column(DateTime)
    last_fetch_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Claim: the worker holding this source's check, and until when (a lease; a dead
    # worker's claim simply runs out and the check becomes claimable again).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    # WebSub
    hub_url: Mapped[str | None] = mapped_column(Text)
    topic_url: Mapped[str | None] = mapped_column(Text)
    websub_secret: Mapped[str | None] = mapped_column(String(128))
    websub_lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Per-source boilerplate learning: how many article pages have been seen.
    pages_seen: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_sources_due", "next_check_at"),)


class FetchAttempt(Base):
    """Every fetch a worker makes, kept: who fetched what, when, and how it went."""

    __tablename__ = "fetch_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    worker: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | error
    http_status: Mapped[int | None] = mapped_column(Integer)
    new_articles: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class SourceEntry(Base):
    """A feed entry already seen, so an unchanged entry is not fetched again."""

    __tablename__ = "source_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(64))  # sha256 of guid or link
    version: Mapped[str | None] = mapped_column(String(64))  # updated date / content hash
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("source_id", "entry_key"),)


class BoilerplateBlock(Base):
    """A text block and the number of a source's pages it appeared on."""

    __tablename__ = "boilerplate_blocks"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    block_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)


class Story(Base):
    """One news event, reported by one or more articles."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    article_count: Mapped[int] = mapped_column(Integer, default=1)


class Article(Base):
    """An extracted article.  ``url`` is its identity: canonical, tracking parameters removed."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(DateTime)
    sitename: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class User(Base):
    """A reader (or admin) and their time settings.

    Times of day are local to ``timezone`` (IANA) and stored as "HH:MM" text; quiet hours
    may cross midnight (22:00–07:00).  ``quick_budget_per_hour`` None means unlimited.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_time: Mapped[str] = mapped_column(String(5), default="07:30")
    weekly_day: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    quick_budget_per_hour: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Alert(Base):
    """A standing alert: a query in the alert language and how to deliver its matches.

    A reader's own alert has ``user_id``; a topic's alert has ``topic_id`` (and no user): its
    matches go to the topic's followers.  ``channels`` lists channel ids to deliver quick
    alerts on; None means all of the reader's channels.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), index=True
    )
    query: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(8), default="quick")  # quick | daily | weekly
    channels: Mapped[list[int] | None] = mapped_column(JSON)
    # The unguessable part of the alert's RSS feed URL (/feeds/alerts/{feed_secret}.xml).
    feed_secret: Mapped[str | None] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(24)
    )
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AlertChange(Base):
    """The alert change log: every add, change and removal, in order.

    Each worker's matching engine reads it from its own cursor (the highest ``seq`` it has
    applied) to keep its in-memory index current without a restart.
    """

    __tablename__ = "alert_changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigInteger, index=True)
    op: Mapped[str] = mapped_column(String(8))  # upsert | delete
    query: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(DateTime)


class Topic(Base):
    """A curated alert readers follow (a publisher's section, a beat).  Its query lives in
    the ``Alert`` row whose ``topic_id`` is this topic."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class TopicFollow(Base):
    """A reader follows a topic, quick or in the digest."""

    __tablename__ = "topic_follows"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    mode: Mapped[str] = mapped_column(String(8), default="quick")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Channel(Base):
    """Where a reader's alerts go: ``email`` | ``apprise`` | ``webhook`` | ``webpush``.

    ``config`` holds what the channel class needs (address; Apprise URL; webhook URL and
    secret; a browser's push subscription).  A web push channel is one device: ``endpoint``
    is its push endpoint (unique), ``last_seen_at`` when the browser last re-registered it.
    """

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    endpoint: Mapped[str | None] = mapped_column(Text, unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Digest(Base):
    """One digest of one reader: everything routed to it in ``(window_start, cutoff]``.

    The cutoff of the latest digest is where the next window starts: no gap, no overlap.
    An empty digest is recorded (the schedule moves on) but not sent (``sent`` False).
    """

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))  # daily | weekly
    window_start: Mapped[datetime | None] = mapped_column(DateTime)
    cutoff: Mapped[datetime] = mapped_column(DateTime)
    notification_count: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    # The unique constraint's index serves the lookups by (user, mode, cutoff) too: no
    # second index on the same columns (migration 0004 dropped it).
    __table_args__ = (UniqueConstraint("user_id", "mode", "cutoff"),)


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both databases."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


class Notification(Base):
    """One inbox item: a story for a reader (at most one per reader per story), or a digest.

    ``alert_ids`` lists every alert of the reader that matched; later articles of the story
    attach (``also_reported_by`` grows) instead of notifying again.  ``route`` is where it
    went: ``quick`` (channels now), ``held`` (quiet hours, until ``hold_until``) or
    ``digest`` (daily/weekly, or past the hourly budget).  A story routed to the digest waits in
    ``DigestQueue`` until a digest takes it into its ``DigestItem`` rows: taking it never
    rewrites this (wide, much indexed) row.  ``digest_id`` is set only on a ``digest`` inbox
    entry, the link to the digest it announces.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="story")  # story | digest | broadcast
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    byline: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(DateTime)
    snippet: Mapped[str | None] = mapped_column(Text)
    snippet_html: Mapped[str | None] = mapped_column(Text)
    alert_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    also_reported_by: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String(8), default="quick")  # quick | daily | weekly
    route: Mapped[str] = mapped_column(String(8), default="quick")  # quick | held | digest
    hold_until: Mapped[datetime | None] = mapped_column(DateTime)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "story_id"),
        # The inbox, newest first (partial: PostgreSQL orders by id after ``cleared_at IS NULL``
        # only this way), and its unread part: the unread count from the index alone.
        Index("ix_notifications_inbox", "user_id", "id", **_where("cleared_at IS NULL")),
        Index(
            "ix_notifications_unread",
            "user_id",
            "id",
            **_where("cleared_at IS NULL AND read_at IS NULL"),
        ),
        # The hourly budget counts a reader's quick notifications (``sent_in_last_hour``).
        Index("ix_notifications_route", "user_id", "route", "created_at"),
        # A digest's inbox entry (the only rows with a ``digest_id``): what ``ON DELETE SET
        # NULL`` of a deleted digest looks up.
        Index("ix_notifications_digest_entry", "digest_id", **_where("digest_id IS NOT NULL")),
        # The admin stats per day (``tidings.web.routes.stats``): created, clicked.
        Index("ix_notifications_created", "created_at"),
        Index("ix_notifications_clicked", "clicked_at", **_where("clicked_at IS NOT NULL")),
    )


class DigestQueue(Base):
    """A notification routed to the digest and not yet taken by one: written in the transaction
    that routes it there (``tidings.delivery.notify.queue_for_digest``), deleted by the digest
    that takes it (``tidings.delivery.digests``), which writes its ``DigestItem`` instead.

    Narrow on purpose: the next digest of a reader reads an index range of (reader, mode, time),
    and taking a notification is moving one small row, not updating the notification.
    """

    __tablename__ = "digest_queue"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(8))  # the notification's: quick | daily | weekly
    created_at: Mapped[datetime] = mapped_column(DateTime)  # the notification's

    __table_args__ = (Index("ix_digest_queue_due", "user_id", "mode", "created_at"),)


class DigestItem(Base):
    """A notification a digest took: at most one digest per notification (the primary key),
    never rewritten.  Deleted with its digest (and with the reader)."""

    __tablename__ = "digest_items"

    notification_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))

    __table_args__ = (Index("ix_digest_items_digest", "digest_id", "notification_id"),)


class Delivery(Base):
    """One notification (or digest) to one channel: the outbox row a worker claims.

    Written in the same transaction as its notification.  ``key`` makes a replayed step a
    no-op (unique: ``n{notification}:c{channel}`` or ``d{digest}:c{channel}``).  Status:
    ``pending`` → ``sent`` | ``failed`` (permanent error, or attempts exhausted).
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    # In the claim's order (``next_attempt_at``, then ``id``): a claim reads the first entries,
    # not every pending delivery (100,000 after a digest pass) to sort them.
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at", "id"),
        Index("ix_deliveries_sent", "sent_at", **_where("sent_at IS NOT NULL")),  # admin stats
        # A digest's deliveries (the only rows with a ``digest_id``): what ``ON DELETE CASCADE``
        # of a deleted digest (a deleted reader's) looks up; without it, a scan of every
        # delivery per digest.  ``notification_id`` and ``channel_id`` are indexed above.
        Index("ix_deliveries_digest", "digest_id", **_where("digest_id IS NOT NULL")),
    )


class DeliveryAttempt(Base):
    """Every attempt to send a delivery, kept."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    worker: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(
        String(16), default="running"
    )  # running | ok | temporary | permanent
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (  # admin stats: deliveries given up on, by the day of their last attempt
        Index("ix_delivery_attempts_finished", "finished_at", **_where("finished_at IS NOT NULL")),
    )


class WebSession(Base):
    """A signed-in browser.  The cookie carries a random token; only its SHA-256 is kept, so
    logging out (or a password reset) ends the session everywhere at once."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)


class ApiToken(Base):
    """A bearer token for the REST API (``tidings tokens create``); only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class PasswordReset(Base):
    """A password-reset link sent by email: the SHA-256 of its token, valid once, until
    ``expires_at``."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class RateEvent(Base):
    """One counted event for rate limits shared by every web process (a failed login per
    account and per address, a password-reset request): ``kind`` and ``key`` say whose."""

    __tablename__ = "rate_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_rate_events_kind_key_at", "kind", "key", "at"),)


class SiteSetting(Base):
    """An instance setting an admin changes at run time (``signup_enabled``), as JSON."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
