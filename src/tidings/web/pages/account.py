"""Pages: log in, sign up and password reset (public; a signed-in reader is sent on).

The forms post JSON to ``/api/v1/auth/…`` through ``app.js``'s ``data-api`` forms, so the API's
checks (rate limits, closed sign-up, origin) are the only ones; after signing in the browser goes
to ``safe_next(next)`` — a path on this site only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from tidings.web.auth import signup_enabled
from tidings.web.context import WebDep
from tidings.web.pages import MaybeReader, render, safe_next

router = APIRouter(include_in_schema=False)

NextPath = Annotated[str | None, Query(alias="next", max_length=2000)]


@router.get("/login")
def login_page(
    request: Request,
    me: MaybeReader,
    web: WebDep,
    next_path: NextPath = None,
    reset: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    target = safe_next(next_path)
    if me is not None:
        return RedirectResponse(target, status_code=303)
    with web.db.session() as session:
        open_signup = signup_enabled(session, web)
    return render(
        request,
        "login.html",
        None,
        title="Log in",
        next=target,
        signup_open=open_signup,
        reset_done=reset == "done",
    )


@router.get("/signup")
def signup_page(
    request: Request, me: MaybeReader, web: WebDep, next_path: NextPath = None
) -> Response:
    target = safe_next(next_path)
    if me is not None:
        return RedirectResponse(target, status_code=303)
    with web.db.session() as session:
        open_signup = signup_enabled(session, web)
    return render(
        request, "signup.html", None, title="Sign up", next=target, signup_open=open_signup
    )


@router.get("/reset-password")
def reset_password_page(
    request: Request,
    me: MaybeReader,
    web: WebDep,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Ask for a reset link by e-mail; with the link's ``?token=`` choose the new password."""
    return render(
        request,
        "reset_password.html",
        me,
        title="Choose a new password" if token else "Reset your password",
        token=token,
        can_email=bool(web.settings.smtp_url),
    )
