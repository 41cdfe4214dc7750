"""A reader's own setup: time settings, channels, this browser's push subscription, topics.

GET  /api/v1/settings   PUT /api/v1/settings          time settings (only given fields change)
GET  /api/v1/channels   POST /api/v1/channels {kind, target}
DELETE /api/v1/channels/{id}   POST /api/v1/channels/{id}/test
GET  /api/v1/vapid-public-key
POST /api/v1/push-subscriptions (PushSubscription.toJSON())   DELETE /api/v1/push-subscriptions
GET  /api/v1/topics   POST /api/v1/topics/{id}/follow {mode}   DELETE /api/v1/topics/{id}/follow
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tidings.accounts import (
    KEEP,
    add_channel,
    add_push_subscription,
    channel_target,
    follow_topic,
    followed_topics,
    list_topics,
    quiet_hours_text,
    remove_channel,
    unfollow_topic,
    update_time_settings,
    user_channel,
    user_channels,
)
from tidings.config import Settings
from tidings.delivery.channels import DeliveryError, make_channel, send_test
from tidings.delivery.timing import WEEKDAYS
from tidings.delivery.vapid import VapidKeys
from tidings.store.models import Channel, User
from tidings.web.auth import ReaderDep
from tidings.web.context import WebDep
from tidings.web.errors import ApiError
from tidings.web.routes.admin import topic_or_404
from tidings.web.schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    ChannelTestOut,
    FollowIn,
    Id,
    PushSubscriptionIn,
    PushSubscriptionRef,
    SettingsIn,
    SettingsOut,
    TopicOut,
    Url,
    VapidKeyOut,
)

router = APIRouter(prefix="/api/v1", tags=["reader"])


# -- time settings --------------------------------------------------------------------------


def settings_out(user: User) -> SettingsOut:
    return SettingsOut(
        email=user.email,
        timezone=user.timezone,
        digest_time=user.digest_time,
        weekly_day=WEEKDAYS[user.weekly_day],
        quiet_hours=quiet_hours_text(user),
        quick_budget_per_hour=user.quick_budget_per_hour,
    )


@router.get("/settings")
def get_settings(me: ReaderDep, web: WebDep) -> SettingsOut:
    with web.db.session() as session:
        return settings_out(me.user(session))


@router.put("/settings")
def put_settings(body: SettingsIn, me: ReaderDep, web: WebDep) -> SettingsOut:
    """Change the given time settings; all are checked before any is stored."""
    given = body.model_fields_set
    changes: dict[str, Any] = {
        name: getattr(body, name) if name in given else KEEP
        for name in (
            "timezone",
            "digest_time",
            "weekly_day",
            "quiet_hours",
            "quick_budget_per_hour",
        )
    }
    for name in ("timezone", "digest_time", "weekly_day"):
        if changes[name] is None:
            raise ApiError(422, f"{name} cannot be null", error="invalid input")
    with web.db.session() as session:
        user = me.user(session)
        update_time_settings(session, user, **changes)
        return settings_out(user)


# -- channels -------------------------------------------------------------------------------


def channel_out(channel: Channel, *, secret: bool = False) -> ChannelOut:
    return ChannelOut(
        id=channel.id,
        kind=channel.kind,
        target=channel_target(channel),
        enabled=channel.enabled,
        last_error=channel.last_error,
        last_seen_at=channel.last_seen_at,
        created_at=channel.created_at,
        secret=channel.config.get("secret") if secret else None,
    )


@router.get("/channels")
def list_channels(me: ReaderDep, web: WebDep) -> list[ChannelOut]:
    with web.db.session() as session:
        return [channel_out(c) for c in user_channels(session, me.user(session))]


@router.post("/channels", status_code=201)
def create_channel(body: ChannelIn, me: ReaderDep, web: WebDep) -> ChannelOut:
    """Add e-mail ADDRESS, Apprise URL, webhook URL (its signing secret is in this reply
    only) or webpush subscription JSON."""
    with web.db.session() as session:
        channel = add_channel(
            session, me.user(session), body.kind, body.target, web.settings, clock=web.clock
        )
        return channel_out(channel, secret=True)


@router.patch("/channels/{channel_id}")
def update_channel(channel_id: Id, body: ChannelPatch, me: ReaderDep, web: WebDep) -> ChannelOut:
    """Turn a channel off or on again (e.g. e-mail after a digest's one-click unsubscribe)."""
    with web.db.session() as session:
        channel = user_channel(session, me.user(session), channel_id)
        channel.enabled = body.enabled
        if body.enabled:
            channel.last_error = None
        return channel_out(channel)


@router.delete("/channels/{channel_id}", status_code=204)
def delete_channel(channel_id: Id, me: ReaderDep, web: WebDep) -> Response:
    with web.db.session() as session:
        remove_channel(session, me.user(session), channel_id)
    return Response(status_code=204)


@router.post("/channels/{channel_id}/test")
async def test_channel(channel_id: Id, me: ReaderDep, web: WebDep) -> ChannelTestOut:
    """Send a test notification now; ``ok`` says whether the channel took it."""
    kind, config = await run_in_threadpool(_channel_config, web, me.user_id, channel_id)
    error = await run_in_threadpool(send_test_notification, kind, config, web.settings)
    await run_in_threadpool(_record_test, web, channel_id, error)
    return ChannelTestOut(ok=error is None, error=error)


def _channel_config(web: WebDep, user_id: int, channel_id: int) -> tuple[str, dict[str, Any]]:
    with web.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        channel = user_channel(session, user, channel_id)
        return channel.kind, dict(channel.config)


def send_test_notification(kind: str, config: dict[str, Any], settings: Settings) -> str | None:
    """None when the channel took the test notification; otherwise what went wrong."""
    try:
        send_test(make_channel(kind, config, settings), settings.base_url)
    except DeliveryError as exc:
        return f"{exc} ({'permanent' if exc.permanent else 'temporary'})"
    except ValueError as exc:  # a stored config the channel cannot use
        return str(exc)
    return None


def _record_test(web: WebDep, channel_id: int, error: str | None) -> None:
    with web.db.session() as session:
        channel = session.get(Channel, channel_id)
        if channel is not None:
            channel.last_error = error


# -- web push -------------------------------------------------------------------------------


@router.get("/vapid-public-key")
def vapid_public_key(me: ReaderDep, web: WebDep) -> VapidKeyOut:
    """The server's VAPID public key, for ``pushManager.subscribe({applicationServerKey})``."""
    keys = VapidKeys.load_or_create(web.settings.data_dir)
    return VapidKeyOut(public_key=keys.application_server_key)


@router.post("/push-subscriptions", status_code=201)
def subscribe_push(body: PushSubscriptionIn, me: ReaderDep, web: WebDep) -> ChannelOut:
    """Register this browser (again: its keys and last-seen time are refreshed)."""
    subscription = {"endpoint": body.endpoint, "keys": body.keys.model_dump()}
    with web.db.session() as session:
        channel = add_push_subscription(
            session, me.user(session), subscription, web.settings, clock=web.clock
        )
        return channel_out(channel)


@router.delete("/push-subscriptions", status_code=204)
def unsubscribe_push(
    me: ReaderDep,
    web: WebDep,
    body: Annotated[PushSubscriptionRef | None, Body()] = None,
    endpoint: Annotated[Url | None, Query(description="Or give the endpoint in the body")] = None,
) -> Response:
    """Forget this browser's subscription (after ``PushSubscription.unsubscribe()``)."""
    target = body.endpoint if body is not None else endpoint
    if target is None:
        raise ApiError(422, "give the subscription's endpoint", error="invalid input")
    with web.db.session() as session:
        channel = session.scalar(select(Channel).where(Channel.endpoint == target))
        if channel is None or channel.user_id != me.user_id:
            raise ApiError(404, "you have no push subscription with this endpoint")
        session.delete(channel)
    return Response(status_code=204)


# -- topics ---------------------------------------------------------------------------------


@router.get("/topics")
def get_topics(me: ReaderDep, web: WebDep) -> list[TopicOut]:
    """Every topic, and whether (and how) you follow it."""
    with web.db.session() as session:
        following = {t.id: mode for t, mode in followed_topics(session, me.user(session))}
        return [
            TopicOut(
                id=t.id,
                slug=t.slug,
                name=t.name,
                description=t.description,
                following=t.id in following,
                mode=following.get(t.id),
            )
            for t in list_topics(session)
        ]


@router.post("/topics/{topic_id}/follow")
def follow(
    topic_id: Id, me: ReaderDep, web: WebDep, body: Annotated[FollowIn | None, Body()] = None
) -> TopicOut:
    """Follow a topic ("Get Instant News Updates — Enable"); again to change the mode."""
    mode = body.mode if body is not None else "quick"
    with web.db.session() as session:
        topic = topic_or_404(session, topic_id)
        follow_topic(session, me.user(session), topic.slug, mode=mode, clock=web.clock)
        return TopicOut(
            id=topic.id,
            slug=topic.slug,
            name=topic.name,
            description=topic.description,
            following=True,
            mode=mode,
        )


@router.delete("/topics/{topic_id}/follow", status_code=204)
def unfollow(topic_id: Id, me: ReaderDep, web: WebDep) -> Response:
    with web.db.session() as session:
        topic = topic_or_404(session, topic_id)
        unfollow_topic(session, me.user(session), topic.slug)
    return Response(status_code=204)
