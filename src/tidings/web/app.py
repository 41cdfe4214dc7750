"""The web app: the one place its routes are assembled.

* ``/api/v1/…`` the REST API (``tidings.web.routes``), described at ``/api/v1/openapi.json``
  (browsable at ``/api/v1/docs``), signed in by bearer token or session cookie
  (``tidings.web.auth``); every error is JSON (``tidings.web.errors``).
* ``/feeds/alerts/{secret}.xml`` each alert's RSS feed; ``/unsubscribe/{token}`` the digest
  e-mails' one-click unsubscribe; ``/websub/{source_id}`` WebSub callbacks; ``/healthz``.
* Everything else is the HTML pages (``tidings.web.pages``), their ``/static/…`` files, the
  service worker ``/sw.js`` and the manifest ``/manifest.webmanifest``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import update

from tidings import __version__
from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.delivery.digests import verify_unsubscribe_token
from tidings.pipeline import mark_pushed
from tidings.secrets import load_or_create_secret
from tidings.store.db import Database
from tidings.store.models import Channel
from tidings.web import auth
from tidings.web.context import Web
from tidings.web.errors import ApiError, install_error_handlers
from tidings.web.pages import STATIC_DIR, app_files, install_page_handlers
from tidings.web.pages import account as account_pages
from tidings.web.pages import admin as admin_pages
from tidings.web.pages import inbox as inbox_pages
from tidings.web.pages import reader as reader_pages
from tidings.web.preview import LivePreview
from tidings.web.routes import admin, alerts, events, inbox, reader, stats
from tidings.web.websub import websub_router

SESSION_SECRET = "session"
# Sync handlers run in a pool of threads (anyio's, 40 by default).  Fewer at once spend less CPU
# handing the GIL around for the same throughput: in process, 32 inbox requests at a time cost
# 1.8-1.9 ms of CPU each on PostgreSQL, 16 at a time 1.4, 4 at a time 1.2 (benchmarks/web.py).
# 16 leaves room for the slow ones (a channel test waiting on a mail server, a password hash).
WEB_THREADS = 16


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = WEB_THREADS
    yield
    web: Web = app.state.web
    web.uses.flush(web.db)  # the last uses noted since the last batch


def create_app(settings: Settings, db: Database, *, clock: Clock = utcnow) -> FastAPI:
    app = FastAPI(
        title="Tidings",
        version=__version__,
        description="Self-hosted news alerts: alerts, inbox, channels, topics.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        swagger_ui_oauth2_redirect_url="/api/v1/docs/oauth2-redirect",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.web = Web(
        settings=settings,
        db=db,
        clock=clock,
        preview=LivePreview(db, clock),
        session_secret=load_or_create_secret(Path(settings.data_dir), SESSION_SECRET),
    )
    install_error_handlers(app)
    install_page_handlers(app)
    for router in (
        auth.router,
        alerts.router,
        inbox.router,
        reader.router,
        admin.router,
        stats.router,
        events.router,
    ):
        app.include_router(router)
    app.include_router(alerts.feeds)
    app.include_router(
        websub_router(db, mark_pushed(db, clock), clock=clock), include_in_schema=False
    )
    for pages in (account_pages, reader_pages, inbox_pages, admin_pages, app_files):
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_plain_routes(app, app.state.web)
    return app


def _add_plain_routes(app: FastAPI, web: Web) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/unsubscribe/{token}", include_in_schema=False)
    @app.get("/unsubscribe/{token}", include_in_schema=False)
    def unsubscribe(token: str) -> Response:
        """One-click unsubscribe (RFC 8058) from the digest e-mails: the reader's e-mail
        channels are turned off (the inbox and other channels carry on; turn them on again
        in the notification settings)."""
        user_id = verify_unsubscribe_token(token, web.settings)
        if user_id is None:
            raise ApiError(404, "this unsubscribe link is not valid")
        with web.db.session() as session:
            session.execute(
                update(Channel)
                .where(Channel.user_id == user_id, Channel.kind == "email")
                .values(enabled=False)
            )
        return Response("You will get no more e-mails from Tidings.\n", media_type="text/plain")
