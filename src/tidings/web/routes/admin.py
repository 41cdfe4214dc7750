"""What admins manage: sources and their health, topics, users, broadcasts, site settings.

    GET  /api/v1/admin/sources     POST /api/v1/admin/sources {url, discover}
    PATCH /api/v1/admin/sources/{id} {title, paused}    DELETE /api/v1/admin/sources/{id}
    POST /api/v1/admin/sources/{id}/check               due now: the next free worker checks it
    GET  /api/v1/sources.opml      every source as OPML (admins: feed URLs may carry secrets)
    GET  /api/v1/admin/topics      POST /api/v1/admin/topics {slug, name, query, description}
    PATCH /api/v1/admin/topics/{id} {name, query, description}   DELETE /api/v1/admin/topics/{id}
    GET  /api/v1/admin/users       PATCH /api/v1/admin/users/{id} {is_admin}
    DELETE /api/v1/admin/users/{id}
    POST /api/v1/admin/broadcast   {topic_id, title, url, body}: a Quick Alert to the followers
    GET  /api/v1/admin/settings    PUT /api/v1/admin/settings {signup_enabled}

A paused source has the status ``paused``: ``claim_due_sources`` never claims it (WebSub pushes
only move its next check).  Pausing a source while a worker checks it takes the claim from that
worker (the lease runs on), so the check's end writes nothing over the pause.  A source being
checked cannot be deleted (409) — the worker is still writing its articles — until its lease
runs out; its articles outlive it (``articles.source_id`` is set to NULL), and so do the
stories and notifications made from them.

A broadcast is routed like any Quick Alert (quiet hours hold it, the hourly budget sends it to
the digest) and written in batches: notifications of kind ``broadcast`` and their deliveries,
in one transaction (the outbox), through the notifier's own batched writers.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tidings.accounts import (
    KEEP,
    create_topic,
    delete_topic,
    delete_user,
    list_topics,
    list_users,
    set_admin,
    topic_followers,
    topic_query,
    update_topic,
)
from tidings.cli.sources import add_source
from tidings.clock import as_utc, naive_utc
from tidings.delivery.notify import (
    Recipient,
    chunks,
    insert_deliveries,
    route_new,
    write_notifications,
)
from tidings.sources.discovery import discover
from tidings.sources.http import Fetcher, FetchError
from tidings.sources.opml import OpmlOutline, render_opml
from tidings.store.claims import PAUSED
from tidings.store.models import SiteSetting, Source, Topic, TopicFollow, User
from tidings.web.auth import AdminDep, signup_enabled, user_out
from tidings.web.context import Web, WebDep
from tidings.web.errors import ApiError
from tidings.web.schemas import (
    AdminTopicOut,
    BroadcastIn,
    BroadcastOut,
    Id,
    SiteSettingsIO,
    SourceIn,
    SourceOut,
    SourcePatch,
    TopicIn,
    TopicPatch,
    UserOut,
    UserPatch,
)

router = APIRouter(prefix="/api/v1", tags=["admin"])
BROADCAST = (
    -1,
    "quick",
    None,
)  # how a broadcast looks to the router: one quick "alert", all channels
_Row = TypeVar("_Row", Source, Topic, User)
PAUSE_HOLDER = "paused by an admin"  # holds the claim of a check that was under way at a pause


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


@router.patch("/admin/sources/{source_id}")
def change_source(source_id: Id, body: SourcePatch, me: AdminDep, web: WebDep) -> SourceOut:
    """Rename a source (``title``; null: the feed's own title, on its next check), pause it
    (``paused: true``: no worker checks it) or resume it (``paused: false``: due now)."""
    now = web.clock()
    with web.db.session() as session:
        source = _locked_source(session, source_id)
        if "title" in body.model_fields_set:
            source.title = (body.title or "").strip() or None
        if body.paused and source.status != PAUSED:
            source.status = PAUSED
            if being_checked(source, now):  # its end must not write over the pause
                source.claimed_by = PAUSE_HOLDER
        elif body.paused is False and source.status == PAUSED:
            source.status = _health(source)
            source.next_check_at = naive_utc(now)
        session.flush()
        return source_out(source)


@router.post("/admin/sources/{source_id}/check")
def check_source_now(source_id: Id, me: AdminDep, web: WebDep) -> SourceOut:
    """Make the source due now: the next free worker checks it (409 when it is paused or a
    worker is checking it already)."""
    now = web.clock()
    with web.db.session() as session:
        source = _locked_source(session, source_id)
        if source.status == PAUSED:
            raise ApiError(409, f"{_name(source)} is paused: resume it to have it checked")
        if being_checked(source, now):
            raise ApiError(409, f"a worker is checking {_name(source)} right now")
        source.next_check_at = naive_utc(now)
        session.flush()
        return source_out(source)


@router.delete("/admin/sources/{source_id}", status_code=204)
def remove_source(source_id: Id, me: AdminDep, web: WebDep) -> Response:
    """Stop watching a source and forget its fetch history.  Its articles stay (with no
    source), and so do their stories and the notifications made from them.  409 while a
    worker is checking it (pause it, and delete it when the check's lease has run out)."""
    now = web.clock()
    with web.db.session() as session:
        source = _locked_source(session, source_id)
        if being_checked(source, now):
            until = as_utc(source.claimed_until)
            raise ApiError(
                409,
                f"a worker is checking {_name(source)} (its claim runs until "
                f"{until:%H:%M:%S} UTC at the latest); delete it once the check is over",
            )
        session.delete(source)
    return Response(status_code=204)


def _locked_source(session: Session, source_id: int) -> Source:
    """The source, its row locked until the transaction ends (a worker's claim skips it), or
    404."""
    return _found(session, Source, source_id, "source", lock=True)


def _found(
    session: Session, model: type[_Row], row_id: int, noun: str, *, lock: bool = False
) -> _Row:
    """The row with this id, or 404 ``no <noun> <id>``."""
    row = session.get(model, row_id, with_for_update=lock)
    if row is None:
        raise ApiError(404, f"no {noun} {row_id}")
    return row


def being_checked(source: Source, now: datetime) -> bool:
    """A worker (or a pause, for the rest of that worker's lease) holds a live claim on it."""
    until = as_utc(source.claimed_until)
    return source.claimed_by is not None and until is not None and until > now


def _health(source: Source) -> str:
    """The status a resumed source had: failing, fetched, or never fetched yet."""
    if source.error_count:
        return "error"
    return "ok" if source.last_fetch_at is not None else "new"


def _name(source: Source) -> str:
    return source.title or source.url


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


@router.patch("/admin/topics/{topic_id}")
def change_topic(topic_id: Id, body: TopicPatch, me: AdminDep, web: WebDep) -> AdminTopicOut:
    """Rename a topic or change its query or description; followers keep following.  A bad
    query is refused (422, with the parser's message and column) and nothing changes."""
    with web.db.session() as session:
        topic = topic_or_404(session, topic_id)
        described = "description" in body.model_fields_set
        update_topic(
            session,
            topic,
            name=body.name,
            query=body.query,
            description=body.description if described else KEEP,
            clock=web.clock,
        )
        return _admin_topic(session, topic)


@router.delete("/admin/topics/{topic_id}", status_code=204)
def remove_topic(topic_id: Id, me: AdminDep, web: WebDep) -> Response:
    """Remove a topic: its alert and every follow of it go; the notifications it already made
    stay in readers' inboxes."""
    with web.db.session() as session:
        delete_topic(session, topic_or_404(session, topic_id), clock=web.clock)
    return Response(status_code=204)


def topic_or_404(session: Session, topic_id: int) -> Topic:
    return _found(session, Topic, topic_id, "topic")


@router.get("/admin/users")
def admin_users(me: AdminDep, web: WebDep) -> list[UserOut]:
    with web.db.session() as session:
        return [user_out(user) for user in list_users(session)]


@router.patch("/admin/users/{user_id}")
def change_user(user_id: Id, body: UserPatch, me: AdminDep, web: WebDep) -> UserOut:
    """Make a reader an admin, or an admin a reader (409 for the last admin)."""
    with web.db.session() as session:
        return user_out(set_admin(session, _user(session, user_id), body.is_admin))


@router.delete("/admin/users/{user_id}", status_code=204)
def remove_user(user_id: Id, me: AdminDep, web: WebDep) -> Response:
    """Remove an account and everything that is theirs: alerts, channels, inbox, digests,
    follows, sessions and tokens.  An admin cannot remove themselves (409)."""
    if user_id == me.user_id:
        raise ApiError(409, "you cannot remove your own account here", error="conflict")
    with web.db.session() as session:
        delete_user(session, _user(session, user_id), clock=web.clock)
    return Response(status_code=204)


def _user(session: Session, user_id: int) -> User:
    return _found(session, User, user_id, "user")


@router.post("/admin/broadcast")
def broadcast(body: BroadcastIn, me: AdminDep, web: WebDep) -> BroadcastOut:
    """Send a Quick Alert to every follower of the topic (routed by their time settings)."""
    now = web.clock()
    notified = deliveries = 0
    with web.db.session() as session:
        topic = topic_or_404(session, body.topic_id)
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
    created = write_notifications(session, rows)
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
