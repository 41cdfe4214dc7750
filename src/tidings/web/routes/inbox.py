"""The inbox: a reader's notifications, newest first.

GET    /api/v1/notifications?unread=true&before=ID&limit=N   a page, with next_cursor
POST   /api/v1/notifications/{id}/read                        mark one read
POST   /api/v1/notifications/{id}/click                       the reader opened it
POST   /api/v1/notifications/read-all                         mark every one read
DELETE /api/v1/notifications                                  clear all (they leave the
                                                              inbox; feeds and digests keep them)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tidings.clock import naive_utc
from tidings.delivery.notify import inbox_changed
from tidings.store.models import Notification
from tidings.web.auth import Caller, Presented, PresentedDep, ReaderDep
from tidings.web.context import Web, WebDep
from tidings.web.errors import ApiError
from tidings.web.schemas import MAX_ID, Count, Id, NotificationOut, NotificationPage

router = APIRouter(prefix="/api/v1", tags=["inbox"])


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        title=n.title,
        url=n.url,
        source=n.source,
        byline=n.byline,
        published=n.published,
        snippet=n.snippet,
        snippet_html=n.snippet_html,
        alert_ids=list(n.alert_ids or []),
        terms=list(n.terms or []),
        also_reported_by=n.also_reported_by or 0,
        mode=n.mode,
        route=n.route,
        created_at=n.created_at,
        read_at=n.read_at,
        clicked_at=n.clicked_at,
    )


def in_inbox(user_id: int) -> ColumnElement[bool]:
    """The reader's notifications not cleared from the inbox."""
    return and_(Notification.user_id == user_id, Notification.cleared_at.is_(None))


def unread_count(session: Session, user_id: int) -> int:
    query = select(func.count()).where(in_inbox(user_id), Notification.read_at.is_(None))
    return session.scalar(query.select_from(Notification)) or 0


@router.get("/notifications", name="list_notifications", response_model=NotificationPage)
async def get_notifications(
    signed: PresentedDep,
    web: WebDep,
    unread: bool = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="A next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Your inbox, newest first; ``next_cursor`` is null on the last page."""
    # The most requested route: signing in and reading the page in one worker thread (a
    # ReaderDep would take a thread of its own first).
    return await run_in_threadpool(_notifications_response, signed, web, unread, before, limit)


def _notifications_response(
    signed: Presented, web: Web, unread: bool, before: int | None, limit: int
) -> Response:
    rows, count = _page_rows(signed.caller(), web, unread, before, limit)
    # The JSON is made here from the rows as they are read, the stored JSON columns embedded
    # as stored: validating then serializing a NotificationPage (what list_notifications
    # gives the inbox page) cost ~0.3 ms of CPU a request.  tests/web/test_api.py checks that
    # both say the same.
    page = {
        "items": [_item(row, orjson.Fragment) for row in rows[:limit]],
        "next_cursor": _next_cursor(rows, limit),
        "unread_count": count,
    }
    return Response(orjson.dumps(page), media_type="application/json")


def list_notifications(
    me: Caller, web: Web, unread: bool, before: int | None, limit: int
) -> NotificationPage:
    """A page of the reader's inbox, as the API route gives it."""
    rows, count = _page_rows(me, web, unread, before, limit)
    return NotificationPage.model_validate(
        {
            "items": [_item(row, orjson.loads) for row in rows[:limit]],
            "next_cursor": _next_cursor(rows, limit),
            "unread_count": count,
        }
    )


def _page_rows(
    me: Caller, web: Web, unread: bool, before: int | None, limit: int
) -> tuple[Sequence[Row[Any]], int]:
    """One more row than the page (is there a next?) and the unread count, in one statement
    on a read-only session."""
    params = {"user_id": me.user_id, "before": before, "limit": limit + 1}
    with web.db.reading() as session:
        rows = session.connection().execute(_page_query(unread, before is not None), params).all()
        count = rows[0][-1] if rows else unread_count(session, me.user_id)
    return rows, count


def _item(row: Row[Any], json_value: Callable[[str], Any]) -> dict[str, Any]:
    """A row as NotificationOut's fields; its JSON columns (read as their text) through
    ``json_value``."""
    item = dict(zip(_PAGE_FIELDS, row, strict=False))  # zip stops before the count
    for name in _JSON_FIELDS:  # NULL, or JSON null, is an empty list
        item[name] = json_value(item[name] if item[name] not in (None, "null") else "[]")
    item["also_reported_by"] = item["also_reported_by"] or 0
    return item


def _next_cursor(rows: Sequence[Row[Any]], limit: int) -> int | None:
    return int(rows[limit - 1][0]) if len(rows) > limit else None


_PAGE_FIELDS = tuple(NotificationOut.model_fields)  # "id" first
_JSON_FIELDS = ("alert_ids", "terms")


@lru_cache(maxsize=4)
def _page_query(unread: bool, before: bool) -> Select[Any]:
    """One statement per kind of page, built once: the page's columns (plain rows, no ORM
    objects; the JSON ones as their text, not parsed) and the unread count as an
    uncorrelated subquery, evaluated once and read from the index ``ix_notifications_unread``
    alone."""
    table = Notification.__table__
    inbox = and_(table.c.user_id == bindparam("user_id"), table.c.cleared_at.is_(None))
    count = select(func.count()).select_from(table).where(inbox, table.c.read_at.is_(None))
    columns = [
        cast(table.c[name], Text) if name in _JSON_FIELDS else table.c[name]
        for name in _PAGE_FIELDS
    ]
    query = select(*columns, count.scalar_subquery()).where(inbox)
    if unread:
        query = query.where(table.c.read_at.is_(None))
    if before:
        query = query.where(table.c.id < bindparam("before"))
    return query.order_by(table.c.id.desc()).limit(bindparam("limit"))


def own_notification(session: Session, user_id: int, notification_id: int) -> Notification:
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise ApiError(404, f"you have no notification {notification_id}")
    return notification


@router.post("/notifications/{notification_id}/read")
def mark_read(notification_id: Id, me: ReaderDep, web: WebDep) -> NotificationOut:
    with web.db.session() as session:
        notification = own_notification(session, me.user_id, notification_id)
        if notification.read_at is None:
            notification.read_at = naive_utc(web.clock())
            inbox_changed(session, [me.user_id])
        return notification_out(notification)


@router.post("/notifications/{notification_id}/click")
def record_click(notification_id: Id, me: ReaderDep, web: WebDep) -> NotificationOut:
    """The reader opened the article (from a push, an e-mail or the inbox): clicked and read."""
    with web.db.session() as session:
        notification = own_notification(session, me.user_id, notification_id)
        now = naive_utc(web.clock())
        notification.clicked_at = notification.clicked_at or now
        if notification.read_at is None:
            notification.read_at = now
            inbox_changed(session, [me.user_id])
        return notification_out(notification)


@router.post("/notifications/read-all")
def mark_all_read(me: ReaderDep, web: WebDep) -> Count:
    """Mark every unread notification read; how many were."""
    return Count(count=_stamp(web, me.user_id, "read_at", naive_utc(web.clock())))


@router.delete("/notifications")
def clear_all(me: ReaderDep, web: WebDep) -> Count:
    """Clear the inbox ("Do you want to clear all the notifications from your inbox?")."""
    return Count(count=_stamp(web, me.user_id, "cleared_at", naive_utc(web.clock())))


def _stamp(web: WebDep, user_id: int, column: str, now: datetime) -> int:
    target = getattr(Notification, column)
    with web.db.session() as session:
        result = session.execute(
            update(Notification)
            .where(in_inbox(user_id), target.is_(None))
            .values({column: now})
            .execution_options(synchronize_session=False)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            inbox_changed(session, [user_id])  # live inboxes get the new unread count
        return count
