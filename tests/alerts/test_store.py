"""Alerts in the database: one transaction per change, the reader's cap, and engines in several
processes kept current through the change log (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tidings.alerts.model import Match, MatchArticle
from tidings.alerts.query import QueryError
from tidings.alerts.store import (
    AlertLimitError,
    AlertNotFound,
    SyncedAlertIndex,
    create_alert,
    delete_alert,
    update_alert,
)
from tidings.clock import FrozenClock
from tidings.store.models import Alert, AlertChange, User

CLOCK = FrozenClock(datetime(2018, 6, 3, 9, 0, tzinfo=UTC))
ARTICLE = MatchArticle(
    7,
    "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea",
    "Kim Jong-un will meet US President Donald Trump in Singapore.",
    "https://www.oneindia.com/international/assad-kim.html",
    "en",
)


def _reader(db, email="reader@example.org") -> int:
    with db.session() as s:
        user = User(email=email, created_at=CLOCK())
        s.add(user)
        s.flush()
        return user.id


def _add(db, user_id, query, **kw) -> int:
    with db.session() as s:
        return create_alert(s, user_id=user_id, query=query, clock=CLOCK, **kw).id


def _changes(db) -> list[tuple[int, str, str | None]]:
    with db.session() as s:
        rows = s.execute(
            select(AlertChange.alert_id, AlertChange.op, AlertChange.query).order_by(
                AlertChange.seq
            )
        )
        return [tuple(row) for row in rows]


def test_every_change_writes_the_alert_and_the_log_together(db):
    reader = _reader(db)
    alert_id = _add(db, reader, '"kim jong un"')
    with db.session() as s:
        update_alert(s, alert_id, query="assad", clock=CLOCK)
    with db.session() as s:
        update_alert(s, alert_id, mode="daily", clock=CLOCK)  # not a query change: no log entry
    with db.session() as s:
        delete_alert(s, alert_id, clock=CLOCK)
    assert _changes(db) == [
        (alert_id, "upsert", '"kim jong un"'),
        (alert_id, "upsert", "assad"),
        (alert_id, "delete", None),
    ]
    with db.session() as s:
        assert s.get(Alert, alert_id) is None


def test_invalid_query_writes_nothing(db):
    reader = _reader(db)
    with pytest.raises(QueryError, match="unbalanced quote at column 7"):
        _add(db, reader, 'assad "north korea')
    alert_id = _add(db, reader, "assad")
    with pytest.raises(QueryError, match="no positive term"), db.session() as s:
        update_alert(s, alert_id, query="-trump", clock=CLOCK)
    with db.session() as s:
        assert s.get(Alert, alert_id).query == "assad"
        assert s.scalar(select(func.count()).select_from(AlertChange)) == 1


def test_reader_alert_cap(db):
    reader, other = _reader(db), _reader(db, "other@example.org")
    for word in ("a", "b", "c"):
        _add(db, reader, word, max_alerts=3)
    with pytest.raises(AlertLimitError, match="at most 3 alerts"):
        _add(db, reader, "d", max_alerts=3)
    _add(db, other, "d", max_alerts=3)  # the cap is per reader
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.user_id == reader)) == 3


def test_missing_alert(db):
    with pytest.raises(AlertNotFound), db.session() as s:
        delete_alert(s, 12345, clock=CLOCK)


def test_two_engines_stay_in_sync_through_the_database(db):
    reader = _reader(db)
    kim = _add(db, reader, '"Kim Jong Un"')
    first = SyncedAlertIndex(db)
    assert first.load() == 1
    second = SyncedAlertIndex(db)
    second.load()
    trump = _add(db, reader, "assad -trump")
    singapore = _add(db, reader, "singapore")
    with db.session() as s:
        update_alert(s, trump, query="assad trump", clock=CLOCK)
        delete_alert(s, kim, clock=CLOCK)
    assert first.match(ARTICLE) == [Match(kim, ("kim jong un",))]  # not refreshed yet
    assert first.refresh() == 4
    assert second.refresh() == 4
    expected = [Match(trump, ("assad", "trump")), Match(singapore, ("singapore",))]
    assert sorted(first.match(ARTICLE)) == sorted(second.match(ARTICLE)) == expected
    assert first.refresh() == 0
    with pytest.raises(RuntimeError, match="refresh"):
        first.load()  # again: it would skip the deletions the log holds; refresh() is the way
    fresh = SyncedAlertIndex(db)
    assert fresh.load() == 2
    assert sorted(fresh.match(ARTICLE)) == expected
    assert fresh.refresh() == 0  # the load's cursor already covers every change


def test_refresh_reads_the_log_in_batches(db):
    reader = _reader(db)
    engine = SyncedAlertIndex(db, batch=2)
    engine.load()
    ids = [_add(db, reader, word) for word in ("kim", "assad", "trump", "singapore", "putin")]
    assert engine.refresh() == 5
    assert sorted(m.alert_id for m in engine.match(ARTICLE)) == ids[:4]
