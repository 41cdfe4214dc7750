"""Pages: admin — sources and their health, topics, users and sign-up, broadcasts, stats.

Each page reads what it shows from the database; every change goes through the admin API
(``routes/admin.py``) from ``app.js``'s ``data-api`` forms and buttons, so the API's checks are
the only ones.  Each row has its actions (pause/resume, check now, rename or delete a source;
edit or delete a topic; make or revoke an admin, delete a user); the destructive ones ask first
in the row's own ``<dialog>``, whose question says what goes and what stays.

Two things are worked out here because only a page needs them:

* a broadcast's preview (``GET /admin/broadcast?topic_id=…&title=…``): the message exactly as
  the channels will get it, and whom it reaches — routed by each follower's time settings, as
  the send will route it, without writing anything;
* the stats chart: an inline SVG drawn on the server from ``routes/stats.daily_stats``, with
  the same figures in a table beside it.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidings.accounts import list_topics, list_users
from tidings.clock import as_utc
from tidings.delivery.message import Message
from tidings.delivery.notify import Recipient, chunks, route_new
from tidings.delivery.outbox import notification_message
from tidings.pipeline import count_articles
from tidings.store.claims import PAUSED
from tidings.store.models import Alert, Channel, Notification, Source, Topic, TopicFollow
from tidings.web.auth import signup_enabled
from tidings.web.context import WebDep
from tidings.web.pages import PageAdmin, PageCaller, render
from tidings.web.routes.admin import BROADCAST, being_checked, source_out
from tidings.web.routes.stats import MAX_DAYS, DayStats, daily_stats
from tidings.web.schemas import MAX_ID, SourceOut

router = APIRouter(include_in_schema=False)

SECTIONS = (
    ("/admin", "Sources"),
    ("/admin/topics", "Topics"),
    ("/admin/users", "Users"),
    ("/admin/broadcast", "Broadcast"),
    ("/admin/stats", "Stats"),
)
STATS_DAYS = (7, 30, 90, 365)
WEB_LINK = ("http://", "https://")


def admin_page(
    request: Request, template: str, me: PageCaller, section: str, **context: Any
) -> HTMLResponse:
    """An admin page: the layout, the admin sub-nav with ``section`` current, UTC times."""
    return render(
        request,
        f"admin/{template}",
        me,
        title=f"Admin: {section}",
        sections=SECTIONS,
        section=section,
        utc=utc_text,
        iso=iso_text,
        **context,
    )


def utc_text(value: datetime | None) -> str:
    """ "2026-03-02 12:00 UTC" (admin pages show times in UTC, as the stats' days are)."""
    stamp = as_utc(value)
    return f"{stamp:%Y-%m-%d %H:%M} UTC" if stamp else ""


def iso_text(value: datetime | None) -> str:
    stamp = as_utc(value)
    return stamp.isoformat() if stamp else ""


# -- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    source: SourceOut
    articles: int
    checking: bool = False  # a worker holds a live claim on it (the API refuses to delete it)

    @property
    def name(self) -> str:
        return self.source.title or self.source.url

    @property
    def paused(self) -> bool:
        return self.source.status == PAUSED


@router.get("/admin")
def sources_page(request: Request, me: PageAdmin, web: WebDep) -> HTMLResponse:
    """Every source with its health and what an admin does with it (pause or resume, check
    now, rename, delete), a form to add one and the OPML export."""
    now = web.clock()
    with web.db.session() as session:
        counts = count_articles(session)
        rows = [
            SourceRow(source_out(source), counts.get(source.id, 0), being_checked(source, now))
            for source in session.scalars(select(Source).order_by(Source.id))
        ]
    failing = sum(1 for row in rows if row.source.status == "error")
    return admin_page(request, "sources.html", me, "Sources", rows=rows, failing=failing)


# -- topics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRow:
    id: int
    slug: str
    name: str
    description: str | None
    query: str | None
    followers: int


def topic_rows(session: Session) -> list[TopicRow]:
    """Every topic with its query and follower count (one query each, not one per topic)."""
    followers = dict(
        session.execute(
            select(TopicFollow.topic_id, func.count()).group_by(TopicFollow.topic_id)
        ).all()
    )
    queries = dict(
        session.execute(
            select(Alert.topic_id, Alert.query).where(Alert.topic_id.is_not(None))
        ).all()
    )
    return [
        TopicRow(t.id, t.slug, t.name, t.description, queries.get(t.id), followers.get(t.id, 0))
        for t in list_topics(session)
    ]


@router.get("/admin/topics")
def topics_page(request: Request, me: PageAdmin, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        rows = topic_rows(session)
    return admin_page(request, "topics.html", me, "Topics", topics=rows)


# -- users --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    is_admin: bool
    created_at: datetime
    alerts: int
    channels: int


def user_rows(session: Session) -> list[UserRow]:
    alerts = _count_by(session, Alert.user_id)
    channels = _count_by(session, Channel.user_id)
    return [
        UserRow(u.id, u.email, u.is_admin, u.created_at, alerts.get(u.id, 0), channels.get(u.id, 0))
        for u in list_users(session)
    ]


def _count_by(session: Session, column: Any) -> dict[int, int]:
    rows = session.execute(select(column, func.count()).group_by(column)).all()
    return {key: count for key, count in rows if key is not None}


@router.get("/admin/users")
def users_page(request: Request, me: PageAdmin, web: WebDep) -> HTMLResponse:
    with web.db.session() as session:
        rows = user_rows(session)
        signup = signup_enabled(session, web)
    return admin_page(request, "users.html", me, "Users", users=rows, signup_enabled=signup)


# -- broadcast ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """Whom a broadcast to a topic reaches, routed as the send will route it."""

    followers: int
    now: int  # sent at once
    held: int  # in quiet hours: sent when they end
    digest: int  # past the hourly budget: in the next digest
    deliveries: int  # channel deliveries written (now and held)


def broadcast_reach(session: Session, topic_id: int, now: datetime) -> Reach:
    """Route every follower's copy (read only): quiet hours and hourly budgets as of ``now``."""
    followers = list(
        session.scalars(select(TopicFollow.user_id).where(TopicFollow.topic_id == topic_id))
    )
    routes = route_new(session, [Recipient(u, alerts=[BROADCAST]) for u in followers], now)
    by_route = Counter(routing.route for routing in routes.values())
    waiting = [u for u, routing in routes.items() if routing.route in ("quick", "held")]
    return Reach(
        followers=len(followers),
        now=by_route["quick"],
        held=by_route["held"],
        digest=by_route["digest"],
        deliveries=_channel_count(session, waiting),
    )


def _channel_count(session: Session, user_ids: list[int]) -> int:
    """The channels a broadcast is delivered on: every enabled one but the inbox."""
    total = 0
    for chunk in chunks(user_ids):
        total += (
            session.scalar(
                select(func.count())
                .select_from(Channel)
                .where(
                    Channel.user_id.in_(chunk), Channel.enabled.is_(True), Channel.kind != "inbox"
                )
            )
            or 0
        )
    return total


@dataclass(frozen=True)
class Draft:
    """The broadcast being written, as the page's form sent it."""

    topic_id: int | None
    title: str
    body: str
    url: str

    @classmethod
    def from_query(cls, topic_id: str, title: str, body: str, url: str) -> Draft:
        number = int(topic_id) if topic_id.isdecimal() and 0 < int(topic_id) <= MAX_ID else None
        return cls(number, title.strip(), body.strip(), url.strip())

    def message(self, topic: Topic) -> Message:
        """The message every channel will send (a broadcast is a notification like a story's)."""
        draft = Notification(
            title=self.title,
            url=self.url or None,
            source=topic.name,
            snippet=self.body or None,
            snippet_html=html.escape(self.body) if self.body else None,
            alert_ids=[],
            also_reported_by=0,
        )
        return notification_message(draft, [])


@router.get("/admin/broadcast")
def broadcast_page(
    request: Request,
    me: PageAdmin,
    web: WebDep,
    topic_id: str = "",
    title: str = "",
    body: str = "",
    url: str = "",
) -> HTMLResponse:
    """Compose (topic, title, body, link); with a topic and a title: the preview and Send."""
    draft = Draft.from_query(topic_id, title, body, url)
    preview: Message | None = None
    reach: Reach | None = None
    problem = ""
    with web.db.session() as session:
        topics = topic_rows(session)
        topic = session.get(Topic, draft.topic_id) if draft.topic_id else None
        if topic_id and topic is None:
            problem = "Choose one of the topics."
        elif topic is not None and not draft.title:
            problem = "A broadcast needs a title."
        elif topic is not None and draft.url and not draft.url.lower().startswith(WEB_LINK):
            problem = "A link starts with http:// or https://."
        elif topic is not None:
            preview, reach = draft.message(topic), broadcast_reach(session, topic.id, web.clock())
        topic_name = topic.name if topic else ""
    return admin_page(
        request,
        "broadcast.html",
        me,
        "Broadcast",
        topics=topics,
        draft=draft,
        preview=preview,
        reach=reach,
        problem=problem,
        topic_name=topic_name,
    )


# -- stats --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One day in the chart: a bar of deliveries sent, failures stacked on it, a click dot."""

    day: DayStats
    x: float
    width: float
    sent_y: float
    sent_height: float
    failed_y: float
    failed_height: float
    clicks_x: float
    clicks_y: float

    @property
    def label(self) -> str:
        d = self.day
        return (
            f"{d.day.isoformat()}: {d.sent} sent, {d.failed} failed, "
            f"{d.notifications} notifications, {d.clicks} clicks"
        )


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value)
    labels: list[tuple[float, str]]  # (x, day)

    @property
    def dot_radius(self) -> float:
        """Click dots: visible on a month, a thin line's width on a year."""
        return 3.0 if len(self.bars) <= 62 else 1.0

    @property
    def clicks_points(self) -> str:
        return " ".join(f"{bar.clicks_x:.1f},{bar.clicks_y:.1f}" for bar in self.bars)


WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 260, 44, 10, 12, 28


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at least ``value`` (at least 1): the chart's top."""
    if value <= 1:
        return 1
    power = 10 ** int(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def stats_chart(daily: list[DayStats]) -> Chart:
    """Bars of deliveries (sent, failed on top) and a line of clicks, one slot per day."""
    top_value = nice_ceiling(max(max(d.sent + d.failed, d.clicks) for d in daily))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(daily)

    def y(value: int) -> float:
        return TOP + plot_height * (1 - value / top_value)

    bars = []
    for n, day in enumerate(daily):
        x = LEFT + n * slot
        bars.append(
            Bar(
                day=day,
                x=x + slot * 0.15,
                width=slot * 0.7,
                sent_y=y(day.sent),
                sent_height=y(0) - y(day.sent),
                failed_y=y(day.sent + day.failed),
                failed_height=y(day.sent) - y(day.sent + day.failed),
                clicks_x=x + slot / 2,
                clicks_y=y(day.clicks),
            )
        )
    ticks = sorted({(y(v), v) for v in (0, top_value // 2, top_value)}, key=lambda t: t[1])
    every = max(1, math.ceil(len(daily) / 8))
    labels = [(bars[n].clicks_x, day_label(daily[n].day)) for n in range(0, len(daily), every)]
    return Chart(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, bars, ticks, labels)


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


@router.get("/admin/stats")
def stats_page(request: Request, me: PageAdmin, web: WebDep, days: int = 30) -> HTMLResponse:
    """Deliveries and clicks per UTC day: a chart, and the figures as a table."""
    days = min(max(days, 1), MAX_DAYS)
    with web.db.session() as session:
        stats = daily_stats(session, web.clock(), days)
    return admin_page(
        request,
        "stats.html",
        me,
        "Stats",
        stats=stats,
        chart=stats_chart(stats.daily),
        days=days,
        choices=sorted({*STATS_DAYS, days}),
    )
