"""Pages: the reader's own — home (the latest stories), alerts, topics, notification settings
and time settings.

Each page reads what it shows from the database (the reader's rows only); every change goes
through the REST API from ``static/pages.js`` or ``app.js``'s ``data-api`` forms.  The views
below only gather rows into the small ``…View`` records the templates show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from tidings.accounts import (
    channel_target,
    followed_topics,
    list_topics,
    user_alerts,
    user_channels,
)
from tidings.articles.stories import stories_sources
from tidings.clock import as_utc
from tidings.delivery.outbox import alert_names
from tidings.delivery.timing import WEEKDAYS, load_zone
from tidings.store.models import Alert, Channel, Notification, User
from tidings.web.context import WebDep
from tidings.web.pages import PageNotFound, PageReader, render
from tidings.web.routes.alerts import feed_url
from tidings.web.schemas import MAX_ID

router = APIRouter(include_in_schema=False)

HOME_STORIES = 30
HOME_KINDS = ("story", "broadcast")
MODES = (("quick", "Quick"), ("daily", "Daily"), ("weekly", "Weekly"))
CHANNEL_KINDS = {
    "email": "E-mail",
    "apprise": "Apprise",
    "webhook": "Webhook",
    "webpush": "Browser push",
}


# -- what the templates show ----------------------------------------------------------------


@dataclass(frozen=True)
class StoryView:
    """One story on the home page: the reader's notification of it and who else reported it."""

    notification_id: int
    title: str
    url: str | None
    source: str | None
    byline: str | None
    when: datetime | None
    snippet_html: Markup
    other_sources: list[str]
    also_reported_by: int
    matched: list[str]
    unread: bool

    @property
    def when_text(self) -> str:
        """When, in the reader's time zone: like "Mon 2 Mar 2026, 21:00"."""
        w = self.when
        return f"{w:%a} {w.day} {w:%b %Y, %H:%M}" if w else ""


@dataclass(frozen=True)
class ChannelView:
    id: int
    kind: str
    kind_label: str
    target: str
    enabled: bool
    last_error: str | None

    @property
    def label(self) -> str:
        return f"{self.kind_label}: {self.target}"


@dataclass(frozen=True)
class AlertView:
    id: int
    query: str
    mode: str
    channels: list[int] | None
    feed_url: str | None

    def uses(self, channel_id: int) -> bool:
        return bool(self.channels) and channel_id in (self.channels or [])


@dataclass(frozen=True)
class TopicView:
    id: int
    name: str
    description: str | None
    following: bool
    mode: str


# -- home -----------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, me: PageReader, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        user = me.user(session)
        stories = latest_stories(session, user)
        has_alerts = bool(user_alerts(session, user)) or bool(followed_topics(session, user))
    return render(
        request, "home.html", me, title="Latest stories", stories=stories, has_alerts=has_alerts
    )


def latest_stories(session: Session, user: User) -> list[StoryView]:
    """The reader's newest notified stories (cleared from the inbox or not), newest first."""
    rows = list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind.in_(HOME_KINDS))
            .order_by(Notification.id.desc())
            .limit(HOME_STORIES)
        )
    )
    labels = alert_names(session, [i for n in rows for i in (n.alert_ids or [])])
    sources = stories_sources(session, [n.story_id for n in rows if n.story_id is not None])
    zone = reader_zone(user)
    return [story_view(n, labels, sources, zone) for n in rows]


def safe_snippet(snippet_html: str | None, snippet: str | None) -> Markup:
    """The stored snippet HTML (escaped text with ``<mark>``), or the plain snippet escaped
    when the HTML holds any other tag."""
    if snippet_html and "<" not in snippet_html.replace("<mark>", "").replace("</mark>", ""):
        return Markup(snippet_html)  # checked above: escaped text and <mark> only
    return escape(snippet or "")


def story_view(
    n: Notification, labels: dict[int, str], sources: dict[int, list[str]], zone: ZoneInfo
) -> StoryView:
    when = as_utc(n.published or n.created_at)
    matched = list(dict.fromkeys(labels[i] for i in (n.alert_ids or []) if i in labels))
    return StoryView(
        notification_id=n.id,
        title=n.title,
        url=n.url if web_link(n.url) else None,
        source=n.source,
        byline=n.byline,
        when=when.astimezone(zone) if when else None,
        snippet_html=safe_snippet(n.snippet_html, n.snippet),
        other_sources=other_sources(n, sources),
        also_reported_by=n.also_reported_by or 0,
        matched=matched,
        unread=n.read_at is None,
    )


def web_link(url: str | None) -> bool:
    """Only http(s) addresses become links (never ``javascript:`` or ``data:``)."""
    return bool(url) and urlsplit(url or "").scheme in ("http", "https")


def other_sources(n: Notification, sources: dict[int, list[str]]) -> list[str]:
    """The names of the other sites that reported the notification's story."""
    if n.story_id is None:
        return []
    names = list(sources.get(n.story_id, []))
    if n.source in names:
        names.remove(n.source)
    return names


def reader_zone(user: User) -> ZoneInfo:
    try:
        return load_zone(user.timezone)
    except ValueError:
        return ZoneInfo("UTC")


# -- alerts ---------------------------------------------------------------------------------


@router.get("/alerts")
def alerts_page(request: Request, me: PageReader, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        user = me.user(session)
        alerts = [alert_view(a, web) for a in user_alerts(session, user)]
        channels = channel_views(session, user)
    return render(
        request, "alerts.html", me, title="Alerts", alerts=alerts, channels=channels, modes=MODES
    )


@router.get("/alerts/{alert_id}")
def alert_edit_page(alert_id: str, request: Request, me: PageReader, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        user = me.user(session)
        alert = own_alert(session, user, alert_id)
        view = alert_view(alert, web)
        channels = channel_views(session, user)
    return render(
        request,
        "alert_edit.html",
        me,
        title="Edit alert",
        alert=view,
        channels=channels,
        modes=MODES,
    )


def own_alert(session: Session, user: User, alert_id: str) -> Alert:
    """The reader's alert named by the path, or the 404 page (another reader's is not there)."""
    number = int(alert_id) if alert_id.isascii() and alert_id.isdigit() else 0
    alert = session.get(Alert, number) if 1 <= number <= MAX_ID else None
    if alert is None or alert.user_id != user.id:
        raise PageNotFound(f"You have no alert {alert_id}.")
    return alert


def alert_view(alert: Alert, web: WebDep) -> AlertView:
    return AlertView(
        id=alert.id,
        query=alert.query,
        mode=alert.mode,
        channels=list(alert.channels) if alert.channels else None,
        feed_url=feed_url(alert, web.settings),
    )


def channel_views(session: Session, user: User) -> list[ChannelView]:
    return [channel_view(c) for c in user_channels(session, user)]


def channel_view(channel: Channel) -> ChannelView:
    return ChannelView(
        id=channel.id,
        kind=channel.kind,
        kind_label=CHANNEL_KINDS.get(channel.kind, channel.kind),
        target=shown_target(channel),
        enabled=channel.enabled,
        last_error=channel.last_error,
    )


def shown_target(channel: Channel) -> str:
    """What the channel reaches; a browser by its push service's host (endpoints are long)."""
    target = channel_target(channel)
    if channel.kind == "webpush":
        return urlsplit(target).hostname or "a browser"
    return target


# -- topics ---------------------------------------------------------------------------------


@router.get("/topics")
def topics_page(request: Request, me: PageReader, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        user = me.user(session)
        following = {topic.id: mode for topic, mode in followed_topics(session, user)}
        topics = [
            TopicView(t.id, t.name, t.description, t.id in following, following.get(t.id, "quick"))
            for t in list_topics(session)
        ]
    return render(
        request, "topics.html", me, title="Get Instant News Updates", topics=topics, modes=MODES
    )


# -- settings -------------------------------------------------------------------------------


@router.get("/settings/notifications")
def notification_settings_page(request: Request, me: PageReader, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        user = me.user(session)
        channels = channel_views(session, user)
        alerts = [alert_view(a, web) for a in user_alerts(session, user)]
    return render(
        request,
        "settings_notifications.html",
        me,
        title="Notification settings",
        channels=channels,
        alerts=alerts,
    )


@router.get("/settings/time")
def time_settings_page(request: Request, me: PageReader, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        user = me.user(session)
        shown = time_settings_view(user)
    return render(request, "settings_time.html", me, title="Time settings", **shown)


def time_settings_view(user: User) -> dict[str, Any]:
    return {
        "timezone": user.timezone,
        "timezones": timezone_choices(user.timezone),
        "digest_time": user.digest_time,
        "weekly_day": WEEKDAYS[user.weekly_day],
        "weekdays": WEEKDAYS,
        "quiet_start": user.quiet_start or "",
        "quiet_end": user.quiet_end or "",
        "budget": user.quick_budget_per_hour,
        "detect": never_set(user),
    }


def never_set(user: User) -> bool:
    """The reader's time settings are all still the defaults: the page offers the browser's
    time zone instead of UTC (the reader still presses Done to keep it)."""
    return (
        user.timezone == "UTC"
        and user.digest_time == "07:30"
        and user.weekly_day == 0
        and not user.quiet_start
        and user.quick_budget_per_hour is None
    )


def timezone_choices(current: str) -> list[str]:
    zones = _iana_zones()
    return zones if current in zones else sorted([*zones, current])


@lru_cache(maxsize=1)
def _iana_zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")
