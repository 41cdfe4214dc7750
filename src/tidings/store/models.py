"""The system of record.  Every table Tidings keeps, in the words of the pipeline.

Times are stored as UTC.  SQLite hands them back naive; use ``tidings.clock.as_utc``.
"""

from __future__ import annotations

from datetime import datetime

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
    """A reader (or admin).  Delivery settings arrive with the delivery issue."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Alert(Base):
    """A reader's standing alert: a query in the alert language and how to deliver matches."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    query: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(8), default="quick")  # quick | daily | weekly
    channels: Mapped[list[str] | None] = mapped_column(JSON)
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
