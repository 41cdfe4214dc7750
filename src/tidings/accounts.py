"""Readers and what they set up: accounts, passwords, time settings, alerts, channels, topics.

Everything a reader (or an admin, or a script through the CLI) changes goes through here, so
the rules are checked in one place: e-mail addresses are normalized to lower case, time zones
must be IANA names, times and quiet hours are parsed by ``tidings.delivery.timing``, channel
targets are checked by their channel's own module, and alert queries by the alert parser
(through ``tidings.alerts.store``, which also keeps the matching engines' change log).

Functions take an open session and flush; the caller's transaction commits.  Bad input raises
``AccountError`` (a ``ValueError``) with a message meant for the person who typed it; a missing
reader, channel, alert or topic raises ``NotFound`` (a ``LookupError``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, time
from enum import Enum
from typing import Any, Final
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidings.alerts.query import parse
from tidings.alerts.store import MODES, create_alert, delete_alert, update_alert
from tidings.clock import Clock, naive_utc, utcnow
from tidings.config import Settings
from tidings.delivery.channels.apprise import InvalidAppriseURL, apprise_plugin
from tidings.delivery.channels.webhook import check_webhook_url, generate_secret
from tidings.delivery.channels.webpush import InvalidEndpoint, check_push_endpoint
from tidings.delivery.http import AddressRefused, ResolveFailed, check_public_host
from tidings.delivery.timing import (
    TimeSettings,
    load_zone,
    parse_budget,
    parse_clock_time,
    parse_quiet_hours,
    parse_weekday,
)
from tidings.store.models import Alert, Channel, Notification, Topic, TopicFollow, User

_hasher = PasswordHasher()  # argon2id with the RFC 9106 "low memory" parameters
_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MIN_PASSWORD_LENGTH = 8
USER_CHANNEL_KINDS = ("email", "apprise", "webhook", "webpush")


class AccountError(ValueError):
    """Input Tidings will not store; the message says what to change."""


class AccountConflict(AccountError):
    """The thing already exists (a reader's e-mail, a topic's slug, the same channel twice)."""


class NotFound(LookupError):
    """No such reader, channel, alert or topic (or not the reader's own)."""


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""Leave a time setting as it is (``None`` means "off" or "unlimited" where that exists)."""


# -- passwords ----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters travel inside the hash)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` is the one ``password_hash`` was made from (never for no hash)."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)


# -- readers ------------------------------------------------------------------------------


def normalize_email(text: str) -> str:
    """``text`` as a lower-case address, or ``AccountError`` when it is not a plausible one."""
    address = text.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise AccountError(f"{text!r} is not an e-mail address like name@example.com")
    ascii_domain = _ascii_domain(domain)
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise AccountError(f"{text!r} is not an e-mail address like name@example.com")
    return f"{local}@{domain}"


def _ascii_domain(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def create_user(
    session: Session,
    email: str,
    *,
    password: str | None = None,
    admin: bool = False,
    timezone: str = "UTC",
    digest_time: str = "07:30",
    clock: Clock = utcnow,
) -> User:
    """A new reader.  Without a password they cannot log in until one is set."""
    address = normalize_email(email)
    zone = check_timezone(timezone)
    at = _clock_time(digest_time, "digest time")
    if find_user(session, address) is not None:
        raise AccountConflict(f"a reader with the e-mail {address!r} already exists")
    user = User(email=address, is_admin=admin, timezone=zone, digest_time=f"{at:%H:%M}")
    user.created_at = naive_utc(clock())
    if password is not None:
        set_password(user, password)
    _add_unique(session, user, f"a reader with the e-mail {address!r} already exists")
    return user


def check_timezone(name: str) -> str:
    """``name`` when it is an IANA zone; ``AccountError`` naming it otherwise."""
    try:
        load_zone(name.strip())
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    return name.strip()


def _clock_time(text: str, what: str) -> time:
    try:
        return parse_clock_time(text, what)
    except ValueError as exc:
        raise AccountError(str(exc)) from None


def _add_unique(session: Session, row: Any, message: str) -> None:
    """Insert ``row`` in a savepoint: losing a race on a unique column becomes a clear
    ``AccountError`` and leaves the caller's transaction usable."""
    session.flush()
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise AccountConflict(message) from exc


def find_user(session: Session, email: str) -> User | None:
    """The reader with this e-mail (any case), or None."""
    address = email.strip().lower()
    return session.scalar(select(User).where(User.email == address))


def require_user(session: Session, email: str) -> User:
    """The reader with this e-mail, or ``NotFound``."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no reader with the e-mail {email.strip()!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def _admin_ids(session: Session) -> list[int]:
    """Every admin's id, their rows locked (PostgreSQL) so two admins revoking each other at
    once cannot both see another admin left; SQLite serializes writers anyway."""
    return list(session.scalars(select(User.id).where(User.is_admin.is_(True)).with_for_update()))


def _delete_alerts(session: Session, owned: ColumnElement[bool], clock: Clock) -> None:
    """Delete these alerts one by one through the alert store, so every matching engine drops
    them (a user's when their account goes, a topic's when it does)."""
    for alert_id in session.scalars(select(Alert.id).where(owned)).all():
        delete_alert(session, alert_id, clock=clock)


def set_admin(session: Session, user: User, is_admin: bool) -> User:
    """Make a reader an admin, or an admin a reader again; the last admin stays one
    (``AccountConflict``)."""
    if not is_admin and _admin_ids(session) == [user.id]:
        raise AccountConflict(f"{user.email} is the last admin: make someone else an admin first")
    user.is_admin = is_admin
    session.flush()
    return user


def delete_user(session: Session, user: User, *, clock: Clock = utcnow) -> None:
    """Remove a reader and everything that is theirs: alerts (every matching engine drops
    them), channels and their deliveries, inbox and digests, topic follows, sessions, API
    tokens and reset links (the database cascades from ``users``).  Nobody else's rows change.
    The last admin cannot be removed (``AccountConflict``)."""
    if user.is_admin and _admin_ids(session) == [user.id]:
        raise AccountConflict(f"{user.email} is the last admin and cannot be removed")
    _delete_alerts(session, Alert.user_id == user.id, clock)
    session.delete(user)
    session.flush()


# -- time settings ------------------------------------------------------------------------


def update_time_settings(
    session: Session,
    user: User,
    *,
    timezone: str | _Keep = KEEP,
    digest_time: str | _Keep = KEEP,
    weekly_day: str | int | _Keep = KEEP,
    quiet_hours: str | None | _Keep = KEEP,
    quick_budget_per_hour: str | int | None | _Keep = KEEP,
) -> TimeSettings:
    """Change some of a reader's time settings (``KEEP`` leaves one as it is).

    Text is what a reader types: ``"Europe/Paris"``, ``"07:30"``, ``"friday"``,
    ``"22:00-07:00"`` or ``"off"`` (None is off too), ``"12"`` or ``"unlimited"`` (None too).
    The whole result is validated before anything is stored; it is returned.
    """
    current = reader_time_settings(user)
    try:
        quiet = _kept(quiet_hours, (current.quiet_start, current.quiet_end), _quiet_hours)
        settings = TimeSettings(
            timezone=current.timezone if timezone is KEEP else check_timezone(timezone),
            digest_time=_kept(digest_time, current.digest_time, _digest_time),
            weekly_day=_kept(weekly_day, current.weekly_day, _weekday),
            quiet_start=quiet[0],
            quiet_end=quiet[1],
            quick_budget_per_hour=_kept(
                quick_budget_per_hour, current.quick_budget_per_hour, _budget
            ),
        )
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    _store_time_settings(user, settings)
    session.flush()
    return settings


def _kept(value: Any, current: Any, parse_value: Callable[[Any], Any]) -> Any:
    return current if value is KEEP else parse_value(value)


def _digest_time(text: str) -> time:
    return parse_clock_time(text, "digest time")


def _weekday(value: str | int) -> int:
    if isinstance(value, int):
        if not 0 <= value <= 6:
            raise ValueError(f"weekday {value}: expected 0 (Monday) to 6 (Sunday)")
        return value
    return parse_weekday(value)


def _quiet_hours(text: str | None) -> tuple[time | None, time | None]:
    quiet = parse_quiet_hours(text) if text is not None else None
    return quiet if quiet is not None else (None, None)


def _budget(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_budget(value)


def reader_time_settings(user: User) -> TimeSettings:
    """The reader's stored time settings as a validated ``TimeSettings``."""
    return TimeSettings(
        timezone=user.timezone,
        digest_time=parse_clock_time(user.digest_time),
        weekly_day=user.weekly_day,
        quiet_start=parse_clock_time(user.quiet_start) if user.quiet_start else None,
        quiet_end=parse_clock_time(user.quiet_end) if user.quiet_end else None,
        quick_budget_per_hour=user.quick_budget_per_hour,
    )


def _store_time_settings(user: User, settings: TimeSettings) -> None:
    user.timezone = settings.timezone
    user.digest_time = f"{settings.digest_time:%H:%M}"
    user.weekly_day = settings.weekly_day
    user.quiet_start = _hhmm(settings.quiet_start)
    user.quiet_end = _hhmm(settings.quiet_end)
    user.quick_budget_per_hour = settings.quick_budget_per_hour


def _hhmm(value: time | None) -> str | None:
    return None if value is None else f"{value:%H:%M}"


def quiet_hours_text(user: User) -> str | None:
    """``"22:00-07:00"``, or None when the reader has no quiet hours."""
    if not user.quiet_start or not user.quiet_end:
        return None
    return f"{user.quiet_start}-{user.quiet_end}"


# -- alerts -------------------------------------------------------------------------------


def add_alert(
    session: Session,
    user: User,
    query: str,
    settings: Settings,
    *,
    mode: str = "quick",
    channels: Sequence[int] | None = None,
    clock: Clock = utcnow,
) -> Alert:
    """A reader's new alert.  ``QueryError`` for a bad query (it names the column),
    ``AlertLimitError`` past ``Settings.max_alerts_per_user``; ``channels`` must be theirs."""
    chosen = None if not channels else [user_channel(session, user, c).id for c in channels]
    return create_alert(
        session,
        user_id=user.id,
        query=query,
        mode=mode,
        channels=chosen,
        max_alerts=settings.max_alerts_per_user,
        clock=clock,
    )


def user_alerts(session: Session, user: User) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.user_id == user.id).order_by(Alert.id)))


def remove_alert(session: Session, user: User, alert_id: int, *, clock: Clock = utcnow) -> None:
    """Remove one of the reader's alerts (the matching engines drop it on their next refresh)."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.user_id != user.id:
        raise NotFound(f"{user.email} has no alert {alert_id}")
    delete_alert(session, alert_id, clock=clock)


def change_alert(
    session: Session,
    user: User,
    alert_id: int,
    *,
    query: str | None = None,
    mode: str | None = None,
    channels: Sequence[int] | None | _Keep = KEEP,
    clock: Clock = utcnow,
) -> Alert:
    """Change one of the reader's alerts (``None`` query or mode, ``KEEP`` channels: as they
    are; channels ``None`` or empty: all of the reader's channels).  Same errors as ``add_alert``."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.user_id != user.id:
        raise NotFound(f"{user.email} has no alert {alert_id}")
    if channels is not KEEP:
        chosen = [user_channel(session, user, c).id for c in channels or ()]
        alert.channels = chosen or None
    return update_alert(session, alert_id, query=query, mode=mode, clock=clock)


# -- channels -----------------------------------------------------------------------------


def add_channel(
    session: Session,
    user: User,
    kind: str,
    target: str,
    settings: Settings,
    *,
    clock: Clock = utcnow,
) -> Channel:
    """A new channel for the reader: ``email`` ADDRESS, ``apprise`` URL, ``webhook`` URL, or
    ``webpush`` with a ``PushSubscription.toJSON()`` text.  A webhook gets its own signing
    secret, in ``config["secret"]``: show it to the reader once, so their receiver can verify."""
    if kind == "webpush":
        return add_push_subscription(session, user, target, settings, clock=clock)
    make_config = CHANNEL_TARGETS.get(kind)
    if make_config is None:
        known = ", ".join(USER_CHANNEL_KINDS)
        raise AccountError(f"unknown channel kind {kind!r}; use one of {known}")
    config = make_config(target.strip(), settings)
    _refuse_duplicate(session, user, kind, config)
    channel = Channel(user_id=user.id, kind=kind, config=config, enabled=True)
    channel.created_at = naive_utc(clock())
    session.add(channel)
    session.flush()
    return channel


def _email_target(address: str, settings: Settings) -> dict[str, Any]:
    return {"address": normalize_email(address)}


def _apprise_target(url: str, settings: Settings) -> dict[str, Any]:
    try:
        apprise_plugin(url, settings)
    except InvalidAppriseURL as exc:
        raise AccountError(str(exc)) from None
    return {"url": url}


def _webhook_target(url: str, settings: Settings) -> dict[str, Any]:
    try:
        check_webhook_url(url)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _refuse_private_host(parts.hostname or "", port, settings, f"webhook URL {url!r}")
    return {"url": url, "secret": generate_secret()}


def _refuse_private_host(host: str, port: int, settings: Settings, what: str) -> None:
    """Refuse a private address now (it would be refused at every send); an unresolvable
    name may pass, as it is resolved again when sending."""
    try:
        check_public_host(host, settings, port)
    except AddressRefused as exc:
        raise AccountError(f"{what}: {exc}") from None
    except ResolveFailed:
        return


CHANNEL_TARGETS: dict[str, Callable[[str, Settings], dict[str, Any]]] = {
    "email": _email_target,
    "apprise": _apprise_target,
    "webhook": _webhook_target,
}
"""How each kind a reader adds by name turns its target into the stored config, checked."""

_TARGET_KEYS = {"email": "address", "apprise": "url", "webhook": "url"}


def _refuse_duplicate(session: Session, user: User, kind: str, config: dict[str, Any]) -> None:
    key = _TARGET_KEYS[kind]
    for channel in user_channels(session, user):
        if channel.kind == kind and channel.config.get(key) == config[key]:
            raise AccountConflict(f"{user.email} already has this {kind} channel ({channel.id})")


def user_channels(session: Session, user: User) -> list[Channel]:
    query = select(Channel).where(Channel.user_id == user.id).order_by(Channel.id)
    return list(session.scalars(query))


def user_channel(session: Session, user: User, channel_id: int) -> Channel:
    """One of the reader's channels, or ``NotFound``."""
    channel = session.get(Channel, channel_id)
    if channel is None or channel.user_id != user.id:
        raise NotFound(f"{user.email} has no channel {channel_id}")
    return channel


def remove_channel(session: Session, user: User, channel_id: int) -> None:
    """Remove one of the reader's channels; its pending deliveries go with it."""
    session.delete(user_channel(session, user, channel_id))
    session.flush()


def channel_target(channel: Channel) -> str:
    """What the channel reaches, fit to show (never a webhook's secret)."""
    if channel.kind == "webpush":
        return str(channel.endpoint or channel.config.get("endpoint", ""))
    if channel.kind == "apprise":
        return str(channel.config.get("url", "")).split("://", 1)[0] + "://…"
    return str(channel.config.get(_TARGET_KEYS.get(channel.kind, "url"), ""))


# -- web push subscriptions ---------------------------------------------------------------


def add_push_subscription(
    session: Session,
    user: User,
    subscription_json: str | dict[str, Any],
    settings: Settings,
    *,
    clock: Clock = utcnow,
) -> Channel:
    """Register a browser's ``PushSubscription.toJSON()`` as one of the reader's devices.

    The endpoint must pass ``check_push_endpoint`` (https, or http on a private network when
    those are allowed).  Registering an endpoint again refreshes its keys and ``last_seen_at``
    (and moves the device to this reader when another had it) instead of adding a second one.
    Browsers register their subscription again now and then (``static/push.js``, once a day)
    so that it does not expire: that keeps a device the reader turned off turned off; a device
    that moves to another reader starts turned on.
    """
    config = push_subscription_config(subscription_json, settings)
    now = naive_utc(clock())
    channel = _channel_with_endpoint(session, config["endpoint"])
    if channel is None:
        channel = Channel(kind="webpush", endpoint=config["endpoint"], created_at=now)
        _set_device(channel, user, config, now)
        _add_unique(session, channel, "this push endpoint was just registered; try again")
        return channel
    enabled = channel.enabled if channel.user_id == user.id else True
    _set_device(channel, user, config, now, enabled=enabled)
    session.flush()
    return channel


def _set_device(
    channel: Channel, user: User, config: dict[str, Any], now: datetime, *, enabled: bool = True
) -> None:
    channel.user_id, channel.config, channel.enabled = user.id, config, enabled
    channel.last_seen_at, channel.last_error = now, None


def _channel_with_endpoint(session: Session, endpoint: str) -> Channel | None:
    return session.scalar(select(Channel).where(Channel.endpoint == endpoint))


def push_subscription_config(
    subscription: str | dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """The stored config of a push subscription, checked: endpoint, p256dh (a P-256 point) and
    auth (16 bytes), both base64url as browsers give them."""
    data = _subscription_dict(subscription)
    endpoint, keys = data.get("endpoint"), data.get("keys")
    if not isinstance(endpoint, str) or not isinstance(keys, dict):
        raise AccountError("a push subscription needs an 'endpoint' and 'keys' (p256dh, auth)")
    _check_endpoint(endpoint, settings)
    p256dh = _b64url_key(keys.get("p256dh"), "p256dh", 65)
    auth = _b64url_key(keys.get("auth"), "auth", 16)
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def _subscription_dict(subscription: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(subscription, dict):
        return subscription
    try:
        data = json.loads(subscription)
    except json.JSONDecodeError as exc:
        raise AccountError(f"a push subscription must be JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AccountError("a push subscription must be a JSON object")
    return data


def _check_endpoint(endpoint: str, settings: Settings) -> None:
    try:
        check_push_endpoint(endpoint, settings)
    except InvalidEndpoint as exc:
        raise AccountError(str(exc)) from None
    except ResolveFailed:
        return  # resolved again at every send


def _b64url_key(value: Any, name: str, size: int) -> str:
    """``value`` when it is base64url of ``size`` bytes (a p256dh key is an uncompressed point)."""
    try:
        raw = base64.urlsafe_b64decode(str(value) + "=" * (-len(str(value)) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not isinstance(value, str) or len(raw) != size or (size == 65 and raw[0] != 4):
        raise AccountError(f"push subscription key {name!r} is not {size} bytes of base64url")
    return value


# -- topics -------------------------------------------------------------------------------


def create_topic(
    session: Session,
    slug: str,
    name: str,
    query: str,
    *,
    description: str | None = None,
    clock: Clock = utcnow,
) -> Topic:
    """A curated topic readers can follow; its query becomes an ``Alert`` with ``topic_id``
    (written through the alert store, so every matching engine picks it up)."""
    slug = slug.strip().lower()
    if len(slug) > 100 or not _SLUG.fullmatch(slug):
        raise AccountError(f"topic slug {slug!r}: use lower-case letters, digits and hyphens")
    if not name.strip():
        raise AccountError("a topic needs a name")
    parse(query)  # QueryError before anything is written
    if find_topic(session, slug) is not None:
        raise AccountConflict(f"a topic {slug!r} already exists")
    topic = Topic(slug=slug, name=name.strip(), description=description)
    topic.created_at = naive_utc(clock())
    _add_unique(session, topic, f"a topic {slug!r} already exists")
    create_alert(session, user_id=None, topic_id=topic.id, query=query, clock=clock)
    return topic


def find_topic(session: Session, slug: str) -> Topic | None:
    return session.scalar(select(Topic).where(Topic.slug == slug.strip().lower()))


def require_topic(session: Session, slug: str) -> Topic:
    topic = find_topic(session, slug)
    if topic is None:
        raise NotFound(f"no topic {slug.strip()!r}")
    return topic


def topic_query(session: Session, topic: Topic) -> str | None:
    return session.scalar(select(Alert.query).where(Alert.topic_id == topic.id).limit(1))


def topic_followers(session: Session, topic: Topic) -> int:
    count = select(func.count()).select_from(TopicFollow).where(TopicFollow.topic_id == topic.id)
    return session.scalar(count) or 0


def list_topics(session: Session) -> list[Topic]:
    return list(session.scalars(select(Topic).order_by(Topic.slug)))


def follow_topic(
    session: Session, user: User, slug: str, *, mode: str = "quick", clock: Clock = utcnow
) -> TopicFollow:
    """The reader follows the topic (quick, daily or weekly); following again changes the mode."""
    if mode not in MODES:
        raise AccountError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    topic = require_topic(session, slug)
    follow = session.get(TopicFollow, (user.id, topic.id))
    if follow is not None:
        follow.mode = mode
        session.flush()
        return follow
    follow = TopicFollow(user_id=user.id, topic_id=topic.id, mode=mode)
    follow.created_at = naive_utc(clock())
    _add_unique(session, follow, f"{user.email} is already following {slug!r}")
    return follow


def unfollow_topic(session: Session, user: User, slug: str) -> bool:
    """Stop following; False when the reader did not follow it."""
    topic = require_topic(session, slug)
    follow = session.get(TopicFollow, (user.id, topic.id))
    if follow is None:
        return False
    session.delete(follow)
    session.flush()
    return True


def update_topic(
    session: Session,
    topic: Topic,
    *,
    name: str | None = None,
    query: str | None = None,
    description: str | None | _Keep = KEEP,
    clock: Clock = utcnow,
) -> Topic:
    """Rename a topic, change its query (through the alert store: every matching engine picks
    it up) or its description (``None``: none).  ``QueryError`` for a bad query, before
    anything changes; followers keep following."""
    if name is not None and not name.strip():
        raise AccountError("a topic needs a name")
    if query is not None:
        alert_id = session.scalar(select(Alert.id).where(Alert.topic_id == topic.id).limit(1))
        if alert_id is None:
            create_alert(session, user_id=None, topic_id=topic.id, query=query, clock=clock)
        else:
            update_alert(session, alert_id, query=query, clock=clock)
    if name is not None:
        topic.name = name.strip()
    if description is not KEEP:
        topic.description = (description or "").strip() or None
    session.flush()
    return topic


def delete_topic(session: Session, topic: Topic, *, clock: Clock = utcnow) -> None:
    """Remove a topic: its alert (every matching engine drops it) and every reader's follow.
    Notifications it already made stay in their inboxes (they keep their own text)."""
    _delete_alerts(session, Alert.topic_id == topic.id, clock)
    session.execute(delete(TopicFollow).where(TopicFollow.topic_id == topic.id))
    session.delete(topic)
    session.flush()


def followed_topics(session: Session, user: User) -> list[tuple[Topic, str]]:
    rows = session.execute(
        select(Topic, TopicFollow.mode)
        .join(TopicFollow, TopicFollow.topic_id == Topic.id)
        .where(TopicFollow.user_id == user.id)
        .order_by(Topic.slug)
    )
    return [(topic, mode) for topic, mode in rows]


# -- the inbox ----------------------------------------------------------------------------


def inbox(
    session: Session, user: User, *, unread_only: bool = False, limit: int | None = None
) -> list[Notification]:
    """The reader's inbox, newest first: every notification not cleared."""
    query = select(Notification).where(
        Notification.user_id == user.id, Notification.cleared_at.is_(None)
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return list(session.scalars(query.limit(limit)))


def alert_queries(session: Session, alert_ids: Sequence[int]) -> dict[int, str]:
    """The queries of these alerts (reader's or topic's) that still exist, by id."""
    if not alert_ids:
        return {}
    rows = session.execute(select(Alert.id, Alert.query).where(Alert.id.in_(set(alert_ids))))
    return {alert_id: query for alert_id, query in rows}
