"""Due work is a row; workers claim rows atomically, with a lease.

A claim is ``(claimed_by, claimed_until)`` on the row.  A live worker renews its lease while
it works and releases the row when done; a worker that dies (``kill -9``) simply stops renewing,
its lease runs out, and the row becomes claimable again — never lost, never stuck.

SQLite serializes writers (``BEGIN IMMEDIATE``), so one ``UPDATE … RETURNING`` is atomic.
PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on, or
take, each other's rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from tidings.clock import naive_utc
from tidings.store.models import Source


def claim_due_sources(
    session: Session, worker: str, now: datetime, *, lease_seconds: float, limit: int
) -> list[int]:
    """Claim up to ``limit`` sources whose check is due; return their ids, most overdue first."""
    naive_now = naive_utc(now)
    due = (
        select(Source.id)
        .where(Source.next_check_at <= naive_now, _unclaimed(naive_now))
        .order_by(Source.next_check_at, Source.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(Source)
        .where(Source.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=naive_now + timedelta(seconds=lease_seconds))
        .returning(Source.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(stmt).scalars())


def renew_claim(
    session: Session, source_id: int, worker: str, now: datetime, *, lease_seconds: float
) -> bool:
    """Extend our lease; False when the claim is no longer ours (it ran out and was taken)."""
    stmt = (
        update(Source)
        .where(Source.id == source_id, Source.claimed_by == worker)
        .values(claimed_until=naive_utc(now) + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def release_claim(session: Session, source_id: int, worker: str, **values: object) -> bool:
    """Finish a check: store ``values`` (next_check_at, status, …) and drop the claim.

    Only the claim holder may release; a worker whose lease was taken over writes nothing.
    """
    stmt = (
        update(Source)
        .where(Source.id == source_id, Source.claimed_by == worker)
        .values(claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(Source.claimed_until.is_(None), Source.claimed_until < now)
