"""Alerts in the database, and matching engines kept current from it.

Every add, change and removal writes the ``Alert`` row and an ``AlertChange`` row in the same
transaction.  Writers are serialised (SQLite's ``BEGIN IMMEDIATE``; a transaction-scoped
advisory lock on PostgreSQL), so change numbers become visible in order and a reader that has
seen change ``n`` has seen every change before it.

``SyncedAlertIndex`` builds an ``AlertIndex`` from the ``alerts`` table at start, then applies
the change log from its own cursor on ``refresh()``: any number of worker processes stay
current without restarting and without talking to each other.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tidings.alerts.analysis import analyze
from tidings.alerts.engine import AlertIndex, field_tokens
from tidings.alerts.hugepages import use_huge_pages
from tidings.alerts.model import Match, MatchArticle, url_host_path
from tidings.alerts.query import QueryError, parse
from tidings.alerts.stats import TokenStats
from tidings.clock import Clock, naive_utc, utcnow
from tidings.store.db import Database
from tidings.store.models import Alert, AlertChange, Article

log = logging.getLogger(__name__)

MODES = ("quick", "daily", "weekly")
_CHANGE_LOCK = 0x7469_6469  # "tidi": the advisory lock that orders alert changes on PostgreSQL


class AlertLimitError(ValueError):
    """The reader already has as many alerts as allowed."""


class AlertNotFound(LookupError):
    """No alert with that id."""


def create_alert(
    session: Session,
    *,
    user_id: int | None,
    query: str,
    topic_id: int | None = None,
    max_alerts: int = 1000,
    mode: str = "quick",
    channels: Sequence[int] | None = None,
    clock: Clock = utcnow,
) -> Alert:
    """Add a reader's alert.  ``QueryError`` for a bad query, ``AlertLimitError`` past the cap
    (``Settings.max_alerts_per_user``)."""
    parse(query)
    _check_mode(mode)
    _serialize_changes(session)
    if user_id is not None and _alert_count(session, user_id) >= max_alerts:
        raise AlertLimitError(f"a reader may have at most {max_alerts} alerts")
    now = naive_utc(clock())
    alert = Alert(
        user_id=user_id,
        topic_id=topic_id,
        query=query,
        mode=mode,
        channels=list(channels) if channels is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    session.flush()
    _log_change(session, alert.id, "upsert", query, now)
    return alert


def update_alert(
    session: Session,
    alert_id: int,
    *,
    query: str | None = None,
    mode: str | None = None,
    channels: Sequence[int] | None = None,
    clock: Clock = utcnow,
) -> Alert:
    """Change an alert's query, mode or channels (a query change reaches every engine)."""
    if query is not None:
        parse(query)
    if mode is not None:
        _check_mode(mode)
    _serialize_changes(session)
    alert = _get(session, alert_id)
    now = naive_utc(clock())
    alert.query = query if query is not None else alert.query
    alert.mode = mode or alert.mode
    alert.channels = list(channels) if channels is not None else alert.channels
    alert.updated_at = now
    if query is not None:
        _log_change(session, alert_id, "upsert", query, now)
    return alert


def delete_alert(session: Session, alert_id: int, *, clock: Clock = utcnow) -> None:
    """Remove an alert; every engine drops it on its next refresh."""
    _serialize_changes(session)
    session.delete(_get(session, alert_id))
    _log_change(session, alert_id, "delete", None, naive_utc(clock()))


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


def _serialize_changes(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHANGE_LOCK})


def _alert_count(session: Session, user_id: int) -> int:
    return (
        session.scalar(select(func.count()).select_from(Alert).where(Alert.user_id == user_id)) or 0
    )


def _get(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return alert


def _log_change(session: Session, alert_id: int, op: str, query: str | None, now: datetime) -> None:
    session.add(AlertChange(alert_id=alert_id, op=op, query=query, changed_at=now))
    session.flush()


# --- engines that follow the database -------------------------------------------------------


class SyncedAlertIndex:
    """An ``AlertIndex`` loaded from the database and kept current through the change log."""

    def __init__(
        self, db: Database, *, stats: TokenStats | None = None, batch: int = 20_000
    ) -> None:
        self.db = db
        self.index = AlertIndex(stats if stats is not None else learn_token_stats(db))
        self.cursor = 0  # the last AlertChange.seq applied
        self.batch = batch

    def load(self) -> int:
        """Index every alert in the database; return how many.  The cursor is read first, so a
        change made while loading is applied (again, harmlessly) by the next ``refresh()``.
        Once only: on an index already loaded the cursor would skip the deletions in between
        (``refresh()`` is what keeps it current)."""
        if self.cursor or len(self.index):
            raise RuntimeError("this alert index is loaded already: refresh() it instead")
        # Each posting's matches are made side by side once the rows are read (and the read
        # transaction is over).
        with loading_for_life(self.index), self.db.sessions() as session:
            cursor = session.scalar(select(func.max(AlertChange.seq))) or 0
            rows = session.execute(
                select(Alert.id, Alert.query).execution_options(yield_per=self.batch)
            )
            for alert_id, query in rows:
                self._apply(alert_id, query)
        self.cursor = cursor  # only once it is all there
        return len(self.index)

    def refresh(self) -> int:
        """Apply the changes made since the last refresh; return how many."""
        applied = 0
        while True:
            with self.db.sessions() as session:
                changes = session.execute(
                    select(AlertChange.seq, AlertChange.alert_id, AlertChange.op, AlertChange.query)
                    .where(AlertChange.seq > self.cursor)
                    .order_by(AlertChange.seq)
                    .limit(self.batch)
                ).all()
            for seq, alert_id, op, query in changes:
                self._apply(alert_id, query if op == "upsert" else None)
                self.cursor = seq
            applied += len(changes)
            if len(changes) < self.batch:
                return applied

    def match(self, article: MatchArticle) -> list[Match]:
        return self.index.match(article)

    def _apply(self, alert_id: int, query: str | None) -> None:
        if query is None:
            self.index.remove(alert_id)
            return
        try:
            self.index.add(alert_id, query)
        except QueryError as error:  # stored before a rule changed: skip it, say so
            self.index.remove(alert_id)
            log.warning("alert query rejected", extra={"alert_id": alert_id, "error": str(error)})


@contextmanager
def loading_for_life(index: AlertIndex, *, huge_pages: bool = True) -> Iterator[AlertIndex]:
    """``index.loading()`` for an index that lives as long as the process (a worker's).

    Loading makes millions of small objects; the collector would walk the growing heap again
    and again (a third of the load time), so it waits, and then they are frozen: a full
    collection in the middle of matching would otherwise walk them too (pauses of half a
    second).  The index is then most of the heap, and matching reaches objects all over it:
    with huge pages (``huge_pages``) each of those reaches costs a cache miss without a TLB
    miss too (at a million alerts ~20% of the time per article on a virtual machine)."""
    gc.disable()
    try:
        with index.loading():
            yield index
    finally:
        gc.enable()
    gc.freeze()
    if huge_pages:
        use_huge_pages()


def learn_token_stats(db: Database, *, articles: int = 2000) -> TokenStats:
    """Token frequencies from the most recent stored articles (the prior if there are few)."""
    with db.sessions() as session:
        rows = session.execute(
            select(Article.title, Article.text, Article.url, Article.language)
            .order_by(Article.fetched_at.desc())
            .limit(articles)
        ).all()
    return TokenStats.learn(article_tokens(*row) for row in rows)


def article_tokens(title: str, body: str, url: str | None, language: str | None) -> list[str]:
    """The tokens of a stored article that its frequencies are learned from: its title's and
    text's words, and its site's and language's pseudo-tokens."""
    host, _ = url_host_path(url)
    return analyze(title) + analyze(body) + field_tokens(host, language)
