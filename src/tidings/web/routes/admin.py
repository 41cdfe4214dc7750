"""What admins manage: sources and their health, topics, users, broadcasts, site settings.

    GET  /api/v1/admin/sources     POST /api/v1/admin/sources {url, discover}
    GET  /api/v1/sources.opml      every source as OPML (admins: feed URLs may carry secrets)
    GET  /api/v1/admin/topics      POST /api/v1/admin/topics {slug, name, query, description}
    GET  /api/v1/admin/users
    POST /api/v1/admin/broadcast   {topic_id, title, url, body}: a Quick Alert to the followers
    GET  /api/v1/admin/settings    PUT /api/v1/admin/settings {signup_enabled}

A broadcast is routed like any Quick Alert (quiet hours hold it, the hourly budget sends it to
the digest) and written in batches: notifications of kind ``broadcast`` and their deliveries,
in one transaction (the outbox), through the notifier's own batched writers.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tidings.accounts import create_topic, list_topics, list_users, topic_followers, topic_query
from tidings.cli.sources import add_source
from tidings.clock import naive_utc
from tidings.delivery.notify import (
    NOTIFICATIONS,
    Recipient,
    chunks,
    insert_deliveries,
    insert_ignoring,
    route_new,
)
from tidings.sources.discovery import discover
from tidings.sources.http import Fetcher, FetchError
from tidings.sources.opml import OpmlOutline, render_opml
from tidings.store.models import SiteSetting, Source, Topic, TopicFollow
from tidings.web.auth import AdminDep, signup_enabled, user_out
from tidings.web.context import Web, WebDep
from tidings.web.errors import ApiError
from tidings.web.schemas import (
    AdminTopicOut,
    BroadcastIn,
    BroadcastOut,
    SiteSettingsIO,
    SourceIn,
    SourceOut,
    TopicIn,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["admin"])
BROADCAST = (
    -1,
    "quick",
    None,
)  # how a broadcast looks to the router: one quick "alert", all channels


def source_out(source: Source) -> SourceOut:
    return SourceOut(
        id=source.id,
        url=source.url,
        kind=source.kind,
        title=source.title,
        status=source.status,
        last_error=source.last_error,
        error_count=source.error_count,
        last_fetch_at=source.last_fetch_at,
        next_check_at=source.next_check_at,
        interval_seconds=source.interval_seconds,
    )


@router.get("/admin/sources")
def list_sources(me: AdminDep, web: WebDep) -> list[SourceOut]:
    """Every source with its health: status, last error, last fetch and next check."""
    with web.db.session() as session:
        return [source_out(s) for s in session.scalars(select(Source).order_by(Source.id))]


@router.post("/admin/sources", status_code=201)
async def create_source(body: SourceIn, me: AdminDep, web: WebDep) -> SourceOut:
    """Watch a URL: a feed, or (with ``discover``) a page that links its feed, an article page
    or a section page.  422 when it cannot be fetched or is neither."""
    if not body.url.lower().startswith(("http://", "https://")):
        raise ApiError(422, "a source URL starts with http:// or https://", error="invalid input")
    found = await run_in_threadpool(_discovered, web, body)
    with web.db.session() as session:
        source, _created = add_source(session, found[0], kind=found[1], title=found[2])
        return source_out(source)


def _discovered(web: Web, body: SourceIn) -> tuple[str, str, str | None]:
    if not body.discover:
        return body.url, "feed", None
    fetcher = Fetcher(web.settings)
    try:
        found = discover(fetcher, body.url)
    except (FetchError, ValueError) as exc:
        raise ApiError(422, f"cannot add {body.url}: {exc}", error="invalid input") from exc
    finally:
        fetcher.close()
    return found.url, found.kind, found.title


@router.get(
    "/sources.opml",
    response_class=Response,
    responses={200: {"content": {"text/x-opml": {}}, "description": "OPML 2.0"}},
)
def export_opml(me: AdminDep, web: WebDep) -> Response:
    with web.db.session() as session:
        outlines = [
            OpmlOutline(url=s.url, title=s.title, site_url=s.site_url)
            for s in session.scalars(select(Source).order_by(Source.id))
        ]
    headers = {"Content-Disposition": 'attachment; filename="tidings-sources.opml"'}
    return Response(render_opml(outlines), media_type="text/x-opml", headers=headers)


@router.get("/admin/topics")
def admin_topics(me: AdminDep, web: WebDep) -> list[AdminTopicOut]:
    with web.db.session() as session:
        return [_admin_topic(session, topic) for topic in list_topics(session)]


def _admin_topic(session: Session, topic: Topic) -> AdminTopicOut:
    return AdminTopicOut(
        id=topic.id,
        slug=topic.slug,
        name=topic.name,
        description=topic.description,
        query=topic_query(session, topic),
        followers=topic_followers(session, topic),
    )


@router.post("/admin/topics", status_code=201)
def add_topic(body: TopicIn, me: AdminDep, web: WebDep) -> AdminTopicOut:
    """A topic readers can follow; its query is an alert (422 names the column of an error)."""
    with web.db.session() as session:
        topic = create_topic(
            session, body.slug, body.name, body.query, description=body.description, clock=web.clock
        )
        return _admin_topic(session, topic)


@router.get("/admin/users")
def admin_users(me: AdminDep, web: WebDep) -> list[UserOut]:
    with web.db.session() as session:
        return [user_out(user) for user in list_users(session)]


@router.post("/admin/broadcast")
def broadcast(body: BroadcastIn, me: AdminDep, web: WebDep) -> BroadcastOut:
    """Send a Quick Alert to every follower of the topic (routed by their time settings)."""
    now = web.clock()
    notified = deliveries = 0
    with web.db.session() as session:
        topic = session.get(Topic, body.topic_id)
        if topic is None:
            raise ApiError(404, f"no topic {body.topic_id}")
        for followers in _follower_batches(session, topic.id):
            created, count = _broadcast_batch(session, body, topic, followers, now)
            notified, deliveries = notified + created, deliveries + count
    return BroadcastOut(notified=notified, deliveries=deliveries)


def _follower_batches(session: Session, topic_id: int) -> Iterator[list[int]]:
    followers = session.scalars(
        select(TopicFollow.user_id)
        .where(TopicFollow.topic_id == topic_id)
        .order_by(TopicFollow.user_id)
    ).all()
    yield from chunks(list(followers))


def _broadcast_batch(
    session: Session, body: BroadcastIn, topic: Topic, user_ids: list[int], now: datetime
) -> tuple[int, int]:
    readers = {u: Recipient(u, alerts=[BROADCAST]) for u in user_ids}
    routes = route_new(session, list(readers.values()), now)
    rows = [
        _broadcast_row(body, topic, u, routes[u].route, routes[u].hold_until, now) for u in user_ids
    ]
    written = insert_ignoring(
        session,
        NOTIFICATIONS,
        rows,
        ["user_id", "story_id"],
        [NOTIFICATIONS.c.user_id, NOTIFICATIONS.c.id],
    )
    created = dict(written)
    return len(created), insert_deliveries(session, created, readers, routes, now)


def _broadcast_row(
    body: BroadcastIn, topic: Topic, user_id: int, route: str, hold: datetime | None, now: datetime
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "kind": "broadcast",
        "story_id": None,
        "article_id": None,
        "title": body.title,
        "url": body.url,
        "source": topic.name,
        "byline": None,
        "published": naive_utc(now),
        "snippet": body.body,
        "snippet_html": html.escape(body.body) if body.body else None,
        "alert_ids": [],
        "terms": [],
        "also_reported_by": 0,
        "mode": "quick",
        "route": route,
        "hold_until": naive_utc(hold) if hold else None,
        "digest_id": None,
        "created_at": naive_utc(now),
    }


@router.get("/admin/settings")
def get_site_settings(me: AdminDep, web: WebDep) -> SiteSettingsIO:
    with web.db.session() as session:
        return SiteSettingsIO(signup_enabled=signup_enabled(session, web))


@router.put("/admin/settings")
def put_site_settings(body: SiteSettingsIO, me: AdminDep, web: WebDep) -> SiteSettingsIO:
    """Open or close sign-up (overrides ``TIDINGS_SIGNUP_ENABLED`` from now on)."""
    with web.db.session() as session:
        stored = session.get(SiteSetting, "signup_enabled")
        if stored is None:
            session.add(SiteSetting(key="signup_enabled", value=body.signup_enabled))
        else:
            stored.value = body.signup_enabled
        return SiteSettingsIO(signup_enabled=body.signup_enabled)
