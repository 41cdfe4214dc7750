"""A reader's alerts, their preview, and each alert's RSS feed at a secret URL.

GET    /api/v1/alerts              your alerts
POST   /api/v1/alerts              {"query", "mode", "channels"}  201
PATCH  /api/v1/alerts/{id}         any of query, mode, channels
DELETE /api/v1/alerts/{id}         204
POST   /api/v1/alerts/preview      {"query", "days"} → matching recent articles, terms marked
GET    /feeds/alerts/{secret}.xml  RSS 2.0 of the alert's recent matches (no sign-in: the
                                   secret in the URL is the key, as with Google Alerts)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from email.utils import format_datetime

from fastapi import APIRouter, Path, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tidings.accounts import KEEP, add_alert, change_alert, remove_alert, user_alerts
from tidings.clock import as_utc
from tidings.config import Settings
from tidings.store.models import Alert, Notification
from tidings.web.auth import ReaderDep
from tidings.web.context import WebDep
from tidings.web.errors import ApiError
from tidings.web.schemas import (
    AlertIn,
    AlertOut,
    AlertPatch,
    Id,
    PreviewArticleOut,
    PreviewIn,
    PreviewOut,
)

router = APIRouter(prefix="/api/v1", tags=["alerts"])
feeds = APIRouter(include_in_schema=False)
FEED_ITEMS = 50
FEED_SCAN = 1000  # newest notifications of the reader looked through for the alert's matches


def alert_out(alert: Alert, settings: Settings) -> AlertOut:
    return AlertOut(
        id=alert.id,
        query=alert.query,
        mode=alert.mode,
        channels=alert.channels,
        feed_url=feed_url(alert, settings),
        created_at=alert.created_at,
        updated_at=alert.updated_at,
    )


def feed_url(alert: Alert, settings: Settings) -> str | None:
    if not alert.feed_secret:
        return None
    return f"{settings.base_url.rstrip('/')}/feeds/alerts/{alert.feed_secret}.xml"


@router.get("/alerts")
def list_alerts(me: ReaderDep, web: WebDep) -> list[AlertOut]:
    with web.db.session() as session:
        return [alert_out(a, web.settings) for a in user_alerts(session, me.user(session))]


@router.post("/alerts", status_code=201)
def create_alert(body: AlertIn, me: ReaderDep, web: WebDep) -> AlertOut:
    """A new alert; 422 names the column of a query error, 409 past the per-reader cap."""
    with web.db.session() as session:
        alert = add_alert(
            session,
            me.user(session),
            body.query,
            web.settings,
            mode=body.mode,
            channels=body.channels,
            clock=web.clock,
        )
        return alert_out(alert, web.settings)


@router.patch("/alerts/{alert_id}")
def update_alert(alert_id: Id, body: AlertPatch, me: ReaderDep, web: WebDep) -> AlertOut:
    given = body.model_fields_set
    with web.db.session() as session:
        alert = change_alert(
            session,
            me.user(session),
            alert_id,
            query=body.query,
            mode=body.mode,
            channels=body.channels if "channels" in given else KEEP,
            clock=web.clock,
        )
        return alert_out(alert, web.settings)


@router.delete("/alerts/{alert_id}", status_code=204)
def delete_alert(alert_id: Id, me: ReaderDep, web: WebDep) -> Response:
    with web.db.session() as session:
        remove_alert(session, me.user(session), alert_id, clock=web.clock)
    return Response(status_code=204)


@router.post("/alerts/preview")
async def preview_alert(body: PreviewIn, me: ReaderDep, web: WebDep) -> PreviewOut:
    """What the query would have matched among the articles of the last ``days`` days."""
    total, articles = await run_in_threadpool(web.preview.preview, body.query, days=body.days)
    shown = [PreviewArticleOut(**{**vars(a), "terms": list(a.terms)}) for a in articles]
    return PreviewOut(total=total, articles=shown)


@feeds.get("/feeds/alerts/{secret}.xml")
def alert_feed(web: WebDep, secret: str = Path(max_length=64)) -> Response:
    with web.db.session() as session:
        alert = session.scalar(select(Alert).where(Alert.feed_secret == secret))
        if alert is None or alert.user_id is None:
            raise ApiError(404, "no such feed")
        items = alert_matches(session, alert)
        body = rss(alert, items, web.settings)
    return Response(body, media_type="application/rss+xml; charset=utf-8")


def alert_matches(session: Session, alert: Alert) -> list[Notification]:
    """The alert's recent matches: the reader's notifications that list it, newest first."""
    rows = session.scalars(
        select(Notification)
        .where(Notification.user_id == alert.user_id)
        .order_by(Notification.id.desc())
        .limit(FEED_SCAN)
    )
    return [n for n in rows if alert.id in (n.alert_ids or [])][:FEED_ITEMS]


def rss(alert: Alert, items: list[Notification], settings: Settings) -> bytes:
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = f"Tidings: {alert.query}"
    ET.SubElement(channel, "link").text = settings.base_url
    ET.SubElement(channel, "description").text = f"News matching the alert {alert.query!r}"
    for notification in items:
        channel.append(rss_item(notification))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def rss_item(notification: Notification) -> ET.Element:
    item = ET.Element("item")
    ET.SubElement(item, "title").text = notification.title
    if notification.url:
        ET.SubElement(item, "link").text = notification.url
    guid = ET.SubElement(item, "guid", isPermaLink="false")
    guid.text = f"tidings-notification-{notification.id}"
    ET.SubElement(item, "description").text = notification.snippet_html or notification.snippet
    when = as_utc(notification.published or notification.created_at)
    if when is not None:
        ET.SubElement(item, "pubDate").text = format_datetime(when)
    if notification.source:
        ET.SubElement(item, "source", url=notification.url or "").text = notification.source
    return item
