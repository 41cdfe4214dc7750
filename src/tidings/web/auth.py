"""Who is calling, and the account routes: sign up, log in and out, password reset, API tokens.

A request is signed in by a bearer token (``Authorization: Bearer tid_…``, from
``tidings tokens create`` or ``POST /api/v1/tokens``) or by the session cookie
``tidings_session`` (HttpOnly, SameSite=Lax, Secure when ``TIDINGS_BASE_URL`` is https).
Cookie-authenticated unsafe requests need the CSRF token (see ``tidings.web.security``).

Routes (under ``/api/v1``)::

    POST /auth/signup                {email, password}   201 + session cookie (403 when closed)
    POST /auth/login                 {email, password}   200 + session cookie; 401; 429
    POST /auth/logout                                    204
    GET  /auth/session                                   the signed-in user and CSRF token
    POST /auth/password              {current_password, new_password}   204
    POST /auth/password-reset        {email}             202 (an email with a one-time link)
    POST /auth/password-reset/confirm {token, password}  204; 400 for a used/expired token
    GET  /tokens   POST /tokens {name}   DELETE /tokens/{id}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tidings.accounts import (
    create_user,
    find_user,
    hash_password,
    set_password,
    verify_password,
)
from tidings.delivery.channels.email import sender_address, shared_smtp
from tidings.store.models import ApiToken, SiteSetting, User
from tidings.web import security
from tidings.web.context import Web, WebDep
from tidings.web.errors import ApiError
from tidings.web.schemas import (
    Credentials,
    Id,
    NewTokenOut,
    PasswordChange,
    ResetConfirm,
    ResetRequest,
    SessionOut,
    TokenIn,
    TokenOut,
    UserOut,
)

log = logging.getLogger("tidings.web.auth")

SESSION_COOKIE = "tidings_session"
CSRF_COOKIE = "tidings_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(auto_error=False, description="An API token: tidings tokens create")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Session cookie")


@dataclass(frozen=True)
class Caller:
    """The signed-in user of a request and how they signed in (``token`` or ``session``)."""

    user_id: int
    is_admin: bool
    via: str

    def user(self, session: Session) -> User:
        user = session.get(User, self.user_id)
        if user is None:  # deleted while the request ran
            raise ApiError(401, "sign in again", error="unauthorized")
        return user


@dataclass(frozen=True)
class Presented:
    """What a request signs in with, read from its headers without I/O (``presented``);
    ``caller()`` checks them against the database."""

    request: Request
    web: Web
    bearer: str | None
    cookie: str | None

    def caller(self) -> Caller:
        """The signed-in caller, or 401; a cookie-authenticated unsafe request without its
        CSRF token (or from another origin) is refused 403.  Reads the database: call it from
        a worker thread (a sync handler or dependency)."""
        if self.bearer is not None:
            return _token_caller(self.web, self.bearer)
        found = _session_caller(self.web, self.cookie or "")
        if self.request.method not in SAFE_METHODS:
            check_csrf(self.request, self.web, self.cookie or "")
        return found


async def presented(
    request: Request,
    web: WebDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Presented:
    """The request's credentials, or 401 when it has none.  ``async``: no I/O, so no thread
    hand-off — a handler that reads the database anyway checks them in its own thread
    (``Presented.caller``), one hand-off a request instead of two."""
    if bearer is None and not cookie:
        raise ApiError(
            401, "sign in, or send an API token as Authorization: Bearer", error="unauthorized"
        )
    return Presented(request, web, bearer.credentials if bearer else None, cookie)


PresentedDep = Annotated[Presented, Depends(presented)]


def caller(found: PresentedDep) -> Caller:
    """The signed-in caller (see ``Presented.caller``)."""
    return found.caller()


def admin(me: Annotated[Caller, Depends(caller)]) -> Caller:
    if not me.is_admin:
        raise ApiError(403, "only an admin may do this", error="forbidden")
    return me


ReaderDep = Annotated[Caller, Depends(caller)]
AdminDep = Annotated[Caller, Depends(admin)]


def _token_caller(web: Web, token: str) -> Caller:
    found = _sign_in(web, security.live_api_token, token)
    if found is None:
        raise ApiError(401, "this API token is not valid (revoked?)", error="unauthorized")
    return Caller(found.user_id, found.is_admin, "token")


def _session_caller(web: Web, cookie: str) -> Caller:
    found = _sign_in(web, security.live_session, cookie)
    if found is None:
        raise ApiError(401, "your session has ended; sign in again", error="unauthorized")
    return Caller(found.user_id, found.is_admin, "session")


def _sign_in(
    web: Web, live: Callable[[Session, str, datetime], security.SignIn | None], credential: str
) -> security.SignIn | None:
    """Read who ``credential`` signs in with a read-only session (no write lock, no
    transaction round trips); its last use is noted only when stale (``UseNotes``)."""
    now = web.clock()
    with web.db.reading() as session:
        found = live(session, credential, now)
    web.uses.note(web.db, found, now)
    return found


def check_csrf(request: Request, web: Web, session_token: str) -> None:
    check_origin(request, web)
    presented = request.headers.get(CSRF_HEADER)
    if not security.csrf_valid(web.session_secret, session_token, presented):
        raise ApiError(
            403, f"send the session's CSRF token in the {CSRF_HEADER} header", error="csrf"
        )


def check_origin(request: Request, web: Web) -> None:
    """A browser request naming its origin must come from ours (the public URL or this host)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    if origin.lower() not in {web.origin, own}:
        raise ApiError(403, f"requests from {origin} are not accepted", error="csrf")


# -- routes ---------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/signup", status_code=201)
def signup(body: Credentials, request: Request, response: Response, web: WebDep) -> SessionOut:
    """Create an account and sign in.  The first account of a new instance is an admin."""
    check_origin(request, web)
    address = client_address(request)
    with web.db.session() as session:
        _refuse_when_limited(session, web.limits.signups_per_address, address, web)
        if not signup_enabled(session, web):
            raise ApiError(403, "sign-up is closed on this server; ask an admin", error="forbidden")
        first = not session.scalar(select(func.count()).select_from(User))
        user = create_user(
            session, body.email, password=body.password, admin=first, clock=web.clock
        )
        web.limits.signups_per_address.record(session, address, web.clock())
        return _signed_in(session, user, response, web)


@router.post("/auth/login")
def login(body: Credentials, request: Request, response: Response, web: WebDep) -> SessionOut:
    """Sign in: sets the session cookie.  Repeated failures are refused 429 for a while."""
    check_origin(request, web)
    email, address = body.email.strip().lower(), client_address(request)
    with web.db.session() as session:
        _refuse_when_limited(session, web.limits.login_per_account, email, web)
        _refuse_when_limited(session, web.limits.login_per_address, address, web)
    user = _authenticate(web, email, body.password)
    with web.db.session() as session:
        if user is None:
            web.limits.login_per_account.record(session, email, web.clock())
            web.limits.login_per_address.record(session, address, web.clock())
        else:
            web.limits.login_per_account.forget(session, email)
            return _signed_in(session, session.get(User, user.id) or user, response, web)
    raise ApiError(401, "wrong e-mail or password", error="unauthorized")


def _authenticate(web: Web, email: str, password: str) -> User | None:
    """The user when the password is theirs (a missing user costs the same hashing time)."""
    with web.db.session() as session:
        user = find_user(session, email)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not anyone's password")


@router.post("/auth/logout", status_code=204)
def logout(me: ReaderDep, request: Request, web: WebDep, response: Response) -> Response:
    """End this session (a bearer token stays valid: revoke it with DELETE /tokens/{id})."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and me.via == "session":
        with web.db.session() as session:
            security.end_session(session, cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/session")
def current_session(me: ReaderDep, request: Request, web: WebDep) -> SessionOut:
    """Who is signed in, and the CSRF token to send with unsafe requests."""
    cookie = request.cookies.get(SESSION_COOKIE) if me.via == "session" else None
    with web.db.session() as session:
        user = me.user(session)
        token = security.csrf_token(web.session_secret, cookie) if cookie else None
        return SessionOut(user=user_out(user), csrf_token=token)


@router.post("/auth/password", status_code=204)
def change_password(body: PasswordChange, me: ReaderDep, web: WebDep) -> Response:
    """Change your password (other sessions are ended; this request's token stays valid)."""
    with web.db.session() as session:
        user = me.user(session)
        if not verify_password(user.password_hash, body.current_password):
            raise ApiError(403, "the current password is not right", error="forbidden")
        set_password(user, body.new_password)
    return Response(status_code=204)


@router.post("/auth/password-reset", status_code=202)
async def request_password_reset(
    body: ResetRequest, request: Request, web: WebDep
) -> dict[str, str]:
    """E-mail a one-time link to reset the password (the answer is the same for any address)."""
    check_origin(request, web)
    if not web.settings.smtp_url:
        raise ApiError(503, "this server cannot send e-mail (TIDINGS_SMTP_URL is not set)")
    await run_in_threadpool(_send_reset, web, body.email, client_address(request))
    return {"status": "if an account has this address, a reset link is on its way"}


def _send_reset(web: Web, email: str, address: str) -> None:
    key = email.strip().lower()
    with web.db.session() as session:
        _refuse_when_limited(session, web.limits.resets_per_address, address, web)
        _refuse_when_limited(session, web.limits.resets_per_account, key, web)
        web.limits.resets_per_address.record(session, address, web.clock())
        web.limits.resets_per_account.record(session, key, web.clock())
        user = find_user(session, key)
        token = security.create_password_reset(session, user, web.clock()) if user else None
    if user is not None and token is not None:
        try:
            shared_smtp(web.settings).send(reset_email(web, user.email, token))
        except Exception:
            log.exception("password reset e-mail not sent", extra={"user_id": user.id})


def reset_email(web: Web, address: str, token: str) -> EmailMessage:
    link = f"{web.settings.base_url.rstrip('/')}/reset-password?token={token}"
    message = EmailMessage()
    message["Subject"] = "Reset your Tidings password"
    message["From"] = f"Tidings <{sender_address(web.settings)}>"
    message["To"] = address
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"Someone asked to reset the password of {address} on Tidings.\n\n"
        f"Choose a new password here (the link works once, for one hour):\n{link}\n\n"
        "If it was not you, ignore this e-mail: your password stays as it is.\n"
    )
    return message


@router.post("/auth/password-reset/confirm", status_code=204)
def confirm_password_reset(body: ResetConfirm, web: WebDep) -> Response:
    """Set a new password with the token from the e-mailed link; every session is ended."""
    hash_password(body.password)  # a too-short password is refused before the token is spent
    with web.db.session() as session:
        user = security.redeem_password_reset(session, body.token, web.clock())
        if user is None:
            raise ApiError(400, "this reset link is not valid: used, expired or mistyped")
        set_password(user, body.password)
        security.end_all_sessions(session, user.id)
    return Response(status_code=204)


@router.get("/tokens")
def list_tokens(me: ReaderDep, web: WebDep) -> list[TokenOut]:
    with web.db.session() as session:
        return [token_out(row) for row in security.user_api_tokens(session, me.user_id)]


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, me: ReaderDep, web: WebDep) -> NewTokenOut:
    """A new API token for yourself; the token is in this reply only."""
    with web.db.session() as session:
        row, token = security.create_api_token(session, me.user(session), body.name, web.clock())
        return NewTokenOut(**token_out(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: Id, me: ReaderDep, web: WebDep) -> Response:
    with web.db.session() as session:
        if not security.revoke_api_token(session, me.user_id, token_id):
            raise ApiError(404, f"you have no API token {token_id}")
    return Response(status_code=204)


# -- helpers --------------------------------------------------------------------------------


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, is_admin=user.is_admin, created_at=user.created_at)


def token_out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id, name=row.name, created_at=row.created_at, last_used_at=row.last_used_at
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def signup_enabled(session: Session, web: Web) -> bool:
    """The admin's choice when made (``PUT /api/v1/admin/settings``), else the setting."""
    stored = session.get(SiteSetting, "signup_enabled")
    return bool(stored.value) if stored is not None else web.settings.signup_enabled


def _refuse_when_limited(session: Session, limit: security.RateLimit, key: str, web: Web) -> None:
    wait = limit.retry_after(session, key, web.clock())
    if wait is not None:
        raise ApiError(
            429,
            f"too many attempts; try again in {wait} seconds",
            error="too many requests",
            headers={"Retry-After": str(wait)},
        )


def _signed_in(session: Session, user: User, response: Response, web: Web) -> SessionOut:
    token = security.start_session(session, user, web.clock())
    csrf = security.csrf_token(web.session_secret, token)
    max_age = int(security.SESSION_LIFETIME.total_seconds())
    secure = web.secure_cookies
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, samesite="lax", secure=secure)
    return SessionOut(user=user_out(user), csrf_token=csrf)


__all__ = ["AdminDep", "Caller", "Presented", "PresentedDep", "ReaderDep", "router"]
