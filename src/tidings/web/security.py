"""Sessions, API tokens, CSRF tokens, login rate limits and password resets, in the database.

Secrets handed out (session cookies, bearer tokens, reset links) are random 256-bit tokens;
only their SHA-256 is stored, so a copy of the database lets nobody in.  State lives in rows,
not in process memory, so any number of web processes agree: a session ended in one is ended
in all, and rate limits count attempts made through every process.

CSRF: a cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE) must carry the
session's CSRF token in the ``X-CSRF-Token`` header.  The token
is an HMAC of the session token under the server's session secret, so it needs no storage and
cannot be made without the cookie; it is also set in the readable ``tidings_csrf`` cookie for
scripts (double submit).  Requests carrying an ``Origin`` header must also come from the app's
own origin.  Bearer-token requests need neither: a browser never adds that header by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from tidings.clock import naive_utc
from tidings.store.db import Database
from tidings.store.models import ApiToken, PasswordReset, RateEvent, User, WebSession

SESSION_LIFETIME = timedelta(days=30)
USE_NOTED_EVERY = timedelta(minutes=5)  # a session's or token's last use, written this often
NOTES_EVERY = timedelta(seconds=1)  # and the last uses due, together at most this often
RESET_LIFETIME = timedelta(hours=1)
API_TOKEN_PREFIX = "tid_"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# -- signing in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """A live session or API token as read for a request: enough to authorize it without
    loading the user.  ``stale`` when its last use, written now and then (``USE_NOTED_EVERY``)
    rather than on every request, is due to be written again (``UseNotes``)."""

    table: Table  # web_sessions or api_tokens
    row_id: int
    user_id: int
    is_admin: bool
    stale: bool


class UseNotes:
    """The last uses of sign-ins read stale, written together: one writing session at most every
    ``NOTES_EVERY`` for all the tokens and sessions noted meanwhile, rather than one each (the
    first minutes after a quiet spell, nearly every request would write).  A note waits for the
    first sign-in after ``NOTES_EVERY``, or for ``flush`` when the app stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], datetime] = {}
        self._written: datetime | None = None

    def note(self, db: Database, sign_in: SignIn | None, now: datetime) -> None:
        """Note a sign-in's use when stale; write the batch when one is due."""
        stale = sign_in is not None and sign_in.stale
        if not stale and not self._pending:
            return
        moment = naive_utc(now)
        with self._lock:
            if sign_in is not None and stale:
                self._pending[(sign_in.table.name, sign_in.row_id)] = moment
            if self._written is not None and moment - self._written < NOTES_EVERY:
                return
            self._written = moment
        self.flush(db)

    def flush(self, db: Database) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return
        with db.session() as session:
            for table, column in ((_api_tokens, "last_used_at"), (_web_sessions, "last_seen_at")):
                rows = [
                    {"row_id": row_id, "moment": moment}
                    for (name, row_id), moment in batch.items()
                    if name == table.name
                ]
                if rows:
                    session.execute(
                        update(table)
                        .where(table.c.id == bindparam("row_id"))
                        .values({column: bindparam("moment")}),
                        rows,
                    )


def _stale(last_use: datetime | None, now: datetime) -> bool:
    return last_use is None or naive_utc(now) - last_use > USE_NOTED_EVERY


_api_tokens = cast(Table, ApiToken.__table__)
_web_sessions = cast(Table, WebSession.__table__)
_users = cast(Table, User.__table__)
# One Core statement each (the credential joined to its user) rather than two ORM loads.
_LIVE_TOKEN = (
    select(_api_tokens.c.id, _api_tokens.c.last_used_at, _users.c.id, _users.c.is_admin)
    .join_from(_api_tokens, _users, _users.c.id == _api_tokens.c.user_id)
    .where(_api_tokens.c.token_hash == bindparam("token_hash"))
)
_LIVE_SESSION = (
    select(
        _web_sessions.c.id,
        _web_sessions.c.expires_at,
        _web_sessions.c.last_seen_at,
        _users.c.id,
        _users.c.is_admin,
    )
    .join_from(_web_sessions, _users, _users.c.id == _web_sessions.c.user_id)
    .where(_web_sessions.c.token_hash == bindparam("token_hash"))
)


# -- sessions -------------------------------------------------------------------------------


def start_session(session: Session, user: User, now: datetime) -> str:
    """A new signed-in session for ``user``; returns the cookie value."""
    token = new_token()
    moment = naive_utc(now)
    session.execute(  # the user's ended sessions go as a new one starts
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= moment)
    )
    session.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=moment,
            expires_at=moment + SESSION_LIFETIME,
            last_seen_at=moment,
        )
    )
    session.flush()
    return token


def live_session(session: Session, token: str, now: datetime) -> SignIn | None:
    """Who a session cookie signs in, or None (ended, expired, mistyped, or its user deleted)."""
    found = session.execute(_LIVE_SESSION, {"token_hash": token_hash(token)}).first()
    if found is None:
        return None
    row_id, expires_at, last_seen_at, user_id, is_admin = found
    moment = naive_utc(now)
    if expires_at <= moment:
        return None
    return SignIn(_web_sessions, row_id, user_id, bool(is_admin), _stale(last_seen_at, moment))


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def end_all_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def csrf_token(secret: bytes, session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of its cookie under the session secret."""
    mac = hmac.new(secret, b"csrf:" + session_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def csrf_valid(secret: bytes, session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(
        csrf_token(secret, session_token), str(presented)
    )


# -- API tokens -----------------------------------------------------------------------------


def create_api_token(
    session: Session, user: User, name: str, now: datetime
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``: the row and the token itself (shown once)."""
    token = API_TOKEN_PREFIX + new_token()
    row = ApiToken(
        token_hash=token_hash(token), user_id=user.id, name=name.strip(), created_at=naive_utc(now)
    )
    session.add(row)
    session.flush()
    return row, token


def live_api_token(session: Session, token: str, now: datetime) -> SignIn | None:
    """Who a bearer token signs in, or None (revoked, mistyped, or its user deleted)."""
    found = session.execute(_LIVE_TOKEN, {"token_hash": token_hash(token)}).first()
    if found is None:
        return None
    row_id, last_used_at, user_id, is_admin = found
    return SignIn(_api_tokens, row_id, user_id, bool(is_admin), _stale(last_used_at, now))


def user_api_tokens(session: Session, user_id: int) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list(session.scalars(query))


def revoke_api_token(session: Session, user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; False when they have no such token."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        return False
    session.delete(row)
    session.flush()
    return True


# -- rate limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` events of ``kind`` per key within ``window``."""

    kind: str
    limit: int
    window: timedelta

    def retry_after(self, session: Session, key: str, now: datetime) -> int | None:
        """Seconds until the key may try again, or None when it may now."""
        since = naive_utc(now) - self.window
        count, oldest = session.execute(
            select(func.count(), func.min(RateEvent.at)).where(
                RateEvent.kind == self.kind, RateEvent.key == key, RateEvent.at > since
            )
        ).one()
        if count < self.limit or oldest is None:
            return None
        return max(1, int((oldest - since).total_seconds()) + 1)

    def record(self, session: Session, key: str, now: datetime) -> None:
        """Count one event for ``key`` (events older than the window are dropped)."""
        moment = naive_utc(now)
        session.execute(
            delete(RateEvent).where(
                RateEvent.kind == self.kind, RateEvent.at <= moment - self.window
            )
        )
        session.add(RateEvent(kind=self.kind, key=key[:320], at=moment))
        session.flush()

    def forget(self, session: Session, key: str) -> None:
        session.execute(delete(RateEvent).where(RateEvent.kind == self.kind, RateEvent.key == key))


@dataclass(frozen=True)
class Limits:
    """The rate limits of the account routes (per e-mail address typed, per client address)."""

    login_per_account: RateLimit = RateLimit("login-account", 5, timedelta(minutes=15))
    login_per_address: RateLimit = RateLimit("login-address", 20, timedelta(minutes=15))
    resets_per_account: RateLimit = RateLimit("reset-account", 3, timedelta(hours=1))
    resets_per_address: RateLimit = RateLimit("reset-address", 10, timedelta(hours=1))
    signups_per_address: RateLimit = RateLimit("signup-address", 10, timedelta(hours=1))


# -- password resets ------------------------------------------------------------------------


def create_password_reset(session: Session, user: User, now: datetime) -> str:
    """A one-time reset token for ``user``, valid for ``RESET_LIFETIME``; returns the token."""
    token = new_token()
    moment = naive_utc(now)
    session.add(
        PasswordReset(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=moment,
            expires_at=moment + RESET_LIFETIME,
        )
    )
    session.flush()
    return token


def redeem_password_reset(session: Session, token: str, now: datetime) -> User | None:
    """The user of an unused, unexpired reset token, which is used up by this; else None."""
    moment = naive_utc(now)
    row = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == token_hash(token)).with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= moment:
        return None
    row.used_at = moment
    session.flush()
    return session.get(User, row.user_id)
