"""The HTML pages: Jinja2 templates rendered on the server, made live by a little plain JS.

Pages read what they show straight from the database; every change a page makes goes through
the REST API (``/api/v1``) from ``static/app.js``, with the session cookie and the CSRF token
from ``<meta name="csrf-token">`` — so the API's checks (ownership, limits, CSRF, origin) are
the only checks, written once.

* ``PageReader`` / ``PageAdmin``: the signed-in reader of a page request (by session cookie).
  Nobody signed in: a redirect to ``/login?next=…``; a reader on an admin page: a 403 page.
* ``render(request, "page.html", me, **context)``: a page with the layout's context (the
  reader, the CSRF token, the unread count for the badge, the admin link).
* Pages are split by who uses them: ``account`` (log in, sign up, password reset),
  ``reader`` (home, alerts, topics, settings, inbox), ``admin``; ``app_files`` serves the
  service worker and the web app manifest from the site root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from tidings.store.models import User
from tidings.web import security
from tidings.web.auth import SESSION_COOKIE
from tidings.web.context import WebDep
from tidings.web.routes.inbox import unread_count

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC_DIR = HERE / "static"


class LoginRequired(Exception):
    """Raised by ``PageReader`` when nobody is signed in: answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """A signed-in reader asked for a page that is not theirs to see (admin pages)."""


class PageNotFound(Exception):
    """The page names something that does not exist or is another reader's (a 404 page)."""


@dataclass(frozen=True)
class PageCaller:
    """The signed-in reader of a page, the CSRF token the page's scripts send and the unread
    count for the layout's badge (read in the same session as the sign-in)."""

    user_id: int
    email: str
    is_admin: bool
    csrf: str
    unread: int

    def user(self, session: Session) -> User:
        user = session.get(User, self.user_id)
        if user is None:
            raise LoginRequired("/")
        return user


def page_reader(request: Request, web: WebDep) -> PageCaller:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        now = web.clock()
        with web.db.reading() as session:
            found = security.live_session(session, cookie, now)
            user = session.get(User, found.user_id) if found is not None else None
            unread = unread_count(session, user.id) if user is not None else 0
        web.uses.note(web.db, found, now)
        if user is not None:
            csrf = security.csrf_token(web.session_secret, cookie)
            return PageCaller(user.id, user.email, user.is_admin, csrf, unread)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise LoginRequired(target)


def page_admin(me: Annotated[PageCaller, Depends(page_reader)]) -> PageCaller:
    if not me.is_admin:
        raise PageForbidden()
    return me


def optional_reader(request: Request, web: WebDep) -> PageCaller | None:
    try:
        return page_reader(request, web)
    except LoginRequired:
        return None


PageReader = Annotated[PageCaller, Depends(page_reader)]
PageAdmin = Annotated[PageCaller, Depends(page_admin)]
MaybeReader = Annotated[PageCaller | None, Depends(optional_reader)]


def render(
    request: Request,
    template: str,
    me: PageCaller | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """``template`` inside the layout, with ``me``, ``csrf``, ``unread`` and ``title``."""
    context.setdefault("title", "Tidings")
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"me": me, "csrf": me.csrf if me else "", "unread": me.unread if me else 0, **context},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def install_page_handlers(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            None,
            status_code=403,
            title="Not allowed",
            message="Only an admin may see this page.",
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html",
            None,
            status_code=404,
            title="Not found",
            message=str(exc) or "There is nothing here.",
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(PageForbidden, forbidden)
    app.add_exception_handler(PageNotFound, not_found)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
