"""Due work is a row; workers claim rows atomically, with a lease.

A claim is ``(claimed_by, claimed_until)`` on the row.  A live worker renews its lease while
it works and releases the row when done; a worker that dies (``kill -9``) simply stops renewing,
its lease runs out, and the row becomes claimable again — never lost, never stuck.

SQLite serializes writers (``BEGIN IMMEDIATE``), so one ``UPDATE … RETURNING`` is atomic.
PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on, or
take, each other's rows.  The same functions claim any such row (``claim_due``): sources to
check, deliveries to send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from tidings.clock import naive_utc
from tidings.store.models import Source

# A claimable table: any model with ``id``, ``claimed_by`` and ``claimed_until`` columns
# (``Source``, ``Delivery``).
Claimable = Any


def claim_due(
    session: Session,
    model: Claimable,
    worker: str,
    now: datetime,
    *,
    due: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    lease_seconds: float,
    limit: int,
    candidates: Select[Any] | None = None,
) -> list[int]:
    """Claim up to ``limit`` unclaimed rows of ``model`` meeting ``due``; return their ids.

    ``candidates`` is the select of ids to pick from (default: ``select(model.id)``); pass one
    with joins when being due depends on another table.  On PostgreSQL only ``model``'s rows
    are locked (``FOR UPDATE OF … SKIP LOCKED``).
    """
    naive_now = naive_utc(now)
    picked = (
        (candidates if candidates is not None else select(model.id))
        .where(*due, unclaimed(model, naive_now))
        .order_by(*order_by)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        picked = picked.with_for_update(of=model, skip_locked=True)
    stmt = (
        update(model)
        .where(model.id.in_(picked.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=naive_now + timedelta(seconds=lease_seconds))
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.execute(stmt).scalars())


def renew_row_claim(
    session: Session,
    model: Claimable,
    row_id: int,
    worker: str,
    now: datetime,
    *,
    lease_seconds: float,
) -> bool:
    """Extend our lease on one row; False when the claim is no longer ours."""
    stmt = (
        update(model)
        .where(model.id == row_id, model.claimed_by == worker)
        .values(claimed_until=naive_utc(now) + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def release_row_claim(
    session: Session, model: Claimable, row_id: int, worker: str, **values: object
) -> bool:
    """Finish with one row: store ``values`` and drop the claim — only if the claim is ours."""
    stmt = (
        update(model)
        .where(model.id == row_id, model.claimed_by == worker)
        .values(claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def unclaimed(model: Claimable, now: datetime) -> ColumnElement[bool]:
    """Never claimed, or the lease ran out (a dead worker's claim)."""
    return or_(model.claimed_until.is_(None), model.claimed_until < now)


# -- sources ---------------------------------------------------------------------------------

PAUSED = "paused"  # ``Source.status`` of a source an admin paused: never due until resumed


def claim_due_sources(
    session: Session, worker: str, now: datetime, *, lease_seconds: float, limit: int
) -> list[int]:
    """Claim up to ``limit`` sources whose check is due (paused ones never are); return their
    ids, most overdue first."""
    return claim_due(
        session,
        Source,
        worker,
        now,
        due=[Source.next_check_at <= naive_utc(now), Source.status != PAUSED],
        order_by=[Source.next_check_at, Source.id],
        lease_seconds=lease_seconds,
        limit=limit,
    )


def renew_claim(
    session: Session, source_id: int, worker: str, now: datetime, *, lease_seconds: float
) -> bool:
    """Extend our lease; False when the claim is no longer ours (it ran out and was taken)."""
    return renew_row_claim(session, Source, source_id, worker, now, lease_seconds=lease_seconds)


def release_claim(session: Session, source_id: int, worker: str, **values: object) -> bool:
    """Finish a check: store ``values`` (next_check_at, status, …) and drop the claim.

    Only the claim holder may release; a worker whose lease was taken over writes nothing.
    """
    return release_row_claim(session, Source, source_id, worker, **values)
