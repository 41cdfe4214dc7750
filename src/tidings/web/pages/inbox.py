"""Pages: the inbox and opening a notification's article (see ``tidings.web.pages``).

``/inbox`` lists the reader's notifications as ``GET /api/v1/notifications`` pages them (newest
first, ``?unread=true``, ``?before=`` the next page's cursor); its buttons (mark all read, clear
all) call the API from ``static/app.js``, and ``static/live.js`` prepends what arrives after
the newest notification the page knew of (``data-after``).

``/notifications/{id}/open`` is where every channel's link points (the inbox, a push's click):
it records the click as ``POST /api/v1/notifications/{id}/click`` does, then sends the browser
to that notification's own article URL — never anywhere a request names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tidings.delivery.outbox import alert_names
from tidings.store.models import Alert, Notification, TopicFollow, User
from tidings.web.auth import Caller
from tidings.web.context import WebDep
from tidings.web.errors import ApiError
from tidings.web.pages import PageCaller, PageNotFound, PageReader, render
from tidings.web.pages.reader import reader_zone, safe_snippet
from tidings.web.routes.inbox import in_inbox, list_notifications, record_click
from tidings.web.schemas import MAX_ID, NotificationOut

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@dataclass(frozen=True)
class InboxItem:
    """One notification as the inbox shows it."""

    n: NotificationOut
    alerts: list[str]
    when: datetime
    when_text: str
    snippet: Markup


@router.get("/inbox")
def inbox(
    request: Request,
    me: PageReader,
    web: WebDep,
    unread: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    unread_only = (unread or "").lower() in ("1", "true", "yes", "on")
    cursor = _id(before)
    page = list_notifications(
        _api_caller(me), web, unread=unread_only, before=cursor, limit=PAGE_SIZE
    )
    with web.db.reading() as session:
        user = session.get(User, me.user_id)
        zone = reader_zone(user) if user else ZoneInfo("UTC")
        names = alert_names(session, _readers_alert_ids(session, me.user_id))
        newest = session.scalar(select(func.max(Notification.id)).where(in_inbox(me.user_id)))
    items = [_item(n, names, zone) for n in page.items]
    return render(
        request,
        "inbox.html",
        me,
        title="Inbox",
        items=items,
        unread_only=unread_only,
        paged=cursor is not None,
        next_cursor=page.next_cursor,
        newest=newest or 0,
        timezone=zone.key,
        alert_names={str(k): v for k, v in names.items()},
    )


@router.get("/notifications/{notification_id}/open")
def open_notification(notification_id: str, me: PageReader, web: WebDep) -> RedirectResponse:
    """Record the click (and mark it read), then go to the article."""
    wanted = _id(notification_id)
    if wanted is None:
        raise PageNotFound("There is no such notification.")
    try:
        opened = record_click(wanted, _api_caller(me), web)
    except ApiError as exc:
        raise PageNotFound("You have no such notification.") from exc
    return RedirectResponse(_article_url(opened.url), status_code=303)


def _article_url(url: str | None) -> str:
    """The stored article URL when it is a web address; otherwise back to the inbox."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return "/inbox"


def _api_caller(me: PageCaller) -> Caller:
    return Caller(me.user_id, me.is_admin, via="session")


def _id(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def _readers_alert_ids(session: Session, user_id: int) -> list[int]:
    """The reader's own alerts and the alerts of the topics they follow (named for live items)."""
    followed = select(TopicFollow.topic_id).where(TopicFollow.user_id == user_id)
    query = select(Alert.id).where(or_(Alert.user_id == user_id, Alert.topic_id.in_(followed)))
    return list(session.scalars(query))


def _item(n: NotificationOut, names: dict[int, str], zone: ZoneInfo) -> InboxItem:
    stamp = n.published or n.created_at
    when = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    local = when.astimezone(zone)
    return InboxItem(
        n=n,
        alerts=[names[a] for a in n.alert_ids if a in names],
        when=when,
        when_text=f"{local.day} {local:%b %Y, %H:%M}",
        snippet=safe_snippet(n.snippet_html, n.snippet),
    )

