"""The shapes the REST API reads and writes (they make its OpenAPI document).

Text input is checked here once: no NUL characters and no lone surrogates (neither can be
stored), and a length cap per field.  Ids in paths are positive 63-bit integers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_ID = 2**63 - 1


def _storable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Storable = AfterValidator(_storable)


def _web_link(text: str) -> str:
    """A link readers will open: http(s) only (never ``javascript:`` or ``data:``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(text.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("the link must be an http:// or https:// address")
    return text.strip()


WebLink = Annotated[str, Field(min_length=1, max_length=2000), Storable, AfterValidator(_web_link)]
Email = Annotated[str, Field(min_length=1, max_length=320), Storable]
Password = Annotated[str, Field(min_length=1, max_length=1024), Storable]
QueryText = Annotated[str, Field(min_length=1, max_length=2000), Storable]
Url = Annotated[str, Field(min_length=1, max_length=2000), Storable]
Name = Annotated[str, Field(min_length=1, max_length=200), Storable]
ShortText = Annotated[str, Field(max_length=100), Storable]
LongText = Annotated[str, Field(max_length=2000), Storable]
SettingText = Annotated[str, Field(min_length=1, max_length=64), Storable]
Target = Annotated[str, Field(min_length=1, max_length=4000), Storable]
KeyText = Annotated[str, Field(min_length=1, max_length=200), Storable]

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
ChannelId = Annotated[int, Field(ge=1, le=MAX_ID)]
Mode = Literal["quick", "daily", "weekly"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- accounts -------------------------------------------------------------------------------


class Credentials(Strict):
    email: Email
    password: Password


class UserOut(BaseModel):
    id: int
    email: str
    is_admin: bool
    created_at: datetime


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str | None = Field(
        description="Send as X-CSRF-Token with unsafe requests made with the session cookie."
    )


class ResetRequest(Strict):
    email: Email


class ResetConfirm(Strict):
    token: KeyText
    password: Password


class PasswordChange(Strict):
    current_password: Password
    new_password: Password


class TokenIn(Strict):
    name: ShortText = ""


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="The bearer token; shown only now.")


# -- alerts ---------------------------------------------------------------------------------


class AlertIn(Strict):
    query: QueryText
    mode: Mode = "quick"
    channels: list[ChannelId] | None = Field(
        default=None, max_length=100, description="Channel ids; null or empty: all channels."
    )


class AlertPatch(Strict):
    query: QueryText | None = None
    mode: Mode | None = None
    channels: list[ChannelId] | None = Field(default=None, max_length=100)


class AlertOut(BaseModel):
    id: int
    query: str
    mode: str
    channels: list[int] | None
    feed_url: str | None
    created_at: datetime
    updated_at: datetime


class PreviewIn(Strict):
    query: QueryText
    days: int = Field(default=7, ge=1, le=7)


class PreviewArticleOut(BaseModel):
    id: int
    title: str
    title_html: str
    url: str
    source: str | None
    published: datetime | None
    fetched_at: datetime
    terms: list[str]
    snippet_html: str


class PreviewOut(BaseModel):
    total: int
    articles: list[PreviewArticleOut]


# -- the inbox ------------------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    url: str | None
    source: str | None
    byline: str | None
    published: datetime | None
    snippet: str | None
    snippet_html: str | None
    alert_ids: list[int]
    terms: list[str]
    also_reported_by: int
    mode: str
    route: str
    created_at: datetime
    read_at: datetime | None
    clicked_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: int | None = Field(description="Pass as ?before= for the next (older) page.")
    unread_count: int


class Count(BaseModel):
    count: int


# -- settings, topics, channels -------------------------------------------------------------


class SettingsOut(BaseModel):
    email: str
    timezone: str
    digest_time: str
    weekly_day: str
    quiet_hours: str | None
    quick_budget_per_hour: int | None


class SettingsIn(Strict):
    """Only the fields given change.  ``quiet_hours``: "22:00-07:00", or null/"off" for none;
    ``quick_budget_per_hour``: a whole number, or null for unlimited."""

    timezone: SettingText | None = None
    digest_time: SettingText | None = None
    weekly_day: SettingText | Annotated[int, Field(ge=0, le=6)] | None = None
    quiet_hours: SettingText | None = None
    quick_budget_per_hour: Annotated[int, Field(ge=0, le=100_000)] | None = None


class TopicOut(BaseModel):
    id: int
    slug: str
    name: str
    description: str | None
    following: bool
    mode: str | None


class FollowIn(Strict):
    mode: Mode = "quick"


class ChannelIn(Strict):
    kind: Literal["email", "apprise", "webhook", "webpush"]
    target: Target


class ChannelPatch(Strict):
    enabled: bool = Field(description="false stops sending here (a digest's unsubscribe does this)")


class ChannelOut(BaseModel):
    id: int
    kind: str
    target: str
    enabled: bool
    last_error: str | None
    last_seen_at: datetime | None
    created_at: datetime
    secret: str | None = Field(
        default=None, description="A webhook's signing secret; only in the reply that adds it."
    )


class ChannelTestOut(BaseModel):
    ok: bool
    error: str | None


class PushKeys(BaseModel):
    p256dh: KeyText
    auth: Name


class PushSubscriptionIn(BaseModel):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: Url
    expirationTime: float | None = None  # noqa: N815 (the browser's name)
    keys: PushKeys


class PushSubscriptionRef(Strict):
    endpoint: Url


class VapidKeyOut(BaseModel):
    public_key: str = Field(description="applicationServerKey for PushManager.subscribe")


# -- admin ----------------------------------------------------------------------------------


class SourceIn(Strict):
    url: Url
    discover: bool = Field(
        default=True,
        description="Fetch the URL to learn whether it is a feed, or a page linking one.",
    )


class SourceOut(BaseModel):
    id: int
    url: str
    kind: str
    title: str | None
    status: str
    last_error: str | None
    error_count: int
    last_fetch_at: datetime | None
    next_check_at: datetime
    interval_seconds: int


class TopicIn(Strict):
    slug: Name
    name: KeyText
    query: QueryText
    description: LongText | None = None


class AdminTopicOut(BaseModel):
    id: int
    slug: str
    name: str
    description: str | None
    query: str | None
    followers: int


class BroadcastIn(Strict):
    topic_id: ChannelId
    title: Name
    url: WebLink | None = None
    body: LongText | None = None


class BroadcastOut(BaseModel):
    notified: int
    deliveries: int


class SiteSettingsIO(Strict):
    signup_enabled: bool


class SourcePatch(Strict):
    title: KeyText | None = Field(
        default=None, description="The name shown for it; null: the feed's own, on its next check"
    )
    paused: bool | None = Field(
        default=None, description="true: no worker checks it; false: resumed, checked now"
    )


class TopicPatch(Strict):
    name: KeyText | None = None
    query: QueryText | None = Field(
        default=None, description="The alert language (a 422 names the column of an error)"
    )
    description: LongText | None = Field(default=None, description="null: none")


class UserPatch(Strict):
    is_admin: bool = Field(description="false is refused (409) for the last admin")
