"""What was sent, per day, for admins.

    GET /api/v1/admin/stats?days=30

Every UTC day of the range (the last ``days`` days up to today, today included; days without
anything are zeros), counted from the system of record:

* ``sent``: deliveries sent that day (``Delivery.sent_at``);
* ``failed``: deliveries given up on, on the day of their last attempt (``DeliveryAttempt``);
* ``notifications``: inbox entries created (``Notification.created_at``: stories, broadcasts
  and digests);
* ``clicks``: notifications opened from the inbox or a push (``Notification.clicked_at``).

Days are bucketed in SQL with each database's own date function over a range bounded by
the first and last day, so one grouped query per counter answers, whatever the table size.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from tidings.clock import naive_utc
from tidings.store.models import Delivery, DeliveryAttempt, Notification
from tidings.web.auth import AdminDep
from tidings.web.context import WebDep

router = APIRouter(prefix="/api/v1", tags=["admin"])

MAX_DAYS = 365
COUNTERS = ("sent", "failed", "notifications", "clicks")
Stamp = ColumnElement[Any] | InstrumentedAttribute[Any]  # a time column


class DayStats(BaseModel):
    day: date
    sent: int = 0
    failed: int = 0
    notifications: int = 0
    clicks: int = 0


class StatsTotals(BaseModel):
    sent: int
    failed: int
    notifications: int
    clicks: int


class StatsOut(BaseModel):
    first_day: date
    last_day: date
    daily: list[DayStats]
    totals: StatsTotals


@router.get("/admin/stats")
def admin_stats(
    me: AdminDep,
    web: WebDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="How many days, up to today")] = 30,
) -> StatsOut:
    """Deliveries sent and failed, notifications created and clicks, per UTC day."""
    with web.db.session() as session:
        return daily_stats(session, web.clock(), days)


def daily_stats(session: Session, now: datetime, days: int) -> StatsOut:
    """The ``days`` UTC days up to the day of ``now``, zero-filled, with totals."""
    last = naive_utc(now).date()
    first = last - timedelta(days=days - 1)
    since = datetime.combine(first, time())
    until = since + timedelta(days=days)
    daily = {day: DayStats(day=day) for day in (first + timedelta(days=n) for n in range(days))}
    for counter, stamp in _stamps(since, until).items():
        for day, count in per_day(session, stamp, since, until).items():
            if day in daily:
                setattr(daily[day], counter, count)
    rows = list(daily.values())
    totals = StatsTotals(**{c: sum(getattr(row, c) for row in rows) for c in COUNTERS})
    return StatsOut(first_day=first, last_day=last, daily=rows, totals=totals)


def _stamps(since: datetime, until: datetime) -> dict[str, Stamp]:
    """The moment each counter counts, as a column (a delivery fails at its last attempt)."""
    last_attempt = (
        select(func.max(DeliveryAttempt.finished_at).label("at"))
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .where(
            Delivery.status == "failed",
            DeliveryAttempt.finished_at >= since,
            DeliveryAttempt.finished_at < until,
        )
        .group_by(DeliveryAttempt.delivery_id)
        .subquery()
    )
    return {
        "sent": Delivery.sent_at,
        "failed": last_attempt.c.at,
        "notifications": Notification.created_at,
        "clicks": Notification.clicked_at,
    }


def per_day(session: Session, stamp: Stamp, since: datetime, until: datetime) -> dict[date, int]:
    """How many rows have ``stamp`` on each UTC day of ``[since, until)``."""
    day = day_of(session, stamp)
    rows = session.execute(
        select(day, func.count()).where(stamp >= since, stamp < until).group_by(day)
    )
    return {as_date(value): count for value, count in rows}


def day_of(session: Session, stamp: Stamp) -> ColumnElement[Any]:
    """The date part of a stored (naive UTC) time: SQLite's ``date()`` gives 'YYYY-MM-DD' text;
    elsewhere a cast to DATE."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(stamp)
    return cast(stamp, Date)


def as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)
