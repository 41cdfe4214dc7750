"""The inbox: a reader's notifications, newest first.

GET    /api/v1/notifications?unread=true&before=ID&limit=N   a page, with next_cursor
POST   /api/v1/notifications/{id}/read                        mark one read
POST   /api/v1/notifications/{id}/click                       the reader opened it
POST   /api/v1/notifications/read-all                         mark every one read
DELETE /api/v1/notifications                                  clear all (they leave the
                                                              inbox; feeds and digests keep them)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from tidings.clock import naive_utc
from tidings.delivery.notify import inbox_changed
from tidings.store.models import Notification
from tidings.web.auth import ReaderDep
from tidings.web.context import WebDep
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


@router.get("/notifications")
def list_notifications(
    me: ReaderDep,
    web: WebDep,
    unread: bool = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="A next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """Your inbox, newest first; ``next_cursor`` is null on the last page."""
    query = select(Notification).where(in_inbox(me.user_id))
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.id < before)
    with web.db.session() as session:
        rows = list(session.scalars(query.order_by(Notification.id.desc()).limit(limit + 1)))
        items = [notification_out(n) for n in rows[:limit]]
        cursor = rows[limit - 1].id if len(rows) > limit else None
        return NotificationPage(
            items=items, next_cursor=cursor, unread_count=unread_count(session, me.user_id)
        )


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
